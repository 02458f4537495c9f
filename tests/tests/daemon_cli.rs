//! The CLI's offline commands and its message when no daemon runs (no root needed).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lvs-ctl-dev");
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../lvs-ctl/testdata");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run lvs-ctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_daemon_is_reported_with_the_socket_and_a_hint() {
    let sock = std::env::temp_dir().join(format!("lvs-none-{}.sock", std::process::id()));
    let sock = sock.to_str().expect("utf-8 path");
    let (ok, _, err) = run(&["--socket", sock, "list"]);
    assert!(!ok, "non-zero exit");
    assert_eq!(
        err.trim(),
        format!(
            "lvs-ctl: cannot reach the daemon at {sock}: no such socket — is 'lvs-ctl daemon' running?"
        )
    );
    let (ok, _, err) = run(&[
        "--socket",
        sock,
        "real",
        "add",
        "198.18.100.1:80",
        "198.18.1.2",
    ]);
    assert!(!ok);
    assert!(err.contains("is 'lvs-ctl daemon' running?"), "{err}");
}

#[test]
fn check_validates_without_a_daemon_and_names_every_fault() {
    let (ok, out, _) = run(&["check", &format!("{TESTDATA}/config/minimal.yaml")]);
    assert!(ok);
    assert!(out.contains("valid"), "{out}");
    let file = format!("{TESTDATA}/config/many-faults.yaml");
    let (ok, _, err) = run(&["check", &file]);
    assert!(!ok);
    // One `FILE:LINE: path: message` line per fault, then the count.
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() > 2, "every fault on its own line: {err}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with(&format!("{file}:"))),
        "{err}"
    );
    assert!(
        lines[lines.len() - 1].starts_with("lvs-ctl: ")
            && lines[lines.len() - 1].ends_with(&format!("not valid: {} faults", lines.len() - 1)),
        "{err}"
    );
}

#[test]
fn import_ldirectord_writes_yaml_and_warns_with_line_numbers() {
    let out_file = std::env::temp_dir().join(format!("lvs-import-{}.yaml", std::process::id()));
    let out_path = out_file.to_str().expect("utf-8 path");
    let src = format!("{TESTDATA}/ldirectord/mixed.cf");
    // mixed.cf has a fwmark service, which is skipped: that fails unless --allow-partial.
    let (ok, _, err) = run(&["import", "ldirectord", &src, "-o", out_path]);
    assert!(!ok, "a skip is an error: {err}");
    assert!(
        !out_file.exists(),
        "nothing written when something is skipped"
    );
    assert!(err.contains("--allow-partial"), "{err}");
    let (ok, _, err) = run(&[
        "import",
        "ldirectord",
        &src,
        "-o",
        out_path,
        "--allow-partial",
    ]);
    assert!(ok, "{err}");
    let yaml = std::fs::read_to_string(&out_file).expect("output written");
    let _ = std::fs::remove_file(&out_file);
    lvs_ctl::config::parse(&yaml).expect("the import is a valid configuration");
    for line in err.lines() {
        assert!(
            line.starts_with(&format!("{src}: ")),
            "warnings name the file: {line}"
        );
    }
    assert!(
        err.contains(": line "),
        "warnings carry line numbers: {err}"
    );
}

#[test]
fn help_teaches_with_examples() {
    let (ok, out, _) = run(&["--help"]);
    assert!(ok);
    assert!(out.contains("Examples:"), "{out}");
    assert!(
        out.contains("lvs-ctl real edit 198.18.100.1:80/tcp 198.18.1.2 --drain"),
        "{out}"
    );
    assert!(
        out.contains("ipvsadm-restore"),
        "reload semantics are documented: {out}"
    );
}
