//! Faults of reading a file: line, column, path, value and what is allowed; one fault per
//! typo; bytes that are not text.

use super::*;

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
            "bad log level",
            "global:\n  interfaces: [eth0]\n  log_level: verbose\n".into(),
            3,
            14,
            "global.log_level: \"verbose\" is not allowed: one of error, warn, info, debug, trace",
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
            "line 4: global.xdp_mod: unknown key; did you mean xdp_mode? (keys of global: interfaces, xdp_mode, ring_size, conn_table_size, pin_path, socket, socket_group, watch_config, maintenance_dir, on_change, metrics, tunnel, check_defaults, log_level)",
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
