//! `lvs-bench-memory`: what lvs costs in memory at 1,000,000 connections and 100 services.
//!
//! - Kernel: `lvs_director` loaded with a connection table of 1,000,000 entries (under a pin
//!   directory of its own, removed at the end), 100 services of 4 reals applied through
//!   the controller's `Director`; then every BPF map this process holds is read from `/proc/self/fdinfo`
//!   (`memlock`: what the kernel charges for the map, its own accounting since 6.4) and named
//!   with `BPF_OBJ_GET_INFO_BY_FD`. The per-service Maglev tables (two inner maps of 65537
//!   slots per service) are not in the program's map list; they are found the same way.
//! - The daemon: `lvs-ctl daemon` in a network namespace (a lab, torn down at the end) with
//!   100 services of 10 reals (checks `type: on`, the reals' neighbours entered as permanent
//!   so that every real resolves without traffic), beside the same daemon with 1 service of
//!   1 real; resident memory (VmRSS, and its peak VmHWM) from `/proc/<pid>/status` once every
//!   real is up and written, and the kernel memory of the maps the daemon holds, the same way
//!   as above.

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use lvs_bench::{Figure, Section};
use lvs_common::{PROTO_TCP, ServiceKey};
use lvs_ctl::dataplane::{Director, LoadOptions, RealSpec, ServiceSpec, Wanted, unpin_all};
use lvs_tests::{
    PinDir,
    lab::{Lab, LabDaemon, all_ready, run},
    packet::{DIRECTOR_MAC, real_mac},
    require_root, unique,
};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr},
    path::Path,
    time::{Duration, Instant},
};

const CONNS: u32 = 1_000_000;
const SERVICES: usize = 100;
const KERNEL_REALS: usize = 4;
const DAEMON_REALS: usize = 10;
const RING: u32 = 65537;
const MIB: f64 = 1024.0 * 1024.0;

/// One BPF map as `/proc/<pid>/fdinfo` shows it.
#[derive(Clone, Debug)]
struct MapMem {
    name: String,
    kind: u32,
    max_entries: u64,
    memlock: u64,
}

fn map_kind(t: u32) -> &'static str {
    match t {
        1 => "hash",
        2 => "array",
        5 => "percpu_hash",
        6 => "percpu_array",
        9 => "lru_hash",
        10 => "lru_percpu_hash",
        12 => "array_of_maps",
        13 => "hash_of_maps",
        _ => "other",
    }
}

/// Every BPF map process `pid` holds a file descriptor of, once each.
fn maps_of(pid: &str) -> Result<Vec<MapMem>> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut by_id: BTreeMap<u32, MapMem> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let Ok(text) = std::fs::read_to_string(entry?.path()) else {
            continue;
        };
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok())
        };
        let (Some(id), Some(memlock)) = (field("map_id:"), field("memlock:")) else {
            continue;
        };
        let id = id as u32;
        let name = aya::maps::MapInfo::from_id(id)
            .ok()
            .and_then(|i| i.name_as_str().map(str::to_string))
            .unwrap_or_else(|| format!("#{id}"));
        by_id.insert(
            id,
            MapMem {
                name,
                kind: field("map_type:").unwrap_or(0) as u32,
                max_entries: field("max_entries:").unwrap_or(0),
                memlock,
            },
        );
    }
    Ok(by_id.into_values().collect())
}

fn real_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        198,
        18,
        128 + (i / 250) as u8,
        (2 + i % 250) as u8,
    ))
}

fn vip(s: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, 64, 1 + s as u8))
}

fn mib(b: u64) -> f64 {
    b as f64 / MIB
}

fn figure(
    name: String,
    value: f64,
    unit: &str,
    method: &str,
    compared_to: Option<String>,
) -> Figure {
    Figure {
        name,
        value,
        unit: unit.into(),
        spread: None,
        rounds: Some(1),
        method: method.into(),
        compared_to,
        target: None,
    }
}

/// The kernel side: the director's maps and the services' tables.
fn kernel(md: &mut String, figures: &mut Vec<Figure>) -> Result<()> {
    let pins = PinDir::new("mem");
    let mut director = Director::open(&LoadOptions {
        pin_dir: pins.0.clone(),
        conn_table_size: CONNS,
    })
    .context("loading lvs_director with a 1,000,000-entry connection table")?;
    let services: Vec<ServiceSpec> = (0..SERVICES)
        .map(|s| ServiceSpec {
            key: ServiceKey::new(vip(s), 80, PROTO_TCP),
            flags: 0,
            ring_size: RING,
            reals: (0..KERNEL_REALS)
                .map(|r| {
                    let i = s * KERNEL_REALS + r;
                    RealSpec::dr(real_addr(i), 1, real_mac((i % 250) as u8), DIRECTOR_MAC)
                })
                .collect(),
        })
        .collect();
    director
        .apply(&Wanted {
            services,
            ..Wanted::default()
        })
        .context("applying 100 services")?;
    let maps = maps_of("self")?;
    drop(director);
    drop(pins);

    let (rings, program): (Vec<&MapMem>, Vec<&MapMem>) =
        maps.iter().partition(|m| m.name == "lvs_ring");
    let ring_total: u64 = rings.iter().map(|m| m.memlock).sum();
    let program_total: u64 = program.iter().map(|m| m.memlock).sum();
    writeln!(
        md,
        "### Kernel: maps for {CONNS} connections and {SERVICES} services\n\n\
         `lvs_director` loaded with `conn_table_size: {CONNS}`, {SERVICES} services of \
         {KERNEL_REALS} reals applied through the controller's `Director`; `memlock` of every map this process \
         holds, from `/proc/self/fdinfo` (the kernel's own accounting of the map's memory). \
         Hash maps are preallocated: the connection table costs the same empty or full.\n"
    )?;
    writeln!(md, "| map | type | entries | MiB |\n|---|---|---:|---:|")?;
    let mut sorted = program.clone();
    sorted.sort_by_key(|m| std::cmp::Reverse(m.memlock));
    for m in &sorted {
        writeln!(
            md,
            "| {} | {} | {} | {:.2} |",
            m.name,
            map_kind(m.kind),
            m.max_entries,
            mib(m.memlock)
        )?;
    }
    let per_ring = rings.first().map_or(0, |m| m.memlock);
    writeln!(
        md,
        "| Maglev tables (`lvs_ring`): {} maps, 2 per service, {RING} slots each | array (mmap) | {} × {} | {:.2} |",
        rings.len(),
        rings.len(),
        RING,
        mib(ring_total)
    )?;
    writeln!(
        md,
        "| **total** | | | **{:.2}** |\n",
        mib(program_total + ring_total)
    )?;
    writeln!(
        md,
        "A Maglev table of {RING} 4-byte slots takes {:.0} KiB, {:.1} bytes a slot (two slots \
         share each 8-byte array element, the kernel's element size). Each service holds two \
         (the live one and the idle one of the make-before-break switch): {:.2} MiB a service.\n",
        per_ring as f64 / 1024.0,
        per_ring as f64 / RING as f64,
        mib(2 * per_ring)
    )?;
    ensure!(
        rings.len() == 2 * SERVICES,
        "expected {} Maglev tables, found {}",
        2 * SERVICES,
        rings.len()
    );
    let conns = program
        .iter()
        .find(|m| m.name == lvs_common::MAP_CONNS)
        .context("the connection table is not among the maps")?;
    let method = "memlock in /proc/self/fdinfo";
    figures.push(figure(
        format!("kernel: connection table, {CONNS} entries"),
        mib(conns.memlock),
        "MiB",
        method,
        None,
    ));
    figures.push(figure(
        format!("kernel: Maglev tables, {SERVICES} services × 2 × {RING} slots"),
        mib(ring_total),
        "MiB",
        &format!("{method}; {:.0} KiB per table", per_ring as f64 / 1024.0),
        None,
    ));
    figures.push(figure(
        "kernel: every other map of the director".into(),
        mib(program_total - conns.memlock),
        "MiB",
        method,
        None,
    ));
    figures.push(figure(
        format!("kernel: total, {CONNS} connections, {SERVICES} services"),
        mib(program_total + ring_total),
        "MiB",
        method,
        None,
    ));
    figures.push(figure(
        "kernel: bytes per connection-table entry".into(),
        conns.memlock as f64 / CONNS as f64,
        "B",
        method,
        None,
    ));
    Ok(())
}

/// Resident memory of a daemon with `services` × `reals`, and the kernel memory of its maps.
struct DaemonMem {
    rss: f64,
    hwm: f64,
    anon: f64,
    file: f64,
    kernel: f64,
    ready: Duration,
}

fn status_kib(pid: &str, key: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .with_context(|| format!("{key} in {path}"))
}

/// The pid of the process whose command line mentions `needle` (the daemon's config file).
fn pid_of(needle: &str) -> Result<String> {
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains(needle) && cmd.contains("daemon") && !cmd.starts_with("nsenter") {
            return Ok(name);
        }
    }
    bail!("no process runs with {needle}")
}

fn daemon(lab: &Lab, bin: &Path, services: usize, reals: usize) -> Result<DaemonMem> {
    let mut d = LabDaemon::new(lab, &unique("mem"), bin, &[]);
    let mut yaml = format!(
        "global:\n  interfaces: [{}]\n  xdp_mode: native\n  pin_path: {}\n  socket: {}\n  conn_table_size: {CONNS}\nservices:\n",
        lab.director_iface,
        d.pins.display(),
        d.socket.display()
    );
    for s in 0..services {
        let list: Vec<String> = (0..reals)
            .map(|r| format!("{{address: {}}}", real_addr(s * reals + r)))
            .collect();
        writeln!(
            yaml,
            "  - {{vip: {}, port: 80, check: {{type: on, interval: 1s, timeout: 1s}}, reals: [{}]}}",
            vip(s),
            list.join(", ")
        )?;
    }
    d.write_config(&yaml);
    let t = Instant::now();
    d.start();
    let listing = d.wait(Duration::from_secs(60), "every real up and resolved", |l| {
        l.services.len() == services && all_ready(l, true)
    });
    let ready = t.elapsed();
    ensure!(
        listing
            .services
            .iter()
            .map(|s| s.reals.len())
            .sum::<usize>()
            == services * reals,
        "the daemon lists every real"
    );
    // A few ticks (1 s) of the steady state.
    std::thread::sleep(Duration::from_secs(3));
    let pid = pid_of(&d.config.to_string_lossy())?;
    let mem = DaemonMem {
        rss: status_kib(&pid, "VmRSS:")? / 1024.0,
        hwm: status_kib(&pid, "VmHWM:")? / 1024.0,
        anon: status_kib(&pid, "RssAnon:")? / 1024.0,
        file: status_kib(&pid, "RssFile:")? / 1024.0,
        kernel: mib(maps_of(&pid)?.iter().map(|m| m.memlock).sum()),
        ready,
    };
    d.stop();
    // Detach and free the maps before the next daemon attaches to the same interface.
    let _ = unpin_all(&d.pins);
    Ok(mem)
}

fn daemons(md: &mut String, figures: &mut Vec<Figure>) -> Result<()> {
    let lab = Lab::builder().tag("mem").reals(1).build();
    // Every real on the link to real 1, its neighbour entered: resolved without traffic.
    lab.director
        .ip(&["route", "add", "198.18.128.0/17", "dev", "d1"]);
    let batch = std::env::temp_dir().join(format!("{}.neigh", unique("mem")));
    let mut lines = String::new();
    for i in 0..SERVICES * DAEMON_REALS {
        writeln!(
            lines,
            "neigh replace {} lladdr 02:00:00:02:{:02x}:{:02x} dev d1 nud permanent",
            real_addr(i),
            i >> 8,
            i & 0xff
        )?;
    }
    std::fs::write(&batch, lines)?;
    lab.teardown.path(&batch);
    run(
        "ip",
        &["-n", &lab.director.name, "-batch", &batch.to_string_lossy()],
    );

    let bin = lvs_bench::lvs_ctl_dev()?;
    let small = daemon(&lab, &bin, 1, 1)?;
    let big = daemon(&lab, &bin, SERVICES, DAEMON_REALS)?;

    writeln!(
        md,
        "### The daemon: resident memory\n\n\
         `lvs-ctl daemon` in a lab namespace, attached natively to a veth, checks `type: on`, \
         every real's neighbour known; from `/proc/<pid>/status` 3 s after every real is up \
         and written: VmRSS (resident now), VmHWM (its peak), and VmRSS split into RssAnon \
         (the daemon's own heap and stacks) and RssFile (mapped files, and the Maglev tables \
         it writes through `mmap`: kernel memory seen again, not more of it); kernel = \
         `memlock` of the maps the daemon holds (connection table of {CONNS} entries in both).\n"
    )?;
    writeln!(
        md,
        "| configuration | VmRSS MiB | of which RssAnon | RssFile | VmHWM MiB | kernel maps MiB | ready after s |\n|---|---:|---:|---:|---:|---:|---:|"
    )?;
    for (label, m) in [
        ("1 service × 1 real".to_string(), &small),
        (format!("{SERVICES} services × {DAEMON_REALS} reals"), &big),
    ] {
        writeln!(
            md,
            "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            m.rss,
            m.anon,
            m.file,
            m.hwm,
            m.kernel,
            m.ready.as_secs_f64()
        )?;
    }
    let method = "/proc/<pid>/status, 3 s after ready";
    let small_name = "daemon resident memory (VmRSS), 1 service × 1 real".to_string();
    figures.push(figure(small_name.clone(), small.rss, "MiB", method, None));
    figures.push(figure(
        format!("daemon resident memory (VmRSS), {SERVICES} services × {DAEMON_REALS} reals"),
        big.rss,
        "MiB",
        &format!(
            "{method}; includes {:.1} MiB of mmapped Maglev tables (RssFile)",
            big.file
        ),
        Some(small_name),
    ));
    let small_anon = "daemon's own memory (RssAnon), 1 service × 1 real".to_string();
    figures.push(figure(small_anon.clone(), small.anon, "MiB", method, None));
    figures.push(figure(
        format!("daemon's own memory (RssAnon), {SERVICES} services × {DAEMON_REALS} reals"),
        big.anon,
        "MiB",
        method,
        Some(small_anon),
    ));
    figures.push(figure(
        format!("daemon peak resident memory (VmHWM), {SERVICES} services × {DAEMON_REALS} reals"),
        big.hwm,
        "MiB",
        method,
        None,
    ));
    figures.push(figure(
        format!("daemon's kernel maps, {SERVICES} services × {DAEMON_REALS} reals"),
        big.kernel,
        "MiB",
        "memlock of the daemon's map fds",
        None,
    ));
    Ok(())
}

/// What lvs costs in memory at 1,000,000 connections and 100 services. No options.
#[derive(Parser)]
#[command(
    name = "lvs-bench-memory",
    long_about = "What lvs costs in memory at 1,000,000 connections and 100 services: the kernel \
memory (memlock) of every BPF map of lvs_director loaded with a connection table of 1,000,000 \
entries and 100 services of 4 reals, and the resident memory (VmRSS, VmHWM, RssAnon, RssFile) \
of `lvs-ctl daemon` (lvs-ctl-dev, built beside this binary) with 100 services of 10 reals \
beside the same daemon with 1 service of 1 real, in a lab of network namespaces torn down at \
the end. Needs root. No options. Writes target/bench/memory.md and memory.json.",
    after_help = "Example:\n  cargo xtask bench --only memory"
)]
struct Args {}

fn main() -> Result<()> {
    Args::parse();
    require_root();
    let started = Instant::now();
    let mut md = String::new();
    let mut figures = Vec::new();
    writeln!(md, "## Memory\n")?;
    kernel(&mut md, &mut figures)?;
    daemons(&mut md, &mut figures)?;
    writeln!(
        md,
        "\n{} s; `cargo run --release -p lvs-bench --bin lvs-bench-memory`.\n",
        started.elapsed().as_secs()
    )?;
    print!("{md}");
    let section = Section {
        name: "memory".into(),
        title: "Memory".into(),
        markdown: md,
        figures,
    };
    let path = section.write().context("writing the memory section")?;
    eprintln!("written to {}", path.display());
    Ok(())
}
