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

#[test]
fn list_shows_one_service_and_the_connection_table_like_ipvsadm() {
    let d = TestLab::sinks("dlc", 2, 2);
    let flows = d.flows(12);
    let placed = d.where_do_they_go(&flows, "pinned");
    let clients: Vec<String> = d.lab.client.enter(|| {
        flows
            .iter()
            .map(|f| f.local_addr().expect("local addr").to_string())
            .collect()
    });

    // One service, named as the operator writes it; an unknown one is an error naming it.
    let one = d.daemon.ctl_ok(&["list", SERVICE, "--stats", "--sort"]);
    assert!(one.contains("UDP  198.18.100.1:5000"), "{one}");
    assert!(
        one.contains("Conns   InPkts  OutPkts  InBytes OutBytes"),
        "{one}"
    );
    let missing = d.daemon.ctl(&["list", "198.18.100.1:5001/udp"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("service 198.18.100.1:5001/udp: no such service"),
        "{missing:?}"
    );

    // Every flow sent is in the connection table, on the real its packets reached.
    let table = d.daemon.ctl_ok(&["list", "-c", SERVICE]);
    for (client, real) in clients.iter().zip(&placed) {
        let want = format!("198.18.{}.2:5000", real + 1);
        let line = table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(client.as_str()))
            .unwrap_or_else(|| panic!("{client} in {table}"));
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            ["UDP", client.as_str(), "198.18.100.1:5000", want.as_str()],
            "{table}"
        );
    }
    // Filtered by real, and bounded.
    let on_first = placed.iter().filter(|&&r| r == 0).count();
    let first = d
        .daemon
        .ctl_ok(&["list", "-c", "--real", "198.18.1.2", "--max", "0"]);
    assert_eq!(
        first.lines().filter(|l| l.starts_with("UDP ")).count(),
        on_first,
        "{first}"
    );
    let bounded = d.daemon.ctl_ok(&["list", "-c", "--max", "3"]);
    assert_eq!(
        bounded.lines().filter(|l| l.starts_with("UDP ")).count(),
        3,
        "{bounded}"
    );
    assert!(bounded.contains("(more entries"), "{bounded}");
}

#[test]
fn read_only_commands_answer_from_the_kernel_while_the_daemon_is_stopped() {
    let mut d = TestLab::sinks("dro", 2, 2);
    let flows = d.flows(8);
    let placed = d.where_do_they_go(&flows, "pinned");
    let client = d
        .lab
        .client
        .enter(|| flows[0].local_addr().expect("local addr"))
        .to_string();
    assert!(d.daemon.stop(), "the daemon stops on SIGTERM");

    let pins = d.daemon.pins.display().to_string();
    let stopped = |args: &[&str]| {
        let out = d
            .daemon
            .ctl(&[&["--pin-dir", pins.as_str()], args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{args:?} with the daemon stopped: {stderr}"
        );
        assert!(stderr.contains("the daemon is not running"), "{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let list = stopped(&["list"]);
    assert!(list.contains("UDP  198.18.100.1:5000 mh"), "{list}");
    // Two reals of weight 1 share the table's 65537 slots.
    let weights: Vec<u32> = ["198.18.1.2:5000", "198.18.2.2:5000"]
        .iter()
        .map(|a| real_line(&list, a)[1].parse().expect("a weight"))
        .collect();
    assert_eq!(weights.iter().sum::<u32>(), 65537, "{list}");
    assert!(weights.iter().all(|&w| w > 30000), "{list}");

    let table = stopped(&["list", "-c"]);
    let want = format!("198.18.{}.2:5000", placed[0] + 1);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["UDP", client.as_str(), "198.18.100.1:5000", want.as_str()]),
        "{table}"
    );
    let why = stopped(&["explain", &client, "->", SERVICE]);
    assert!(why.contains("connection table hit"), "{why}");
    assert!(
        why.contains(&format!("real     198.18.{}.2", placed[0] + 1)),
        "{why}"
    );
}

#[test]
fn members_of_the_socket_group_read_and_only_root_changes() {
    let d = TestLab::sinks_with_config("dsg", 1, |me| {
        me.config_text(&["198.18.1.2".into()], 1).replacen(
            "global:\n",
            "global:\n  socket_group: nogroup\n",
            1,
        )
    });
    // An unprivileged client (nobody, primary group nogroup), running its own copy of the
    // binary so that the path of the build tree does not matter.
    let dir = std::env::temp_dir().join(lvs_tests::unique("dsg"));
    std::fs::create_dir_all(&dir).expect("a directory for the client");
    let bin = dir.join("lvs-ctl");
    std::fs::copy(CTL, &bin).expect("copy the binary");
    use std::os::unix::fs::PermissionsExt;
    for p in [&dir, &bin] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let nobody = |args: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .arg("--socket")
            .arg(&d.daemon.socket)
            .args(args)
            .output()
            .expect("run setpriv")
    };
    let list = nobody(&["list"]);
    let change = nobody(&["real", "edit", SERVICE, "198.18.1.2", "--drain"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains("UDP  198.18.100.1:5000"));
    assert!(!change.status.success());
    assert!(
        String::from_utf8_lossy(&change.stderr).contains("changes are root-only"),
        "{change:?}"
    );
    let root = d.daemon.ctl_ok(&["list"]);
    assert!(!root.contains("drain"), "nothing changed: {root}");
}
