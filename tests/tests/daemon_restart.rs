//! Stopping or restarting the daemon does not interrupt forwarding: the program stays attached
//! through its pinned link, and the next daemon adopts the pinned maps and reconciles them
//! without disturbing established flows.

mod common;

use common::*;
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

#[test]
fn daemon_restart_under_traffic_loses_no_packet_of_an_established_flow() {
    let mut d = TestLab::sinks("drs", 2, 2);
    let flow = d.flows(1).pop().expect("one flow");
    // Establish the flow and learn its real.
    let real = d.where_do_they_go(std::slice::from_ref(&flow), "hello")[0];

    const COUNT: u32 = 2000;
    const PACE: Duration = Duration::from_millis(2);
    let sending = AtomicBool::new(true);
    let sink = d.sinks[real]
        .socket()
        .try_clone()
        .expect("clone the real's socket");
    let received = std::thread::scope(|s| {
        let sending = &sending;
        let counter = s.spawn(move || {
            let mut got = 0u32;
            let mut buf = [0u8; 64];
            let mut quiet_since = Instant::now();
            loop {
                match sink.recv_from(&mut buf) {
                    Ok((n, _)) if buf[..n].starts_with(b"seq ") => {
                        got += 1;
                        quiet_since = Instant::now();
                    }
                    Ok(_) => {}
                    Err(_) => {
                        if !sending.load(Ordering::Relaxed)
                            && quiet_since.elapsed() > Duration::from_millis(500)
                        {
                            return got;
                        }
                    }
                }
            }
        });
        let sender = s.spawn(|| {
            let start = Instant::now();
            for i in 0..COUNT {
                let due = start + PACE * i;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                flow.send(format!("seq {i}").as_bytes())
                    .expect("send to the VIP");
            }
            sending.store(false, Ordering::Relaxed);
        });
        // Kill the daemon under traffic (no clean shutdown), wait, start a new one.
        std::thread::sleep(Duration::from_millis(500));
        d.daemon.kill();
        std::thread::sleep(Duration::from_millis(500));
        d.run_daemon();
        sender.join().expect("sender");
        counter.join().expect("counter")
    });
    assert_eq!(
        received,
        COUNT,
        "every datagram of the established flow reached its real\n{}",
        d.daemon.log()
    );
    let log = d.daemon.log();
    let second = log
        .split("---- restart ----")
        .nth(1)
        .expect("a second daemon ran");
    assert!(
        second.contains("the pinned tables already hold the desired state: nothing written"),
        "the restarted daemon adopted the pinned state and rewrote nothing:\n{second}"
    );
    let other = d.sinks[1 - real].socket().recv_from(&mut [0u8; 64]);
    assert!(other.is_err(), "nothing reached the other real");
    assert_eq!(
        d.where_do_they_go(std::slice::from_ref(&flow), "still")[0],
        real,
        "the flow stays on its real"
    );
}
