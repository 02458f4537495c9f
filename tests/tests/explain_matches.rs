//! `explain` names the real the data plane sends a packet to: for every flow of the fixtures,
//! the owner's answer (read from the live maps) is checked against what `lvs_director` does
//! with a packet of that flow through `BPF_PROG_TEST_RUN`, with reals up, drained, down (out
//! of the table), removed, and a real deactivated under a table that still names it.

use lvs_common::{PROTO_TCP, PROTO_UDP, REAL_F_ACTIVE, SVC_F_HASH_SRC_ONLY, ServiceKey};
use lvs_ctl::dataplane::{LoadOptions, Maps, RealSpec, ServiceSpec, Via};
use lvs_tests::{packet::*, *};
use std::net::{IpAddr, SocketAddr};

/// The fixture's reals: four direct-routing reals, told apart by their MACs.
const REALS: [&str; 4] = ["198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4"];

fn dr(i: usize, weight: u32) -> RealSpec {
    RealSpec::dr(ip(REALS[i]), weight, real_mac(i as u8 + 1), DIRECTOR_MAC)
}

/// A web service (exact port), a persistent one, and an every-port service on another VIP.
fn services(reals: &[RealSpec]) -> Vec<ServiceSpec> {
    let svc = |vip: &str, port, proto, flags| ServiceSpec {
        key: ServiceKey::new(ip(vip), port, proto),
        flags,
        ring_size: 251,
        reals: reals.to_vec(),
    };
    vec![
        svc("198.18.0.10", 80, PROTO_TCP, 0),
        svc("198.18.0.11", 53, PROTO_UDP, SVC_F_HASH_SRC_ONLY),
        svc("198.18.0.12", 0, PROTO_TCP, 0),
    ]
}

/// The flows: 60 clients to each service.
fn flows() -> Vec<(SocketAddr, SocketAddr, u8)> {
    let mut out = Vec::new();
    for i in 0..60u16 {
        let src = SocketAddr::new(IpAddr::from([198, 18, 200, (i % 250) as u8]), 20000 + i);
        out.push((src, sa("198.18.0.10:80"), PROTO_TCP));
        out.push((src, sa("198.18.0.11:53"), PROTO_UDP));
        out.push((src, SocketAddr::new(ip("198.18.0.12"), 1000 + i), PROTO_TCP));
    }
    out
}

/// The real address a rewritten frame was sent to, by its destination MAC.
fn real_of(out: &Outcome) -> Option<IpAddr> {
    if out.verdict != XDP_TX {
        return None;
    }
    let mac: [u8; 6] = out.frame[..6].try_into().unwrap();
    (0..REALS.len())
        .find(|&i| real_mac(i as u8 + 1) == mac)
        .map(|i| ip(REALS[i]))
}

/// Asks `explain` for every flow, then sends a packet of it: both must name the same real
/// (none: the packet is dropped). Returns how often each way of deciding was seen.
fn check(h: &Harness, what: &str) -> (usize, usize, usize) {
    let (mut conn, mut maglev, mut stale) = (0, 0, 0);
    for (src, dst, proto) in flows() {
        let fk = flow(src, dst, proto);
        let keys = [
            ServiceKey::new(dst.ip(), dst.port(), proto),
            ServiceKey::new(dst.ip(), 0, proto),
        ];
        let said = h.director.explain(&fk, &keys);
        let out = h.run(&frame(src, dst, proto, b"explain"));
        assert_eq!(
            said.real,
            real_of(&out),
            "{what}: {src} -> {dst}: explain said {said:?}, the data plane gave verdict {} \
             (counters {:?})",
            out.verdict,
            h.maps().counters()
        );
        if said.real.is_none() {
            assert_eq!(
                out.verdict, XDP_DROP,
                "{what}: {src} -> {dst}: no real, not dropped"
            );
        }
        match said.via {
            Via::Connection { .. } => conn += 1,
            Via::Maglev {
                stale_connection, ..
            } => {
                maglev += 1;
                stale += stale_connection as usize;
            }
            Via::NoService => panic!("{what}: {src} -> {dst}: every flow has a service"),
        }
    }
    (conn, maglev, stale)
}

#[test]
fn explain_names_the_real_the_data_plane_uses() {
    let mut h = Harness::new("exq");
    let all: Vec<RealSpec> = (0..4).map(|i| dr(i, 1 + i as u32)).collect();
    h.apply(&services(&all));
    let n = flows().len();

    // New flows: the Maglev table decides; the packets pin them.
    assert_eq!(check(&h, "new flows"), (0, n, 0));
    // The same flows again: the connection table decides.
    assert_eq!(check(&h, "established"), (n, 0, 0));

    // Real 0 drained (weight 0, keeps its flows), real 1 down and not quiescent (inactive:
    // its flows are rescheduled), real 2 removed.
    let changed = vec![
        dr(0, 0),
        RealSpec {
            active: false,
            ..dr(1, 2)
        },
        dr(3, 4),
    ];
    h.apply(&services(&changed));
    let (conn, maglev, stale) = check(&h, "drained, down, removed");
    assert!(
        conn > 0 && stale > 0,
        "{conn} kept, {maglev} rescheduled ({stale} stale)"
    );
    assert_eq!(check(&h, "after the change, established"), (n, 0, 0));

    // A real deactivated by someone else under a table that still names it: the data plane
    // drops (drop_no_real) what hashes to it, and explain must not name it.
    let mut maps = Maps::load(&LoadOptions::new(h.director.pin_dir())).expect("a second handle");
    let index = h.real_index(&services(&changed)[0].key, ip(REALS[3]));
    let mut real = maps.real(index).expect("read the real");
    real.flags &= !REAL_F_ACTIVE;
    maps.set_real(index, &real).expect("deactivate the real");
    let (_, maglev, _) = check(&h, "a real inactive in a live table");
    assert!(maglev > 0, "some flows were on the deactivated real");

    // No real can take new flows: every table is empty, every packet dropped.
    h.apply(&services(&[dr(0, 0)]));
    let (conn, maglev, _) = check(&h, "no real takes new flows");
    assert!(
        conn > 0 && maglev > 0,
        "drained real keeps {conn}, {maglev} dropped"
    );
}
