//! Configuration tests: tables of good and bad files, the reference file, round trips and the
//! resolution of checks.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
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

/// The faults of a file that must not validate, in line order.
fn faults_of(text: &str) -> Vec<Located> {
    match parse(text) {
        Err(ConfigError::Faults { file: None, faults }) => faults,
        Ok(_) => panic!("expected faults, the configuration is valid:\n{text}"),
        Err(other) => panic!("expected faults, got {other}\n{text}"),
    }
}

fn paths(faults: &[Located]) -> Vec<&str> {
    faults.iter().map(|f| f.path.as_str()).collect()
}

/// `path: message` of each fault, without the line.
fn whats(faults: &[Located]) -> Vec<String> {
    faults.iter().map(Located::what).collect()
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

/// A value that cannot be read: its line and column, the key's path, the value and what is
/// allowed, in words.
#[test]
fn reading_faults_give_line_column_path_value_and_what_is_allowed() {
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
            "services[0].reals[0].wieght: unknown key; did you mean weight? (keys of a real: address, weight, method, check)",
        ),
        (
            "a key of another section",
            with_services("  - vip: 10.0.0.1\n    port: 80\n    interval: 2s\n"),
            6,
            5,
            "services[0].interval: unknown key here: interval is a key of global.check_defaults and of a check (check:), not of a service",
        ),
        (
            "bad enum",
            "global:\n  interfaces: [eth0]\n  xdp_mode: fast\n".into(),
            3,
            13,
            "global.xdp_mode: \"fast\" is not allowed: one of auto, native, skb",
        ),
        (
            "enum slip",
            "global:\n  interfaces: [eth0]\n  xdp_mode: nativ\n".into(),
            3,
            13,
            "global.xdp_mode: \"nativ\" is not allowed: one of auto, native, skb (did you mean native?)",
        ),
        (
            "a list where a method is expected",
            with_services(
                "  - vip: 10.0.0.1\n    port: 80\n    reals:\n      - address: 10.1.1.1\n        method: [dr]\n",
            ),
            8,
            17,
            "services[0].reals[0].method: a list is not allowed: one of dr, ipip, gue",
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
            1,
            "global.interfaces: missing (required): a list of interface names, e.g. [eth0]",
        ),
        (
            "missing vip",
            with_services("  - port: 80\n"),
            4,
            5,
            "services[0].vip: missing (required): an IP address",
        ),
        (
            "port out of range",
            with_services("  - vip: 10.0.0.1\n    port: 70000\n"),
            5,
            11,
            "services[0].port: 70000 is not allowed: a whole number from 0 to 65535",
        ),
        (
            "negative weight",
            with_services(
                "  - vip: 10.0.0.1\n    port: 80\n    reals:\n      - {address: 10.1.1.1, weight: -1}\n",
            ),
            7,
            37,
            "services[0].reals[0].weight: -1 is not allowed: a whole number from 0 to 65535",
        ),
        (
            "quoted number",
            with_services("  - vip: 10.0.0.1\n    port: \"80\"\n"),
            5,
            11,
            "services[0].port: \"80\" is not allowed: a whole number from 0 to 65535 (write it without quotes)",
        ),
        (
            "yes is not a boolean",
            with_services("  - vip: 10.0.0.1\n    port: 80\n    persistent: yes\n"),
            6,
            17,
            "services[0].persistent: \"yes\" is not allowed: true or false",
        ),
        (
            "a key given twice",
            with_services("  - vip: 10.0.0.1\n    port: 80\n    port: 81\n"),
            6,
            5,
            "services[0].port: given twice (first on line 5); keep one",
        ),
        (
            "a tag",
            with_services("  - vip: 10.0.0.1\n    port: !port 80\n"),
            5,
            11,
            "services[0].port: the tag !port is not allowed: a whole number from 0 to 65535",
        ),
        (
            "services not a list",
            "global:\n  interfaces: [eth0]\nservices: {vip: 10.0.0.1}\n".into(),
            3,
            11,
            "services: a mapping is not allowed: a list of services",
        ),
        (
            "not YAML",
            "global:\n  interfaces: [eth0\n  ring_size: 7\n".into(),
            3,
            12,
            "not YAML (column 12): illegal placement of ':' indicator",
        ),
    ];
    for (name, text, line, column, message) in cases {
        let faults = faults_of(text);
        let got: Vec<(usize, usize, String)> = faults
            .iter()
            .map(|f| (f.line, f.column, f.what()))
            .collect();
        assert_eq!(
            got,
            [(*line, *column, message.to_string())],
            "{name}\n{text}"
        );
    }
}

/// The operator's file of issue 12: five faults, serde's and the rules' alike, all reported,
/// each once, in line order.
#[test]
fn every_fault_of_a_file_is_reported_at_once() {
    let text = "global:
  interfaces: [eth0]
  ring_size: 65536
  xdp_mod: native
services:
  - vip: 198.18.0.10
    port: 65536
    reals:
      - {address: 198.18.1.2, weight: -1}
      - address: 127.0.0.1
      - address: 198.18.0.10
        method: [ipip]
";
    let err = parse(text).expect_err("faults");
    assert_eq!(
        err.to_string(),
        [
            "line 3: global.ring_size: 65536 is not a prime (Maglev needs a prime table size); the nearest are 65521 and 65537",
            "line 4: global.xdp_mod: unknown key; did you mean xdp_mode? (keys of global: interfaces, xdp_mode, ring_size, conn_table_size, pin_path, socket, watch_config, maintenance_dir, on_change, tunnel, check_defaults)",
            "line 7: services[0].port: 65536 is not allowed: a whole number from 0 to 65535",
            "line 9: services[0].reals[0].weight: -1 is not allowed: a whole number from 0 to 65535",
            "line 10: services[0].reals[1].address: 127.0.0.1 is a loopback address: a real or fallback must be another host",
            "line 11: services[0].reals[2].address: 198.18.0.10 is the service's vip: a real or fallback must be another host",
            "line 12: services[0].reals[2].method: a list is not allowed: one of dr, ipip, gue",
        ]
        .join("\n")
    );
}

/// A value that cannot be read does not also fail the rules that would read it (its default
/// or placeholder stands in): one typo, one fault.
#[test]
fn a_fault_of_reading_hides_its_consequences() {
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "interfaces not a list: no 'at least one interface'",
            "global:\n  interfaces: eth0\n".into(),
            vec!["global.interfaces"],
        ),
        (
            "unreadable vips: no family mismatch, no duplicate service",
            with_services(
                "  - {vip: x, port: 80, reals: [{address: 198.18.1.2}]}\n  - {vip: y, port: 80}\n",
            ),
            vec!["services[0].vip", "services[1].vip"],
        ),
        (
            "missing port: no 'port 0 needs a check port'",
            with_services("  - vip: 198.18.0.10\n    reals:\n      - address: 198.18.1.2\n"),
            vec!["services[0].port"],
        ),
        (
            "check port 0: no 'required: a port to check'",
            with_services(
                "  - vip: 198.18.0.10\n    port: 0\n    check: {port: 0}\n    reals:\n      - address: 198.18.1.2\n",
            ),
            vec!["services[0].check.port"],
        ),
        (
            "unreadable interval: no timing relation",
            with_services(
                "  - vip: 198.18.0.10\n    port: 80\n    check: {interval: 1, timeout: 4s}\n",
            ),
            vec!["services[0].check.interval"],
        ),
        (
            "bad check type: its fields are not blamed",
            with_services(
                "  - vip: 198.18.0.10\n    port: 80\n    check: {type: htp, request: /x}\n",
            ),
            vec!["services[0].check.type"],
        ),
        (
            "a service that is not a mapping",
            with_services("  - 198.18.0.10:80\n  - {vip: 198.18.0.11, port: 80}\n"),
            vec!["services[0]"],
        ),
        (
            "a bad weight does not hide the other faults of the real",
            with_services(
                "  - vip: 198.18.0.10\n    port: 80\n    reals:\n      - {address: 198.18.0.10, weight: 1.5}\n",
            ),
            vec![
                "services[0].reals[0].address",
                "services[0].reals[0].weight",
            ],
        ),
    ];
    for (name, text, expected) in cases {
        let faults = faults_of(&text);
        assert_eq!(paths(&faults), expected, "{name}: {faults:#?}\n{text}");
    }
}

/// Bytes that are not YAML text: the line and column where they are, each line once.
#[test]
fn bytes_that_are_not_text_are_placed() {
    let nul = b"global:\n  interfaces: [eth0]\nservices:\n  - vip: 198.18.0.10\x00\n    port: 80\n";
    let faults = match examine(nul, true).into_result(None) {
        Err(ConfigError::Faults { faults, .. }) => faults,
        other => panic!("expected faults, got {other:?}"),
    };
    assert_eq!(
        faults.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["line 4: column 21: a NUL byte is not allowed: YAML text holds no control characters"]
    );

    let latin1 = b"global:\n  interfaces: [eth0]\n  on_change: /bin/caf\xe9\n  ring_size: 4\n";
    let faults = match examine(latin1, true).into_result(None) {
        Err(ConfigError::Faults { faults, .. }) => faults,
        other => panic!("expected faults, got {other:?}"),
    };
    assert_eq!(
        faults.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "line 3: column 22: invalid UTF-8 (0xe9): the file must be UTF-8 text",
            "line 4: global.ring_size: 4 is out of range 7..=1048573",
        ]
    );

    let bell = with_services("  - vip: 198.18.0.10\n    port: 80\n    name: a\u{7}b\n");
    assert_eq!(
        faults_of(&bell)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "line 6: column 12: control character U+0007 is not allowed: YAML text holds no control characters"
        ]
    );

    let binary: Vec<u8> = (0..100).flat_map(|_| *b"\x01\n").collect();
    let faults = match examine(&binary, true).into_result(None) {
        Err(ConfigError::Faults { faults, .. }) => faults,
        other => panic!("expected faults, got {other:?}"),
    };
    assert_eq!(faults.len(), MAX_ENCODING_FAULTS + 1, "{faults:#?}");
    assert_eq!(
        faults.last().map(|f| f.message.as_str()),
        Some("and 80 more lines with bytes that are not text")
    );
}

#[test]
fn empty_file_is_one_fault_on_line_1() {
    for text in ["", "\n\n", "# only a comment\n", "# a\n\n# b\n", "---\n"] {
        let faults = faults_of(text);
        assert_eq!(faults.len(), 1, "{text:?}: {faults:?}");
        assert_eq!(faults[0].line, 1, "{text:?}");
        assert!(faults[0].message.contains("empty"), "{text:?}: {faults:?}");
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
        "watch_config:",
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

// ---- ldirectord import -------------------------------------------------------------------------

fn import_fixture(name: &str) -> Result<Import, ConfigError> {
    let path = testdata(&format!("testdata/ldirectord/{name}"));
    let text = std::fs::read_to_string(&path).expect("read the ldirectord fixture");
    import_ldirectord(&text)
}

fn shown(warnings: &[Warning]) -> Vec<String> {
    warnings.iter().map(ToString::to_string).collect()
}

const INTERFACES_WARNING: &str = "ldirectord has no equivalent of global.interfaces: set to [eth0]; set it to the interfaces where the VIP traffic arrives";

#[test]
fn debian_sample_imports() {
    let import = import_fixture("debian.cf").expect("debian.cf imports");
    let expected = parse(
        "global:
  interfaces: [eth0]
  watch_config: true
  check_defaults: {interval: 1s, timeout: 1s, fall: 1, rise: 1}
services:
  - name: Web Site
    vip: 198.18.6.240
    port: 80
    quiescent: false
    check:
      type: http
      request: /index.html
      receive: Test Page
      virtualhost: www.example.com
    reals:
      - address: 198.18.6.2
      - address: 198.18.6.3
      - address: 198.18.6.6
",
    )
    .expect("expected config");
    assert_eq!(import.config, expected, "{}", import.config.to_yaml());
    assert_eq!(
        shown(&import.warnings),
        [
            INTERFACES_WARNING,
            "line 13: check timeout 3s is longer than the check interval 1s; lvs needs timeout <= interval: imported as 1s",
            "line 28: comment has no equivalent: lvs has no comment field (keep it as a YAML comment); ignored",
            "line 32: fallback 127.0.0.1:80 is this director itself; lvs forwards the fallback by dr to another host, so it is not imported for 198.18.6.240:80",
            "line 34: scheduler rr is imported as weighted maglev: rr gives new connections to the reals in turn, whatever their weights; maglev spreads connections by a hash of the flow, in proportion to the weights (give the reals equal weights for rr's even spread)",
        ]
    );
    assert!(import.config.global.watch_config, "autoreload=yes");
}

#[test]
fn mixed_file_imports_with_warnings_on_their_lines() {
    let import = import_fixture("mixed.cf").expect("mixed.cf imports");
    let expected = parse(
        "global:
  interfaces: [eth0]
  maintenance_dir: /etc/ha.d/maintenance
  check_defaults: {interval: 5s, timeout: 2s, fall: 3, rise: 1}
services:
  - vip: 198.18.0.10
    port: 80
    persistent: true
    fallback: 198.18.9.9
    check: {type: http, interval: 2s, request: /status, receive: OK, virtualhost: www.example.com}
    reals:
      - {address: 198.18.1.2, weight: 10}
      - {address: 198.18.1.3, weight: 10}
      - {address: 198.18.1.4, weight: 10}
      - {address: 198.18.1.5, weight: 10}
      - {address: 198.18.1.20, weight: 5}
      - {address: 198.18.1.21, weight: 2, check: {request: /health, receive: ^up$}}
  - vip: 2001:db8::443
    port: 443
    persistent: true
    quiescent: false
    check: {type: https, timeout: 5s, verify_tls: false}
    reals:
      - address: 2001:db8:1::2
      - {address: 2001:db8:1::3, weight: 3}
  - vip: 198.18.0.53
    port: 53
    protocol: udp
    fallback: 198.18.9.9
    check: {type: dns, timeout: 5s, query: www.example.com, expect: 198.18.0.10}
    reals:
      - address: 198.18.2.2
      - address: 198.18.2.3
  - vip: 198.18.0.25
    port: 25
    fallback: 198.18.9.9
    check: {type: external, command: /usr/local/bin/check_smtp}
    reals:
      - address: 198.18.4.2
",
    )
    .expect("expected config");
    assert_eq!(import.config, expected, "{}", import.config.to_yaml());
    assert_eq!(
        shown(&import.warnings),
        [
            INTERFACES_WARNING,
            "scheduler is not set for the services of lines 40, 53: ldirectord's default, wrr, is imported as weighted maglev: wrr gives new connections to the reals in turn, as often as their weights say; maglev spreads connections by a hash of the flow, in proportion to the weights",
            "line 4: check timeout 10s is longer than the check interval 2s; lvs needs timeout <= interval: imported as 2s",
            "line 4: check timeout 10s is longer than the check interval 5s; lvs needs timeout <= interval: imported as 5s",
            "line 8: maintenance files are named after the real's address (\"198.18.1.2\" or \"198.18.1.2:80\"), not its host name",
            "line 9: logfile has no equivalent: lvs logs to stderr; ignored",
            "line 10: emailalert has no equivalent: use global.on_change to send alerts; ignored",
            "line 11: dr cannot change the port: fallback 198.18.9.9:80 receives port 53",
            "line 11: dr cannot change the port: fallback 198.18.9.9:80 receives port 25",
            "line 12: unknown directive `frobnicate`; ignored",
            "line 17: masq forwarding is not supported; real 198.18.1.20:8080 imported as dr",
            "line 17: dr and ipip cannot change the port: real 198.18.1.20:8080 receives port 80",
            "line 24: scheduler wlc is imported as weighted maglev: wlc sends a new connection to the real with the fewest active connections per unit of weight; maglev spreads connections by a hash of the flow, in proportion to the weights",
            "line 25: persistent timeout 600s is not applicable: lvs keeps a client on one real by hashing its address (imported as persistent: true)",
            "line 26: netmask 255.255.255.0 is not supported: persistence hashes the whole client address; ignored",
            "line 29: login has no equivalent: the checks of lvs do not log in; ignored",
            "line 34: ldirectord does not verify certificates: imported with verify_tls: false",
            "line 48: firewall-mark service 7 is not supported (lvs balances addresses and ports); the block is skipped",
            "line 55: real 198.18.4.2:25 repeats the real of line 54 (ipvs would hold it once too); skipped",
            "line 58: unknown directive `sorryserver`; ignored",
        ]
    );
}

#[test]
fn ipip_without_tunnel_source_fails_naming_the_line() {
    match import_fixture("tunnel.cf") {
        Err(ConfigError::Invalid(faults)) => assert_eq!(
            faults.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "real 198.18.1.2 (line 3) is ipip: no tunnel source is given; give --tunnel-source-v4"
            ]
        ),
        other => panic!("expected faults, got {other:?}"),
    }
}

#[test]
fn ipip_imports_with_a_tunnel_source_given() {
    let text = std::fs::read_to_string(testdata("testdata/ldirectord/tunnel.cf")).expect("fixture");
    let tunnel = Tunnel {
        source_v4: Some("198.18.250.1".parse().expect("v4")),
        source_v6: None,
        gue_port: DEFAULT_GUE_PORT,
        vary_bits_v4: 0,
        vary_bits_v6: 0,
        ttl: 64,
    };
    let import = crate::config::import_ldirectord_with(&text, Some(tunnel)).expect("imports");
    assert_eq!(import.config.services[0].reals[0].method, Method::Ipip);
    assert!(import.config.validate().is_ok());
}

/// Small inline files: each case is a file, a check on the config, and the warnings expected.
#[test]
fn ldirectord_directives_map_as_documented() {
    type Probe = fn(&Config);
    let cases: Vec<(&str, &str, Probe, Vec<&str>)> = vec![
        (
            "connect on udp is ping; port 53 defaults to udp",
            "virtual=198.18.0.53:53\n\treal=198.18.2.2:53 gate\n\tchecktype=connect\n",
            |c| {
                assert_eq!(c.services[0].protocol, Protocol::Udp);
                assert_eq!(c.resolved_check(0, 0).spec.kind, CheckKind::Ping);
            },
            vec![
                "line 3: ldirectord checks udp services with connect by ping; imported as type ping",
            ],
        ),
        (
            "negotiate of an unsupported service becomes connect",
            "virtual=198.18.0.21:21\n    real=198.18.2.2:21 gate\n    service=ftp\n",
            |c| {
                assert_eq!(
                    c.resolved_check(0, 0).spec.kind,
                    CheckKind::Connect {
                        proto: Protocol::Tcp
                    }
                )
            },
            vec![
                "line 1: ldirectord's default check timeout 30s is longer than the check interval 10s; lvs needs timeout <= interval: imported as 10s",
                "line 3: negotiate checks of service ftp are not supported; imported as a connect check",
            ],
        ),
        (
            "service none with the default negotiate is on",
            "virtual=198.18.0.22:22\n\treal=198.18.2.2:22 gate\n",
            |c| assert_eq!(c.resolved_check(0, 0).spec.kind, CheckKind::On),
            vec![
                "line 1: a negotiate check of service none always succeeds in ldirectord; imported as type on",
            ],
        ),
        (
            "combined check",
            "virtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n\tchecktype=5\n",
            |c| {
                assert!(matches!(
                    c.resolved_check(0, 0).spec.kind,
                    CheckKind::Http { tls: false, .. }
                ))
            },
            vec![
                "line 3: combined checks (checktype=5: connect, negotiate every 5th time) are not supported; imported as the negotiate check (http)",
                "line 3: ldirectord's default check timeout 30s is longer than the check interval 10s; lvs needs timeout <= interval: imported as 10s",
            ],
        ),
        (
            "ping, off, external-perl, thresholds, weights",
            "checkinterval=10\nvirtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate 70000 l:1 u:9\n\tchecktype=off\nvirtual=198.18.0.11:80\n\treal=198.18.2.2 gate 0\n\tchecktype=external-perl\n",
            |c| {
                assert_eq!(c.resolved_check(0, 0).spec.kind, CheckKind::Off);
                assert_eq!(c.services[0].reals[0].weight, 65535);
                assert_eq!(c.services[1].reals[0].weight, 0);
                assert_eq!(
                    c.resolved_check(1, 0).spec.kind,
                    CheckKind::External {
                        command: "/bin/true".into(),
                        vip: ip("198.18.0.11"),
                        vport: 80,
                    }
                );
            },
            vec![
                "line 3: real 198.18.2.2:80: weight 70000 is over 65535; imported as 65535",
                "line 3: real 198.18.2.2:80: lower connection threshold 1 (l:1, ipvsadm -y) is not carried over: lvs has no connection thresholds",
                "line 3: real 198.18.2.2:80: upper connection threshold 9 (u:9, ipvsadm -x) is not carried over: lvs has no connection thresholds",
                "line 7: external-perl is run as an external command (type external)",
                "line 7: checktype external without checkcommand runs /bin/true in ldirectord; imported as such",
            ],
        ),
        (
            "ipv6 block, global fallback6, dns PTR by address",
            "fallback6=[2001:db8::99]:53\nvirtual6=[2001:db8::53]:53\n\treal6=[2001:db8:1::2]:53 gate\n\trequest=\"198.18.0.10\"\n\treceive=\"ns\\.example\\.com\"\n\tservice=dns\n",
            |c| {
                let s = &c.services[0];
                assert_eq!(s.fallback, Some(ip("2001:db8::99")));
                assert_eq!(
                    c.resolved_check(0, 0).spec.kind,
                    CheckKind::Dns {
                        name: "10.0.18.198.in-addr.arpa".into(),
                        qtype: QueryType::Ptr,
                        proto: Protocol::Udp,
                        expect: Some("ns.example.com".into()),
                    }
                );
            },
            vec![
                "line 2: ldirectord's default check timeout 30s is longer than the check interval 10s; lvs needs timeout <= interval: imported as 10s",
            ],
        ),
        (
            "unparsable and unknown lines are warnings",
            "virtual=www.example.com:80\n\treal=198.18.2.2:80 gate\n\treal=web1:80 gate\nwhatever\n    stray=1\nvirtual=198.18.0.10:80\n\treal=web1->web3:80 gate\n\treal=198.18.2.9->198.18.2.8:80 gate\n\treal=198.18.2.2:80 tunnel\n\treal=2001:db8::2 gate\n\tchecktype=ping\n\tcheckport=80\n",
            |c| assert!(c.services[0].reals.is_empty()),
            vec![
                "line 1: virtual \"www.example.com:80\" is not an address and port (host names are not resolved); the block is skipped",
                "line 4: \"whatever\" is not a `key = value` directive; ignored",
                "line 5: indented `stray` outside a virtual block; ignored",
                "line 6: service 198.18.0.10:80/tcp has no real: none of its reals is carried over",
                "line 7: real web1->web3:80: ranges are only of IPv4 addresses (host names are not resolved); skipped",
                "line 8: real 198.18.2.9->198.18.2.8:80: the range is backwards; skipped",
                "line 9: real 198.18.2.2:80: forwarding method \"tunnel\" is not gate, masq or ipip; skipped",
                "line 10: real 2001:db8::2 is not of the family of 198.18.0.10:80/tcp; skipped",
                "line 12: checkport is not used by a ping check; ignored",
            ],
        ),
        (
            "checkinterval per virtual needs fork",
            "virtual=198.18.0.10:443\n\treal=198.18.2.2:443 gate\n\tchecktype=connect\n\tcheckinterval=3\n\tchecktimeout=1\n\tfailurecount=4\n\tquiescent=yes\n\tscheduler=sh\n\tschedflags=sh-port\n",
            |c| {
                let s = &c.services[0];
                assert!(s.quiescent);
                assert!(!s.persistent, "sh-port hashes the port too");
                let check = c.resolved_check(0, 0).spec;
                assert_eq!(check.interval, Duration::from_secs(10));
                assert_eq!(check.timeout, Duration::from_secs(1));
                assert_eq!((check.fall, check.rise), (4, 1));
            },
            vec![
                "line 4: ldirectord ignores a virtual service's checkinterval unless fork = yes; ignored",
            ],
        ),
    ];
    for (name, text, probe, warnings) in cases {
        let import = import_ldirectord(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        probe(&import.config);
        let mut expected = vec![INTERFACES_WARNING];
        expected.extend(warnings);
        // The notes on ldirectord's quiescent and scheduler defaults have their own tests.
        let mut found = shown(&import.warnings);
        found.retain(|w| {
            !w.starts_with("quiescent is not set") && !w.starts_with("scheduler is not set")
        });
        assert_eq!(found, expected, "{name}");
    }
}

#[test]
fn ldirectord_values_ldirectord_refuses_are_errors_naming_the_line() {
    for (text, line, message) in [
        (
            "checkinterval=often\n",
            1,
            "checkinterval \"often\" is not a number of seconds",
        ),
        (
            "virtual=198.18.0.10:80\n\tprotocol=sctp\n",
            2,
            "protocol \"sctp\" is not tcp, udp or fwm",
        ),
        (
            "quiescent=maybe\n",
            1,
            "quiescent must be yes or no, not \"maybe\"",
        ),
    ] {
        match import_ldirectord(text) {
            Err(ConfigError::Syntax {
                line: l,
                message: m,
                ..
            }) => {
                assert_eq!((l, m.as_str()), (line, message), "{text}")
            }
            other => panic!("{text}: expected a syntax error, got {other:?}"),
        }
    }
}

#[test]
fn imported_configs_round_trip_through_yaml() {
    for name in ["debian.cf", "mixed.cf"] {
        let config = import_fixture(name).expect("imports").config;
        assert_eq!(
            parse(&config.to_yaml()).expect("re-reads"),
            config,
            "{name}"
        );
    }
}
