//! Health checks through the daemon, against servers in the reals' namespaces: each check type
//! takes its real down and brings it back, `lvs-ctl list` shows state, since and last error,
//! slow and endless servers are down on time without delaying the others, and the hook sees
//! every change in its environment.

mod common;

use common::health::*;
use common::*;
use lvs_ctl::api::Health;
use lvs_tests::lab::{
    VIP4,
    serve::{Answer, DnsAnswer, HttpServer},
};
use std::{net::IpAddr, time::Duration};

/// Every check type the daemon runs, each on its own real: all come up, all go down with the
/// cause in `list`, all come back. The TCP service on port 80 checks the same real as the
/// HTTP check with a plain connect: it stays up while HTTP says 503, and goes down (connection
/// refused) only when the server stops listening.
#[test]
fn every_check_type_takes_its_real_down_and_back_through_the_daemon() {
    let d = TestLab::sinks_with_config("hck", 5, |d| {
        let ext = d.daemon.dir.join("ext.sh");
        std::fs::write(
            &ext,
            format!("#!/bin/sh\n[ -e {}/ext-up-$3 ]\n", d.daemon.dir.display()),
        )
        .expect("external check script");
        std::fs::set_permissions(&ext, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        std::fs::write(d.daemon.dir.join("ext-up-198.18.4.2"), "").expect("external up file");
        format!(
            r#"{global}services:
  - vip: {VIP4}
    port: {PORT}
    protocol: udp
    quiescent: false
    check: {{interval: 200ms, timeout: 150ms, rise: 2, fall: 2}}
    reals:
      - {{address: 198.18.1.2, check: {{type: connect, port: 7000}}}}
      - {{address: 198.18.2.2, check: {{type: http, port: 80, request: /health}}}}
      - {{address: 198.18.3.2, check: {{type: dns, port: 53, query: svc.test, query_type: A, expect: 198.18.0.99}}}}
      - {{address: 198.18.4.2, check: {{type: external, command: {ext}}}}}
      - {{address: 198.18.5.2, check: {{type: ping}}}}
  - vip: {VIP4}
    port: 80
    check: {{type: connect, interval: 200ms, timeout: 150ms, rise: 2, fall: 2}}
    reals: [{{address: 198.18.2.2}}]
"#,
            global = global(d),
            ext = ext.display(),
        )
    });
    let reals = &d.lab.reals;
    let mut udp = udp_port(&reals[0].ns, 7000);
    let http = http_server(&d, &reals[1].ns, Answer::Ok);
    let dns = d
        .host
        .dns(&reals[2].ns, DnsAnswer::Address)
        .expect("dns server");

    let addrs: Vec<IpAddr> = reals.iter().map(|r| r.addr4).collect();
    let all = |l: &lvs_ctl::api::Listing, h: Health| {
        addrs.iter().all(|a| health_is(l, PORT, *a, h)) && health_is(l, 80, addrs[1], h)
    };
    wait_for(&d, Duration::from_secs(10), "every check up", |l| {
        all(l, Health::Up)
    });
    let table = d.daemon.ctl_ok(&["list"]);
    for line in [
        "check connect udp 198.18.1.2:7000: up since ",
        "check http 198.18.2.2:80: up since ",
        "check dns 198.18.3.2:53: up since ",
        "check external 198.18.4.2:5000: up since ",
        "check ping 198.18.5.2: up since ",
        "check connect 198.18.2.2:80: up since ",
    ] {
        assert!(table.contains(line), "{line:?} in\n{table}");
    }

    // Every server fails its check at once.
    udp.close();
    http.set(Answer::Status(503));
    dns.set(DnsAnswer::NxDomain);
    std::fs::remove_file(d.daemon.dir.join("ext-up-198.18.4.2")).expect("external down");
    reals[4].ns.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let (_, l) = wait_for(&d, Duration::from_secs(5), "every UDP real down", |l| {
        addrs.iter().all(|a| health_is(l, PORT, *a, Health::Down))
    });
    let causes = [
        "connect udp 198.18.1.2:7000: port unreachable",
        "http 198.18.2.2:80: status 503, expected 200",
        "dns 198.18.3.2:53: A svc.test.: rcode NXDOMAIN",
        "external 198.18.4.2:5000: exit status 1",
        "ping 198.18.5.2: timed out after 150ms",
    ];
    for (a, cause) in addrs.iter().zip(causes) {
        let r = real(&l, PORT, *a).expect("real listed");
        let c = r.check.as_ref().expect("check listed");
        assert_eq!((r.active, r.weight), (false, 0), "{a} out of the table");
        assert_eq!(c.state, Health::Down);
        assert_eq!(c.cause, cause, "cause of {a}");
        assert_eq!(c.last_error.as_deref(), Some(cause), "last error of {a}");
        assert!(c.since_ms <= l.at_ms && c.since_ms + 5_000 > l.at_ms);
    }
    // The same real, checked by connect for the TCP service, is still up.
    assert!(health_is(&l, 80, addrs[1], Health::Up));
    let table = d.daemon.ctl_ok(&["list"]);
    let (columns, check) = real_row(&table, "198.18.2.2:5000");
    assert_eq!(columns, ["Route", "0", "down,inactive"], "{table}");
    assert!(
        check.starts_with("check http 198.18.2.2:80: down since ")
            && check.ends_with("; last error: status 503, expected 200"),
        "{table}"
    );

    // The listener goes away: the connect check of the TCP service fails too.
    http.set(Answer::Closed);
    let (_, l) = wait_for(&d, Duration::from_secs(5), "tcp connect down", |l| {
        health_is(l, 80, addrs[1], Health::Down)
    });
    let c = real(&l, 80, addrs[1])
        .and_then(|r| r.check.clone())
        .expect("check");
    assert_eq!(c.cause, "connect 198.18.2.2:80: connection refused");

    // And everything comes back.
    udp.reopen();
    http.set(Answer::Ok);
    dns.set(DnsAnswer::Address);
    std::fs::write(d.daemon.dir.join("ext-up-198.18.4.2"), "").expect("external up");
    reals[4].ns.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=0");
    let (_, l) = wait_for(&d, Duration::from_secs(10), "every check up again", |l| {
        all(l, Health::Up)
    });
    for a in &addrs {
        let r = real(&l, PORT, *a).expect("real");
        assert_eq!((r.active, r.weight), (true, 1), "{a} back in the table");
        assert_eq!(r.check.as_ref().and_then(|c| c.last_error.clone()), None);
    }

    // Each change was logged with its cause, and the hook ran for it.
    let log = d.daemon.log();
    for cause in causes {
        assert!(log.contains(cause), "{cause:?} in the daemon log:\n{log}");
    }
    let service = format!("{VIP4}:{PORT}/udp");
    let want = [
        format!(
            "down|health|198.18.2.2:{PORT}|{service}|http 198.18.2.2:80: status 503, expected 200"
        ),
        format!("up|health|198.18.2.2:{PORT}|{service}|http 198.18.2.2:80: status 200"),
        format!("down|health|198.18.4.2:{PORT}|{service}|external 198.18.4.2:5000: exit status 1"),
        format!(
            "down|health|198.18.2.2:80|{VIP4}:80/tcp|connect 198.18.2.2:80: connection refused"
        ),
    ];
    wait_for(&d, Duration::from_secs(5), "the hook's lines", |_| {
        let lines = hook_lines(&d);
        want.iter().all(|w| lines.contains(w))
    });
}

/// A server that never answers and one whose answer never ends are marked down within
/// interval × fall + one interval, and a healthy real checked alongside never flaps.
#[test]
fn slow_and_endless_servers_are_down_on_time_and_delay_no_other_check() {
    let d = TestLab::sinks_with_config("hsl", 3, |d| {
        format!(
            r#"{global}services:
  - vip: {VIP4}
    port: {PORT}
    protocol: udp
    quiescent: false
    check: {{type: http, port: 80, request: /, receive: healthy, interval: 200ms, timeout: 150ms, rise: 1, fall: 2}}
    reals: [{{address: 198.18.1.2}}, {{address: 198.18.2.2}}, {{address: 198.18.3.2}}]
"#,
            global = global(d)
        )
    });
    let reals = &d.lab.reals;
    let servers: Vec<HttpServer> = reals
        .iter()
        .map(|r| http_server(&d, &r.ns, Answer::Ok))
        .collect();
    let addrs: Vec<IpAddr> = reals.iter().map(|r| r.addr4).collect();
    wait_for(&d, Duration::from_secs(10), "every real up", |l| {
        addrs.iter().all(|a| health_is(l, PORT, *a, Health::Up))
    });
    let healthy_since = real(&listing(&d), PORT, addrs[2])
        .and_then(|r| r.check.clone())
        .expect("check")
        .since_ms;

    let t0 = now_ms();
    servers[0].set(Answer::Slow);
    servers[1].set(Answer::Endless);
    let (_, l) = wait_for(&d, Duration::from_secs(5), "slow and endless down", |l| {
        health_is(l, PORT, addrs[0], Health::Down) && health_is(l, PORT, addrs[1], Health::Down)
    });
    // interval × fall + one interval.
    let bound = 200 * 2 + 200;
    for (a, why) in [
        (addrs[0], "http 198.18.1.2:80: timed out after 150ms"),
        (
            addrs[1],
            "http 198.18.2.2:80: status 200, body does not match /healthy/",
        ),
    ] {
        let c = real(&l, PORT, a)
            .and_then(|r| r.check.clone())
            .expect("check");
        assert_eq!(c.cause, why);
        let took = c.since_ms.saturating_sub(t0);
        assert!(
            took <= bound,
            "{a} marked down {took} ms after it broke (bound {bound} ms)"
        );
        // Every probe ends within its timeout (plus scheduling).
        let probe = c.last_duration_us.expect("probe duration");
        assert!(probe < 250_000, "{a}: a probe took {probe} us");
    }

    // Let them misbehave for a while longer: the healthy real is probed on time throughout.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(150));
        let l = listing(&d);
        let r = real(&l, PORT, addrs[2]).expect("healthy real");
        let c = r.check.as_ref().expect("check");
        assert_eq!(c.state, Health::Up, "healthy real flapped");
        assert_eq!(c.since_ms, healthy_since, "healthy real changed state");
        let last = c.last_probe_ms.expect("probed");
        assert!(
            l.at_ms.saturating_sub(last) < 400,
            "healthy real last probed {} ms ago",
            l.at_ms - last
        );
        assert_eq!((r.active, r.weight), (true, 1));
    }
}
