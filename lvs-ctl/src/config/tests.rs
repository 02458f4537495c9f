//! Configuration tests: tables of good and bad files, the reference file, round trips and the
//! resolution of checks.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A file with the minimal `global:` and the given `services:` items.
fn with_services(services: &str) -> String {
    format!("global:\n  interfaces: [eth0]\nservices:\n{services}")
}

/// The faults of a file that must read but not validate.
fn faults_of(text: &str) -> Vec<Fault> {
    match parse(text) {
        Err(ConfigError::Invalid(faults)) => faults,
        Ok(_) => panic!("expected faults, the configuration is valid:\n{text}"),
        Err(other) => panic!("expected faults, got {other}\n{text}"),
    }
}

fn paths(faults: &[Fault]) -> Vec<&str> {
    faults.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn good_configurations_validate() {
    let cases: &[(&str, String)] = &[
        ("minimal", "global:\n  interfaces: [eth0]\n".into()),
        (
            "ipv6 service",
            with_services(
                "  - vip: 2001:db8::10\n    port: 443\n    reals:\n      - address: 2001:db8:1::2\n",
            ),
        ),
        (
            "port 0 with a check port",
            with_services(
                "  - vip: 198.18.0.10\n    port: 0\n    check: {port: 22}\n    reals:\n      - address: 198.18.1.2\n",
            ),
        ),
        (
            "port 0 with a ping check needs no port",
            with_services(
                "  - vip: 198.18.0.10\n    port: 0\n    check: {type: ping}\n    reals:\n      - address: 198.18.1.2\n",
            ),
        ),
        (
            "mh is maglev",
            with_services("  - vip: 198.18.0.10\n    port: 80\n    scheduler: mh\n"),
        ),
        (
            "a real switching type does not inherit the other type's fields",
            with_services(
                "  - vip: 198.18.0.10\n    port: 80\n    check: {type: http, request: /x, receive: ok}\n    reals:\n      - address: 198.18.1.2\n        check: {type: ping}\n",
            ),
        ),
        (
            "same vip and port, other protocol",
            with_services(
                "  - {vip: 198.18.0.10, port: 53, protocol: udp}\n  - {vip: 198.18.0.10, port: 53, protocol: tcp}\n",
            ),
        ),
        (
            "tunnelled reals with their sources",
            "global:\n  interfaces: [eth0, eth1]\n  tunnel: {source_v4: 198.18.0.1, source_v6: 2001:db8::1}\nservices:\n  - vip: 198.18.0.10\n    port: 80\n    reals:\n      - {address: 198.18.1.2, method: ipip}\n      - {address: 198.18.1.3, method: gue, weight: 0}\n  - vip: 2001:db8::10\n    port: 80\n    reals:\n      - {address: 2001:db8:1::2, method: gue}\n".into(),
        ),
        (
            "timeout equal to interval",
            "global:\n  interfaces: [eth0]\n  check_defaults: {interval: 1s, timeout: 1s}\n"
                .into(),
        ),
    ];
    for (name, text) in cases {
        if let Err(e) = parse(text) {
            panic!("{name}: {e}\n{text}");
        }
    }
}

/// Each bad file, and the exact paths of the faults it must produce (all of them, in one pass).
#[test]
fn bad_configurations_report_every_fault_path() {
    let svc = "  - vip: 198.18.0.10\n    port: 80\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "no interface",
            "global:\n  interfaces: []\n".into(),
            vec!["global.interfaces"],
        ),
        (
            "bad and repeated interface names",
            "global:\n  interfaces: [eth0, eth0, '', averyveryverylongname, 'a b']\n".into(),
            vec![
                "global.interfaces[1]",
                "global.interfaces[2]",
                "global.interfaces[3]",
                "global.interfaces[4]",
            ],
        ),
        (
            "ring size not prime",
            "global:\n  interfaces: [eth0]\n  ring_size: 65536\n".into(),
            vec!["global.ring_size"],
        ),
        (
            "ring size and connection table out of range",
            "global:\n  interfaces: [eth0]\n  ring_size: 5\n  conn_table_size: 16777217\n".into(),
            vec!["global.ring_size", "global.conn_table_size"],
        ),
        (
            "relative paths",
            "global:\n  interfaces: [eth0]\n  pin_path: lvs\n  socket: lvs.sock\n  maintenance_dir: maint\n".into(),
            vec!["global.pin_path", "global.socket", "global.maintenance_dir"],
        ),
        (
            "check defaults: timeout over interval, ranges",
            "global:\n  interfaces: [eth0]\n  check_defaults: {interval: 1s, timeout: 2s, fall: 0, rise: 101}\n".into(),
            vec![
                "global.check_defaults.timeout",
                "global.check_defaults.fall",
                "global.check_defaults.rise",
            ],
        ),
        (
            "check durations out of range",
            "global:\n  interfaces: [eth0]\n  check_defaults: {interval: 2h, timeout: 1ms}\n"
                .into(),
            vec![
                "global.check_defaults.interval",
                "global.check_defaults.timeout",
            ],
        ),
        (
            "service timeout over the default interval",
            with_services(&format!("{svc}    check: {{timeout: 10s}}\n")),
            vec!["services[0].check.timeout"],
        ),
        (
            "real interval under the service timeout",
            with_services(&format!(
                "{svc}    check: {{timeout: 2s}}\n    reals:\n      - address: 198.18.1.2\n        check: {{interval: 1s}}\n"
            )),
            vec!["services[0].reals[0].check.interval"],
        ),
        (
            "real: family, weight, duplicate",
            with_services(&format!(
                "{svc}    reals:\n      - address: 198.18.1.2\n      - address: 2001:db8::2\n      - address: 198.18.1.2\n        weight: 70000\n"
            )),
            vec![
                "services[0].reals[1].address",
                "services[0].reals[2].address",
                "services[0].reals[2].weight",
            ],
        ),
        (
            "unusable addresses",
            with_services(
                "  - vip: 0.0.0.0\n    port: 80\n  - vip: 198.18.0.10\n    port: 80\n    fallback: 224.0.0.1\n    reals:\n      - address: 255.255.255.255\n",
            ),
            vec![
                "services[0].vip",
                "services[1].fallback",
                "services[1].reals[0].address",
            ],
        ),
        (
            "fallback of the other family",
            with_services(&format!("{svc}    fallback: 2001:db8::100\n")),
            vec!["services[0].fallback"],
        ),
        (
            "duplicate services",
            with_services(&format!("{svc}{svc}")),
            vec!["services[1]"],
        ),
        (
            "duplicate names",
            with_services(
                "  - {name: web, vip: 198.18.0.10, port: 80}\n  - {name: web, vip: 198.18.0.10, port: 443}\n  - {name: '198.18.0.11:80/tcp', vip: 198.18.0.12, port: 80}\n  - {vip: 198.18.0.11, port: 80}\n",
            ),
            vec!["services[1].name", "services[2].name"],
        ),
        (
            "empty name",
            with_services("  - {name: '', vip: 198.18.0.10, port: 80}\n"),
            vec!["services[0].name"],
        ),
        (
            "scheduler",
            with_services(&format!("{svc}    scheduler: wrr\n")),
            vec!["services[0].scheduler"],
        ),
        (
            "port 0: the default connect check needs a port",
            with_services(
                "  - vip: 198.18.0.10\n    port: 0\n    reals:\n      - address: 198.18.1.2\n      - address: 198.18.1.3\n",
            ),
            vec!["services[0].check.port"],
        ),
        (
            "port 0: a real switching to http needs a port",
            with_services(
                "  - vip: 198.18.0.10\n    port: 0\n    check: {type: ping}\n    reals:\n      - address: 198.18.1.2\n        check: {type: http}\n      - address: 198.18.1.3\n",
            ),
            vec!["services[0].reals[0].check.port"],
        ),
        (
            "fields of other check types",
            with_services(&format!(
                "{svc}    check: {{type: http, query: example.com, verify_tls: true, command: /bin/true}}\n"
            )),
            vec![
                "services[0].check.verify_tls",
                "services[0].check.query",
                "services[0].check.command",
            ],
        ),
        (
            "ping takes no port",
            with_services(&format!(
                "{svc}    reals:\n      - address: 198.18.1.2\n        check: {{type: ping, port: 80}}\n"
            )),
            vec!["services[0].reals[0].check.port"],
        ),
        (
            "http values",
            with_services(&format!(
                "{svc}    check: {{type: http, request: healthz, receive: '(unclosed', expect_status: [200, 700], virtualhost: 'a b', port: 0}}\n"
            )),
            vec![
                "services[0].check.port",
                "services[0].check.request",
                "services[0].check.receive",
                "services[0].check.virtualhost",
                "services[0].check.expect_status[1]",
            ],
        ),
        (
            "HEAD has no body for receive",
            with_services(&format!(
                "{svc}    check: {{type: http, http_method: HEAD, receive: OK}}\n"
            )),
            vec!["services[0].check.receive"],
        ),
        (
            "empty expect_status",
            with_services(&format!("{svc}    check: {{type: https, expect_status: []}}\n")),
            vec!["services[0].check.expect_status"],
        ),
        (
            "dns and external need their subject",
            with_services(
                "  - vip: 198.18.0.10\n    port: 53\n    protocol: udp\n    check: {type: dns}\n  - vip: 198.18.0.10\n    port: 80\n    reals:\n      - address: 198.18.1.2\n        check: {type: external}\n",
            ),
            vec![
                "services[0].check.query",
                "services[1].reals[0].check.command",
            ],
        ),
        (
            "tunnel sources",
            "global:\n  interfaces: [eth0]\n  tunnel: {source_v4: 198.18.0.1, gue_port: 0}\nservices:\n  - vip: 198.18.0.10\n    port: 80\n    reals:\n      - {address: 198.18.1.2, method: ipip}\n  - vip: 2001:db8::10\n    port: 80\n    reals:\n      - {address: 2001:db8::2, method: gue}\n      - {address: 2001:db8::3}\n".into(),
            vec!["global.tunnel.gue_port", "services[1].reals[0].method"],
        ),
        (
            "more reals than the ring",
            "global:\n  interfaces: [eth0]\n  ring_size: 7\nservices:\n  - vip: 198.18.0.10\n    port: 80\n    reals:\n".to_owned()
                + &(2..10).map(|i| format!("      - address: 198.18.1.{i}\n")).collect::<String>(),
            vec!["services[0].reals"],
        ),
    ];
    for (name, text, expected) in cases {
        let faults = faults_of(&text);
        assert_eq!(paths(&faults), expected, "{name}: {faults:#?}\n{text}");
    }
}

#[test]
fn fault_messages_name_the_value_and_the_rule() {
    let text = with_services(
        "  - vip: 198.18.0.10\n    port: 80\n    scheduler: wrr\n    check: {type: http, query: x, receive: '(a'}\n    reals:\n      - address: 198.18.1.2\n      - address: 2001:db8::2\n      - address: 198.18.1.3\n        weight: 70000\n        method: ipip\n  - vip: 198.18.0.10\n    port: 80\n",
    );
    let err = parse(&text).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        [
            "services[0].scheduler: \"wrr\" is not supported: lvs only schedules with maglev (also spelled mh)",
            "services[0].reals[1].address: 2001:db8::2 is IPv6 but the vip 198.18.0.10 is IPv4",
            "services[0].reals[2].weight: 70000 is out of range 0..=65535",
            "services[0].reals[2].method: ipip needs global.tunnel.source_v4, the outer source address of the tunnel",
            "services[0].check.query: only valid for type dns (the check's type is http)",
            "services[0].check.receive: \"(a\" is not a valid regex: unclosed group",
            "services[1]: same vip, port and protocol as services[0] (198.18.0.10:80/tcp)",
        ]
        .join("\n")
    );
}

#[test]
fn timing_faults_say_where_the_other_value_comes_from() {
    let faults = faults_of(&with_services(
        "  - vip: 198.18.0.10\n    port: 80\n    check: {timeout: 10s}\n  - vip: 198.18.0.10\n    port: 81\n    check: {interval: 1s}\n",
    ));
    let shown: Vec<String> = faults.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "services[0].check.timeout: 10s is longer than the interval 5s (from global.check_defaults)",
            "services[1].check.interval: 1s is shorter than the timeout 3s (from global.check_defaults)",
        ]
    );
}

#[test]
fn ring_size_fault_suggests_primes() {
    let faults = faults_of("global:\n  interfaces: [eth0]\n  ring_size: 65536\n");
    assert_eq!(
        faults[0].message,
        "65536 is not a prime (Maglev needs a prime table size); the nearest are 65521 and 65537"
    );
}

/// Unreadable values stop the parse: line, column, the key's path and the bad value.
#[test]
fn syntax_errors_give_line_column_path_and_value() {
    let cases: &[(&str, String, usize, usize, &str)] = &[
        (
            "bad vip",
            with_services("  - vip: 10.0.0.x\n    port: 80\n"),
            4,
            10,
            "services[0].vip: \"10.0.0.x\" is not an IP address",
        ),
        (
            "bad real address",
            with_services("  - vip: 10.0.0.1\n    port: 80\n    reals:\n      - address: 10.0.1\n"),
            7,
            18,
            "services[0].reals[0].address: \"10.0.1\" is not an IP address",
        ),
        (
            "unknown key",
            with_services(
                "  - vip: 10.0.0.1\n    port: 80\n    reals:\n      - address: 10.1.1.1\n        wieght: 3\n",
            ),
            8,
            9,
            "services[0].reals[0].wieght: unknown field `wieght`, expected one of `address`, `weight`, `method`, `check`",
        ),
        (
            "bad enum",
            "global:\n  interfaces: [eth0]\n  xdp_mode: fast\n".into(),
            3,
            13,
            "global.xdp_mode: unknown variant `fast`, expected one of `auto`, `native`, `skb`",
        ),
        (
            "duration without unit",
            "global:\n  interfaces: [eth0]\n  check_defaults:\n    interval: 5\n".into(),
            4,
            15,
            "global.check_defaults.interval: 5 is not a duration: write the unit, e.g. \"5s\" or \"5ms\"",
        ),
        (
            "bad duration",
            with_services("  - vip: 10.0.0.1\n    port: 80\n    check:\n      timeout: soon\n"),
            7,
            16,
            "services[0].check.timeout: \"soon\" is not a duration (expected number at 0); write e.g. \"500ms\" or \"2s\"",
        ),
        (
            "tunnel source of the wrong family",
            "global:\n  interfaces: [eth0]\n  tunnel:\n    source_v4: 2001:db8::1\n".into(),
            4,
            16,
            "global.tunnel.source_v4: \"2001:db8::1\" is not an IPv4 address",
        ),
        (
            "missing interfaces",
            "global: {}\n".into(),
            1,
            9,
            "global: missing field `interfaces`",
        ),
        (
            "port out of range",
            with_services("  - vip: 10.0.0.1\n    port: 70000\n"),
            5,
            11,
            "services[0].port: invalid value: integer `70000`, expected u16",
        ),
    ];
    for (name, text, line, column, message) in cases {
        match parse(text) {
            Err(ConfigError::Syntax {
                line: l,
                column: c,
                message: m,
            }) => assert_eq!((l, c, m.as_str()), (*line, *column, *message), "{name}"),
            other => panic!("{name}: expected a syntax error, got {other:?}"),
        }
    }
}

#[test]
fn empty_file_is_a_syntax_error() {
    for text in ["", "\n\n", "# only a comment\n"] {
        let err = parse(text).expect_err("empty");
        assert!(
            matches!(err, ConfigError::Syntax { line: 1, .. }),
            "{text:?}: {err:?}"
        );
    }
}

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
        "maintenance_dir:",
        "on_change:",
        "tunnel:",
        "source_v4:",
        "source_v6:",
        "gue_port:",
        "check_defaults:",
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
        g.tunnel = Some(Tunnel {
            source_v4: Some("198.18.0.1".parse().expect("v4")),
            source_v6: Some("2001:db8::1".parse().expect("v6")),
            gue_port: DEFAULT_GUE_PORT,
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
        Err(ConfigError::Invalid(faults)) => assert_eq!(
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
                "services[0].reals[1].address",
                "services[0].reals[2].address",
                "services[0].reals[3].weight",
                "services[0].reals[3].method",
                "services[0].check.query",
                "services[0].check.request",
                "services[0].check.receive",
                "services[0].check.expect_status[1]",
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
            address: ip("198.18.1.2"),
            port: 80,
            interval: DEFAULT_CHECK_INTERVAL,
            timeout: DEFAULT_CHECK_TIMEOUT,
            fall: DEFAULT_FALL,
            rise: DEFAULT_RISE,
            kind: CheckKind::Connect,
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
            address: ip("198.18.1.2"),
            port: 8443,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            fall: 5,
            rise: 4,
            kind: CheckKind::Https(HttpCheck {
                request: "/health".into(),
                receive: Some("ok".into()),
                virtualhost: Some("a.example".into()),
                method: HttpMethod::Get,
                expect_status: vec![200],
                verify_tls: false,
            }),
        }
    );
    let ping = config.resolved_check(0, 1);
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
    assert_eq!(dns.port, 53);
    assert_eq!(
        dns.kind,
        CheckKind::Dns(DnsCheck {
            query: "example.com".into(),
            query_type: QueryType::A,
            expect: None,
        })
    );
    let external = config.resolved_check(0, 1);
    assert_eq!(external.port, 53, "external inherits the check port");
    assert_eq!(
        external.kind,
        CheckKind::External {
            command: "/bin/check".into()
        }
    );
}
