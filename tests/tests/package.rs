//! The Debian package installs with dpkg and what it installs works: `lvs-ctl --version` names
//! the package's version, `man -l` formats an installed page, /etc/lvs/lvs.yaml is a conffile
//! that `lvs-ctl check` accepts, the unit and the completions are in place; purging removes it.
//!
//! dpkg installs into a scratch directory (`--instdir`) with a fresh database (`--admindir`),
//! so the host's own dpkg state is never touched. `--force-script-chrootless` runs the
//! maintainer scripts without a chroot into the empty scratch root (they would find no
//! /bin/sh there) and sets DPKG_ROOT, which the scripts check before calling systemctl;
//! `--force-depends` because the fresh database has no libc6 installed to satisfy Depends.
//!
//! The package is the one `cargo xtask test` built (its path in LVS_DEB); run alone, the test
//! builds it with `cargo xtask package`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// Each dpkg, man or lvs-ctl run may take this long (coreutils `timeout`).
const STEP_LIMIT: &str = "120s";

/// A scratch directory, removed when the test ends, also when it fails.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `program` under coreutils `timeout`, so that no step can hang the test.
fn timed(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(STEP_LIMIT).arg(program);
    cmd
}

/// Runs `cmd` and panics, with its output, unless it succeeds.
fn ok(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn deb() -> PathBuf {
    if let Some(deb) = std::env::var_os("LVS_DEB") {
        return deb.into();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "-q", "-p", "xtask", "--", "package"])
        .current_dir(workspace)
        .output()
        .expect("run cargo xtask package");
    assert!(
        out.status.success(),
        "cargo xtask package: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text(&out).lines().last().expect("the .deb's path").into()
}

#[test]
fn the_package_installs_into_a_scratch_root_and_its_files_work() {
    lvs_tests::require_root();
    let deb = deb();
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "lvs-package-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )));
    let root = scratch.0.join("root");
    let admin = scratch.0.join("admin");
    for dir in [&root, &admin.join("info"), &admin.join("updates")] {
        fs::create_dir_all(dir).expect("make the scratch root and dpkg database");
    }
    fs::write(admin.join("status"), "").expect("an empty dpkg status");
    let instdir = format!("--instdir={}", root.display());
    let admindir = format!("--admindir={}", admin.display());
    let log = format!("--log={}", scratch.0.join("dpkg.log").display());
    let dpkg = || {
        let mut cmd = timed("dpkg");
        cmd.arg(&instdir).arg(&admindir).arg(&log).args([
            "--force-script-chrootless",
            "--force-depends",
            // A dpkg.cfg.d that leaves out man pages or docs (slim images do) must not apply.
            "--path-include=*",
        ]);
        cmd
    };
    ok("install the package", dpkg().arg("-i").arg(&deb));

    let query = ok(
        "dpkg-query the installed package",
        timed("dpkg-query").arg(&admindir).args([
            "-W",
            "-f=${Version}\n${Status}\n${Depends}\n${Conffiles}\n",
            "lvs",
        ]),
    );
    let query = text(&query);
    let mut lines = query.lines();
    let version = lines.next().expect("the version").to_owned();
    assert_eq!(lines.next(), Some("install ok installed"), "{query}");
    assert!(
        lines.next().is_some_and(|d| d.contains("libc6")),
        "Depends names libc6: {query}"
    );
    assert!(
        lines.any(|l| l.trim_start().starts_with("/etc/lvs/lvs.yaml ")),
        "/etc/lvs/lvs.yaml is a conffile: {query}"
    );

    let bin = root.join("usr/sbin/lvs-ctl");
    let out = text(&ok(
        "installed lvs-ctl --version",
        timed(&bin).arg("--version"),
    ));
    assert_eq!(
        out.trim(),
        format!("lvs-ctl {version}"),
        "the package's version"
    );
    let config = root.join("etc/lvs/lvs.yaml");
    ok(
        "lvs-ctl check the installed example",
        timed(&bin).arg("check").arg(&config),
    );

    let man8 = root.join("usr/share/man/man8");
    for page in [
        "lvs-ctl",
        "lvs-ctl-daemon",
        "lvs-ctl-list",
        "lvs-ctl-real-add",
        "lvs-ctl-decap-load",
    ] {
        let file = man8.join(format!("{page}.8.gz"));
        assert!(file.is_file(), "{} is installed", file.display());
    }
    let page = man8.join("lvs-ctl-daemon.8.gz");
    let man = timed("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("run man (man-db; cargo xtask bootstrap installs it)");
    let shown = text(&man);
    assert!(
        man.status.success() && shown.contains("lvs-ctl-daemon") && shown.contains("--config"),
        "man -l {}: {}\n{shown}\n{}",
        page.display(),
        man.status,
        String::from_utf8_lossy(&man.stderr)
    );

    let unit = fs::read_to_string(root.join("lib/systemd/system/lvs.service")).expect("the unit");
    assert!(
        unit.contains("/usr/sbin/lvs-ctl"),
        "the unit runs the installed lvs-ctl:\n{unit}"
    );
    for file in [
        "usr/share/bash-completion/completions/lvs-ctl",
        "usr/share/zsh/vendor-completions/_lvs-ctl",
        "usr/share/fish/vendor_completions.d/lvs-ctl.fish",
    ] {
        let script = fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            script.contains("lvs-ctl") && script.contains("daemon"),
            "{file}:\n{script}"
        );
    }
    let bash = root.join("usr/share/bash-completion/completions/lvs-ctl");
    ok(
        "bash -n the bash completion",
        timed("bash").arg("-n").arg(&bash),
    );
    for file in ["copyright", "changelog.gz", "lvs.reference.yaml"] {
        let file = root.join("usr/share/doc/lvs").join(file);
        assert!(file.is_file(), "{} is installed", file.display());
    }

    ok("purge the package", dpkg().args(["--purge", "lvs"]));
    for gone in [&bin, &config, &page] {
        assert!(!gone.exists(), "{} is removed by the purge", gone.display());
    }
}
