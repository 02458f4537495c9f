//! Control-plane benchmark: time from a CLI change to the maps updated, and Maglev build time.
//!
//! Runs as root: the daemon is started in a network namespace of its own (one veth pair,
//! 198.18.0.0/15 addresses, torn down at the end). Prints a markdown table and writes it to
//! `target/bench/control.md` (figures in `control.json`, for the report).

use anyhow::{Context, Result, bail};
use clap::Parser;
use lvs_bench::{Figure, Section, Target};
use lvs_ctl::{
    api::{self, Request, ServiceRef},
    dataplane::{LoadOptions, Maps},
    maglev,
};
use lvs_tests::{PinDir, lab::*, require_root, unique};
use std::{
    fmt::Write as _,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const CHANGES: usize = 21;
const BUILDS: usize = 11;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median time to build a 65537-slot table for `n` reals of mixed weights.
fn maglev_build(n: usize) -> Duration {
    let names: Vec<String> = (0..n)
        .map(|i| format!("198.18.{}.{}", i / 250 + 1, i % 250 + 2))
        .collect();
    let backends: Vec<maglev::Backend<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, s)| maglev::Backend {
            name: s.as_bytes(),
            weight: 1 + (i % 3) as u32,
        })
        .collect();
    let runs = (0..BUILDS)
        .map(|_| {
            let t = Instant::now();
            let table = maglev::build(&backends, 65537);
            let took = t.elapsed();
            assert_eq!(table.len(), 65537);
            took
        })
        .collect();
    median(runs)
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls the pinned service entry until its live ring slot differs from `old`.
fn wait_ring_change(
    dp: &Maps,
    key: &lvs_common::ServiceKey,
    old: u32,
    limit: Duration,
) -> Result<u32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some((_, s)) = dp.services().into_iter().find(|(k, _)| k == key)
            && s.ring != old
        {
            return Ok(s.ring);
        }
        if Instant::now() > deadline {
            bail!("the maps did not change within {limit:?}");
        }
        std::hint::spin_loop();
    }
}

fn cli_to_maps() -> Result<(Duration, Duration)> {
    let ns = Netns::new(&unique("bc"));
    let peer = Netns::new(&unique("bp"));
    veth(&ns, "b0", DIRECTOR_IN_MAC, &peer, "p0", CLIENT_MAC);
    ns.ip(&["addr", "add", "198.18.0.2/24", "dev", "b0"]);
    peer.sh("ethtool -K p0 gro on >/dev/null");
    let pins = PinDir::new("bc");
    let dir = std::env::temp_dir().join(unique("bc"));
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join("lvs.sock");
    let config = dir.join("lvs.yaml");
    std::fs::write(
        &config,
        format!(
            "global: {{interfaces: [b0], xdp_mode: native, pin_path: {}, socket: {}, conn_table_size: 65536}}\n\
services:\n  - {{vip: 198.18.100.1, port: 80, check: {{type: on}},\n     reals: [{{address: 198.18.0.10}}, {{address: 198.18.0.11}}, {{address: 198.18.0.12}}]}}\n",
            pins.0.display(),
            socket.display()
        ),
    )?;
    let bin = lvs_bench::lvs_ctl_dev()?;
    let _daemon = Daemon(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", ns.name))
            .arg(&bin)
            .args(["daemon", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} daemon", bin.display()))?,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while api::call(&socket, &Request::List, Duration::from_secs(1)).is_err() {
        if Instant::now() > deadline {
            bail!("the daemon did not answer on {}", socket.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dp = Maps::load(&LoadOptions::new(&pins.0)).context("opening the pinned maps")?;
    let service: ServiceRef = "198.18.100.1:80/tcp".parse()?;
    let key = lvs_ctl::compile::service_key(&service);
    let mut ring = dp
        .services()
        .into_iter()
        .find(|(k, _)| *k == key)
        .context("service written")?
        .1
        .ring;

    let mut via_cli = Vec::new();
    let mut via_api = Vec::new();
    for i in 0..CHANGES * 2 {
        let weight = 2 + (i % 2) as u32;
        let t = Instant::now();
        if i % 2 == 0 {
            let out = Command::new(&bin)
                .arg("--socket")
                .arg(&socket)
                .args([
                    "real",
                    "edit",
                    "198.18.100.1:80/tcp",
                    "198.18.0.10",
                    "--weight",
                    &weight.to_string(),
                ])
                .output()?;
            if !out.status.success() {
                bail!(
                    "lvs-ctl real edit: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        } else {
            let req = Request::RealEdit {
                target: service,
                address: "198.18.0.10".parse()?,
                weight: Some(weight),
                method: None,
                drain: None,
            };
            api::call(&socket, &req, Duration::from_secs(5))?;
        }
        ring = wait_ring_change(&dp, &key, ring, Duration::from_secs(5))?;
        let took = t.elapsed();
        if i % 2 == 0 {
            via_cli.push(took)
        } else {
            via_api.push(took)
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok((median(via_cli), median(via_api)))
}

/// Median times of the two kernel steps of a table swap: installing a new inner map in an
/// outer slot, and clearing an outer slot.
fn ring_ops() -> Result<(Duration, Duration)> {
    let pins = PinDir::new("br");
    let mut dp = Maps::load(&LoadOptions::new(&pins.0)).context("load lvs_director")?;
    let table: Vec<u32> = (0..65537u32).map(|i| 1 + i % 7).collect();
    let (mut write, mut clear) = (Vec::new(), Vec::new());
    for _ in 0..BUILDS {
        let t = Instant::now();
        dp.write_ring(0, &table)?;
        write.push(t.elapsed());
        let t = Instant::now();
        dp.clear_ring(0)?;
        clear.push(t.elapsed());
    }
    Ok((median(write), median(clear)))
}

/// Control-plane benchmark: the time from a CLI or API change to the maps updated, and the
/// Maglev table's build time. No options.
#[derive(Parser)]
#[command(
    name = "lvs-bench-control",
    long_about = "Control-plane benchmark: the time from a change (`lvs-ctl real edit --weight`, \
process start included, and an API request) to the maps updated, the median of 21 changes; \
the Maglev table's build time for 65537 slots and 10, 100 and 1000 reals, the median of 11 \
builds; and the time to install a 65537-slot table in the kernel and to clear it. The daemon (lvs-ctl-dev, built \
beside this binary) runs in a network namespace of its own (one veth pair, 198.18.0.0/15), torn \
down at the end. Needs root. No options. Writes target/bench/control.md and control.json.",
    after_help = "Example:\n  cargo xtask bench --only control"
)]
struct Args {}

fn main() -> Result<()> {
    Args::parse();
    require_root();
    let mut md = String::new();
    let mut figures = Vec::new();
    let mut row = |md: &mut String,
                   name: String,
                   method: &str,
                   value: f64,
                   target: Option<f64>|
     -> Result<()> {
        let t = target.map(|t| Target::at_most(t, "ms", value, "#3"));
        let (tcol, met) = match &t {
            Some(t) => (
                format!("{}", t.value),
                if t.met() { "yes" } else { "**no**" },
            ),
            None => (String::new(), ""),
        };
        writeln!(md, "| {name} | {value:.2} | {tcol} | {met} |")?;
        figures.push(Figure {
            name,
            value,
            unit: "ms".into(),
            spread: None,
            rounds: None,
            method: method.into(),
            compared_to: None,
            target: t,
        });
        Ok(())
    };
    writeln!(md, "| measure | median ms | target ms | met |")?;
    writeln!(md, "|---|---:|---:|:---:|")?;
    for (n, target) in [(10, 10.0), (100, 10.0), (1000, 2.0)] {
        let name = format!("Maglev build, 65537 slots, {n} reals (median of {BUILDS})");
        row(
            &mut md,
            name,
            "lvs_ctl::maglev::build, wall clock",
            ms(maglev_build(n)),
            Some(target),
        )?;
    }
    let (write, clear) = ring_ops()?;
    row(&mut md, "kernel: install a 65537-slot table into an empty outer slot (a service's first table; changes rewrite in place)".into(), "wall clock", ms(write), None)?;
    row(
        &mut md,
        "kernel: clear an outer slot (`clear_ring`)".into(),
        "wall clock",
        ms(clear),
        None,
    )?;
    let (cli, call) = cli_to_maps()?;
    row(
        &mut md,
        format!(
            "`lvs-ctl real edit --weight` to maps updated (process start included, median of {CHANGES})"
        ),
        "wall clock from spawning lvs-ctl to the new table in the kernel",
        ms(cli),
        Some(10.0),
    )?;
    row(
        &mut md,
        format!("API request to maps updated (median of {CHANGES})"),
        "wall clock from the socket request to the new table in the kernel",
        ms(call),
        Some(10.0),
    )?;
    println!("{md}");
    let section = Section {
        name: "control".into(),
        title: "Control plane".into(),
        markdown: md,
        figures,
    };
    section.write()?;
    Ok(())
}
