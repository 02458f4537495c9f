//! End to end while things change: reals added and removed, the daemon restarted, a real's
//! server dying. Real sockets through the VIP, replies straight from the reals to the client.

mod common;

use common::*;
use lvs_ctl::api::Health;
use lvs_tests::lab::{
    all_ready, health_of,
    serve::{Answer, LineClient, http_get},
};
use std::{
    net::SocketAddr,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant, SystemTime},
};

/// One TCP connection keeps exchanging lines with its real while another real is added, the
/// other original real is removed, the daemon is killed and started again, and the removed
/// real comes back: every answer comes from the same real, none is lost.
#[test]
fn a_long_lived_connection_survives_real_changes_and_a_daemon_restart() {
    const PORT: u16 = 9000;
    const MAX_EXCHANGES: usize = 3000;
    let mut w = TestLab::web("llc", 3);
    let vip = vip4();
    for r in &w.lab.reals {
        let s = w.host.tcp_lines(&r.ns, &r.name, PORT).expect("line server");
        w.more.push(s);
    }
    w.start(&[w.service(vip, PORT, "tcp", CONNECT_CHECK, &[(0, 1), (1, 1)])]);
    let svc = format!("{vip}:{PORT}/tcp");
    let addr = SocketAddr::new(vip, PORT);
    let mut conn = w
        .lab
        .client
        .enter(|| LineClient::connect(addr, TIMEOUT))
        .expect("connect to the VIP");
    let (owner, echo) = conn.ask("hello").expect("first exchange");
    assert_eq!(echo, "hello");
    let owner_i = w.lab.real_index(&owner).expect("a known real");
    assert!(owner_i < 2, "the connection went to a real of the service");
    let other = w.lab.reals[1 - owner_i].addr4.to_string();
    let third = w.lab.reals[2].addr4.to_string();

    let stop = AtomicBool::new(false);
    let answers = std::thread::scope(|s| {
        let talker = s.spawn(|| {
            let mut answers = Vec::new();
            for i in 0..MAX_EXCHANGES {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let line = format!("message {i}");
                answers.push(match conn.ask(&line) {
                    Ok((name, echo)) if echo == line => Ok(name),
                    Ok((name, echo)) => Err(format!("{name} echoed {echo:?} for {line:?}")),
                    Err(e) => Err(format!("{line}: {e}")),
                });
                std::thread::sleep(Duration::from_millis(10));
            }
            answers
        });
        let d = &mut w.daemon;
        let settle = || std::thread::sleep(Duration::from_millis(400));
        settle();
        d.ctl_ok(&["real", "add", &svc, &third]);
        d.wait(Duration::from_secs(10), "the third real resolved", |l| {
            all_ready(l, false) && l.services[0].reals.len() == 3
        });
        settle();
        d.ctl_ok(&["real", "del", &svc, &other]);
        settle();
        // The restarted daemon reads the file: make it the running state first.
        let config = d.config.to_string_lossy().into_owned();
        d.ctl_ok(&["save", "-o", &config]);
        d.kill();
        settle();
        d.start();
        d.wait(Duration::from_secs(20), "the restarted daemon ready", |l| {
            all_ready(l, false)
        });
        settle();
        d.ctl_ok(&["real", "add", &svc, &other]);
        settle();
        stop.store(true, Ordering::Relaxed);
        talker.join().expect("talker thread")
    });
    assert!(
        answers.len() >= 50,
        "only {} exchanges took place",
        answers.len()
    );
    for (i, a) in answers.iter().enumerate() {
        match a {
            Ok(name) => assert_eq!(
                name,
                &owner,
                "exchange {i} answered by another real\n{}",
                w.daemon.log()
            ),
            Err(e) => panic!("exchange {i} failed: {e}\n{}", w.daemon.log()),
        }
    }
    // New connections still work, on the reals now in the service.
    for i in 0..10 {
        let mut c = w
            .lab
            .client
            .enter(|| LineClient::connect(addr, TIMEOUT))
            .unwrap_or_else(|e| panic!("new connection {i}: {e}"));
        c.ask("new")
            .unwrap_or_else(|e| panic!("new connection {i}: {e}"));
    }
}

/// A real whose server dies is out of the table within the health check's bound, and from the
/// moment `list` says so every new connection succeeds on the others.
///
/// Two claims, measured so that a busy machine cannot fake either:
/// - the word follows the maps: every request started after the listing first showed the real
///   down succeeded on another real (requests started before may fail: they raced the checks);
/// - the verdict keeps the check's schedule: the deciding probe (the check's `since`, the
///   daemon's own clock) ended within interval × fall, plus one interval for the probe that was
///   just missed, plus [`SCHEDULING`] for probes a loaded machine runs late.
#[test]
fn a_dead_real_is_replaced_within_the_health_check_bound() {
    const INTERVAL: Duration = Duration::from_millis(1000);
    const FALL: u32 = 2;
    const BOUND: Duration = Duration::from_millis(1000 * (FALL as u64 + 1));
    // How late a probe may start on a machine whose cores are all busy: the check's schedule
    // is the bound; this only keeps the scheduler's delays out of it.
    const SCHEDULING: Duration = Duration::from_millis(1000);
    // Requests after the verdict, to show that none reaches the dead real.
    const AFTER: Duration = Duration::from_millis(1500);
    const VICTIM: usize = 1;
    let mut w = TestLab::web("die", 3);
    let vip = vip4();
    assert_eq!(INTERVAL.as_millis(), 1000);
    w.start(&[w.service(
        vip,
        HTTP_PORT,
        "tcp",
        &http_check(1000),
        &[(0, 1), (1, 1), (2, 1)],
    )]);
    let svc = format!("{vip}:{HTTP_PORT}/tcp");
    let victim = w.lab.reals[VICTIM].name.clone();
    let victim_addr = w.lab.reals[VICTIM].addr4;
    let addr = SocketAddr::new(vip, HTTP_PORT);

    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let (log, t_dead, died_ms, verdict) = std::thread::scope(|s| {
        let client = &w.lab.client;
        let stop = &stop;
        let traffic = s.spawn(move || {
            client.enter(|| {
                let mut log = Vec::new();
                for _ in 0..1000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let at = start.elapsed();
                    log.push((at, http_get(addr, Duration::from_secs(1))));
                    std::thread::sleep(Duration::from_millis(20));
                }
                log
            })
        });
        std::thread::sleep(Duration::from_millis(500));
        w.web[VICTIM].set(Answer::Closed);
        // Its listener is closed now: every check from here on fails.
        let t_dead = start.elapsed();
        let died_ms = lvs_ctl::api::unix_ms(SystemTime::now());
        let mut verdict = None;
        while start.elapsed() < t_dead + Duration::from_secs(10) {
            if let Some(l) = w.daemon.listing()
                && health_of(&l, &svc, victim_addr) == Some(Health::Down)
            {
                verdict = Some((start.elapsed(), l));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let until = verdict.as_ref().map_or(t_dead, |(t, _)| *t) + AFTER;
        if let Some(wait) = until.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        stop.store(true, Ordering::Relaxed);
        (
            traffic.join().expect("traffic thread"),
            t_dead,
            died_ms,
            verdict,
        )
    });
    let (t_down, listing) =
        verdict.unwrap_or_else(|| panic!("{victim} never reported down\n{}", w.daemon.log()));
    let check = listing
        .services
        .iter()
        .flat_map(|s| &s.reals)
        .find(|r| r.address == victim_addr)
        .and_then(|r| r.check.clone())
        .expect("the victim's check in the listing");
    let decided = Duration::from_millis(check.since_ms.saturating_sub(died_ms));
    assert!(
        decided <= BOUND + SCHEDULING,
        "{victim}: the check decided down {decided:?} after its server died (bound {BOUND:?} + \
         {SCHEDULING:?} scheduling)\n{}",
        w.daemon.log()
    );
    let mut failures_before = 0;
    let mut after = 0;
    for (at, r) in &log {
        if *at <= t_down {
            failures_before += usize::from(r.is_err());
            continue;
        }
        match r {
            Err(e) => panic!(
                "a request at {at:?} failed ({e}), after the listing showed {victim} down at \
                 {t_down:?} (died at {t_dead:?})\n{}",
                w.daemon.log()
            ),
            Ok(name) => assert_ne!(
                name,
                &victim,
                "a new connection at {at:?} reached the dead real, down in the listing at \
                 {t_down:?}\n{}",
                w.daemon.log()
            ),
        }
        after += 1;
    }
    assert!(after >= 20, "only {after} requests after the verdict");
    eprintln!(
        "{victim}: down decided {decided:?} after its server died, seen in the listing {:?} \
         after; {failures_before} requests failed before",
        t_down - t_dead
    );
    for (i, r) in w.http(vip, 60).into_iter().enumerate() {
        let name = r.unwrap_or_else(|e| panic!("request {i} after the verdict: {e}"));
        assert_ne!(name, victim, "request {i} reached the dead real");
    }
}
