//! `cargo xtask bench --only dataplane`: nanoseconds per packet through `lvs_director` under
//! BPF_PROG_TEST_RUN, beside the floor program (MAC swap + XDP_TX) measured in the same run,
//! in interleaved rounds; medians, spread and the ratio to the floor.
//!
//! Two methods, each stated beside its figures:
//! - `repeat`: one frame run R times in the kernel (the kernel's mean per run). Only for paths
//!   that leave the frame as it found it for the next repetition (pass, DR).
//! - `single-shot − null`: many distinct frames, each run once, median of the kernel's time
//!   minus the median of an empty program run the same way (the harness's own cost). Used for
//!   new flows (each must be new), for encapsulation (each run must really encapsulate: a
//!   repeated run would see its own output) and for many established flows cycling (so the
//!   connection table misses the CPU cache, as in production).
//!
//! Every measurement checks with the program's own counters that each run took the path it
//! is reported under.

use anyhow::{Context, Result, ensure};
use aya::{
    Ebpf,
    programs::{TestRun, TestRunOptions, Xdp},
};
use clap::Parser;
use lvs_bench::{Figure, Section, Target};
use lvs_common::{
    METHOD_DR, METHOD_GUE, METHOD_IPIP, PROTO_TCP, PROTO_UDP, Reason, ServiceKey, TunnelConfig,
};
use lvs_ctl::dataplane::{FLOOR_OBJECT, RealSpec, ServiceSpec};
use lvs_tests::{Harness, XDP_PASS, XDP_TX, packet::*};
use std::{
    fmt::Write as _,
    net::{IpAddr, SocketAddr},
};

/// Nanoseconds per packet through lvs_director under BPF_PROG_TEST_RUN, beside the floor
/// program (MAC swap + XDP_TX) in the same run; writes target/bench/dataplane.{md,json}.
#[derive(Parser)]
#[command(
    name = "lvs-bench-dataplane",
    long_about = "Nanoseconds per packet through lvs_director under BPF_PROG_TEST_RUN, beside \
the floor program (MAC swap + XDP_TX) measured in the same run, in interleaved rounds: medians, \
spread and the ratio to the floor. Paths that leave the frame unchanged are timed with the \
`repeat` method (one frame run --repeat times); new flows, encapsulation and established flows \
cycling through --flows connections with `single-shot − null` (--shots distinct frames run \
once each, minus an empty program's time). Needs root. Writes target/bench/dataplane.md and \
dataplane.json.",
    after_help = "Example: a quicker run\n  \
cargo xtask bench --only dataplane -- --rounds 5 --repeat 50000 --shots 2000"
)]
struct Args {
    /// Interleaved rounds; each figure is the median of the rounds' values.
    #[arg(long, default_value_t = 11, value_name = "N")]
    rounds: usize,
    /// Kernel repetitions of one frame per `repeat` measurement (the kernel's mean per run).
    #[arg(long, default_value_t = 200_000, value_name = "N")]
    repeat: u32,
    /// Distinct frames, each run once, per `single-shot − null` measurement (new flows,
    /// encapsulation, established flows cycling).
    #[arg(
        long,
        visible_alias = "new-flows",
        default_value_t = 10_000,
        value_name = "N"
    )]
    shots: u32,
    /// Established flows pinned before the rounds and cycled through, so the connection table
    /// misses the CPU cache as in production.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    flows: u32,
}

fn parse_args() -> Result<Args> {
    let a = Args::parse();
    ensure!(
        a.rounds >= 1 && a.shots >= 1 && a.repeat >= 1,
        "counts must be positive"
    );
    Ok(a)
}

/// Runs `prog` on `frame` `repeat` times in the kernel; the kernel's mean ns per run.
fn timed(prog: &Xdp, frame: &[u8], repeat: u32, want: u32) -> Result<f64> {
    let mut out = vec![0u8; frame.len() + 256];
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.data_out = Some(&mut out);
    opts.repeat = repeat;
    let r = prog.test_run(opts).context("BPF_PROG_TEST_RUN")?;
    ensure!(
        r.return_value == want,
        "verdict {} instead of {want}",
        r.return_value
    );
    Ok(r.duration.as_nanos() as f64)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Repeat,
    SingleShot,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Repeat => "repeat",
            Method::SingleShot => "single-shot − null",
        }
    }
}

struct Series {
    name: &'static str,
    method: Method,
    samples: Vec<f64>,
    /// (target ratio to the floor, issue).
    target: Option<(f64, &'static str)>,
}

impl Series {
    fn new(name: &'static str, method: Method, target: Option<(f64, &'static str)>) -> Self {
        Series {
            name,
            method,
            samples: Vec::new(),
            target,
        }
    }
    fn median(&self) -> f64 {
        median(&mut self.samples.clone())
    }
    fn spread(&self) -> (f64, f64) {
        let mut s = self.samples.clone();
        s.sort_by(|a, b| a.total_cmp(b));
        (s[0], s[s.len() - 1])
    }
}

fn pad(mut f: Vec<u8>) -> Vec<u8> {
    f.resize(f.len().max(60), 0);
    f
}

fn client(i: u32, v6: bool) -> SocketAddr {
    let port = 1024 + (i >> 16) as u16;
    if v6 {
        let mut a = "2001:db8:ff::"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        a[12..16].copy_from_slice(&i.to_be_bytes());
        SocketAddr::new(IpAddr::from(a), port)
    } else {
        SocketAddr::new(IpAddr::from([198, 19, (i >> 8) as u8, i as u8]), port)
    }
}

fn main() -> Result<()> {
    let args = parse_args()?;
    lvs_tests::require_root();

    let mut floor_obj = Ebpf::load(FLOOR_OBJECT).context("loading the floor programs")?;
    for name in ["lvs_floor", "lvs_null"] {
        let p: &mut Xdp = floor_obj.program_mut(name).context(name)?.try_into()?;
        p.load().with_context(|| format!("loading {name}"))?;
    }
    let floor: &Xdp = floor_obj
        .program("lvs_floor")
        .context("lvs_floor")?
        .try_into()?;
    let null: &Xdp = floor_obj
        .program("lvs_null")
        .context("lvs_null")?
        .try_into()?;

    // The director with ten reals per service, a connection table that holds every flow the
    // benchmark makes, and one service per path. The table's LRU lists are per CPU (each holds
    // its share of the entries) and every run here may land on one CPU: size it for that.
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)? as u32;
    let flows_made = args.flows + args.shots * (4 + 2 * args.rounds as u32) + 1024;
    let conns = (flows_made * cpus).next_power_of_two();
    let mut h = Harness::with_conn_table("bch", conns);
    h.set_tunnel(&TunnelConfig {
        source4: [198, 18, 250, 1],
        source6: "2001:db8:250::1".parse::<std::net::Ipv6Addr>()?.octets(),
        ..Default::default()
    });
    // Every real's MAC is the director's own: `repeat` runs the program again on the frame it
    // rewrote, which must still be addressed to the director (the program takes only frames
    // to its ingress interface's MAC). The rewrite costs the same whatever the MACs.
    let reals = |base: &str, method: u8| -> Vec<RealSpec> {
        (1..=10u8)
            .map(|i| RealSpec {
                tunnel_port: 6080,
                method,
                ..RealSpec::dr(ip(&format!("{base}{i}")), 1, DIRECTOR_MAC, DIRECTOR_MAC)
            })
            .collect()
    };
    let svc = |vip: &str, port: u16, base: &str, method: u8| ServiceSpec {
        key: ServiceKey::new(ip(vip), port, PROTO_TCP),
        flags: 0,
        ring_size: 65537,
        reals: reals(base, method),
    };
    h.apply(&[
        svc("198.18.0.10", 80, "198.18.1.", METHOD_DR),
        svc("2001:db8::10", 80, "2001:db8:1::", METHOD_DR),
        svc("198.18.0.11", 80, "198.18.2.", METHOD_IPIP),
        svc("2001:db8::11", 80, "2001:db8:2::", METHOD_IPIP),
        svc("198.18.0.12", 80, "198.18.3.", METHOD_GUE),
        svc("2001:db8::12", 80, "2001:db8:3::", METHOD_GUE),
    ]);
    let dp = h.director.program();
    let vip4 = sa("198.18.0.10:80");
    let vip6 = sa("[2001:db8::10]:80");
    let tunnel_vips = [
        sa("198.18.0.11:80"),
        sa("[2001:db8::11]:80"),
        sa("198.18.0.12:80"),
        sa("[2001:db8::12]:80"),
    ];

    // 64-byte frames (60 + FCS), as a packet generator sends them.
    let non_vip4 = pad(frame(
        sa("198.18.200.1:4000"),
        sa("198.18.9.9:80"),
        PROTO_UDP,
        b"",
    ));
    let non_vip6 = pad(frame(
        sa("[2001:db8:ff::1]:4000"),
        sa("[2001:db8::99]:80"),
        PROTO_UDP,
        b"",
    ));
    let est4 = pad(frame(client(0, false), vip4, PROTO_TCP, b""));
    let est6 = pad(frame(client(0, true), vip6, PROTO_TCP, b""));
    ensure!(
        h.run(&est4).verdict == XDP_TX && h.run(&est6).verdict == XDP_TX,
        "first packets forwarded"
    );

    // Many established flows, in a fixed shuffled order, pinned before the rounds.
    eprintln!("establishing {} flows ...", args.flows);
    let many: Vec<Vec<u8>> = {
        let mut idx: Vec<u32> = (1..=args.flows).collect();
        let mut x = 0x2545_f491u32;
        for i in (1..idx.len()).rev() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            idx.swap(i, x as usize % (i + 1));
        }
        idx.into_iter()
            .map(|i| pad(frame(client(i, false), vip4, PROTO_TCP, b"")))
            .collect()
    };
    for f in &many {
        ensure!(h.run(f).verdict == XDP_TX, "establishing a flow");
    }
    // Established flows of the tunnel services (each run encapsulates a fresh copy).
    let tunnel_frames: Vec<Vec<Vec<u8>>> = tunnel_vips
        .iter()
        .map(|vip| {
            (0..args.shots)
                .map(|i| pad(frame(client(i + 1, vip.is_ipv6()), *vip, PROTO_TCP, b"")))
                .collect()
        })
        .collect();
    // The same clients on the DR services: the like-for-like comparison of the tunnels.
    let dr_same: Vec<Vec<Vec<u8>>> = [vip4, vip6]
        .iter()
        .map(|vip| {
            (0..args.shots)
                .map(|i| pad(frame(client(i + 1, vip.is_ipv6()), *vip, PROTO_TCP, b"")))
                .collect()
        })
        .collect();
    for f in tunnel_frames.iter().chain(dr_same.iter()).flatten() {
        ensure!(h.run(f).verdict == XDP_TX, "establishing a flow");
    }

    use Method::*;
    let mut s_floor = Series::new("floor (MAC swap + XDP_TX)", Repeat, None);
    let mut s_pass4 = Series::new("non-VIP pass, IPv4", Repeat, Some((1.5, "#2")));
    let mut s_pass6 = Series::new("non-VIP pass, IPv6", Repeat, Some((1.5, "#2")));
    let mut s_est4 = Series::new("established flow, IPv4 DR", Repeat, Some((2.5, "#2")));
    let mut s_est6 = Series::new("established flow, IPv6 DR", Repeat, Some((2.5, "#2")));
    let mut s_floor1 = Series::new("floor (MAC swap + XDP_TX)", SingleShot, None);
    let mut s_many = Series::new("established, 100k flows cycling, IPv4 DR", SingleShot, None);
    let mut s_new4 = Series::new(
        "new flow, IPv4 DR (Maglev + conn insert)",
        SingleShot,
        Some((8.0, "#2")),
    );
    let mut s_new6 = Series::new(
        "new flow, IPv6 DR (Maglev + conn insert)",
        SingleShot,
        Some((8.0, "#2")),
    );
    let mut s_same: Vec<Series> = vec![
        Series::new(
            "established flow, IPv4 DR, same flows as the tunnels",
            SingleShot,
            None,
        ),
        Series::new(
            "established flow, IPv6 DR, same flows as the tunnels",
            SingleShot,
            None,
        ),
    ];
    let mut s_tun: Vec<Series> = vec![
        Series::new("established flow, IPv4 IPIP", SingleShot, Some((3.0, "#6"))),
        Series::new("established flow, IPv6-in-IPv6", SingleShot, None),
        Series::new("established flow, IPv4 GUE", SingleShot, None),
        Series::new("established flow, IPv6 GUE", SingleShot, None),
    ];

    let scheduled = |h: &Harness| h.counter(Reason::ConnNew) + h.counter(Reason::ConnRescheduled);
    let mut next_new = args.flows + 1;
    let mut last_null = 0.0;
    let shots = args.shots as usize;
    for round in 0..args.rounds {
        s_floor
            .samples
            .push(timed(floor, &est4, args.repeat, XDP_TX)?);

        for (series, f) in [(&mut s_pass4, &non_vip4), (&mut s_pass6, &non_vip6)] {
            let before = h.counter(Reason::PassNotService);
            series.samples.push(timed(dp, f, args.repeat, XDP_PASS)?);
            ensure!(
                h.counter(Reason::PassNotService) - before == args.repeat as u64,
                "every run passed"
            );
        }
        for (series, f) in [(&mut s_est4, &est4), (&mut s_est6, &est6)] {
            let (tx, sched) = (h.counter(Reason::Tx), scheduled(&h));
            series.samples.push(timed(dp, f, args.repeat, XDP_TX)?);
            ensure!(
                h.counter(Reason::Tx) - tx == args.repeat as u64,
                "every run forwarded"
            );
            ensure!(scheduled(&h) == sched, "every run a connection-table hit");
        }

        // Single shots, interleaved frame by frame so that every path runs under the same
        // conditions: for shot i, the null program, the floor, then each path once.
        let start = (round * shots) % many.len();
        let news: Vec<[Vec<u8>; 2]> = (0..args.shots)
            .map(|_| {
                next_new += 1;
                [false, true].map(|v6| {
                    pad(frame(
                        client(next_new, v6),
                        if v6 { vip6 } else { vip4 },
                        PROTO_TCP,
                        b"",
                    ))
                })
            })
            .collect();
        let (enc, new, sched) = (
            h.counter(Reason::Encapsulated),
            h.counter(Reason::ConnNew),
            scheduled(&h),
        );
        let mut t: Vec<Vec<f64>> = (0..11).map(|_| Vec::with_capacity(shots)).collect();
        for i in 0..shots {
            let m = &many[(start + i) % many.len()];
            t[0].push(timed(null, m, 1, XDP_PASS)?);
            t[1].push(timed(floor, m, 1, XDP_TX)?);
            t[2].push(timed(dp, m, 1, XDP_TX)?);
            t[3].push(timed(dp, &dr_same[0][i], 1, XDP_TX)?);
            t[4].push(timed(dp, &dr_same[1][i], 1, XDP_TX)?);
            for (k, frames) in tunnel_frames.iter().enumerate() {
                t[5 + k].push(timed(dp, &frames[i], 1, XDP_TX)?);
            }
            t[9].push(timed(dp, &news[i][0], 1, XDP_TX)?);
            t[10].push(timed(dp, &news[i][1], 1, XDP_TX)?);
        }
        ensure!(
            h.counter(Reason::Encapsulated) - enc == 4 * args.shots as u64,
            "every tunnelled run encapsulated"
        );
        ensure!(
            h.counter(Reason::ConnNew) - new == 2 * args.shots as u64,
            "every new-flow run scheduled a new flow"
        );
        ensure!(
            scheduled(&h) - sched == 2 * args.shots as u64,
            "every other run was a connection-table hit"
        );
        let med: Vec<f64> = t.iter_mut().map(|v| median(v)).collect();
        let null_ns = med[0];
        s_floor1.samples.push(med[1] - null_ns);
        s_many.samples.push(med[2] - null_ns);
        s_same[0].samples.push(med[3] - null_ns);
        s_same[1].samples.push(med[4] - null_ns);
        for (k, series) in s_tun.iter_mut().enumerate() {
            series.samples.push(med[5 + k] - null_ns);
        }
        s_new4.samples.push(med[9] - null_ns);
        s_new6.samples.push(med[10] - null_ns);
        last_null = null_ns;
        eprint!("\rround {}/{}", round + 1, args.rounds);
    }
    eprintln!();

    let floor_ns = s_floor.median();
    let mut md = String::new();
    writeln!(
        md,
        "{} interleaved rounds. `repeat`: one 64-byte frame run {} times in the kernel, the \
         kernel's mean per run. `single-shot − null`: the median over {} distinct frames each run \
         once, minus the same median for an empty program (the harness's own cost, {:.0} ns in the \
         last round); the established-flow frames cycle through {} flows pinned before the rounds. \
         Ratios are to the floor measured the same way (repeat: {floor_ns:.1} ns). Spread = \
         min..max of the round medians. Every run's path is checked with the program's counters.\n",
        args.rounds, args.repeat, args.shots, last_null, args.flows,
    )?;
    writeln!(
        md,
        "| path | method | median ns | spread ns | × floor | target | met |"
    )?;
    writeln!(md, "|---|---|---:|---:|---:|---:|:---:|")?;
    let mut figures = Vec::new();
    let all: Vec<&Series> = [
        &s_floor, &s_pass4, &s_pass6, &s_est4, &s_est6, &s_floor1, &s_many, &s_new4, &s_new6,
    ]
    .into_iter()
    .chain(s_same.iter())
    .chain(s_tun.iter())
    .collect();
    let floor1_ns = s_floor1.median().max(1.0);
    for s in all {
        let m = s.median();
        let ratio = m / if s.method == Repeat {
            floor_ns
        } else {
            floor1_ns
        };
        let (lo, hi) = s.spread();
        let target = s
            .target
            .map(|(t, issue)| Target::at_most(t, "x floor", ratio, issue));
        let (tcol, met) = match &target {
            Some(t) => (
                format!("≤ {}×", t.value),
                if t.met() { "yes" } else { "**no**" }.to_string(),
            ),
            None => (String::new(), String::new()),
        };
        writeln!(
            md,
            "| {} | {} | {m:.1} | {lo:.1}..{hi:.1} | {ratio:.2} | {tcol} | {met} |",
            s.name,
            s.method.as_str()
        )?;
        figures.push(Figure {
            name: format!("{} ({})", s.name, s.method.as_str()),
            value: m,
            unit: "ns".into(),
            spread: Some((lo, hi)),
            rounds: Some(s.samples.len()),
            method: s.method.as_str().into(),
            compared_to: Some("floor (MAC swap + XDP_TX) (repeat)".into()),
            target,
        });
    }

    writeln!(
        md,
        "\nHow to read the single-shot rows: each run starts cold after its system call (caches, \
         predictors, on this VM also the hypervisor's mitigations), a cost the map-free floor \
         hardly pays and every map-using path does: they are upper bounds, useful to compare with \
         each other within a run, not with the repeat rows. Their ratios are to the single-shot \
         floor (like with like). Encapsulation and new flows cannot be measured with `repeat` \
         (a repeated run sees its own output), so their targets are judged here on single shots; \
         the system benchmark measures them warm, in packets per second.\n"
    )?;
    print!("{md}");
    let section = Section {
        name: "dataplane".into(),
        title: "Data plane: ns per packet (BPF_PROG_TEST_RUN)".into(),
        markdown: md,
        figures,
    };
    let path = section.write()?;
    eprintln!("written to {}", path.display());
    Ok(())
}
