//! End to end over real sockets in a direct-routing lab: a client's kernel talks TCP and UDP
//! to the VIPs, `lvs_director` (run by `lvs-ctl daemon`) forwards to the real servers, whose
//! kernels answer the client straight through the switch — never through the director.

mod common;

use common::*;
use lvs_tests::lab::{
    Capture, VIP4,
    serve::{udp_ask, udp_flow},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, SocketAddr},
    time::Duration,
};

/// HTTP through `vip`: every request answered by a real (the body names it), more than one
/// real used, the SYN-ACKs reach the client on its return-path interface from the VIP, and
/// no frame from the VIP crosses any interface of the director.
fn http_in_dr_mode_bypasses_the_director(tag: &str, vip: IpAddr) {
    const N: usize = 30;
    let mut w = TestLab::web(tag, 3);
    let svc = w.service(
        vip,
        HTTP_PORT,
        "tcp",
        &http_check(1000),
        &[(0, 1), (1, 1), (2, 1)],
    );
    w.start(&[svc]);

    // Opened before the traffic: they see every frame from now on.
    let director_caps: Vec<(&str, Capture)> = w.lab.director.enter(|| {
        ["d0", "d1", "d2", "d3"]
            .into_iter()
            .map(|i| (i, Capture::open(i)))
            .collect()
    });
    let client_return = w.lab.client.enter(|| Capture::open("c1"));

    let answers = w.http(vip, N);
    let names = w.names();
    let mut seen = BTreeSet::new();
    for (i, a) in answers.iter().enumerate() {
        let body = a
            .as_ref()
            .unwrap_or_else(|e| panic!("request {i} to {vip}: {e}\n{}", w.daemon.log()));
        assert!(
            names.contains(body),
            "request {i}: body {body:?} names no real"
        );
        seen.insert(body.clone());
    }
    assert!(seen.len() >= 2, "{N} connections all went to {seen:?}");

    assert!(
        client_return
            .next_matching(Duration::from_secs(1), |f| from_ip(f, vip))
            .is_some(),
        "the client received the reals' replies from {vip} on its return-path interface c1"
    );
    for (iface, cap) in &director_caps {
        let leak = cap.next_matching(Duration::from_millis(300), |f| from_ip(f, vip));
        assert!(
            leak.is_none(),
            "a frame from the VIP {vip} crossed the director's {iface}: {leak:02x?}"
        );
    }
    // The captures do see what does cross the director: the health checks' answers.
    for (i, (iface, cap)) in director_caps.iter().enumerate().skip(1) {
        let real = w.lab.real_addr(i - 1, vip);
        assert!(
            cap.next_matching(Duration::from_secs(3), |f| from_ip(f, real))
                .is_some(),
            "the capture on {iface} saw {real} answer a health check"
        );
    }
    // The director scheduled exactly the client's connections, each once.
    let l = w.daemon.listing().expect("listing");
    let s = &l.services[0];
    assert_eq!(
        s.stats.conns, N as u64,
        "connections the director scheduled"
    );
    assert_eq!(
        s.reals.iter().map(|r| r.stats.conns).sum::<u64>(),
        N as u64,
        "per-real connections add up"
    );
}

#[test]
fn http_over_ipv4_is_answered_by_the_reals_and_replies_bypass_the_director() {
    http_in_dr_mode_bypasses_the_director("h4", vip4());
}

#[test]
fn http_over_ipv6_is_answered_by_the_reals_and_replies_bypass_the_director() {
    http_in_dr_mode_bypasses_the_director("h6", vip6());
}

/// Weights 1:1:2 over 400 new connections. Maglev gives each real a share of the 65537 slots
/// within a fraction of a percent of its weight's share (25%, 25%, 50%); each new connection's
/// source port picks a slot through the flow hash, so the counts are binomial: mean 100 and
/// σ = √(400·¼·¾) ≈ 8.7 for the weight-1 reals, mean 200 and σ = 10 for the weight-2 real.
/// ±40 is 4σ or more for each: a correct director fails this about once in 10⁴ runs, while
/// a director that ignores weights (133 each) misses by 67 on the weight-2 real.
#[test]
fn new_connections_share_out_by_weight_1_1_2() {
    const N: usize = 400;
    const TOLERANCE: i64 = 40;
    let mut w = TestLab::web("wgt", 3);
    let vip = vip4();
    let svc = w.service(
        vip,
        HTTP_PORT,
        "tcp",
        &http_check(1000),
        &[(0, 1), (1, 1), (2, 2)],
    );
    w.start(&[svc]);
    let answers = w.http(vip, N);
    let mut per_real: BTreeMap<String, i64> = w.names().into_iter().map(|n| (n, 0)).collect();
    for (i, a) in answers.iter().enumerate() {
        let name = a.as_ref().unwrap_or_else(|e| panic!("request {i}: {e}"));
        *per_real.get_mut(name).expect("a known real") += 1;
    }
    let expected = [("real-1", 100), ("real-2", 100), ("real-3", 200)];
    for (name, want) in expected {
        let got = per_real[name];
        assert!(
            (got - want).abs() <= TOLERANCE,
            "{name}: {got} of {N} connections, expected {want} ± {TOLERANCE}: {per_real:?}"
        );
    }
    // The director's own counters agree with what the servers answered.
    let l = w.daemon.listing().expect("listing");
    for (i, r) in l.services[0].reals.iter().enumerate() {
        assert_eq!(
            r.stats.conns as i64,
            per_real[&format!("real-{}", i + 1)],
            "connections the director counted for {}",
            r.address
        );
    }
}

/// Each UDP flow (one client socket, so one source port) keeps its real across many
/// datagrams sent interleaved with the other flows'; the flows spread over the reals.
#[test]
fn udp_flows_stay_on_their_real_across_many_datagrams() {
    const FLOWS: usize = 24;
    const DATAGRAMS: usize = 40;
    const PORT: u16 = 7;
    let mut w = TestLab::web("udp", 3);
    let vip = vip4();
    for r in &w.lab.reals {
        let addrs = [VIP4.parse().expect("VIP4"), r.addr4];
        let echo = w
            .host
            .udp_echo(&r.ns, &r.name, &addrs, PORT)
            .expect("udp echo");
        w.more.push(echo);
    }
    let svc = w.service(vip, PORT, "udp", CONNECT_CHECK, &[(0, 1), (1, 1), (2, 1)]);
    w.start(&[svc]);
    let target = SocketAddr::new(vip, PORT);
    let flows = w.lab.client.enter(|| {
        (0..FLOWS)
            .map(|_| udp_flow(target, Duration::from_secs(1)).expect("client UDP socket"))
            .collect::<Vec<_>>()
    });
    let mut owner: Vec<Option<String>> = vec![None; FLOWS];
    for k in 0..DATAGRAMS {
        for (f, s) in flows.iter().enumerate() {
            let who = udp_ask(s, &format!("flow {f} datagram {k}"))
                .expect("send to the VIP")
                .unwrap_or_else(|| panic!("flow {f} datagram {k}: no echo\n{}", w.daemon.log()));
            match &owner[f] {
                None => owner[f] = Some(who),
                Some(o) => assert_eq!(o, &who, "flow {f} moved at datagram {k}"),
            }
        }
    }
    let used: BTreeSet<_> = owner.iter().flatten().collect();
    assert!(used.len() >= 2, "{FLOWS} flows all on {used:?}");
    let l = w.daemon.listing().expect("listing");
    assert_eq!(
        l.services[0].stats.conns, FLOWS as u64,
        "one scheduling per flow, not per datagram"
    );
}
