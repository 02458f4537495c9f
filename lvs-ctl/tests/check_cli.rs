//! `lvs-ctl check` as an operator runs it: every fault on stderr as `file:line: path: what`,
//! the exit status, warnings for interfaces this host lacks and `--strict`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("lvs-check-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write the file");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check(args: &[&str], file: &Path) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_lvs-ctl"))
        .arg("check")
        .args(args)
        .arg(file)
        .env("RUST_LOG", "off")
        .output()
        .expect("run lvs-ctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_fault_is_reported_with_its_line() {
    let dir = Dir::new("faults");
    let file = dir.file(
        "lvs.yaml",
        b"global:
  interfaces: [lo]
  xdp_mode: nativ
services:
  - vip: 198.18.0.10
    port: 65536
    reals:
      - {address: 198.18.1.2, weight: -1}
      - address: 127.0.0.1
        wieght: 2
      - address: 198.18.0.10
        method: [ipip]
",
    );
    let (code, stdout, stderr) = check(&[], &file);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    let f = file.display();
    let expected = [
        format!(
            "{f}:3: global.xdp_mode: \"nativ\" is not allowed: one of auto, native, skb (did you mean native?)"
        ),
        format!("{f}:6: services[0].port: 65536 is not allowed: a whole number from 0 to 65535"),
        format!(
            "{f}:8: services[0].reals[0].weight: -1 is not allowed: a whole number from 0 to 65535"
        ),
        format!(
            "{f}:9: services[0].reals[1].address: 127.0.0.1 is a loopback address: a real or fallback must be another host"
        ),
        format!(
            "{f}:10: services[0].reals[1].wieght: unknown key; did you mean weight? (keys of a real: address, weight, method, check)"
        ),
        format!(
            "{f}:11: services[0].reals[2].address: 198.18.0.10 is the service's vip: a real or fallback must be another host"
        ),
        format!("{f}:12: services[0].reals[2].method: a list is not allowed: one of dr, ipip, gue"),
        format!("lvs-ctl: {f}: not valid: 7 faults"),
    ];
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected, "{stderr}");
}

#[test]
fn absent_interfaces_warn_and_fail_with_strict() {
    let dir = Dir::new("strict");
    let file = dir.file("lvs.yaml", b"global:\n  interfaces: [lo, lvs-absent0]\n");
    let f = file.display();

    let (code, stdout, stderr) = check(&[], &file);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{f}: valid, 0 service(s), 1 warning\n"));
    assert_eq!(
        stderr,
        format!(
            "{f}:2: warning: global.interfaces[1]: \"lvs-absent0\" does not exist on this host (an error with --strict)\n"
        )
    );

    let (code, stdout, stderr) = check(&["--strict"], &file);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "{f}:2: global.interfaces[1]: \"lvs-absent0\" does not exist on this host\nlvs-ctl: {f}: not valid: 1 fault\n"
        )
    );
}

#[test]
fn bytes_that_are_not_text_and_unreadable_files() {
    let dir = Dir::new("bytes");
    let file = dir.file(
        "lvs.yaml",
        b"global:\n  interfaces: [lo]\nservices:\n  - vip: 198.18.0.1\0\n    port: 8\xff0\n",
    );
    let f = file.display();
    let (code, _, stderr) = check(&[], &file);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!(
                "{f}:4: column 20: a NUL byte is not allowed: YAML text holds no control characters"
            ),
            format!("{f}:5: column 12: invalid UTF-8 (0xff): the file must be UTF-8 text"),
            format!("lvs-ctl: {f}: not valid: 2 faults"),
        ]
    );

    // A directory: the cause once.
    let (code, _, stderr) = check(&[], &dir.0);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "lvs-ctl: reading {}: Is a directory (os error 21)\n",
            dir.0.display()
        )
    );
}
