//! Health-check labs: a daemon configuration with a maintenance directory and an `on_change`
//! hook, servers whose answers a test switches at run time (the library's, see
//! [`lvs_tests::lab::serve`]), and waiting on `lvs-ctl list -o json`.

#![allow(dead_code)]

use super::TestLab;
use lvs_ctl::api::{Health, Listing, RealView};
use lvs_tests::lab::Netns;
use lvs_tests::lab::serve::{Answer, HttpServer, UdpPort};
use std::{
    net::{IpAddr, Ipv4Addr},
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The `global:` section for a [`TestLab`] with checks: [`TestLab::global`] and
/// `maintenance_dir: DIR/maint`, `on_change: DIR/hook.sh` (written: see [`hook_script`]).
pub fn global(d: &TestLab) -> String {
    hook_script(d);
    format!(
        "{}  maintenance_dir: {}\n  on_change: {}\n",
        d.global(),
        maint_dir(d).display(),
        d.daemon.dir.join("hook.sh").display(),
    )
}

/// The maintenance directory of [`global`], created.
pub fn maint_dir(d: &TestLab) -> PathBuf {
    let dir = d.daemon.dir.join("maint");
    std::fs::create_dir_all(&dir).expect("maintenance directory");
    dir
}

/// Writes `DIR/hook.sh`, which appends one line per call to `DIR/hook.log`:
/// `LVS_EVENT|LVS_REASON|LVS_REAL|LVS_SERVICE|LVS_CAUSE`.
pub fn hook_script(d: &TestLab) {
    let path = d.daemon.dir.join("hook.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$LVS_EVENT|$LVS_REASON|$LVS_REAL|$LVS_SERVICE|$LVS_CAUSE\" >> {}\n",
            d.daemon.dir.join("hook.log").display()
        ),
    )
    .expect("write hook");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod hook");
}

/// Lines the hook wrote so far.
pub fn hook_lines(d: &TestLab) -> Vec<String> {
    std::fs::read_to_string(d.daemon.dir.join("hook.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `lvs-ctl list -o json`.
pub fn listing(d: &TestLab) -> Listing {
    let out = d.daemon.ctl_ok(&["list", "-o", "json"]);
    serde_json::from_str(&out).expect("list -o json parses")
}

/// Real `addr` of the service on `port` in a listing (the fallback too).
pub fn real(l: &Listing, port: u16, addr: IpAddr) -> Option<&RealView> {
    l.services
        .iter()
        .find(|s| s.service.port == port)?
        .reals
        .iter()
        .find(|r| r.address == addr)
}

/// Polls `list -o json` every 25 ms until `want` holds, at most `within`; returns how long it
/// took and the listing that satisfied it. Panics with the last listing and the daemon's log.
pub fn wait_for(
    d: &TestLab,
    within: Duration,
    what: &str,
    want: impl Fn(&Listing) -> bool,
) -> (Duration, Listing) {
    let start = Instant::now();
    loop {
        let l = listing(d);
        if want(&l) {
            return (start.elapsed(), l);
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}\nlast listing: {}\ndaemon log:\n{}",
            lvs_ctl::render::json(&l),
            d.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether real `addr` of the service on `port` has health `h`.
pub fn health_is(l: &Listing, port: u16, addr: IpAddr, h: Health) -> bool {
    real(l, port, addr).is_some_and(|r| r.health == h)
}

/// Milliseconds since the Unix epoch, as the listing's times.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// An HTTP server in `ns` on port 80 answering `answer`; a `200` says `healthy`.
pub fn http_server(d: &TestLab, ns: &Netns, answer: Answer) -> HttpServer {
    d.host
        .http_server(ns, "healthy", 80, answer)
        .unwrap_or_else(|e| panic!("http server in {}: {e}", ns.name))
}

/// A port a UDP connect check probes, on `0.0.0.0:port` in `ns`.
pub fn udp_port(ns: &Netns, port: u16) -> UdpPort {
    UdpPort::open(ns, (Ipv4Addr::UNSPECIFIED, port).into())
}

/// The columns after `-> ADDR` of a real's line in `lvs-ctl list`, and the line under it (its
/// check, if any).
pub fn real_row(table: &str, addr: &str) -> (Vec<String>, String) {
    let mut lines = table.lines();
    let line = lines
        .find(|l| l.starts_with(&format!("  -> {addr} ")))
        .unwrap_or_else(|| panic!("{addr} in {table}"));
    let columns = line.split_whitespace().skip(2).map(str::to_owned).collect();
    let next = lines.next().unwrap_or_default();
    let detail = if next.starts_with("       check ") {
        next.trim().to_owned()
    } else {
        String::new()
    };
    (columns, detail)
}
