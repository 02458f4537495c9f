//! `cargo xtask bench`: nanoseconds per packet through `lvs_director` under
//! BPF_PROG_TEST_RUN, beside the floor program (MAC swap + XDP_TX) measured in the same run,
//! in interleaved rounds; medians, spread and the ratio to the floor.
//!
//! Every measurement checks with the program's own counters that each repetition took the
//! path it is reported under (a pass is a pass, an established flow a connection-table hit,
//! a new flow a Maglev scheduling).

use anyhow::{Context, Result, ensure};
use aya::{
    Ebpf,
    programs::{TestRun, TestRunOptions, Xdp},
};
use lvs_common::{PROTO_TCP, PROTO_UDP, Reason, ServiceKey};
use lvs_ctl::{
    dataplane::FLOOR_OBJECT,
    tables::{RealSpec, ServiceSpec},
};
use lvs_tests::{Harness, XDP_PASS, XDP_TX, packet::*};
use std::{fmt::Write as _, net::SocketAddr};

struct Args {
    rounds: usize,
    repeat: u32,
    new_flows: u32,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        rounds: 15,
        repeat: 200_000,
        new_flows: 20_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rounds" => a.rounds = value()?.parse().context("--rounds")?,
            "--repeat" => a.repeat = value()?.parse().context("--repeat")?,
            "--new-flows" => a.new_flows = value()?.parse().context("--new-flows")?,
            "-h" | "--help" => {
                println!(
                    "lvs-bench-dataplane [--rounds N (15)] [--repeat N (200000)] [--new-flows N (20000)]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// Runs `prog` on `frame` `repeat` times in the kernel; the kernel's mean ns per run.
fn timed(prog: &Xdp, frame: &[u8], repeat: u32, want: u32) -> Result<f64> {
    let mut out = vec![0u8; frame.len() + 64];
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

/// Median of single-shot runs over many frames (each its own flow).
fn single_shots(prog: &Xdp, frames: &[Vec<u8>], want: u32) -> Result<f64> {
    let mut t: Vec<f64> = frames
        .iter()
        .map(|f| timed(prog, f, 1, want))
        .collect::<Result<_>>()?;
    Ok(median(&mut t))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Series {
    name: &'static str,
    method: &'static str,
    samples: Vec<f64>,
    target: Option<f64>,
}

impl Series {
    fn new(name: &'static str, method: &'static str, target: Option<f64>) -> Self {
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

    let mut h = Harness::new("bch");
    let vip: SocketAddr = sa("198.18.0.10:80");
    let reals = (1..=10)
        .map(|i| RealSpec::dr(ip(&format!("198.18.1.{i}")), 1, real_mac(i), DIRECTOR_MAC))
        .collect();
    h.apply(&[ServiceSpec {
        key: ServiceKey::new(vip.ip(), vip.port(), PROTO_TCP),
        flags: 0,
        ring_size: 65537,
        reals,
    }]);
    let dp = h.dp.program();

    // 64-byte frames, as a packet generator sends them.
    let pad = |mut f: Vec<u8>| {
        f.resize(f.len().max(60), 0);
        f
    };
    let non_vip = pad(frame(
        sa("198.18.200.1:4000"),
        sa("198.18.9.9:80"),
        PROTO_UDP,
        b"",
    ));
    let established = pad(frame(sa("198.18.200.1:4000"), vip, PROTO_TCP, b""));
    ensure!(
        h.run(&established).verdict == XDP_TX,
        "the established flow's first packet is forwarded"
    );

    let mut s_floor = Series::new("floor (MAC swap + XDP_TX)", "repeat", None);
    let mut s_pass = Series::new("non-VIP pass", "repeat", Some(1.5));
    let mut s_est = Series::new("established flow (DR)", "repeat", Some(2.5));
    let mut s_new = Series::new(
        "new flow (Maglev + conn insert, DR)",
        "single-shot − null",
        Some(8.0),
    );
    let mut s_floor1 = Series::new("floor, single-shot − null", "single-shot − null", None);

    let mut next_client = 0u32;
    for round in 0..args.rounds {
        // Floor.
        s_floor
            .samples
            .push(timed(floor, &established, args.repeat, XDP_TX)?);

        // Non-VIP: every repetition must be counted as a pass.
        let before = h.counter(Reason::PassNotService);
        s_pass
            .samples
            .push(timed(dp, &non_vip, args.repeat, XDP_PASS)?);
        ensure!(
            h.counter(Reason::PassNotService) - before == args.repeat as u64,
            "non-VIP repetitions all passed"
        );

        // Established: every repetition forwarded, none scheduled (so all were table hits).
        let scheduled =
            |h: &Harness| h.counter(Reason::ConnNew) + h.counter(Reason::ConnRescheduled);
        let (tx, sched) = (h.counter(Reason::Tx), scheduled(&h));
        s_est
            .samples
            .push(timed(dp, &established, args.repeat, XDP_TX)?);
        ensure!(
            h.counter(Reason::Tx) - tx == args.repeat as u64,
            "established repetitions all forwarded"
        );
        ensure!(
            scheduled(&h) == sched,
            "established repetitions all connection-table hits"
        );

        // New flows: distinct frames, one run each, so each is scheduled; the harness's
        // single-shot overhead (the null program's time) is subtracted.
        let frames: Vec<Vec<u8>> = (0..args.new_flows)
            .map(|_| {
                next_client += 1;
                let c = next_client;
                let src = SocketAddr::new(
                    std::net::IpAddr::from([198, 19, (c >> 8) as u8, c as u8]),
                    1024 + (c >> 16) as u16,
                );
                pad(frame(src, vip, PROTO_TCP, b""))
            })
            .collect();
        let null_ns = single_shots(null, &frames, XDP_PASS)?;
        let before = h.counter(Reason::ConnNew);
        let new_ns = single_shots(dp, &frames, XDP_TX)?;
        ensure!(
            h.counter(Reason::ConnNew) - before == args.new_flows as u64,
            "new-flow runs all scheduled"
        );
        s_new.samples.push(new_ns - null_ns);
        s_floor1
            .samples
            .push(single_shots(floor, &frames, XDP_TX)? - null_ns);
        eprint!("\rround {}/{}", round + 1, args.rounds);
    }
    eprintln!();

    let floor_ns = s_floor.median();
    let floor1_ns = s_floor1.median();
    let mut md = String::new();
    writeln!(md, "## Data plane: ns per packet (BPF_PROG_TEST_RUN)\n")?;
    writeln!(
        md,
        "{} interleaved rounds; `repeat` = one frame run {} times in the kernel (mean per run); \
         `single-shot − null` = median over {} distinct new flows run once each, minus the same \
         median for an empty program (the harness's own cost). Ratios compare like with like: \
         repeat figures with the repeat floor, single-shot figures with the single-shot floor. \
         Spread = min..max of the round medians.\n",
        args.rounds, args.repeat, args.new_flows
    )?;
    writeln!(
        md,
        "| path | method | median ns | spread ns | × floor | target | met |"
    )?;
    writeln!(md, "|---|---|---:|---:|---:|---:|:---:|")?;
    for s in [&s_floor, &s_pass, &s_est, &s_floor1, &s_new] {
        let m = s.median();
        let base = if s.method == "repeat" {
            floor_ns
        } else {
            floor1_ns
        };
        let ratio = m / base;
        let (lo, hi) = s.spread();
        let (target, met) = match s.target {
            Some(t) => (
                format!("≤ {t}×"),
                if ratio <= t { "yes" } else { "**no**" }.to_string(),
            ),
            None => ("".into(), "".into()),
        };
        writeln!(
            md,
            "| {} | {} | {m:.1} | {lo:.1}..{hi:.1} | {ratio:.2} | {target} | {met} |",
            s.name, s.method
        )?;
    }
    print!("{md}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("dataplane.md"), &md)?;
    eprintln!("written to {}", dir.join("dataplane.md").display());
    Ok(())
}
