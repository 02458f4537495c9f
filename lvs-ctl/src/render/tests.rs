//! The listings and explanations as an operator reads them, line for line.

use super::*;
use crate::api::{ConnView, Health, RateView};

/// Two services, one real drained, one down: also the metrics tests' listing.
pub(crate) fn sample() -> Listing {
    let real = |a: &str, w: u32| RealView {
        address: a.parse().unwrap(),
        method: Method::Dr,
        configured_weight: w,
        weight: w,
        active: true,
        health: Health::Up,
        drained: false,
        maintenance: false,
        fallback: false,
        resolved: true,
        stats: StatsView {
            conns: 3,
            packets: 120,
            bytes: 9_000,
        },
        rate: RateView {
            cps: 1,
            pps: 40,
            bps: 3_000,
        },
        check: None,
    };
    let mut drained = real("198.18.1.3", 2);
    drained.weight = 0;
    drained.drained = true;
    drained.stats = StatsView {
        conns: 1,
        packets: 123_456_789,
        bytes: 98_765_432_100,
    };
    Listing {
        repairs: Vec::new(),
        services: vec![
            ServiceView {
                name: None,
                service: "198.18.100.1:80/tcp".parse::<ServiceRef>().unwrap(),
                persistent: false,
                quiescent: true,
                ring_size: 65537,
                stats: StatsView {
                    conns: 4,
                    packets: 123_456_909,
                    bytes: 98_765_441_100,
                },
                rate: RateView {
                    cps: 1,
                    pps: 40,
                    bps: 3_000,
                },
                reals: vec![real("198.18.1.2", 1), drained],
            },
            ServiceView {
                name: Some("dns".into()),
                service: "[2001:db8:100::1]:53/udp".parse::<ServiceRef>().unwrap(),
                persistent: true,
                quiescent: false,
                ring_size: 65537,
                stats: StatsView::default(),
                rate: RateView::default(),
                reals: vec![RealView {
                    health: Health::Down,
                    active: false,
                    resolved: false,
                    weight: 0,
                    check: Some(CheckView {
                        check: "dns [2001:db8:1::2]:53".into(),
                        state: Health::Down,
                        since_ms: 1_700_000_000_000 + 3_723_000,
                        cause: "dns [2001:db8:1::2]:53: timed out after 1s".into(),
                        last_error: Some("dns [2001:db8:1::2]:53: timed out after 1s".into()),
                        last_probe_ms: Some(1_700_000_000_000 + 3_725_000),
                        last_duration_us: Some(1_000_500),
                    }),
                    ..real("2001:db8:1::2", 1)
                }],
            },
        ],
        at_ms: 1_700_000_000_000 + 3_726_200,
    }
}

#[test]
fn plain_listing_lines_up_like_ipvsadm() {
    let want = "\
lvs XDP director (Maglev), 2 service(s)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight State
TCP  198.18.100.1:80 mh
  -> 198.18.1.2:80                Route   1      up
  -> 198.18.1.3:80                Route   0      up,drain
UDP  [2001:db8:100::1]:53 mh persistent non-quiescent
  -> [2001:db8:1::2]:53           Route   0      down,inactive,no-neigh
       check dns [2001:db8:1::2]:53: down since 23:15:23 UTC (3.2s); last error: timed out after 1s
";
    assert_eq!(list(&sample(), ListOptions::default()), want);
}

#[test]
fn ages_read_naturally() {
    assert_eq!(age(850), "850ms");
    assert_eq!(age(3_250), "3.2s");
    assert_eq!(age(303_000), "5m3s");
    assert_eq!(age(7_500_000), "2h5m");
    assert_eq!(age(273_600_000), "3d4h");
    assert_eq!(clock(1_700_000_000_000), "22:13:20 UTC");
}

#[test]
fn stats_listing_abbreviates_large_numbers_unless_exact() {
    let want = "\
lvs XDP director (Maglev), 2 service(s)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  198.18.100.1:80                     4  123456K        0   98765M        0
  -> 198.18.1.2:80                       3      120        0     9000        0
  -> 198.18.1.3:80                       1  123456K        0   98765M        0
UDP  [2001:db8:100::1]:53                0        0        0        0        0
  -> [2001:db8:1::2]:53                  3      120        0     9000        0
";
    assert_eq!(
        list(
            &sample(),
            ListOptions {
                stats: true,
                ..Default::default()
            }
        ),
        want
    );
    let exact = list(
        &sample(),
        ListOptions {
            stats: true,
            exact: true,
            ..Default::default()
        },
    );
    assert!(
        exact.contains(
            "  -> 198.18.1.3:80                       1 123456789        0 98765432100        0\n"
        ),
        "{exact}"
    );
}

#[test]
fn rate_listing_has_cps_pps_bps() {
    let want = "\
lvs XDP director (Maglev), 2 service(s)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  198.18.100.1:80                     1       40        0     3000        0
  -> 198.18.1.2:80                       1       40        0     3000        0
  -> 198.18.1.3:80                       1       40        0     3000        0
UDP  [2001:db8:100::1]:53                0        0        0        0        0
  -> [2001:db8:1::2]:53                  1       40        0     3000        0
";
    assert_eq!(
        list(
            &sample(),
            ListOptions {
                rate: true,
                ..Default::default()
            }
        ),
        want
    );
}

#[test]
fn json_listing_round_trips() {
    let l = sample();
    let text = json(&l);
    assert!(text.contains("\"health\": \"down\""), "{text}");
    assert_eq!(serde_json::from_str::<Listing>(&text).unwrap(), l);
}

#[test]
fn explain_says_slot_of_size_or_connection_hit() {
    let e = Explanation {
        flow: "198.18.0.1:4000 -> 198.18.100.1:80/tcp".into(),
        service: Some("198.18.100.1:80/tcp".parse().unwrap()),
        real: Some("198.18.1.2".parse().unwrap()),
        via: Via::Maglev {
            slot: 17,
            size: 65537,
            hash: 0xdead_beef,
            src_only: false,
            index: 3,
            stale_connection: false,
        },
    };
    assert_eq!(
        explain(&e),
        "198.18.0.1:4000 -> 198.18.100.1:80/tcp\n  service  198.18.100.1:80/tcp\n  real     198.18.1.2\n  \
why      Maglev slot 17 of 65537 (hash 0xdeadbeef of the 5-tuple) holds real #3\n           \
(no connection-table entry: a new flow is scheduled this way)\n"
    );
    let e = Explanation {
        via: Via::Connection { index: 3 },
        ..e
    };
    assert!(explain(&e).contains("connection table hit: the flow is established on real #3"));
}

#[test]
fn one_service_or_sorted_or_a_named_error() {
    let dns: ServiceRef = "[2001:db8:100::1]:53/udp".parse().unwrap();
    let one = select(sample(), Some(&dns), false).unwrap();
    assert_eq!(one.services.len(), 1);
    assert_eq!(one.services[0].service, dns);
    let none: ServiceRef = "198.18.100.9:80".parse().unwrap();
    assert_eq!(
        select(sample(), Some(&none), false).unwrap_err(),
        "service 198.18.100.9:80/tcp: no such service"
    );
    let mut l = sample();
    l.services.reverse();
    l.services[1].reals.reverse();
    let sorted = select(l, None, true).unwrap();
    assert_eq!(sorted.services, sample().services, "address order");
}

#[test]
fn connections_read_like_ipvsadm_lnc() {
    let c = ConnListing {
        entries: vec![
            ConnView {
                protocol: Protocol::Tcp,
                client: "198.18.0.1:40000".parse().unwrap(),
                virtual_addr: "198.18.100.1:80".parse().unwrap(),
                real: Some("198.18.1.2".parse().unwrap()),
            },
            ConnView {
                protocol: Protocol::Udp,
                client: "[2001:db8:ff::1]:5353".parse().unwrap(),
                virtual_addr: "[2001:db8:100::1]:53".parse().unwrap(),
                real: None,
            },
        ],
        more: true,
    };
    let text = connections(&c);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "lvs connection entries: 2");
    let words = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(words(lines[1]), ["pro", "source", "virtual", "destination"]);
    assert_eq!(
        words(lines[2]),
        [
            "TCP",
            "198.18.0.1:40000",
            "198.18.100.1:80",
            "198.18.1.2:80"
        ]
    );
    assert_eq!(
        words(lines[3]),
        [
            "UDP",
            "[2001:db8:ff::1]:5353",
            "[2001:db8:100::1]:53",
            "(rescheduled)"
        ]
    );
    assert!(lines[4].starts_with("(more entries"), "{text}");
    let sorted = sorted_connections(c);
    assert_eq!(sorted.entries[0].protocol, Protocol::Tcp);
}
