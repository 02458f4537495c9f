//! Health-check benchmark: the CPU and memory of a [`Monitor`] running TCP connect checks
//! against 10,000 reals every second, on the daemon's runtime (tokio, two worker threads).
//!
//! The reals are loopback addresses (127.1.x.y, one per real) in a network namespace of the
//! benchmark's own (`unshare`, gone when the process ends), served by a child process that
//! accepts on a few ports bound to 0.0.0.0 and closes at once; so the process measured does
//! only the checking. CPU is `getrusage(RUSAGE_SELF)` (user + system, threads included) over a
//! fixed window after a warm-up; memory is `VmRSS`/`VmHWM` of `/proc/self/status`, before the
//! checks and at the end. Prints a markdown table and writes it to `target/bench/health.md` (figures in
//! `health.json`, for the report).
//!
//! Options: `lvs-bench-health --help`.

use anyhow::{Context, Result, bail};
use clap::Parser;
use lvs_bench::{Figure, Section, Target};
use lvs_ctl::health::{self, CheckKind, CheckSpec, Event, Monitor, Protocol, State};
use lvs_tests::require_root;
use std::{
    fmt::Write as _,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const BASE_PORT: u16 = 20000;
/// Target: the checks of 10,000 reals take less than a quarter of one core.
const TARGET_CPU: f64 = 25.0;

/// The CPU and memory of health checks: a Monitor running TCP connect checks against many
/// reals, on the daemon's runtime.
#[derive(Parser)]
#[command(
    name = "lvs-bench-health",
    long_about = "The CPU and memory of health checks: a Monitor (the daemon's checker, on its \
two-worker tokio runtime) runs TCP connect checks against --reals reals every --interval-ms. \
The reals are loopback addresses 127.1.x.y in a network namespace of the benchmark's own, \
served by a child that accepts on --ports ports and closes at once. CPU is measured over \
--window seconds after --warmup seconds; memory (VmRSS, VmHWM) before the checks and at the \
end. Needs root. Writes target/bench/health.md and health.json.",
    after_help = "Example: a quick run\n  lvs-bench-health --reals 1000 --warmup 1 --window 3"
)]
struct Args {
    /// Reals checked (1..=64000), one loopback address each.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    reals: usize,
    /// Milliseconds between two checks of a real (also each check's timeout).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    interval_ms: u64,
    /// Seconds of checking before the CPU window starts.
    #[arg(long, default_value_t = 5, value_name = "S")]
    warmup: u64,
    /// Seconds over which CPU is measured.
    #[arg(long, default_value_t = 20, value_name = "S")]
    window: u64,
    /// Ports the accepting child listens on (the reals share them).
    #[arg(long, default_value_t = 16, value_name = "N")]
    ports: u16,
    /// Internal: be the accepting child on this many ports (the benchmark starts itself so).
    #[arg(long, hide = true, value_name = "PORTS")]
    serve: Option<u16>,
}

struct Opts {
    reals: usize,
    interval: Duration,
    warmup: Duration,
    window: Duration,
    ports: u16,
}

fn opts(a: &Args) -> Result<Opts> {
    let o = Opts {
        reals: a.reals,
        interval: Duration::from_millis(a.interval_ms),
        warmup: Duration::from_secs(a.warmup),
        window: Duration::from_secs(a.window),
        ports: a.ports,
    };
    if o.reals == 0 || o.reals > 64_000 || o.ports == 0 || o.interval.is_zero() {
        bail!("--reals must be 1..=64000, --ports and --interval-ms above 0");
    }
    Ok(o)
}

/// The address of real `i`: 127.1.0.1, 127.1.0.2, ... (250 per /24).
fn real_addr(i: usize, ports: u16) -> SocketAddr {
    let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
    SocketAddr::new(ip.into(), BASE_PORT + (i % usize::from(ports)) as u16)
}

/// The child: every millisecond, accepts what is queued on each port and closes it, until
/// killed. It polls rather than blocking in `accept`: on loopback the checker's own `connect`
/// would otherwise pay for waking this process on every probe (a sixth of the checker's CPU
/// in a profile), work that a remote real server's kernel does on a real network. The kernel
/// work of the server's side of each handshake is still charged to the checker.
fn serve(ports: u16) -> ! {
    let listeners: Vec<TcpListener> = (0..ports)
        .map(|p| {
            let l = TcpListener::bind(("0.0.0.0", BASE_PORT + p)).expect("bind a listener");
            l.set_nonblocking(true).expect("nonblocking listener");
            // SAFETY: listen(2) again on a listening socket only raises its backlog.
            unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&l), 4096) };
            l
        })
        .collect();
    loop {
        for l in &listeners {
            while let Ok((s, _)) = l.accept() {
                drop(s);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// User + system CPU time of this process (every thread).
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// TCP sockets in TIME_WAIT in this network namespace (`/proc/net/sockstat`).
fn time_wait() -> u64 {
    let s = std::fs::read_to_string("/proc/self/net/sockstat").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.iter()
                .position(|w| *w == "tw")
                .and_then(|i| f.get(i + 1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn raise_nofile() -> Result<u64> {
    // SAFETY: getrlimit/setrlimit on a zeroed struct they fill or read.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    lim.rlim_cur = lim.rlim_max.min(1 << 20);
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        bail!("setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(ports) = args.serve {
        serve(ports);
    }
    let o = opts(&args)?;
    require_root();
    // A network namespace of our own: its loopback carries every check and it disappears with
    // this process and its child.
    // SAFETY: unshare affects only this (still single-threaded) process.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        bail!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
    }
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .context("ip link set lo up")?;
    if !up.success() {
        bail!("ip link set lo up failed");
    }
    let nofile = raise_nofile()?;
    let _server = Server(
        Command::new(std::env::current_exe().context("own path")?)
            .args(["--serve", &o.ports.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .context("starting the accepting child")?,
    );
    // Until the child listens.
    let probe = real_addr(0, o.ports);
    let ready = Instant::now();
    while std::net::TcpStream::connect(SocketAddr::new(probe.ip(), BASE_PORT + o.ports - 1))
        .is_err()
    {
        if ready.elapsed() > Duration::from_secs(5) {
            bail!("the accepting child did not listen within 5 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let (rss_before, _) = memory_kib();
    let spec = CheckSpec {
        kind: CheckKind::Connect {
            proto: Protocol::Tcp,
        },
        interval: o.interval,
        timeout: o.interval,
        rise: 2,
        fall: 3,
    };
    let result = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Event<usize>>(1024);
        let mut monitor = Monitor::new(tx);
        let counts = std::sync::Arc::new(std::sync::Mutex::new((0u64, 0u64)));
        let c = std::sync::Arc::clone(&counts);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let mut c = c.lock().expect("counts");
                if ev.up { c.0 += 1 } else { c.1 += 1 }
            }
        });
        let started = Instant::now();
        monitor.set_checks(
            (0..o.reals)
                .map(|i| (i, health::Target::new(real_addr(i, o.ports)), spec.clone()))
                .collect(),
        );
        // Every real up (rise 2: two intervals and the spread of start times).
        let deadline = started + o.interval * 4 + Duration::from_secs(5);
        loop {
            let up = monitor
                .status()
                .iter()
                .filter(|s| s.state == State::Up)
                .count();
            if up == o.reals {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "only {up} of {} reals up after {:?}",
                    o.reals,
                    started.elapsed()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let all_up = started.elapsed();
        tokio::time::sleep(o.warmup).await;
        let (ups, downs) = *counts.lock().expect("counts");
        let (cpu0, t0) = (cpu_time(), Instant::now());
        tokio::time::sleep(o.window).await;
        let (cpu1, wall) = (cpu_time(), t0.elapsed());
        let (ups1, downs1) = *counts.lock().expect("counts");
        let status = monitor.status();
        let stale = status
            .iter()
            .filter(|s| {
                s.last_probe
                    .and_then(|t| t.elapsed().ok())
                    .is_none_or(|age| age > o.interval * 2)
            })
            .count();
        let slowest = status
            .iter()
            .filter_map(|s| s.last_duration)
            .max()
            .unwrap_or_default();
        anyhow::ensure!(downs == 0 && downs1 == 0, "{} down events", downs1);
        anyhow::ensure!(ups == ups1, "{} up events during the window", ups1 - ups);
        Ok((
            all_up,
            cpu1 - cpu0,
            wall,
            monitor.probe_count(),
            stale,
            slowest,
        ))
    });
    let (all_up, cpu, wall, probes, stale, slowest) = result?;
    let (rss, hwm) = memory_kib();
    let tw = time_wait();
    drop(runtime);

    let per_sec = probes as f64 / o.interval.as_secs_f64();
    let cpu_pct = cpu.as_secs_f64() / wall.as_secs_f64() * 100.0;
    let per_probe_us = cpu.as_secs_f64() * 1e6 / (per_sec * wall.as_secs_f64());
    let mut md = String::new();
    writeln!(md, "## Health checks\n")?;
    writeln!(
        md,
        "{} reals, TCP connect every {} ms (timeout {} ms) to loopback listeners in a namespace of \
         its own; tokio with 2 worker threads, as the daemon. CPU over a {} s window after all \
         were up and a {} s warm-up; open-file limit {nofile}.\n",
        o.reals,
        o.interval.as_millis(),
        spec.timeout.as_millis(),
        o.window.as_secs(),
        o.warmup.as_secs(),
    )?;
    writeln!(md, "| measure | value | target | met |")?;
    writeln!(md, "|---|---:|---:|:---:|")?;
    writeln!(
        md,
        "| CPU, % of one core (user + system) | {cpu_pct:.1} | < {TARGET_CPU:.0} | {} |",
        if cpu_pct < TARGET_CPU { "yes" } else { "no" }
    )?;
    writeln!(md, "| probes per second | {per_sec:.0} | | |")?;
    writeln!(md, "| CPU per probe, us | {per_probe_us:.1} | | |")?;
    writeln!(md, "| distinct probes (tasks) | {probes} | | |")?;
    writeln!(
        md,
        "| reals not probed in the last 2 intervals at the end | {stale} | 0 | {} |",
        if stale == 0 { "yes" } else { "no" }
    )?;
    writeln!(
        md,
        "| slowest last probe, ms | {:.2} | | |",
        slowest.as_secs_f64() * 1e3
    )?;
    writeln!(
        md,
        "| time until every real was up, s | {:.2} | | |",
        all_up.as_secs_f64()
    )?;
    writeln!(
        md,
        "| RSS before the checks / at the end / peak, MiB | {:.1} / {:.1} / {:.1} | | |",
        rss_before as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    )?;
    writeln!(
        md,
        "| RSS added by the checks, bytes per real | {:.0} | | |",
        (rss.saturating_sub(rss_before) * 1024) as f64 / o.reals as f64
    )?;
    writeln!(md, "| TCP sockets in TIME_WAIT at the end | {tw} | | |")?;
    println!("{md}");
    let method = format!(
        "{} reals, TCP connect every {} ms on loopback, getrusage over {} s",
        o.reals,
        o.interval.as_millis(),
        o.window.as_secs()
    );
    let figure = |name: &str, value: f64, unit: &str, target: Option<Target>| Figure {
        name: name.into(),
        value,
        unit: unit.into(),
        spread: None,
        rounds: None,
        method: method.clone(),
        compared_to: None,
        target,
    };
    let section = Section {
        name: "health".into(),
        title: "Health checks".into(),
        markdown: md,
        figures: vec![
            figure(
                "health checks, CPU of one core",
                cpu_pct,
                "%",
                Some(Target::at_most(TARGET_CPU, "%", cpu_pct, "issue #4")),
            ),
            figure(
                "health checks, probes per second",
                per_sec,
                "probes/s",
                None,
            ),
            figure("health checks, CPU per probe", per_probe_us, "us", None),
            figure(
                "health checks, RSS at the end",
                rss as f64 / 1024.0,
                "MiB",
                None,
            ),
        ],
    };
    let path = section
        .write()
        .context("writing target/bench/health.{md,json}")?;
    eprintln!("written: {}", path.display());
    if stale != 0 {
        bail!("{stale} reals were not probed on time");
    }
    Ok(())
}
