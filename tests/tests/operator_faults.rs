//! Operator mistakes on a live director: a second daemon on the same pins, starts that fail,
//! `unload` under a running daemon, a reload after a drain. None may darken or corrupt what
//! forwards.

mod common;

use common::*;
use lvs_ctl::dataplane::{LoadOptions, Maps};
use lvs_tests::{
    lab::{Lab, LabDaemon},
    unique,
};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// Runs `lvs-ctl daemon` on `config` in the director's namespace and waits for it to exit
/// (it must, within 20 s, and fail); what it printed.
fn failed_start(lab: &Lab, name: &str, config: &str) -> String {
    let mut daemon = LabDaemon::new(lab, &unique(name), CTL, &[]);
    daemon.write_config(config);
    daemon.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = daemon.exit_status() {
            let text = daemon.log();
            assert!(!status.success(), "{name}: the start should fail: {text}");
            return text;
        }
        if Instant::now() > deadline {
            daemon.kill();
            panic!("{name}: the daemon did not give up within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The id of the XDP program on the director's interface (`None`: none attached).
fn xdp_prog(lab: &Lab) -> Option<String> {
    let out = lab
        .director
        .sh(&format!("ip -d link show dev {}", lab.director_iface));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text.find("prog/xdp id ")?;
    Some(
        text[at + 12..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned(),
    )
}

/// Each real the daemon lists, with its weight and health.
fn weights(d: &TestLab) -> Vec<(String, u32, String)> {
    let out = d.daemon.ctl(&["list", "-o", "json"]);
    let l: lvs_ctl::api::Listing = serde_json::from_slice(&out.stdout).expect("listing");
    l.services
        .iter()
        .flat_map(|s| &s.reals)
        .map(|r| (r.address.to_string(), r.weight, format!("{:?}", r.health)))
        .collect()
}

#[test]
fn a_second_daemon_on_the_same_pins_refuses_and_changes_nothing() {
    let d = TestLab::sinks("two", 3, 2);
    let flows = d.flows(24);
    let placed = d.where_do_they_go(&flows, "before");
    let before = snapshot(&d.daemon.pins);
    let listing = weights(&d);

    // Another configuration (other reals, other weights) and another socket: the same pins.
    let reals: Vec<String> = d.lab.reals.iter().map(|r| r.addr4.to_string()).collect();
    let other = d.config_text(&reals, 9).replace(
        &d.daemon.socket.display().to_string(),
        &d.daemon.dir.join("second.sock").display().to_string(),
    );
    let out = failed_start(&d.lab, "second", &other);
    assert!(
        out.contains("in use by another lvs-ctl"),
        "the second daemon says why: {out}"
    );
    assert_eq!(
        snapshot(&d.daemon.pins),
        before,
        "maps identical after the refusal"
    );
    assert_eq!(
        d.where_do_they_go(&flows, "after"),
        placed,
        "flows stay put"
    );
    assert_eq!(weights(&d), listing, "the first daemon lists what it had");

    // The same socket, other pins: refused as well, before any pin is made.
    let pins = Path::new("/sys/fs/bpf").join(unique("two"));
    let same_socket = d.config_text(&reals, 9).replace(
        &d.daemon.pins.display().to_string(),
        &pins.display().to_string(),
    );
    let out = failed_start(&d.lab, "third", &same_socket);
    assert!(out.contains("another daemon is listening"), "{out}");
    assert!(
        !pins.exists(),
        "{} was made by a start that failed",
        pins.display()
    );
    assert_eq!(d.where_do_they_go(&flows, "third"), placed);
}

#[test]
fn a_failed_start_leaves_the_kernel_as_it_found_it() {
    let mut d = TestLab::sinks("fst", 2, 2);
    let flows = d.flows(16);
    let placed = d.where_do_they_go(&flows, "before");
    // A director that forwards without a daemon: the one that ran is gone (SIGKILL).
    d.daemon.kill();
    let before = snapshot(&d.daemon.pins);
    let prog = xdp_prog(&d.lab).expect("lvs_director attached");
    let good = std::fs::read_to_string(&d.daemon.config).expect("config");
    let long_socket = format!("/run/{}/lvs.sock", "s".repeat(190));
    for (name, config, says) in [
        (
            "no-such-interface",
            good.replace(
                &format!("interfaces: [{}]", d.lab.director_iface),
                "interfaces: [nosuch0]",
            ),
            "nosuch0",
        ),
        (
            "long-socket",
            good.replace(&d.daemon.socket.display().to_string(), &long_socket),
            "at most 107",
        ),
    ] {
        let out = failed_start(&d.lab, name, &config);
        assert!(out.contains(says), "{name}: says why ({says}): {out}");
        assert_eq!(snapshot(&d.daemon.pins), before, "{name}: maps identical");
        assert_eq!(
            xdp_prog(&d.lab).as_deref(),
            Some(prog.as_str()),
            "{name}: the same program attached"
        );
        assert_eq!(
            d.where_do_they_go(&flows, name),
            placed,
            "{name}: flows stay"
        );
    }
    assert!(
        !Path::new(&long_socket).exists(),
        "no socket left by a failed start"
    );

    // On a machine without a director: a failed start leaves no pins and attaches nothing.
    d.daemon
        .ctl_ok(&["--pin-dir", &d.daemon.pins.display().to_string(), "unload"]);
    assert_eq!(xdp_prog(&d.lab), None);
    let out = failed_start(
        &d.lab,
        "fresh",
        &good.replace(
            &format!("interfaces: [{}]", d.lab.director_iface),
            &format!("interfaces: [{}, nosuch0]", d.lab.director_iface),
        ),
    );
    assert!(out.contains("nosuch0"), "{out}");
    assert!(
        !d.daemon.pins.exists(),
        "a failed first start made {}",
        d.daemon.pins.display()
    );
    assert_eq!(xdp_prog(&d.lab), None, "nothing attached");
}

#[test]
fn unload_refuses_under_a_running_daemon_and_a_forced_one_is_repaired() {
    let d = TestLab::sinks("unl", 2, 2);
    let pins = d.daemon.pins.display().to_string();
    let flows = d.flows(16);
    let placed = d.where_do_they_go(&flows, "before");

    let out = d.daemon.ctl(&["--pin-dir", &pins, "unload"]);
    assert!(!out.status.success(), "unload refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("held by a running lvs-ctl daemon") && err.contains("--force"),
        "{err}"
    );
    assert!(d.daemon.pins.exists());
    assert_eq!(
        d.where_do_they_go(&flows, "refused"),
        placed,
        "still forwarding"
    );

    // Forced: the daemon finds its program detached and its pins gone, says so, puts back.
    d.daemon.ctl_ok(&["--pin-dir", &pins, "unload", "--force"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let listing = loop {
        let out = d.daemon.ctl(&["list", "-o", "json"]);
        let l: lvs_ctl::api::Listing = serde_json::from_slice(&out.stdout).expect("listing");
        if !l.repairs.is_empty() && xdp_prog(&d.lab).is_some() {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no repair within 20 s\n{}",
            d.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        listing
            .repairs
            .iter()
            .any(|r| r.what.contains("detached") || r.what.contains("gone")),
        "{:?}",
        listing.repairs
    );
    assert!(
        d.daemon.ctl_ok(&["list"]).contains("repaired"),
        "list says it"
    );
    assert!(
        d.daemon.log().contains("WARN"),
        "logged at WARN:\n{}",
        d.daemon.log()
    );
    // The same maps again: flows on the reals they had.
    assert_eq!(d.where_do_they_go(&flows, "repaired"), placed);
    assert!(
        d.daemon.pins.join(lvs_common::MAP_CONNS).exists(),
        "pins back"
    );
}

#[test]
fn a_reload_keeps_a_drain_and_run_time_edits() {
    let d = TestLab::sinks("rdr", 2, 2);
    let r1 = d.lab.reals[0].addr4.to_string();
    let r2 = d.lab.reals[1].addr4.to_string();
    d.daemon.ctl_ok(&["real", "drain", SERVICE, &r2]);
    d.daemon
        .ctl_ok(&["real", "edit", SERVICE, &r1, "--weight", "3"]);
    d.daemon.ctl_ok(&["reload"]);
    let out = d.daemon.ctl(&["list", "-o", "json"]);
    let l: lvs_ctl::api::Listing = serde_json::from_slice(&out.stdout).expect("listing");
    let real = l.services[0]
        .reals
        .iter()
        .find(|r| r.address.to_string() == r2)
        .expect("the drained real");
    assert!(real.drained && real.weight == 0, "still drained: {real:?}");
    let edited = l.services[0]
        .reals
        .iter()
        .find(|r| r.address.to_string() == r1)
        .expect("the edited real");
    assert_eq!(
        edited.configured_weight, 3,
        "the file did not touch it: {edited:?}"
    );
    let new = d.flows(32);
    assert!(
        !d.where_do_they_go(&new, "after-reload").contains(&1),
        "no new flow on the drained real"
    );
}

#[test]
fn maps_written_by_someone_else_are_put_back() {
    let d = TestLab::sinks("mwr", 2, 2);
    let flows = d.flows(16);
    let placed = d.where_do_they_go(&flows, "before");
    let before = snapshot(&d.daemon.pins);
    let table = |s: &Snapshot| s.services[0].2.clone().expect("a live table");
    {
        // Someone else's handle on the pins: the live table emptied, a real's MAC changed.
        let mut dp = Maps::load(&LoadOptions::new(&d.daemon.pins)).expect("open the pins");
        let (_, svc) = dp.services()[0];
        dp.write_ring(svc.ring, &vec![0; svc.ring_size as usize])
            .expect("empty the live table");
        let (index, mut real) = before.reals[0];
        real.dst_mac = [0x02, 0, 0, 0, 0, 0x66];
        dp.set_real(index, &real).expect("change a real");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = snapshot(&d.daemon.pins);
        if now.reals == before.reals && table(&now)[..] == table(&before)[..] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not repaired within 20 s\n{}",
            d.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = d.daemon.ctl(&["list", "-o", "json"]);
    let l: lvs_ctl::api::Listing = serde_json::from_slice(&out.stdout).expect("listing");
    let what: Vec<&str> = l.repairs.iter().map(|r| r.what.as_str()).collect();
    assert!(
        what.iter().any(|w| w.contains("Maglev table"))
            && what.iter().any(|w| w.contains("changed")),
        "{what:?}"
    );
    // New flows are scheduled again, old ones stayed on their reals.
    assert_eq!(d.where_do_they_go(&flows, "after"), placed);
    d.where_do_they_go(&d.flows(16), "new");
}
