//! The daemon under systemd: the notifications of `Type=notify` at start, reload and stop, the
//! journal's log format, and the unit file `lvs-ctl/systemd/lvs.service` as systemd reads it.

mod common;

use common::*;
use lvs_tests::{
    lab::{Lab, LabDaemon, all_ready},
    unique,
};
use std::{
    os::unix::{fs::MetadataExt, net::UnixDatagram},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// The socket systemd would listen on (`NOTIFY_SOCKET`), and what came in on it so far.
struct Notify {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Notify {
    fn bind(path: &Path) -> Self {
        let socket = UnixDatagram::bind(path)
            .unwrap_or_else(|e| panic!("binding the notify socket {}: {e}", path.display()));
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        Notify {
            socket,
            seen: Vec::new(),
        }
    }

    /// Waits (up to `timeout`) for a message with the line `want`; returns that message and
    /// keeps every message in `seen`. Panics with what came and the daemon's log.
    fn wait_for(&mut self, want: &str, timeout: Duration, daemon: &LabDaemon) -> String {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                if msg.lines().any(|l| l == want) {
                    return msg;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {want} within {timeout:?}; received {:?}\ndaemon log:\n{}",
                self.seen,
                daemon.log()
            );
        }
    }
}

/// A lab of two reals whose daemon `make` prepares (its environment, its program) and whose
/// configuration is written; the daemon is not started.
fn lab(tag: &str, make: impl FnOnce(&Lab, LabDaemon) -> LabDaemon) -> TestLab {
    let mut d = TestLab::new(tag, Lab::builder().reals(2));
    d.daemon = make(&d.lab, LabDaemon::new(&d.lab, &unique(tag), CTL, &[]));
    let reals: Vec<String> = d.lab.reals.iter().map(|r| r.addr4.to_string()).collect();
    d.daemon.write_config(&d.config_text(&reals, 1));
    d
}

#[test]
fn daemon_tells_systemd_ready_reloading_and_stopping() {
    let mut notify = None;
    let mut log = PathBuf::new();
    let mut d = lab("sdn", |_, daemon| {
        let path = daemon.dir.join("notify.sock");
        notify = Some(Notify::bind(&path));
        // Its log file stands in for the journal's stream: JOURNAL_STREAM names it.
        log = daemon.dir.join("daemon-1.log");
        std::fs::File::create(&log).expect("create the log file");
        let meta = std::fs::metadata(&log).expect("stat the log file");
        daemon
            .env("NOTIFY_SOCKET", path.to_str().expect("a UTF-8 path"))
            .env("JOURNAL_STREAM", &format!("{}:{}", meta.dev(), meta.ino()))
    });
    let mut notify = notify.expect("the notify socket");
    d.daemon.start();

    // READY=1 means running: the tables written, the program attached, the socket answering.
    let ready = notify.wait_for("READY=1", Duration::from_secs(30), &d.daemon);
    assert!(
        ready.lines().any(|l| l.starts_with("STATUS=1 service, ")),
        "a status comes with READY: {ready:?}"
    );
    assert!(
        d.daemon.listing().is_some(),
        "the control socket answers once READY=1 is sent"
    );
    assert_eq!(
        snapshot(&d.daemon.pins).services.len(),
        1,
        "the tables are written before READY=1"
    );

    // A reload: RELOADING=1 with the monotonic time systemd 253 wants, then READY=1 again.
    let before = notify.seen.len();
    d.daemon.ctl_ok(&["reload"]);
    let reloading = notify.wait_for("RELOADING=1", Duration::from_secs(10), &d.daemon);
    assert!(
        reloading.lines().any(|l| l
            .strip_prefix("MONOTONIC_USEC=")
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0))),
        "MONOTONIC_USEC with RELOADING=1: {reloading:?}"
    );
    notify.wait_for("READY=1", Duration::from_secs(10), &d.daemon);
    assert!(
        !notify.seen[before..notify.seen.len() - 1]
            .iter()
            .any(|m| m.lines().any(|l| l == "READY=1")),
        "READY=1 comes after RELOADING=1: {:?}",
        &notify.seen[before..]
    );

    // SIGTERM: STOPPING=1, and the daemon exits.
    assert!(d.daemon.stop(), "the daemon exits on SIGTERM");
    notify.wait_for("STOPPING=1", Duration::from_secs(5), &d.daemon);

    // The journal format: every line with its priority, none with a timestamp of its own.
    let text = std::fs::read_to_string(&log).expect("read the log");
    assert!(text.contains("<6>listening on "), "{text}");
    for line in text.lines() {
        let rest = ["<3>", "<4>", "<6>", "<7>"]
            .iter()
            .find_map(|p| line.strip_prefix(p))
            .unwrap_or_else(|| panic!("a line without its priority: {line:?}\n{text}"));
        assert!(
            !rest.starts_with('[') && !rest.starts_with("20"),
            "no timestamp under JOURNAL_STREAM: {line:?}"
        );
    }
}

/// The unit file of the repository.
fn unit_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvs-ctl/systemd/lvs.service")
}

/// Runs `systemd-analyze verify` on `unit` (a copy named `lvs.service` in `dir`, with
/// ExecStart pointing at the built `lvs-ctl`, which exists, where `/usr/sbin/lvs-ctl` may
/// not); its complaints about the unit: the lines that name it, and a failure status.
fn verify(dir: &Path, unit: &str) -> Vec<String> {
    let copy = dir.join("lvs.service");
    std::fs::write(&copy, unit.replace("/usr/sbin/lvs-ctl", CTL)).expect("write the copy");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect(
            "running systemd-analyze (Debian package systemd; `cargo xtask bootstrap` installs it)",
        );
    let mut complaints: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter(|l| l.contains("lvs.service"))
        .map(str::to_owned)
        .collect();
    if !out.status.success() {
        complaints.push(format!("systemd-analyze verify: {}", out.status));
    }
    complaints
}

/// The capabilities the unit file gives the daemon, in setpriv(1)'s words: `+bpf,+net_raw`.
fn unit_capabilities() -> String {
    let unit = std::fs::read_to_string(unit_file()).expect("read lvs-ctl/systemd/lvs.service");
    let set = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit has a CapabilityBoundingSet=");
    set.split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn daemon_starts_and_restarts_with_only_the_units_capabilities() {
    let caps = format!("-all,{}", unit_capabilities());
    let bound = [
        format!("--bounding-set={caps}"),
        format!("--inh-caps={caps}"),
        format!("--ambient-caps={caps}"),
        "--".to_owned(),
        CTL.to_owned(),
    ];
    let bound: Vec<&str> = bound.iter().map(String::as_str).collect();
    let mut d = lab("sdc", |lab, _| {
        LabDaemon::new(lab, &unique("sdc"), "setpriv", &bound)
    });
    // The first start loads, attaches and pins; a restart adopts the pinned state.
    for run in ["first start", "restart"] {
        d.daemon.start();
        d.daemon.wait(
            Duration::from_secs(30),
            &format!("{run} with {caps}: every real resolved and up"),
            |l| all_ready(l, true),
        );
        assert!(d.daemon.stop(), "{run}: the daemon exits on SIGTERM");
    }
}

#[test]
fn unit_file_passes_systemd_analyze_verify() {
    let dir = std::env::temp_dir().join(unique("sdu"));
    std::fs::create_dir_all(&dir).expect("a directory for the copy");
    let unit = std::fs::read_to_string(unit_file()).expect("read lvs-ctl/systemd/lvs.service");
    let complaints = verify(&dir, &unit);
    // The check is meaningful: a slip in the same file is reported.
    let slipped = verify(&dir, &unit.replace("Type=notify", "Type=notfy"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(complaints.is_empty(), "{complaints:#?}");
    assert!(
        slipped.iter().any(|l| l.contains("notfy")),
        "a bad Type= is reported: {slipped:?}"
    );
    for want in [
        "Type=notify",
        "ExecStart=/usr/sbin/lvs-ctl daemon --config /etc/lvs/lvs.yaml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=mixed",
        "RuntimeDirectory=lvs",
        "ReadWritePaths=/sys/fs/bpf",
    ] {
        assert!(unit.lines().any(|l| l == want), "the unit has {want}");
    }
    let value = |key: &str| unit.lines().find_map(|l| l.strip_prefix(key));
    assert_eq!(
        value("AmbientCapabilities="),
        value("CapabilityBoundingSet="),
        "the daemon has every capability it may have"
    );
}
