//! Importing ldirectord files: the Debian sample, mixed files, and the directive mapping.

use super::*;

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
