//! The monitor: rise and fall, shared probes, maintenance and hooks.

use super::*;

// ---------------------------------------------------------------------------------------------
// Monitor.

async fn next_event<K>(rx: &mut mpsc::Receiver<Event<K>>, within: Duration) -> Event<K> {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("no event in time")
        .expect("event channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_rise_and_fall_on_time() {
    bounded(ms(15_000), async {
        let healthy = Arc::new(AtomicBool::new(true));
        let s = http_server(Reply::Toggle(healthy.clone())).await;
        let (tx, mut rx) = mpsc::channel(16);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        let (rise, fall) = (2, 3);
        let check = spec(http("/", vec![200], None), interval, ms(80), rise, fall);
        m.set_checks(vec![(7u64, Target::new(s.addr), check)]);
        let slack = ms(150);

        // Unknown -> up: first probe within one interval (jitter), then `rise` successes.
        let e = next_event(&mut rx, interval * (rise + 1) + slack).await;
        assert!(e.up && e.id == 7, "{e:?}");
        assert_eq!(e.cause, format!("http {}: status 200", s.addr));
        assert_eq!(m.status()[0].state, State::Up);

        // The server goes bad: down within interval x fall + one interval.
        healthy.store(false, Ordering::SeqCst);
        let t0 = Instant::now();
        let e = next_event(&mut rx, interval * fall + interval + slack).await;
        let took = t0.elapsed();
        assert!(!e.up, "{e:?}");
        assert_eq!(
            e.cause,
            format!("http {}: status 503, expected 200", s.addr)
        );
        assert!(
            took >= interval * (fall - 1),
            "not before `fall` failures: {took:?}"
        );
        let st = &m.status()[0];
        assert_eq!(st.state, State::Down);
        assert!(st.last_error.as_deref().is_some_and(|c| c.contains("503")));
        assert!(st.last_duration.is_some() && st.last_probe.is_some());

        // Back: up after `rise` good checks, not on the first.
        healthy.store(true, Ordering::SeqCst);
        let t0 = Instant::now();
        let e = next_event(&mut rx, interval * rise + interval + slack).await;
        let took = t0.elapsed();
        assert!(e.up, "{e:?}");
        assert!(
            took >= interval * (rise - 1),
            "not before `rise` successes: {took:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_a_dead_server_and_a_silent_one_on_time() {
    bounded(ms(10_000), async {
        let l = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let dying = l.local_addr().expect("addr");
        let silent = http_server(Reply::Silent).await;
        let (tx, mut rx) = mpsc::channel(16);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        m.set_checks(vec![
            (
                "dying",
                Target::new(dying),
                spec(tcp_check(), interval, ms(200), 1, 2),
            ),
            (
                "silent",
                Target::new(silent.addr),
                spec(http("/", vec![200], None), interval, ms(200), 1, 1),
            ),
        ]);
        let mut up_dying = false;
        let mut down_silent = None;
        let t0 = Instant::now();
        while !(up_dying && down_silent.is_some()) {
            let e = next_event(&mut rx, ms(1000)).await;
            match (e.id, e.up) {
                ("dying", true) => up_dying = true,
                ("silent", false) => down_silent = Some((t0.elapsed(), e.cause)),
                other => panic!("unexpected {other:?}"),
            }
        }
        let (took, cause) = down_silent.expect("silent server reported");
        // First probe within one interval, failing at its 200ms timeout.
        assert!(
            took < interval + ms(200) + ms(200),
            "silent down after {took:?}"
        );
        assert_eq!(
            cause,
            format!("http {}: timed out after 200ms", silent.addr)
        );

        drop(l);
        let t0 = Instant::now();
        let e = next_event(&mut rx, interval * 2 + interval + ms(200)).await;
        assert_eq!((e.id, e.up), ("dying", false));
        assert_eq!(e.cause, format!("connect {dying}: connection refused"));
        assert!(t0.elapsed() >= interval, "needs two failures");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_flooding_servers_do_not_delay_a_healthy_check() {
    bounded(ms(15_000), async {
        let healthy = http_server(Reply::Fixed(200, "ok")).await;
        let trickle = http_server(Reply::Trickle).await;
        let flood = http_server(Reply::Flood(Arc::new(AtomicUsize::new(0)))).await;
        let silent = http_server(Reply::Silent).await;
        let (tx, mut rx) = mpsc::channel(64);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        let slow =
            |receive: Option<&str>| spec(http("/", vec![200], receive), interval, ms(1500), 1, 1);
        m.set_checks(vec![
            (
                1,
                Target::new(healthy.addr),
                spec(http("/", vec![200], None), interval, ms(500), 1, 1),
            ),
            (2, Target::new(trickle.addr), slow(Some("never-there"))),
            (3, Target::new(flood.addr), slow(Some("never-there"))),
            (4, Target::new(silent.addr), slow(None)),
        ]);
        // Over two seconds the healthy server is asked about every interval.
        tokio::time::sleep(ms(2000)).await;
        let n = healthy.accepted.load(Ordering::SeqCst);
        assert!(
            (15..=21).contains(&n),
            "healthy server probed {n} times in 2s"
        );
        // The slow ones ran at most every timeout (overrunning probes push their schedule back).
        let t = trickle.accepted.load(Ordering::SeqCst);
        assert!((1..=2).contains(&t), "trickling server probed {t} times");
        let mut got = std::collections::HashMap::new();
        while let Ok(e) = rx.try_recv() {
            got.insert(e.id, e.up);
        }
        assert_eq!(got.get(&1), Some(&true));
        assert_eq!(got.get(&2), Some(&false));
        assert_eq!(got.get(&3), Some(&false));
        assert_eq!(got.get(&4), Some(&false));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_checks_share_one_probe_and_fan_out() {
    bounded(ms(10_000), async {
        let l = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let server = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        let (tx, mut rx) = mpsc::channel(16);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        let check = spec(tcp_check(), interval, ms(100), 1, 1);
        let target = Target::new(addr);
        m.set_checks(vec![
            ((0, 0), target, check.clone()),
            ((1, 0), target, check.clone()),
        ]);
        assert_eq!(m.probe_count(), 1);
        let mut ids = [
            next_event(&mut rx, ms(500)).await,
            next_event(&mut rx, ms(500)).await,
        ];
        ids.sort_by_key(|e| e.id);
        assert_eq!(
            (ids[0].id, ids[0].up, ids[1].id, ids[1].up),
            ((0, 0), true, (1, 0), true)
        );
        assert_eq!(ids[0].at, ids[1].at, "one probe, one result");

        let before = accepted.load(Ordering::SeqCst);
        tokio::time::sleep(ms(1000)).await;
        let n = accepted.load(Ordering::SeqCst) - before;
        assert!(
            (8..=11).contains(&n),
            "{n} connections in 10 intervals: one probe, not two"
        );

        // Dropping one id keeps the check (and its state) for the other; nothing is sent.
        let since = m.status()[0].since;
        m.set_checks(vec![((1, 0), target, check.clone())]);
        assert_eq!(m.probe_count(), 1);
        let st = m.status();
        assert_eq!(
            (st.len(), st[0].id, st[0].state, st[0].since),
            (1, (1, 0), State::Up, since)
        );
        // An id joining the running check is told its state at once.
        m.set_checks(vec![
            ((1, 0), target, check.clone()),
            ((2, 5), target, check.clone()),
        ]);
        let e = next_event(&mut rx, ms(50)).await;
        assert_eq!((e.id, e.up), ((2, 5), true));
        assert_eq!(e.cause, format!("connect {addr}: connected"));
        assert!(rx.try_recv().is_err(), "no event for the id that stayed");

        // Renumbered ids (a service removed before them) take over the running check.
        m.set_checks(vec![((9, 9), target, check.clone())]);
        assert_eq!((m.probe_count(), m.status()[0].state), (1, State::Up));
        let e = next_event(&mut rx, ms(50)).await;
        assert_eq!((e.id, e.up), ((9, 9), true));

        // A changed spec is another check: the old one stops.
        let mut other = check.clone();
        other.fall = 2;
        m.set_checks(vec![((9, 9), target, other)]);
        assert_eq!(m.probe_count(), 1);
        assert_eq!(m.status()[0].state, State::Unknown);
        m.set_checks(vec![]);
        assert_eq!(m.probe_count(), 0);
        let settled = accepted.load(Ordering::SeqCst);
        tokio::time::sleep(ms(300)).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            settled,
            "no probes after set_checks([])"
        );
        server.abort();
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Maintenance and hooks.

#[test]
fn maintenance_files_by_ip_and_by_ip_port() {
    let dir = TempDir::new("maint");
    let a: SocketAddr = "127.0.0.1:80".parse().expect("addr");
    assert!(!in_maintenance(&dir.0, a));
    std::fs::write(dir.0.join("127.0.0.1:80"), "").expect("touch");
    assert!(in_maintenance(&dir.0, a));
    assert!(!in_maintenance(
        &dir.0,
        "127.0.0.1:81".parse().expect("addr")
    ));
    std::fs::write(dir.0.join("::1"), "").expect("touch");
    assert!(in_maintenance(&dir.0, "[::1]:443".parse().expect("addr")));
    std::fs::write(dir.0.join("[::2]:80"), "").expect("touch");
    assert!(in_maintenance(&dir.0, "[::2]:80".parse().expect("addr")));
    assert!(!in_maintenance(Path::new("/nonexistent/lvs"), a));
}

fn event(up: bool) -> Event<&'static str> {
    Event {
        id: "web/1",
        target: Target::new("127.0.0.1:8080".parse().expect("addr")),
        up,
        cause: "http 127.0.0.1:8080: status 503, expected 200".into(),
        at: SystemTime::now(),
    }
}

#[tokio::test]
async fn hook_sees_the_event_in_its_environment() {
    bounded(ms(5000), async {
        let dir = TempDir::new("hook");
        let out = dir.0.join("env");
        let hook = dir.script(
            "hook.sh",
            &format!(
                "printf '%s|%s|%s|%s|%s\\n' \"$LVS_EVENT\" \"$LVS_REAL\" \"$LVS_CAUSE\" \
                 \"$LVS_CHECK_ID\" \"$LVS_VIP\" > '{}'\necho logged",
                out.display()
            ),
        );
        run_hook(&hook, &event(false), &[("LVS_VIP", "198.18.0.10:80".into())])
            .await
            .expect("hook succeeds");
        let got = std::fs::read_to_string(&out).expect("hook wrote its environment");
        assert_eq!(
            got.trim(),
            "down|127.0.0.1:8080|http 127.0.0.1:8080: status 503, expected 200|\"web/1\"|198.18.0.10:80"
        );
        let failing = dir.script("fail.sh", "exit 3");
        let err = run_hook(&failing, &event(true), &[]).await.expect_err("exit 3");
        assert!(err.to_string().ends_with("exit status 3"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn hanging_hook_is_killed_at_its_timeout() {
    bounded(ms(5000), async {
        let dir = TempDir::new("hookhang");
        let pid = dir.0.join("pid");
        let hook = dir.script(
            "hang.sh",
            &format!("echo $$ > '{}'\nsleep 1000", pid.display()),
        );
        let started = Instant::now();
        let err = run_hook_with_timeout(&hook, &event(true), &[], ms(300))
            .await
            .expect_err("times out");
        assert!(matches!(err, HookError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < ms(1000));
        let pid: i32 = std::fs::read_to_string(&pid)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        let deadline = Instant::now() + ms(2000);
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(ms(20)).await;
        }
        assert!(!alive(pid), "hook {pid} still running");
    })
    .await;
}
