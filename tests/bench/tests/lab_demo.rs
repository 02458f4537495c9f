//! `cargo xtask demo --fast` as CI sees it: the demo binary runs to the end, exits 0, names
//! every real, and leaves nothing behind.

use std::{
    io::Read,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const DEMO: &str = env!("CARGO_BIN_EXE_lvs-demo");
const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn the_demo_runs_fast_names_every_real_and_cleans_up() {
    lvs_tests::require_root();
    let started = Instant::now();
    let mut child = Command::new(DEMO)
        .arg("--fast")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lvs-demo");
    let pid = child.id();
    // Read the pipes on threads so a chatty demo cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for lvs-demo") {
            break st;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lvs-demo --fast still running after {LIMIT:?}\n{}",
                out_t.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_t.join().expect("stdout reader");
    let stderr = err_t.join().expect("stderr reader");
    assert!(
        status.success(),
        "lvs-demo --fast: {status}\n{stdout}\n{stderr}"
    );
    for real in ["real-1", "real-2", "real-3"] {
        assert!(stdout.contains(real), "the output names {real}:\n{stdout}");
    }
    for expected in ["lvs-ctl", "down", "back in the table", "Done in"] {
        assert!(
            stdout.contains(expected),
            "the output mentions {expected:?}:\n{stdout}"
        );
    }
    let name = format!("lvs-demo-{pid}");
    let netns: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{name}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(netns.is_empty(), "namespaces left behind: {netns:?}");
    for left in [
        format!("/sys/fs/bpf/{name}"),
        format!("/run/{name}.sock"),
        std::env::temp_dir()
            .join(&name)
            .to_string_lossy()
            .into_owned(),
    ] {
        assert!(!Path::new(&left).exists(), "{left} left behind");
    }
    eprintln!("lvs-demo --fast took {:?}", started.elapsed());
}
