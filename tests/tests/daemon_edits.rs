//! The CLI against a running daemon, with lvs_director attached in a namespace lab: run-time
//! changes move new flows and leave established ones where they are.

mod common;

use common::*;

/// The columns after `-> ADDR` of a real's line in `lvs-ctl list`.
fn real_line(list: &str, addr: &str) -> Vec<String> {
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("  -> {addr} ")))
        .unwrap_or_else(|| panic!("{addr} in {list}"));
    line.split_whitespace().skip(2).map(str::to_owned).collect()
}

#[test]
fn adding_a_real_changes_where_new_flows_go_not_established_ones() {
    let d = TestLab::sinks("dad", 2, 1);
    let old = d.flows(16);
    assert!(
        d.where_do_they_go(&old, "before").iter().all(|&r| r == 0),
        "one real: every flow on real 1"
    );

    let out = d.daemon.ctl_ok(&["real", "add", SERVICE, "198.18.2.2"]);
    assert!(
        out.contains("real 198.18.2.2 added to 198.18.100.1:5000/udp"),
        "{out}"
    );
    d.wait_resolved(std::time::Duration::from_secs(10));

    assert!(
        d.where_do_they_go(&old, "after").iter().all(|&r| r == 0),
        "established flows stay on real 1 after a real is added"
    );
    let new = d.flows(32);
    let placed = d.where_do_they_go(&new, "new");
    assert!(
        placed.contains(&1),
        "new flows also go to the added real: {placed:?}"
    );
    assert!(placed.contains(&0), "and still to the first: {placed:?}");

    // explain agrees with where the packets went.
    let src = d
        .lab
        .client
        .enter(|| old[0].local_addr().expect("local addr"))
        .to_string();
    let text = d.daemon.ctl_ok(&["explain", &src, "->", SERVICE]);
    assert!(text.contains("connection table hit"), "{text}");
    assert!(text.contains("real     198.18.1.2"), "{text}");
    let list = d.daemon.ctl_ok(&["list"]);
    assert!(list.contains("UDP  198.18.100.1:5000 mh"), "{list}");
    assert_eq!(
        real_line(&list, "198.18.2.2:5000"),
        ["Route", "1", "up"],
        "{list}"
    );
}

#[test]
fn removing_a_real_moves_its_flows_to_the_others() {
    let d = TestLab::sinks("ddl", 2, 2);
    let flows = d.flows(24);
    let before = d.where_do_they_go(&flows, "before");
    assert!(
        before.contains(&0) && before.contains(&1),
        "24 flows use both reals: {before:?}"
    );

    let out = d.daemon.ctl_ok(&["real", "del", SERVICE, "198.18.2.2"]);
    assert!(out.contains("removed"), "{out}");
    let after = d.where_do_they_go(&flows, "after");
    assert!(
        after.iter().all(|&r| r == 0),
        "every flow on the remaining real: {after:?}"
    );
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if *b == 0 {
            assert_eq!(*a, 0, "flow {i} was on real 1 and stays there");
        }
    }
    let list = d.daemon.ctl_ok(&["list"]);
    assert!(!list.contains("198.18.2.2"), "{list}");
}

#[test]
fn draining_a_real_keeps_its_flows_and_takes_no_new_ones() {
    let d = TestLab::sinks("ddr", 2, 2);
    let flows = d.flows(24);
    let before = d.where_do_they_go(&flows, "before");
    assert!(before.contains(&1), "some flows on real 2: {before:?}");

    let out = d
        .daemon
        .ctl_ok(&["real", "edit", SERVICE, "198.18.2.2", "--drain"]);
    assert!(out.contains("drained"), "{out}");
    assert_eq!(
        d.where_do_they_go(&flows, "after"),
        before,
        "established flows stay, on the drained real too"
    );
    let new = d.flows(24);
    assert!(
        d.where_do_they_go(&new, "new").iter().all(|&r| r == 0),
        "no new flow on the drained real"
    );
    let list = d.daemon.ctl_ok(&["list"]);
    assert_eq!(
        real_line(&list, "198.18.2.2:5000"),
        ["Route", "0", "up,drain"],
        "{list}"
    );

    // Refusals name the field and value, and exit non-zero.
    let out = d
        .daemon
        .ctl(&["real", "edit", SERVICE, "198.18.1.2", "--weight", "70000"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("services[0].reals[0].weight: 70000 is out of range 0..=65535"),
        "{err}"
    );
    let out = d
        .daemon
        .ctl(&["real", "del", "198.18.100.1:5001/udp", "198.18.1.2"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("service 198.18.100.1:5001/udp: no such service")
    );
}
