//! `cargo xtask package`: the Debian package `target/debian/lvs_VERSION_ARCH.deb`.
//!
//! A tree staged under `target/debian/build/debian/lvs` and packed by `dpkg-deb --build`:
//! dpkg-deb is part of dpkg, on every Debian machine, where cargo-deb would be one more
//! `cargo install` (minutes of compiling on a new machine). The man pages and completions come
//! from the release binary itself (`lvs-ctl generate`, from the clap definitions), so xtask
//! does not depend on the lvs-ctl crate (whose build script needs bpf-linker).

use super::{cargo, output, run};
use anyhow::{Context, Result, bail};
use std::{
    fs,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

const PACKAGE: &str = "lvs";
const MAINTAINER: &str = "lvs maintainers <lvs@example.invalid>";
const CONFFILE: &str = "etc/lvs/lvs.yaml";
const DESCRIPTION: &str = "\
XDP layer-4 load balancer in the tradition of LVS and ldirectord
 lvs forwards the packets of virtual services (VIP:port, TCP or UDP, IPv4 or
 IPv6) to real servers from an XDP program: Maglev consistent hashing with a
 connection table, direct routing or IP-in-IP/GUE tunnels. lvs-ctl runs the
 controller (health checks, reloads) and changes and lists services at run
 time in the layout of ipvsadm.
 .
 lvs.service is installed but neither enabled nor started: the director takes
 the interfaces of /etc/lvs/lvs.yaml over, so start it once that file is right.";

/// Builds the package; returns the path of the `.deb`.
pub fn package(root: &Path) -> Result<PathBuf> {
    cargo(&["build", "--release", "-p", "lvs-ctl"])?;
    let bin = root.join("target/release/lvs-ctl");
    let version = output(Command::new(&bin).arg("--version"))
        .and_then(|v| Some(v.trim().strip_prefix("lvs-ctl ")?.to_owned()))
        .context("reading the version from `lvs-ctl --version`")?;
    let arch = output(Command::new("dpkg").arg("--print-architecture"))
        .context("dpkg --print-architecture")?;
    let arch = arch.trim();
    let build = root.join("target/debian/build");
    if build.exists() {
        fs::remove_dir_all(&build).with_context(|| format!("removing {}", build.display()))?;
    }
    let pkg = build.join("debian").join(PACKAGE);

    // (in the package, from the workspace, mode)
    #[rustfmt::skip]
    let copied = [
        ("usr/sbin/lvs-ctl", "target/release/lvs-ctl", 0o755),
        ("lib/systemd/system/lvs.service", "lvs-ctl/systemd/lvs.service", 0o644),
        (CONFFILE, "lvs-ctl/debian/lvs.yaml", 0o644),
        ("usr/share/doc/lvs/lvs.reference.yaml", "lvs-ctl/lvs.reference.yaml", 0o644),
        ("usr/share/doc/lvs/copyright", "lvs-ctl/debian/copyright", 0o644),
        ("usr/share/lintian/overrides/lvs", "lvs-ctl/debian/lintian-overrides", 0o644),
        ("DEBIAN/postinst", "lvs-ctl/debian/postinst", 0o755),
        ("DEBIAN/prerm", "lvs-ctl/debian/prerm", 0o755),
        ("DEBIAN/postrm", "lvs-ctl/debian/postrm", 0o755),
    ];
    for (to, from, mode) in copied {
        let from = root.join(from);
        let bytes = fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
        put(&pkg, to, &bytes, mode)?;
    }
    strip(&pkg.join("usr/sbin/lvs-ctl"))?;
    let doc = "usr/share/doc/lvs";
    put(
        &pkg,
        &format!("{doc}/changelog"),
        changelog(root, &version).as_bytes(),
        0o644,
    )?;
    gzip(&pkg.join(doc).join("changelog"))?;

    let pages = build.join("man");
    run(Command::new(&bin)
        .args(["generate", "man"])
        .arg(&pages)
        .stdout(Stdio::null()))?;
    for page in fs::read_dir(&pages).with_context(|| format!("reading {}", pages.display()))? {
        let page = page?.path();
        let name = page
            .file_name()
            .context("a man page's name")?
            .to_string_lossy();
        put(
            &pkg,
            &format!("usr/share/man/man8/{name}"),
            &fs::read(&page)?,
            0o644,
        )?;
        gzip(&pkg.join("usr/share/man/man8").join(&*name))?;
    }
    for (shell, path) in [
        ("bash", "usr/share/bash-completion/completions/lvs-ctl"),
        ("zsh", "usr/share/zsh/vendor-completions/_lvs-ctl"),
        ("fish", "usr/share/fish/vendor_completions.d/lvs-ctl.fish"),
    ] {
        let script = output(Command::new(&bin).args(["generate", "completions", shell]))
            .with_context(|| format!("lvs-ctl generate completions {shell}"))?;
        put(&pkg, path, script.as_bytes(), 0o644)?;
    }

    let files = files_under(&pkg)?;
    let md5sums = output(Command::new("md5sum").args(&files).current_dir(&pkg))
        .context("md5sum of the package's files")?;
    // dpkg counts a KiB a directory and each file rounded up to whole KiB.
    let mut size = count_dirs(&pkg)?;
    for f in &files {
        size += fs::metadata(pkg.join(f))?.len().div_ceil(1024);
    }
    let depends = depends(&build, &pkg.join("usr/sbin/lvs-ctl"))?;
    let control = format!(
        "Package: {PACKAGE}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n\
Installed-Size: {size}\nDepends: {depends}\nSection: net\nPriority: optional\n\
Description: {DESCRIPTION}\n"
    );
    put(&pkg, "DEBIAN/control", control.as_bytes(), 0o644)?;
    put(
        &pkg,
        "DEBIAN/conffiles",
        format!("/{CONFFILE}\n").as_bytes(),
        0o644,
    )?;
    put(&pkg, "DEBIAN/md5sums", md5sums.as_bytes(), 0o644)?;

    let deb = root.join(format!("target/debian/{PACKAGE}_{version}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&pkg)
        .arg(&deb))?;
    Ok(deb)
}

/// Writes `bytes` at `rel` under `pkg` with `mode`, making the directories (0755) on the way.
fn put(pkg: &Path, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let path = pkg.join(rel);
    let dir = path.parent().context("a file in a directory")?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Strips the symbols as dh_strip does, with binutils' strip (there when dpkg-dev is); without
/// it the package is built unstripped (lintian says so), which works the same.
fn strip(bin: &Path) -> Result<()> {
    if Command::new("strip").arg("--version").output().is_err() {
        eprintln!("xtask: no strip (binutils): lvs-ctl stays unstripped");
        return Ok(());
    }
    run(Command::new("strip")
        .args(["--remove-section=.comment", "--remove-section=.note"])
        .arg(bin))
}

/// `gzip -9n`, as Debian policy wants for man pages and changelogs (no name or time inside).
fn gzip(file: &Path) -> Result<()> {
    run(Command::new("gzip").arg("-9nf").arg(file))
}

/// The files under `pkg` outside DEBIAN/, relative and sorted.
fn files_under(pkg: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for e in fs::read_dir(pkg.join(&rel))? {
            let e = e?;
            let rel = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                if rel != Path::new("DEBIAN") {
                    todo.push(rel);
                }
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn count_dirs(dir: &Path) -> Result<u64> {
    let mut n = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            n += 1 + count_dirs(&e.path())?;
        }
    }
    Ok(n)
}

/// The Depends line: dpkg-shlibdeps's (dpkg-dev) when it is installed; else the glibc
/// version the binary's symbols ask for (the highest `GLIBC_2.N` it names), and libgcc-s1 if
/// it links libgcc_s, which is what dpkg-shlibdeps finds for a Rust binary.
fn depends(build: &Path, bin: &Path) -> Result<String> {
    if Command::new("dpkg-shlibdeps")
        .arg("--version")
        .output()
        .is_ok()
    {
        // dpkg-shlibdeps insists on reading a debian/control; an empty one is enough.
        fs::write(build.join("debian/control"), "")?;
        let out = output(
            Command::new("dpkg-shlibdeps")
                .arg("-O")
                .arg(bin)
                .current_dir(build),
        )
        .context("dpkg-shlibdeps")?;
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("shlibs:Depends="))
            .context("dpkg-shlibdeps printed no shlibs:Depends")?;
        return Ok(line.trim().to_owned());
    }
    let bytes = fs::read(bin)?;
    let Some((major, minor)) = glibc_needed(&bytes) else {
        bail!("{} names no GLIBC_ symbol version", bin.display());
    };
    let mut depends = format!("libc6 (>= {major}.{minor})");
    if bytes.windows(13).any(|w| w == b"libgcc_s.so.1") {
        depends.push_str(", libgcc-s1");
    }
    eprintln!("xtask: no dpkg-shlibdeps (dpkg-dev); Depends from the binary: {depends}");
    Ok(depends)
}

/// The highest `GLIBC_M.N` in the binary (its version-needed entries name them).
fn glibc_needed(bytes: &[u8]) -> Option<(u32, u32)> {
    let number = |s: &[u8]| -> Option<(u32, usize)> {
        let len = s.iter().take_while(|b| b.is_ascii_digit()).count();
        Some((std::str::from_utf8(&s[..len]).ok()?.parse().ok()?, len))
    };
    (0..bytes.len().saturating_sub(8))
        .filter(|&i| bytes[i..].starts_with(b"GLIBC_"))
        .filter_map(|i| {
            let (major, len) = number(&bytes[i + 6..])?;
            let rest = bytes[i + 6 + len..].strip_prefix(b".")?;
            Some((major, number(rest)?.0))
        })
        .max()
}

/// A native package's changelog: one entry for this version, dated by the commit it is built
/// from, so that two builds of one commit are the same.
fn changelog(root: &Path, version: &str) -> String {
    let git = |args: &[&str]| output(Command::new("git").args(args).current_dir(root));
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_default();
    let epoch = git(&["log", "-1", "--format=%ct"]).unwrap_or_default();
    let mut date = Command::new("date");
    date.args(["-R", "-u"]);
    if !epoch.trim().is_empty() {
        date.arg("-d").arg(format!("@{}", epoch.trim()));
    }
    let date = output(&mut date).unwrap_or_default();
    format!(
        "{PACKAGE} ({version}) unstable; urgency=medium\n\n  * Built by `cargo xtask package` \
from commit {}.\n\n -- {MAINTAINER}  {}\n",
        commit.trim(),
        date.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::glibc_needed;

    #[test]
    fn glibc_needed_is_the_highest_version_named() {
        let dynstr = b"\0libc.so.6\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.3.4\0GLIBC_PRIVATE\0GLIBC_2.";
        assert_eq!(glibc_needed(dynstr), Some((2, 34)));
        assert_eq!(glibc_needed(b"no versions here"), None);
    }
}
