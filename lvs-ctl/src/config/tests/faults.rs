//! Tables of good and bad configurations, and the words of their faults.

use super::*;

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
            "watch_config, a name of 64 bytes, a socket path of 107",
            format!(
                "global:\n  interfaces: [eth0]\n  watch_config: true\n  socket: /{}\nservices:\n  - {{name: {}, vip: 198.18.0.10, port: 80}}\n",
                "s".repeat(106),
                "n".repeat(64)
            ),
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
            "metrics: port 0",
            "global:\n  interfaces: [eth0]\n  metrics: 127.0.0.1:0\n".into(),
            vec!["global.metrics"],
        ),
        (
            "metrics: no port",
            "global:\n  interfaces: [eth0]\n  metrics: 127.0.0.1\n".into(),
            vec!["global.metrics"],
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
                "services[0].check.query",
                "services[0].check.verify_tls",
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
                "services[0].check.request",
                "services[0].check.receive",
                "services[0].check.expect_status[1]",
                "services[0].check.virtualhost",
                "services[0].check.port",
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
            "issue 12: a real at loopback, reals and fallback equal to the vip",
            with_services(
                "  - vip: 198.18.0.10\n    port: 80\n    fallback: 198.18.0.10\n    reals:\n      - address: 127.0.0.1\n      - address: 198.18.0.10\n  - vip: 2001:db8::10\n    port: 80\n    fallback: ::1\n    reals:\n      - address: ::1\n      - address: 2001:db8::10\n",
            ),
            vec![
                "services[0].fallback",
                "services[0].reals[0].address",
                "services[0].reals[1].address",
                "services[1].fallback",
                "services[1].reals[0].address",
                "services[1].reals[1].address",
            ],
        ),
        (
            "issue 12: a socket path of 201 bytes",
            format!(
                "global:\n  interfaces: [eth0]\n  socket: /run/{}\n",
                "s".repeat(196)
            ),
            vec!["global.socket"],
        ),
        (
            "issue 12: a name of 1 MB, and of 65 bytes",
            with_services(&format!(
                "  - {{name: {}, vip: 198.18.0.10, port: 80}}\n  - {{name: {}, vip: 198.18.0.10, port: 81}}\n",
                "n".repeat(1 << 20),
                "m".repeat(65)
            )),
            vec!["services[0].name", "services[1].name"],
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
            "line 6: services[0].scheduler: \"wrr\" is not supported: lvs only schedules with maglev (also spelled mh)",
            "line 7: services[0].check.query: only valid for type dns (the check's type is http)",
            "line 7: services[0].check.receive: \"(a\" is not a valid regex: unclosed group",
            "line 10: services[0].reals[1].address: 2001:db8::2 is IPv6 but the vip 198.18.0.10 is IPv4",
            "line 12: services[0].reals[2].weight: 70000 is out of range 0..=65535",
            "line 13: services[0].reals[2].method: ipip needs global.tunnel.source_v4, the outer source address of the tunnel",
            "line 14: services[1]: same vip, port and protocol as services[0] (198.18.0.10:80/tcp)",
        ]
        .join("\n")
    );
}

#[test]
fn metrics_faults_say_what_is_allowed() {
    for (value, fault) in [
        (
            "127.0.0.1",
            "line 3: global.metrics: \"127.0.0.1\" is not an address and a port from 1 to 65535 (127.0.0.1:9474, [::1]:9474)",
        ),
        (
            "127.0.0.1:0",
            "line 3: global.metrics: 127.0.0.1:0: port 0 is not allowed: an address and a port from 1 to 65535 (127.0.0.1:9474, [::1]:9474)",
        ),
    ] {
        let text = format!("global:\n  interfaces: [eth0]\n  metrics: {value}\n");
        let err = parse(&text).expect_err("invalid");
        assert_eq!(err.to_string(), fault, "{text}");
    }
}

#[test]
fn timing_faults_say_where_the_other_value_comes_from() {
    let faults = faults_of(&with_services(
        "  - vip: 198.18.0.10\n    port: 80\n    check: {timeout: 10s}\n  - vip: 198.18.0.10\n    port: 81\n    check: {interval: 1s}\n",
    ));
    assert_eq!(
        whats(&faults),
        [
            "services[0].check.timeout: 10s is longer than the interval 5s (from global.check_defaults)",
            "services[1].check.interval: 1s is shorter than the timeout 3s (from global.check_defaults)",
        ]
    );
}

#[test]
fn long_values_are_cut_in_messages() {
    let faults = faults_of(&with_services(&format!(
        "  - {{name: {}, vip: 198.18.0.10, port: 80}}\n",
        "n".repeat(1 << 20)
    )));
    assert_eq!(
        whats(&faults),
        [format!(
            "services[0].name: \"{}…\" (1048576 bytes) is 1048576 bytes long; a name has at most 64",
            "n".repeat(40)
        )]
    );
    let faults = faults_of(&format!(
        "global:\n  interfaces: [eth0]\n  socket: /run/{}\n",
        "s".repeat(196)
    ));
    assert_eq!(
        whats(&faults),
        [format!(
            "global.socket: \"/run/{}…\" (201 bytes) is 201 bytes long; a Unix socket path has at most 107 bytes (sun_path)",
            "s".repeat(35)
        )]
    );
}

/// `lvs-ctl check`: interfaces absent here are warnings, or faults with strict; the other
/// faults are reported with them.
#[test]
fn check_file_looks_at_the_host_interfaces() {
    let dir = std::env::temp_dir().join(format!("lvs-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("lvs.yaml");
    let exists = |name: &str| name == "eth0";

    std::fs::write(&file, "global:\n  interfaces: [eth0, eth9, 'a b']\n").expect("write");
    let report = check_file(&file, false, &exists).expect("reads");
    assert!(report.config.is_none());
    assert_eq!(paths(&report.faults), ["global.interfaces[2]"]);
    assert_eq!(
        report
            .warnings
            .iter()
            .map(|w| w.in_file(Path::new("lvs.yaml")).to_string())
            .collect::<Vec<_>>(),
        ["lvs.yaml:2: global.interfaces[1]: \"eth9\" does not exist on this host"]
    );

    std::fs::write(&file, "global:\n  interfaces: [eth0, eth9]\n").expect("write");
    let report = check_file(&file, false, &exists).expect("reads");
    assert!(report.config.is_some() && report.faults.is_empty());
    assert_eq!(paths(&report.warnings), ["global.interfaces[1]"]);
    let strict = check_file(&file, true, &exists).expect("reads");
    assert!(strict.config.is_none() && strict.warnings.is_empty());
    assert_eq!(paths(&strict.faults), ["global.interfaces[1]"]);

    // A directory: the cause once, and not again as a source.
    let err = check_file(&dir, false, &exists).expect_err("a directory");
    assert!(std::error::Error::source(&err).is_none(), "{err:?}");
    let shown = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(shown.matches("Is a directory").count(), 1, "{shown}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn faults_of_a_loaded_file_give_their_line() {
    let path = testdata("testdata/config/many-faults.yaml");
    let err = load(&path).expect_err("faults");
    let first =
        "global.interfaces: at least one interface is needed for the XDP director to attach to";
    assert_eq!(
        err.to_string().lines().next(),
        Some(format!("line 3: {first}").as_str()),
        "the caller names the file"
    );
    let ConfigError::Faults {
        file: Some(file),
        faults,
    } = err
    else {
        panic!("faults of a file")
    };
    assert_eq!(
        faults[0].in_file(&file).to_string(),
        format!("{}:3: {first}", path.display())
    );
    // A text that is not YAML at all: one fault, with its line.
    match parse("global: {interfaces: [d0]\nservices: [") {
        Err(e @ ConfigError::Faults { .. }) => {
            assert!(e.to_string().starts_with("line 2: not YAML"), "{e}")
        }
        other => panic!("expected faults, got {other:?}"),
    }
}

#[test]
fn ring_size_fault_suggests_primes() {
    let faults = faults_of("global:\n  interfaces: [eth0]\n  ring_size: 65536\n");
    assert_eq!(
        faults[0].message,
        "65536 is not a prime (Maglev needs a prime table size); the nearest are 65521 and 65537"
    );
}
