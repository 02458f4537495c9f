//! Reloads apply only the difference; a broken file changes nothing.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn a_reload_with_a_broken_file_changes_nothing() {
    let d = TestLab::sinks("drl", 2, 2);
    let flows = d.flows(16);
    let placed = d.where_do_they_go(&flows, "before");
    let before = snapshot(&d.daemon.pins);
    assert_eq!(before.services.len(), 1);
    let good = std::fs::read_to_string(&d.daemon.config).expect("config");

    // A file that reads but breaks a rule.
    std::fs::write(
        &d.daemon.config,
        good.replace("weight: 1}", "weight: 70000}"),
    )
    .expect("write");
    let out = d.daemon.ctl(&["reload"]);
    assert!(!out.status.success(), "a broken file is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("running state unchanged"), "{err}");
    assert!(
        err.contains("services[0].reals[0].weight: 70000 is out of range 0..=65535"),
        "{err}"
    );
    // The file watcher sees it too, and refuses it the same way.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        snapshot(&d.daemon.pins),
        before,
        "maps identical after a refused reload"
    );

    // A file that does not read at all.
    std::fs::write(&d.daemon.config, "global: {interfaces: [d0]\nservices: [").expect("write");
    let out = d.daemon.ctl(&["reload"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        snapshot(&d.daemon.pins),
        before,
        "maps identical after a refused reload"
    );
    assert!(
        d.daemon.ctl_ok(&["save"]).contains("198.18.2.2"),
        "the running configuration is the old one"
    );
    assert_eq!(d.where_do_they_go(&flows, "during"), placed);

    // A good file that adds a service: the first service keeps its table and its flows.
    let more = format!(
        "{good}  - vip: 198.18.100.1\n    port: 6000\n    protocol: udp\n    check: {{type: on}}\n    reals: [{{address: 198.18.1.2}}]\n"
    );
    std::fs::write(&d.daemon.config, more).expect("write");
    let out = d.daemon.ctl_ok(&["reload"]);
    assert!(out.contains("2 service(s)"), "{out}");
    let after = snapshot(&d.daemon.pins);
    assert_eq!(after.services.len(), 2);
    let first = |s: &Snapshot| {
        s.services
            .iter()
            .find(|(k, _, _)| k.port() == PORT)
            .cloned()
            .expect("service 5000")
    };
    assert_eq!(
        first(&after),
        first(&before),
        "the unchanged service kept its entry and table"
    );
    assert_eq!(d.where_do_they_go(&flows, "after"), placed, "and its flows");
}
