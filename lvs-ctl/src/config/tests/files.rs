//! The reference file, the fixtures, round trips through YAML, and the resolution of checks.

use super::*;

#[test]
fn reference_file_loads_and_shows_every_key() {
    let path = testdata("lvs.reference.yaml");
    let config = load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    let text = std::fs::read_to_string(&path).expect("read the reference");
    // Every key of the schema appears in the reference.
    for key in [
        "interfaces:",
        "xdp_mode:",
        "ring_size:",
        "conn_table_size:",
        "pin_path:",
        "socket:",
        "watch_config:",
        "maintenance_dir:",
        "on_change:",
        "metrics:",
        "tunnel:",
        "source_v4:",
        "source_v6:",
        "gue_port:",
        "check_defaults:",
        "log_level:",
        "interval:",
        "timeout:",
        "fall:",
        "rise:",
        "name:",
        "vip:",
        "port:",
        "protocol:",
        "persistent:",
        "scheduler:",
        "quiescent:",
        "fallback:",
        "check:",
        "reals:",
        "address:",
        "weight:",
        "method:",
        "type:",
        "request:",
        "receive:",
        "virtualhost:",
        "http_method:",
        "expect_status:",
        "verify_tls:",
        "query:",
        "query_type:",
        "expect:",
        "command:",
    ] {
        assert!(text.contains(key), "the reference lacks {key}");
    }
    assert_eq!(config.global, {
        let mut g = Global::new(vec!["eth0".into()]);
        g.maintenance_dir = Some("/etc/lvs/maintenance".into());
        g.on_change = Some("/usr/local/bin/lvs-notify".into());
        g.metrics = Some("127.0.0.1:9474".parse().expect("metrics address"));
        g.tunnel = Some(Tunnel {
            source_v4: Some("198.18.0.1".parse().expect("v4")),
            source_v6: Some("2001:db8::1".parse().expect("v6")),
            gue_port: DEFAULT_GUE_PORT,
            vary_bits_v4: 0,
            vary_bits_v6: 0,
            ttl: 64,
        });
        g
    });
    assert_eq!(config.services.len(), 4);
}

#[test]
fn fixtures_load() {
    let config = load(&testdata("testdata/config/minimal.yaml")).expect("minimal.yaml");
    assert_eq!(config.services[0].reals.len(), 2);

    match load(&testdata("testdata/config/many-faults.yaml")) {
        Err(ConfigError::Faults {
            file: Some(_),
            faults,
        }) => assert_eq!(
            paths(&faults),
            [
                "global.interfaces",
                "global.ring_size",
                "global.conn_table_size",
                "global.pin_path",
                "global.check_defaults.timeout",
                "global.check_defaults.fall",
                "services[0].scheduler",
                "services[0].fallback",
                "services[0].check.request",
                "services[0].check.receive",
                "services[0].check.query",
                "services[0].check.expect_status[1]",
                "services[0].reals[1].address",
                "services[0].reals[2].address",
                "services[0].reals[3].weight",
                "services[0].reals[3].method",
                "services[1].check.port",
                "services[1].name",
                "services[2]",
            ]
        ),
        other => panic!("many-faults.yaml: expected faults, got {other:?}"),
    }

    match load(&testdata("testdata/config/does-not-exist.yaml")) {
        Err(e @ ConfigError::Io { .. }) => {
            assert!(e.to_string().starts_with("reading "), "{e}");
            assert!(e.to_string().contains("does-not-exist.yaml"), "{e}");
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn round_trip_keeps_the_config() {
    let reference = load(&testdata("lvs.reference.yaml")).expect("reference");
    let custom = parse(
        "global:\n  interfaces: [eth0, eth1]\n  xdp_mode: skb\n  ring_size: 7\n  conn_table_size: 2048\n  check_defaults: {interval: 1500ms, timeout: 250ms, fall: 1, rise: 1}\nservices:\n  - vip: 2001:db8::10\n    port: 0\n    protocol: udp\n    persistent: true\n    quiescent: false\n    scheduler: mh\n    check: {type: dns, query: example.com, query_type: aaaa, port: 53, interval: 1m 30s}\n    reals:\n      - {address: 2001:db8::2, weight: 0}\n",
    )
    .expect("custom");
    for config in [reference, custom] {
        let yaml = config.to_yaml();
        let again = parse(&yaml).unwrap_or_else(|e| panic!("re-reading\n{yaml}\n{e}"));
        assert_eq!(again, config, "{yaml}");
    }
}

#[test]
fn to_yaml_leaves_defaults_out() {
    let config = parse(&with_services(
        "  - vip: 198.18.0.10\n    port: 80\n    protocol: tcp\n    quiescent: true\n    reals:\n      - {address: 198.18.1.2, weight: 1, method: dr}\n",
    ))
    .expect("valid");
    assert_eq!(
        config.to_yaml(),
        "global:\n  interfaces:\n  - eth0\nservices:\n- vip: 198.18.0.10\n  port: 80\n  reals:\n  - address: 198.18.1.2\n"
    );
    let mut config = config;
    config.global.check_defaults.timeout = Duration::from_millis(1500);
    config.services[0].scheduler = Scheduler::Maglev;
    assert!(
        config.to_yaml().contains("timeout: 1s 500ms"),
        "{}",
        config.to_yaml()
    );
}

#[test]
fn display_name_defaults_to_the_endpoint() {
    let mut s = Service::new(ip("198.18.0.10"), 80);
    assert_eq!(s.display_name(), "198.18.0.10:80/tcp");
    s.vip = ip("2001:db8::1");
    s.protocol = Protocol::Udp;
    assert_eq!(s.display_name(), "[2001:db8::1]:80/udp");
    s.name = Some("dns".into());
    assert_eq!(s.display_name(), "dns");
}

#[test]
fn resolved_check_applies_defaults() {
    let config = parse(&with_services(
        "  - vip: 198.18.0.10\n    port: 80\n    reals:\n      - address: 198.18.1.2\n",
    ))
    .expect("valid");
    assert_eq!(
        config.resolved_check(0, 0),
        ResolvedCheck {
            addr: "198.18.1.2:80".parse().unwrap(),
            spec: CheckSpec {
                kind: CheckKind::Connect {
                    proto: Protocol::Tcp
                },
                interval: DEFAULT_CHECK_INTERVAL,
                timeout: DEFAULT_CHECK_TIMEOUT,
                rise: DEFAULT_RISE,
                fall: DEFAULT_FALL,
            },
        }
    );
}

#[test]
fn resolved_check_merges_the_real_over_the_service() {
    let config = parse(
        "global:\n  interfaces: [eth0]\n  check_defaults: {interval: 10s, fall: 5}\nservices:\n  - vip: 198.18.0.10\n    port: 443\n    check: {type: https, request: /health, receive: ok, timeout: 2s, verify_tls: false}\n    reals:\n      - address: 198.18.1.2\n        check: {port: 8443, rise: 4, virtualhost: a.example}\n      - address: 198.18.1.3\n        check: {type: ping}\n",
    )
    .expect("valid");
    assert_eq!(
        config.resolved_check(0, 0),
        ResolvedCheck {
            addr: "198.18.1.2:8443".parse().unwrap(),
            spec: CheckSpec {
                kind: CheckKind::Http {
                    tls: true,
                    verify_tls: false,
                    method: HttpMethod::Get,
                    path: "/health".into(),
                    host: Some("a.example".into()),
                    expect_status: vec![200],
                    receive: Some("ok".into()),
                },
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(2),
                rise: 4,
                fall: 5,
            },
        }
    );
    let ping = config.resolved_check(0, 1).spec;
    assert_eq!(ping.kind, CheckKind::Ping);
    assert_eq!(
        ping.timeout,
        Duration::from_secs(2),
        "timing is still inherited"
    );
}

#[test]
fn resolved_check_of_every_port_service_uses_the_check_port() {
    let config = parse(&with_services(
        "  - vip: 198.18.0.10\n    port: 0\n    check: {type: dns, port: 53, query: example.com}\n    reals:\n      - address: 198.18.1.2\n      - address: 198.18.1.3\n        check: {type: external, command: /bin/check}\n",
    ))
    .expect("valid");
    let dns = config.resolved_check(0, 0);
    assert_eq!(dns.addr.port(), 53);
    assert_eq!(
        dns.spec.kind,
        CheckKind::Dns {
            name: "example.com".into(),
            qtype: QueryType::A,
            proto: Protocol::Tcp,
            expect: None,
        }
    );
    let external = config.resolved_check(0, 1);
    assert_eq!(external.addr.port(), 53, "external inherits the check port");
    assert_eq!(
        external.spec.kind,
        CheckKind::External {
            command: "/bin/check".into(),
            vip: ip("198.18.0.10"),
            vport: 0,
        }
    );
}
