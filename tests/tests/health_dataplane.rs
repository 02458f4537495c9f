//! Health verdicts on the data plane: where the packets of established and new flows go when a
//! real dies (quiescent or not), when every real is down (fallback), and in maintenance or
//! drained. The reals' UDP sinks tell where each datagram arrived; HTTP checks on port 80 of
//! each real decide its health.

mod common;

use common::health::*;
use common::*;
use lvs_ctl::api::{Health, Listing};
use lvs_tests::lab::{
    VIP4,
    serve::{Answer, HttpServer},
};
use std::{net::IpAddr, time::Duration};

const INTERVAL_MS: u64 = 200;
const FALL: u64 = 2;
const RISE: u64 = 3;

/// A lab of `n` reals with an HTTP server (answering 200) on each, and a daemon whose UDP
/// service has the first two as reals, HTTP-checked every 200 ms (rise 3, fall 2).
fn lab(tag: &str, n: u8, quiescent: bool, fallback: Option<&str>) -> (TestLab, Vec<HttpServer>) {
    let d = TestLab::sinks_with_config(tag, n, |d| {
        let fallback = fallback.map_or(String::new(), |f| format!("    fallback: {f}\n"));
        format!(
            r#"{global}services:
  - vip: {VIP4}
    port: {PORT}
    protocol: udp
    quiescent: {quiescent}
{fallback}    check: {{type: http, port: 80, interval: {INTERVAL_MS}ms, timeout: 150ms, rise: {RISE}, fall: {FALL}}}
    reals: [{{address: 198.18.1.2}}, {{address: 198.18.2.2}}]
"#,
            global = global(d)
        )
    });
    let servers = d
        .lab
        .reals
        .iter()
        .map(|r| http_server(&d, &r.ns, Answer::Ok))
        .collect();
    let l1 = d.lab.reals[0].addr4;
    let l2 = d.lab.reals[1].addr4;
    wait_for(&d, Duration::from_secs(10), "both reals up", |l| {
        health_is(l, PORT, l1, Health::Up) && health_is(l, PORT, l2, Health::Up)
    });
    (d, servers)
}

fn in_table(l: &Listing, a: IpAddr) -> Option<(bool, u32)> {
    real(l, PORT, a).map(|r| (r.active, r.weight))
}

/// 32 flows that use both reals, and where they go.
fn spread_flows(d: &TestLab) -> (Vec<std::net::UdpSocket>, Vec<usize>) {
    let flows = d.flows(32);
    let before = d.where_do_they_go(&flows, "before");
    assert!(
        before.contains(&0) && before.contains(&1),
        "32 flows use both reals: {before:?}"
    );
    (flows, before)
}

#[test]
fn dead_real_leaves_the_table_on_time_and_returns_after_rise_good_checks() {
    let (d, servers) = lab("hdd", 2, false, None);
    let r2 = d.lab.reals[1].addr4;
    let (flows, before) = spread_flows(&d);

    let t0 = now_ms();
    servers[1].set(Answer::Closed);
    let bound = INTERVAL_MS * FALL + INTERVAL_MS;
    let (waited, l) = wait_for(&d, Duration::from_secs(5), "real 2 out of the table", |l| {
        in_table(l, r2) == Some((false, 0))
    });
    let c = real(&l, PORT, r2)
        .and_then(|r| r.check.clone())
        .expect("check");
    assert_eq!(c.cause, "http 198.18.2.2:80: connect: connection refused");
    let decided = c.since_ms.saturating_sub(t0);
    assert!(
        decided <= bound,
        "down decided {decided} ms after the real died (bound {bound} ms)"
    );
    eprintln!(
        "real died: down decided after {decided} ms, out of the table in list after {waited:?}"
    );
    // What `list` showed includes our polling (25 ms) and the `lvs-ctl` round trip.
    assert!(
        waited.as_millis() as u64 <= bound + 150,
        "out of the table {waited:?} after the real died (bound {bound} ms)"
    );

    // Not quiescent: the dead real's flows are rescheduled; the others stay put.
    let after = d.where_do_they_go(&flows, "dead");
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_eq!(*a, 0, "flow {i} (was on real {}) now on real 1", b + 1);
    }

    // It comes back after `rise` good checks in a row, not on the first.
    let t1 = now_ms();
    servers[1].set(Answer::Ok);
    let (_, l) = wait_for(&d, Duration::from_secs(5), "real 2 back", |l| {
        in_table(l, r2) == Some((true, 1))
    });
    let c = real(&l, PORT, r2)
        .and_then(|r| r.check.clone())
        .expect("check");
    let back = c.since_ms.saturating_sub(t1);
    eprintln!("real recovered: back after {back} ms ({RISE} good checks)");
    let (low, high) = ((RISE - 1) * INTERVAL_MS, RISE * INTERVAL_MS + INTERVAL_MS);
    assert!(
        (low - 50..=high).contains(&back),
        "back {back} ms after it recovered: expected after {RISE} checks, {low}..={high} ms"
    );
    let new = d.flows(32);
    assert!(
        d.where_do_they_go(&new, "back").contains(&1),
        "new flows reach real 2 again"
    );
}

#[test]
fn quiescent_down_real_keeps_its_established_flows_and_takes_no_new_ones() {
    let (d, servers) = lab("hdq", 2, true, None);
    let r2 = d.lab.reals[1].addr4;
    let (flows, before) = spread_flows(&d);

    servers[1].set(Answer::Status(503));
    let (_, l) = wait_for(&d, Duration::from_secs(5), "real 2 at weight 0", |l| {
        in_table(l, r2) == Some((true, 0))
    });
    assert_eq!(real(&l, PORT, r2).map(|r| r.health), Some(Health::Down));
    let table = d.daemon.ctl_ok(&["list"]);
    let (columns, check) = real_row(&table, "198.18.2.2:5000");
    assert_eq!(columns, ["Route", "0", "down"], "{table}");
    assert!(
        check.starts_with("check http 198.18.2.2:80: down since "),
        "{table}"
    );

    assert_eq!(
        d.where_do_they_go(&flows, "down"),
        before,
        "quiescent: every established flow stays where it was, on the down real too"
    );
    let new = d.flows(32);
    assert!(
        d.where_do_they_go(&new, "new").iter().all(|&r| r == 0),
        "no new flow on the down real"
    );

    servers[1].set(Answer::Ok);
    wait_for(&d, Duration::from_secs(5), "real 2 back", |l| {
        in_table(l, r2) == Some((true, 1))
    });
    assert_eq!(d.where_do_they_go(&flows, "up"), before);
}

#[test]
fn fallback_takes_the_traffic_when_every_real_is_down_and_leaves_when_one_returns() {
    // Real 3 of the lab is the fallback server.
    let (d, servers) = lab("hdf", 3, false, Some("198.18.3.2"));
    let fb: IpAddr = "198.18.3.2".parse().expect("address");
    let (flows, _) = spread_flows(&d);
    assert!(real(&listing(&d), PORT, fb).is_none(), "no fallback yet");

    servers[0].set(Answer::Status(503));
    servers[1].set(Answer::Status(503));
    let (_, l) = wait_for(&d, Duration::from_secs(5), "fallback in the table", |l| {
        real(l, PORT, fb).is_some_and(|r| r.fallback && r.active && r.weight == 1)
    });
    assert!(real(&l, PORT, fb).and_then(|r| r.check.as_ref()).is_none());
    let table = d.daemon.ctl_ok(&["list"]);
    let (columns, check) = real_row(&table, "198.18.3.2:5000");
    assert_eq!(columns, ["Route", "1", "unknown,fallback"], "{table}");
    assert_eq!(check, "", "the fallback is not checked");
    assert!(
        d.where_do_they_go(&flows, "all-down")
            .iter()
            .all(|&r| r == 2),
        "every flow on the fallback"
    );

    servers[0].set(Answer::Ok);
    wait_for(&d, Duration::from_secs(5), "fallback gone", |l| {
        real(l, PORT, fb).is_none()
    });
    assert!(
        d.where_do_they_go(&flows, "one-back")
            .iter()
            .all(|&r| r == 0),
        "the fallback's flows move to the real that returned"
    );
    let log = d.daemon.log();
    assert!(
        log.contains("fallback 198.18.3.2 takes new flows")
            && log.contains("fallback 198.18.3.2 leaves"),
        "{log}"
    );
}

#[test]
fn maintenance_file_and_drain_take_a_real_to_weight_zero_and_back() {
    let (d, _servers) = lab("hdm", 2, true, None);
    let r2 = d.lab.reals[1].addr4;
    let (flows, before) = spread_flows(&d);
    let maint = maint_dir(&d);
    let service = format!("{VIP4}:{PORT}/udp");

    // As ldirectord: a file named after the real (here with the service port) in the directory.
    let file = maint.join(format!("{r2}:{PORT}"));
    std::fs::write(&file, "").expect("maintenance file");
    let (_, l) = wait_for(&d, Duration::from_secs(5), "real 2 in maintenance", |l| {
        real(l, PORT, r2).is_some_and(|r| r.maintenance && r.weight == 0 && r.active)
    });
    assert_eq!(real(&l, PORT, r2).map(|r| r.health), Some(Health::Up));
    assert_eq!(d.where_do_they_go(&flows, "maint"), before, "flows stay");
    assert!(
        d.where_do_they_go(&d.flows(32), "maint-new")
            .iter()
            .all(|&r| r == 0),
        "no new flow on the real in maintenance"
    );
    std::fs::remove_file(&file).expect("remove maintenance file");
    wait_for(
        &d,
        Duration::from_secs(5),
        "real 2 out of maintenance",
        |l| real(l, PORT, r2).is_some_and(|r| !r.maintenance && r.weight == 1),
    );

    // A drain through the CLI does the same until undrained.
    let out = d
        .daemon
        .ctl_ok(&["real", "drain", &service, &r2.to_string()]);
    assert!(out.contains("drained"), "{out}");
    let l = listing(&d);
    assert_eq!(
        real(&l, PORT, r2).map(|r| (r.drained, r.weight)),
        Some((true, 0))
    );
    assert_eq!(d.where_do_they_go(&flows, "drain"), before, "flows stay");
    assert!(
        d.where_do_they_go(&d.flows(32), "drain-new")
            .iter()
            .all(|&r| r == 0),
        "no new flow on the drained real"
    );
    d.daemon
        .ctl_ok(&["real", "undrain", &service, &r2.to_string()]);
    let l = listing(&d);
    assert_eq!(
        real(&l, PORT, r2).map(|r| (r.drained, r.weight)),
        Some((false, 1))
    );

    // Every change ran the hook, with what changed and why.
    let want = [
        format!("down|maintenance|{r2}:{PORT}|{service}|maintenance file"),
        format!("up|maintenance|{r2}:{PORT}|{service}|maintenance file removed"),
        format!(
            "down|drain|{r2}:{PORT}|{service}|lvs-ctl: real {r2} of {service}: drained (weight 0, keeps its flows)"
        ),
        format!("up|drain|{r2}:{PORT}|{service}|lvs-ctl: real {r2} of {service}: undrained"),
    ];
    let (_, _) = wait_for(&d, Duration::from_secs(5), "hook lines", |_| {
        want.iter().all(|w| hook_lines(&d).contains(w))
    });
}
