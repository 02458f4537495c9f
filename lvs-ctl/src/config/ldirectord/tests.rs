//! Long because: one table of ldirectord inputs and expected reports per topic, read top to bottom.
//! The importer's reports: what is skipped (and makes `lvs-ctl import` fail), what is
//! defaulted, thresholds, schedulers, autoreload and the tunnel source of `ipip` reals.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// The route resolver of a machine without routes.
fn no_route(_: IpAddr) -> Option<IpAddr> {
    None
}

fn import(text: &str) -> Import {
    Import::ldirectord(text, None, &no_route).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The warnings that report something lost, as `(line, what, message)`.
fn lost(import: &Import) -> Vec<(usize, Lost, &str)> {
    import
        .warnings
        .iter()
        .filter_map(|w| w.lost.map(|what| (w.line, what, w.message.as_str())))
        .collect()
}

fn messages(import: &Import) -> Vec<String> {
    import.warnings.iter().map(ToString::to_string).collect()
}

/// Each case: a file, what it loses (line, kind, message), and the summary.
#[test]
fn skips_are_reported_with_their_line_and_make_the_import_partial() {
    type Case = (
        &'static str,
        &'static str,
        Vec<(usize, Lost, &'static str)>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "host name as VIP",
            "virtual=www.example.com:80\n\treal=198.18.2.2:80 gate\n",
            vec![(
                1,
                Lost::Service,
                "virtual \"www.example.com:80\" is not an address and port (host names are not resolved); the block is skipped",
            )],
            "converted 0 services with 0 reals; skipped 1 service (line 1)",
        ),
        (
            "invalid VIP",
            "quiescent=yes\nvirtual=198.18.0.300:80\n\treal=198.18.2.2:80 gate\n\tscheduler=mh\n",
            vec![(
                2,
                Lost::Service,
                "virtual \"198.18.0.300:80\" is not an address and port (host names are not resolved); the block is skipped",
            )],
            "converted 0 services with 0 reals; skipped 1 service (line 2)",
        ),
        (
            "VIP without port",
            "virtual=198.18.0.10\n\treal=198.18.2.2:80 gate\n",
            vec![(
                1,
                Lost::Service,
                "virtual \"198.18.0.10\" is not an address and port (host names are not resolved); the block is skipped",
            )],
            "converted 0 services with 0 reals; skipped 1 service (line 1)",
        ),
        (
            "real of the other family: the service has no real",
            "virtual=198.18.0.10:80\n\treal=2001:db8::2 gate\n\tchecktype=connect\n",
            vec![
                (
                    1,
                    Lost::NoReal,
                    "service 198.18.0.10:80/tcp has no real: none of its reals is carried over",
                ),
                (
                    2,
                    Lost::Real,
                    "real 2001:db8::2 is not of the family of 198.18.0.10:80/tcp; skipped",
                ),
            ],
            "converted 1 service with 0 reals; skipped 1 real (line 2); without real: 1 service (line 1)",
        ),
        (
            "host-name real beside a good one",
            "virtual=198.18.0.10:80\n\treal=web1:80 gate\n\treal=198.18.2.3:80 gate\n\tchecktype=connect\n",
            vec![(
                2,
                Lost::Real,
                "real web1:80 is not an address (host names are not resolved); skipped",
            )],
            "converted 1 service with 1 real; skipped 1 real (line 2)",
        ),
        (
            "a block without real= line",
            "virtual=198.18.0.10:80\n\tchecktype=connect\n",
            vec![(
                1,
                Lost::NoReal,
                "service 198.18.0.10:80/tcp has no real: the block has no real= line",
            )],
            "converted 1 service with 0 reals; nothing skipped; without real: 1 service (line 1)",
        ),
        (
            "fallback to the director itself",
            "virtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n\tfallback=127.0.0.1:80\n\tchecktype=connect\n",
            vec![(
                3,
                Lost::Fallback,
                "fallback 127.0.0.1:80 is this director itself; lvs forwards the fallback by dr to another host, so it is not imported for 198.18.0.10:80",
            )],
            "converted 1 service with 1 real; skipped 1 fallback (line 3)",
        ),
        (
            "masq reals of one address on two ports",
            "virtual=198.18.0.10:80\n\treal=198.18.2.2:8080 masq\n\treal=198.18.2.2:8081 masq\n\tchecktype=connect\n",
            vec![(
                3,
                Lost::Real,
                "real 198.18.2.2:8081 repeats the address of the real of line 2: lvs balances on addresses, not ports; skipped",
            )],
            "converted 1 service with 1 real; skipped 1 real (line 3)",
        ),
        (
            "fwmark service",
            "virtual=7\n\treal=198.18.2.2 gate\n",
            vec![(
                1,
                Lost::Service,
                "firewall-mark service 7 is not supported (lvs balances addresses and ports); the block is skipped",
            )],
            "converted 0 services with 0 reals; skipped 1 service (line 1)",
        ),
        (
            "nothing lost",
            "virtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n\treal=198.18.2.3:80 gate\n\treal=198.18.2.3:80 gate\n\tchecktype=connect\n",
            vec![],
            "converted 1 service with 2 reals; nothing skipped",
        ),
    ];
    for (name, text, expected, summary) in cases {
        let import = import(text);
        assert_eq!(lost(&import), expected, "{name}");
        assert_eq!(import.is_partial(), !expected.is_empty(), "{name}");
        assert_eq!(import.summary(), summary, "{name}");
    }
}

#[test]
fn summary_counts_each_kind_and_lists_its_lines() {
    let text = "\
virtual=www.example.com:80
\treal=198.18.2.2:80 gate
virtual=198.18.0.10:80
\treal=2001:db8::2 gate
\treal=web1:80 gate
\treal=198.18.2.3:80 gate 1 l:5 u:50
\tchecktype=connect
virtual=198.18.0.11:80
\tchecktype=connect
";
    let import = import(text);
    assert_eq!(
        import.summary(),
        "converted 2 services with 1 real; skipped 1 service (line 1), 2 reals (lines 4, 5), \
         2 connection thresholds (line 6); without real: 1 service (line 8)"
    );
}

#[test]
fn quiescent_defaults_to_ldirectords_yes_and_says_so() {
    // (file, quiescent of each service, the default's note expected)
    let cases: Vec<(&str, Vec<bool>, Option<&str>)> = vec![
        (
            "virtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\nvirtual=198.18.0.11:80\n\treal=198.18.2.2:80 gate\n",
            vec![true, true],
            Some(
                "quiescent is not set for the services of lines 1, 3: imported as ldirectord's documented default, yes (a failed real gets weight 0 and keeps its connections; the ldirectord 4.x program itself removes it: write quiescent=no for that)",
            ),
        ),
        (
            "quiescent=no\nvirtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n",
            vec![false],
            None,
        ),
        (
            "quiescent=no\nvirtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n\tquiescent=yes\n",
            vec![true],
            None,
        ),
        (
            "virtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n\tquiescent=no\nvirtual=198.18.0.11:80\n\treal=198.18.2.2:80 gate\n",
            vec![false, true],
            Some(
                "quiescent is not set for the service of line 4: imported as ldirectord's documented default, yes (a failed real gets weight 0 and keeps its connections; the ldirectord 4.x program itself removes it: write quiescent=no for that)",
            ),
        ),
    ];
    for (text, quiescent, note) in cases {
        let import = import(text);
        let found: Vec<bool> = import.config.services.iter().map(|s| s.quiescent).collect();
        assert_eq!(found, quiescent, "{text}");
        let notes: Vec<String> = messages(&import)
            .into_iter()
            .filter(|m| m.starts_with("quiescent"))
            .collect();
        assert_eq!(notes, note.into_iter().collect::<Vec<_>>(), "{text}");
        assert!(!import.is_partial(), "a default is not a skip: {text}");
    }
}

#[test]
fn connection_thresholds_are_reported_never_read_as_request_and_receive() {
    // (real= arguments after the address, request and receive of the real's check, warnings)
    type Case = (
        &'static str,
        Option<(&'static str, &'static str)>,
        Vec<(Option<Lost>, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (
            "gate 1 \"<l:10>\" \"<u:100>\"",
            None,
            vec![
                (
                    Some(Lost::Threshold),
                    "real 198.18.2.2:80: lower connection threshold 10 (<l:10>, ipvsadm -y) is not carried over: lvs has no connection thresholds",
                ),
                (
                    Some(Lost::Threshold),
                    "real 198.18.2.2:80: upper connection threshold 100 (<u:100>, ipvsadm -x) is not carried over: lvs has no connection thresholds",
                ),
            ],
        ),
        (
            "gate \"<u:100>\"",
            None,
            vec![(
                Some(Lost::Threshold),
                "real 198.18.2.2:80: upper connection threshold 100 (<u:100>, ipvsadm -x) is not carried over: lvs has no connection thresholds",
            )],
        ),
        (
            "gate 2 \"/health\", \"^up$\" l:10 u:100",
            Some(("/health", "^up$")),
            vec![
                (
                    Some(Lost::Threshold),
                    "real 198.18.2.2:80: lower connection threshold 10 (l:10, ipvsadm -y) is not carried over: lvs has no connection thresholds",
                ),
                (
                    Some(Lost::Threshold),
                    "real 198.18.2.2:80: upper connection threshold 100 (u:100, ipvsadm -x) is not carried over: lvs has no connection thresholds",
                ),
            ],
        ),
        (
            "gate \"/health\" \"^up$\" \"<l:0>\"",
            Some(("/health", "^up$")),
            vec![(
                None,
                "real 198.18.2.2:80: lower connection threshold 0 (<l:0>) is ipvs' default, none; nothing to carry over",
            )],
        ),
        (
            "gate \"/health\" \"<u:5>\"",
            Some(("/health", "")),
            vec![
                (None, "real 198.18.2.2:80: a request without receive string"),
                (
                    Some(Lost::Threshold),
                    "real 198.18.2.2:80: upper connection threshold 5 (<u:5>, ipvsadm -x) is not carried over: lvs has no connection thresholds",
                ),
            ],
        ),
        (
            "gate l:many",
            None,
            vec![(
                None,
                "real 198.18.2.2:80: \"l:many\" is not a connection threshold (l:N or u:N); ignored",
            )],
        ),
    ];
    for (args, check, expected) in cases {
        let text = format!(
            "quiescent=yes\nvirtual=198.18.0.10:80\n\treal=198.18.2.2:80 {args}\n\tservice=http\n\tscheduler=mh\n"
        );
        let import = import(&text);
        let real = &import.config.services[0].reals[0];
        let found = real.check.as_ref().map(|c| {
            (
                c.request.clone().unwrap_or_default(),
                c.receive.clone().unwrap_or_default(),
            )
        });
        let check = check.map(|(q, r)| (q.to_owned(), r.to_owned()));
        assert_eq!(found, check, "{args}");
        let on_real: Vec<(Option<Lost>, &str)> = import
            .warnings
            .iter()
            .filter(|w| w.line == 3)
            .map(|w| (w.lost, w.message.as_str()))
            .collect();
        assert_eq!(on_real, expected, "{args}");
        let thresholds = expected
            .iter()
            .filter(|(l, _)| *l == Some(Lost::Threshold))
            .count();
        assert_eq!(import.is_partial(), thresholds > 0, "{args}");
    }
}

#[test]
fn schedulers_map_to_maglev_or_are_errors() {
    let block = |scheduler: &str| {
        format!(
            "quiescent=yes\nvirtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n\tchecktype=connect\n\tscheduler={scheduler}\n"
        )
    };
    // Maglev stands for mh and sh: no warning; they hash the client address (persistent).
    for name in ["mh", "sh"] {
        let import = import(&block(name));
        assert!(import.config.services[0].persistent, "{name}");
        assert!(
            !messages(&import).iter().any(|m| m.contains("scheduler")),
            "{name}: {:?}",
            import.warnings
        );
    }
    // The others become weighted maglev, saying how they differ.
    for (name, how) in [
        (
            "rr",
            "rr gives new connections to the reals in turn, whatever their weights",
        ),
        (
            "wrr",
            "wrr gives new connections to the reals in turn, as often as their weights say",
        ),
        (
            "lc",
            "lc sends a new connection to the real with the fewest active connections",
        ),
        (
            "wlc",
            "wlc sends a new connection to the real with the fewest active connections per unit of weight",
        ),
        (
            "lblc",
            "lblc keeps each destination address on one real while it is not overloaded",
        ),
        (
            "lblcr",
            "lblcr keeps each destination address on a set of reals",
        ),
        (
            "dh",
            "dh chooses the real by a hash of the destination address",
        ),
        (
            "sed",
            "sed sends a new connection to the real of shortest expected delay ((active connections + 1) / weight)",
        ),
        (
            "nq",
            "nq sends a new connection to an idle real if there is one, else as sed",
        ),
        (
            "fo",
            "fo sends every new connection to the available real of highest weight",
        ),
        (
            "ovf",
            "ovf sends new connections to the real of highest weight until its active connections exceed its weight",
        ),
        (
            "twos",
            "twos sends a new connection to the less loaded of two reals picked at random",
        ),
    ] {
        let import = import(&block(name));
        assert_eq!(import.config.services[0].scheduler, Scheduler::Maglev);
        assert!(!import.config.services[0].persistent, "{name}");
        let hint = if name == "rr" {
            " (give the reals equal weights for rr's even spread)"
        } else {
            ""
        };
        let expected = format!(
            "line 5: scheduler {name} is imported as weighted maglev: {how}; maglev spreads \
             connections by a hash of the flow, in proportion to the weights{hint}"
        );
        assert_eq!(messages(&import)[1..], [expected], "{name}");
        assert!(!import.is_partial(), "{name}");
    }
    // An unset scheduler is ldirectord's wrr.
    let import = import(
        "quiescent=yes\nvirtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n\tchecktype=connect\n",
    );
    assert_eq!(
        messages(&import)[1..],
        [
            "scheduler is not set for the service of line 2: ldirectord's default, wrr, is imported as weighted maglev: wrr gives new connections to the reals in turn, as often as their weights say; maglev spreads connections by a hash of the flow, in proportion to the weights"
        ]
    );
    // Unknown names are errors naming the line (ipvs would refuse them).
    for name in ["bogus", "WRR", "maglev"] {
        match Import::ldirectord(&block(name), None, &no_route) {
            Err(ConfigError::Syntax { line, message, .. }) => assert_eq!(
                (line, message),
                (
                    5,
                    format!(
                        "unknown scheduler {name:?} (ipvs has rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos)"
                    )
                ),
                "{name}"
            ),
            other => panic!("{name}: expected a syntax error, got {other:?}"),
        }
    }
}

#[test]
fn autoreload_becomes_watch_config() {
    let body = "virtual=198.18.0.10:80\n\treal=198.18.2.2:80 gate\n";
    for (setting, watch) in [
        ("autoreload=yes\n", true),
        ("autoreload = no\n", false),
        ("", false),
    ] {
        let import = import(&format!("{setting}{body}"));
        assert_eq!(import.config.global.watch_config, watch, "{setting:?}");
        assert!(
            !messages(&import).iter().any(|m| m.contains("autoreload")),
            "{setting:?}: {:?}",
            import.warnings
        );
        let yaml = import.to_yaml();
        assert_eq!(yaml.contains("watch_config: true"), watch, "{yaml}");
        let back = crate::config::parse(&yaml).expect("the imported YAML loads");
        assert_eq!(back.global.watch_config, watch, "{yaml}");
    }
    match Import::ldirectord(&format!("autoreload=sometimes\n{body}"), None, &no_route) {
        Err(ConfigError::Syntax {
            line: 1, message, ..
        }) => {
            assert_eq!(message, "autoreload must be yes or no, not \"sometimes\"")
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// A resolver with fixed routes.
fn routes(table: &'static [(&'static str, &'static str)]) -> impl Fn(IpAddr) -> Option<IpAddr> {
    move |real| {
        table
            .iter()
            .find(|(to, _)| ip(to) == real)
            .map(|(_, via)| ip(via))
    }
}

fn tunnel(v4: Option<&str>, v6: Option<&str>) -> Tunnel {
    Tunnel {
        source_v4: v4.map(|a| a.parse().expect("v4")),
        source_v6: v6.map(|a| a.parse().expect("v6")),
        gue_port: DEFAULT_GUE_PORT,
        vary_bits_v4: 0,
        vary_bits_v6: 0,
        ttl: lvs_common::DEFAULT_TUNNEL_TTL,
    }
}

#[test]
fn ipip_tunnel_source_defaults_to_the_route_as_ipvs_does() {
    const V4: &str = "quiescent=yes\nvirtual=198.18.0.10:80\n\treal=198.18.1.2:80 ipip\n\treal=198.18.1.3:80 ipip\n\treal=198.18.1.4:80 gate\n\tchecktype=connect\n\tscheduler=mh\n";
    const V6: &str = "quiescent=yes\nvirtual6=[2001:db8::10]:80\n\treal6=[2001:db8:1::2]:80 ipip\n\tchecktype=connect\n\tscheduler=mh\n";
    type Case = (
        &'static str,
        &'static str,
        Option<Tunnel>,
        &'static [(&'static str, &'static str)],
        Result<(Option<&'static str>, Option<&'static str>), Vec<&'static str>>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "no flag: the route's source",
            V4,
            None,
            &[("198.18.1.2", "198.18.0.1"), ("198.18.1.3", "198.18.0.1")],
            Ok((Some("198.18.0.1"), None)),
            vec![
                "line 3: real 198.18.1.2 is ipip: tunnel source 198.18.0.1 taken from the route to it on this machine, as IPVS takes the director's (run the import on the director, or give --tunnel-source-v4)",
            ],
        ),
        (
            "the flag wins over the route",
            V4,
            Some(tunnel(Some("198.18.250.1"), None)),
            &[("198.18.1.2", "198.18.0.1"), ("198.18.1.3", "198.18.0.1")],
            Ok((Some("198.18.250.1"), None)),
            vec![],
        ),
        (
            "no flag, no route: the error names the flag",
            V4,
            None,
            &[],
            Err(vec![
                "real 198.18.1.2 (line 3) is ipip: no route to it to take a tunnel source from; give --tunnel-source-v4",
                "real 198.18.1.3 (line 4) is ipip: no route to it to take a tunnel source from; give --tunnel-source-v4",
            ]),
            vec![],
        ),
        (
            "a route of the wrong family is no route",
            V4,
            None,
            &[("198.18.1.2", "2001:db8::1"), ("198.18.1.3", "0.0.0.0")],
            Err(vec![
                "real 198.18.1.2 (line 3) is ipip: no route to it to take a tunnel source from; give --tunnel-source-v4",
                "real 198.18.1.3 (line 4) is ipip: no route to it to take a tunnel source from; give --tunnel-source-v4",
            ]),
            vec![],
        ),
        (
            "reals routed by different addresses: the first one's, said",
            V4,
            None,
            &[("198.18.1.2", "198.18.0.1"), ("198.18.1.3", "198.18.7.1")],
            Ok((Some("198.18.0.1"), None)),
            vec![
                "line 3: real 198.18.1.2 is ipip: tunnel source 198.18.0.1 taken from the route to it on this machine, as IPVS takes the director's (run the import on the director, or give --tunnel-source-v4)",
                "line 4: real 198.18.1.3 is ipip: the route to it leaves by 198.18.7.1, but lvs has one tunnel source per family: 198.18.0.1 (the route to 198.18.1.2) is used; give --tunnel-source-v4 to choose",
            ],
        ),
        (
            "one real unrouted: it shares the other's source",
            V4,
            None,
            &[("198.18.1.3", "198.18.0.1")],
            Ok((Some("198.18.0.1"), None)),
            vec![
                "line 3: real 198.18.1.2 is ipip and this machine has no route to it: it gets the tunnel source 198.18.0.1 of the other ipip reals",
                "line 4: real 198.18.1.3 is ipip: tunnel source 198.18.0.1 taken from the route to it on this machine, as IPVS takes the director's (run the import on the director, or give --tunnel-source-v4)",
            ],
        ),
        (
            "--tunnel-source-v6 only: v4 still from the route",
            V4,
            Some(tunnel(None, Some("2001:db8::1"))),
            &[("198.18.1.2", "198.18.0.1"), ("198.18.1.3", "198.18.0.1")],
            Ok((Some("198.18.0.1"), Some("2001:db8::1"))),
            vec![
                "line 3: real 198.18.1.2 is ipip: tunnel source 198.18.0.1 taken from the route to it on this machine, as IPVS takes the director's (run the import on the director, or give --tunnel-source-v4)",
            ],
        ),
        (
            "ipv6: the route's source",
            V6,
            None,
            &[("2001:db8:1::2", "2001:db8::1")],
            Ok((None, Some("2001:db8::1"))),
            vec![
                "line 3: real 2001:db8:1::2 is ipip: tunnel source 2001:db8::1 taken from the route to it on this machine, as IPVS takes the director's (run the import on the director, or give --tunnel-source-v6)",
            ],
        ),
        (
            "ipv6 without route names the v6 flag",
            V6,
            Some(tunnel(Some("198.18.250.1"), None)),
            &[],
            Err(vec![
                "real 2001:db8:1::2 (line 3) is ipip: no route to it to take a tunnel source from; give --tunnel-source-v6",
            ]),
            vec![],
        ),
    ];
    for (name, text, given, table, expected, notes) in cases {
        let resolve = routes(table);
        match (Import::ldirectord(text, given, &resolve), expected) {
            (Ok(import), Ok((v4, v6))) => {
                let t = import.config.global.tunnel.as_ref().expect("a tunnel");
                assert_eq!(
                    (t.source_v4, t.source_v6),
                    (
                        v4.map(|a| a.parse::<Ipv4Addr>().expect("v4")),
                        v6.map(|a| a.parse().expect("v6"))
                    ),
                    "{name}"
                );
                assert!(import.config.validate().is_ok(), "{name}");
                assert!(!import.is_partial(), "{name}");
                let found: Vec<String> = messages(&import)
                    .into_iter()
                    .filter(|m| m.contains("ipip"))
                    .collect();
                assert_eq!(found, notes, "{name}");
            }
            (Err(ConfigError::Invalid(faults)), Err(expected)) => {
                let found: Vec<String> = faults.iter().map(ToString::to_string).collect();
                assert_eq!(found, expected, "{name}");
            }
            (other, _) => panic!("{name}: unexpected {other:?}"),
        }
    }
}

#[test]
fn the_kernel_route_to_loopback_leaves_by_loopback() {
    assert_eq!(Import::route_source(ip("127.0.0.1")), Some(ip("127.0.0.1")));
}
