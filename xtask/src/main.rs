//! `cargo xtask`: sets up a machine from nothing and runs the project's jobs. It orchestrates
//! only; the logic lives in the crates.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

mod package;

/// Debian packages the tests, the demo and the benchmark use (`systemd`: the unit test runs
/// its `systemd-analyze verify`; `prometheus`: the metrics test checks the exposition with
/// its `promtool`; `man-db`: the package test formats an installed man page).
const APT_PACKAGES: &[&str] = &[
    "iproute2",
    "ethtool",
    "procps",
    "nftables",
    "systemd",
    "prometheus",
    "man-db",
];
/// What `cargo xtask bench` with default options should take at most.
const BENCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(15 * 60);
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Benchmark binaries of the lvs-bench crate (`tests/bench/`), in the order `cargo xtask bench`
/// runs them.
const BENCHES: &[&str] = &[
    "lvs-bench-dataplane",
    "lvs-bench-control",
    "lvs-bench-system",
    "lvs-bench-health",
    "lvs-bench-consistency",
    "lvs-bench-memory",
    "lvs-bench-report",
];

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Set up, build, test and benchmark lvs")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the build and the tests need: Debian packages, rust-src for the nightly
    /// toolchain, bpf-linker built against the nightly's own LLVM. Idempotent; every other
    /// command runs it first.
    Bootstrap,
    /// Build the XDP programs and the userspace (release).
    Build,
    /// Build, then load lvs_director and attach it to an interface (maps pinned under
    /// /sys/fs/bpf/lvs; empty until services are configured).
    BuildAndLoad {
        #[arg(long)]
        iface: String,
        /// auto | native | skb
        #[arg(long, default_value = "auto")]
        mode: String,
    },
    /// Run every test: formatting, lints, unit tests, and the packet and namespace tests
    /// (these need root, as in CI).
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the benchmarks (data plane, control plane, system level in the lab); each writes
    /// its section under target/bench/.
    Bench {
        /// Run only the benchmarks whose name contains this (dataplane, control, system, ...).
        #[arg(long)]
        only: Option<String>,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The built-in lab: a client, a director and three real servers in network namespaces,
    /// real traffic through lvs, a real server failing and coming back. Cleans up after itself.
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the Debian package target/debian/lvs_VERSION_ARCH.deb (lvs-ctl, lvs.service, man
    /// pages, completions, /etc/lvs/lvs.yaml as a conffile) and print its path.
    Package,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    std::env::set_current_dir(&root).context("entering the workspace")?;
    bootstrap()?;
    match cli.command {
        Cmd::Bootstrap => Ok(()),
        Cmd::Build => cargo(&["build", "--release"]),
        Cmd::BuildAndLoad { iface, mode } => {
            cargo(&["build", "--release", "-p", "lvs-ctl"])?;
            run(Command::new(root.join("target/release/lvs-ctl"))
                .args(["load", "--iface", &iface, "--mode", &mode]))
        }
        Cmd::Test { args } => {
            cargo(&["fmt", "--all", "--check"])
                .context("cargo fmt found unformatted code (run `cargo fmt --all`)")?;
            cargo(&["clippy", "--all-targets", "--", "-D", "warnings"])?;
            run(Command::new("cargo").args([
                "+nightly",
                "clippy",
                "-p",
                "lvs-ebpf",
                "--target",
                "bpfel-unknown-none",
                "-Z",
                "build-std=core",
                "--",
                "-D",
                "warnings",
            ]))?;
            // The package test (tests/tests/package.rs) installs this one.
            let deb = package::package(&root)?;
            run(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .arg("test")
                    .args(args)
                    .env("LVS_DEB", deb),
            )
        }
        Cmd::Bench { only, args } => {
            let wanted: Vec<&str> = BENCHES
                .iter()
                .copied()
                .filter(|b| only.as_deref().is_none_or(|o| b.contains(o)))
                .collect();
            if wanted.is_empty() {
                bail!("no benchmark matches {only:?}; there are {BENCHES:?}");
            }
            // lvs-tests' only binary, lvs-ctl-dev, is the daemon the control and memory
            // benchmarks start; it is built with them so they never run an old one.
            cargo(&[
                "build",
                "--release",
                "-p",
                "lvs-bench",
                "-p",
                "lvs-tests",
                "--bins",
            ])?;
            // A failed benchmark does not stop the others: the report (last) names what is
            // missing. Each one's time is printed; the defaults keep the total under budget.
            let start = std::time::Instant::now();
            let mut failed = Vec::new();
            for bin in wanted {
                eprintln!("xtask: running {bin}");
                let t = std::time::Instant::now();
                if let Err(e) = run(Command::new(root.join("target/release").join(bin)).args(&args))
                {
                    eprintln!("xtask: {bin}: {e:#}");
                    failed.push(bin);
                }
                eprintln!("xtask: {bin} took {:.0} s", t.elapsed().as_secs_f64());
            }
            let total = start.elapsed();
            eprintln!("xtask: benchmarks took {:.0} s in all", total.as_secs_f64());
            if total > BENCH_BUDGET {
                eprintln!("xtask: over the budget of {} s", BENCH_BUDGET.as_secs());
            }
            if !failed.is_empty() {
                bail!("benchmarks failed: {failed:?}");
            }
            Ok(())
        }
        Cmd::Package => {
            println!("{}", package::package(&root)?.display());
            Ok(())
        }
        Cmd::Demo { args } => {
            cargo(&["build", "--release", "-p", "lvs-bench", "--bin", "lvs-demo"])?;
            run(Command::new(root.join("target/release/lvs-demo")).args(&args))
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Result<()> {
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args(args))
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn bootstrap() -> Result<()> {
    apt_packages()?;
    nightly_rust_src()?;
    bpf_linker()?;
    Ok(())
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages {missing:?}");
    run(Command::new("apt-get").arg("update").arg("-q"))
        .context("apt-get update (are you root?)")?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("apt-get install")
}

fn nightly_rust_src() -> Result<()> {
    let installed = output(Command::new("rustup").args(["component", "list", "--toolchain", "nightly", "--installed"]))
        .context("the nightly toolchain is missing: `rustup toolchain install nightly` (the eBPF build needs it)")?;
    if installed.lines().any(|l| l.trim().starts_with("rust-src")) {
        return Ok(());
    }
    eprintln!("xtask: adding rust-src to the nightly toolchain");
    run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
}

/// bpf-linker must be built against the same LLVM as the nightly rustc that emits the
/// bitcode. Debian has no LLVM of that version, so it links the toolchain's own libLLVM.
fn bpf_linker() -> Result<()> {
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("rustc +nightly --print sysroot")?;
    let sysroot = PathBuf::from(sysroot.trim());
    let lib = sysroot.join("lib");
    let llvm = std::fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with("libLLVM.so.") || (n.starts_with("libLLVM-") && n.ends_with(".so")))
        .with_context(|| format!("no libLLVM in {}", lib.display()))?;
    let major: String = llvm
        .trim_start_matches("libLLVM.so.")
        .trim_start_matches("libLLVM-")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let stamp = format!("{BPF_LINKER_VERSION} llvm-{major} {}", sysroot.display());
    let stamp_file = cargo_home().join(".lvs-bpf-linker");
    let have = output(Command::new("bpf-linker").arg("--version")).unwrap_or_default();
    if have.contains(BPF_LINKER_VERSION)
        && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
    {
        return Ok(());
    }
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against the nightly's LLVM {major} ({llvm})"
    );
    let unversioned = lib.join("libLLVM.so");
    if !unversioned.exists() {
        std::os::unix::fs::symlink(&llvm, &unversioned)
            .with_context(|| format!("linking {} -> {llvm}", unversioned.display()))?;
    }
    run(Command::new("cargo")
        .args([
            "+nightly",
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
            "--force",
        ])
        .args([
            "--no-default-features",
            "--features",
            &format!("llvm-{major}"),
        ])
        .env("LLVM_PREFIX", &sysroot))?;
    std::fs::write(&stamp_file, stamp).context("writing the bpf-linker stamp")?;
    Ok(())
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cargo")
        })
}
