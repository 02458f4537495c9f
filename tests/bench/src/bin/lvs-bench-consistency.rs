//! `lvs-bench-consistency`: how many flows change real server when one of N reals is removed
//! or added (N = 10, 100, 1000), and how evenly the Maglev table spreads flows.
//!
//! (a) The Maglev table alone: tables of 65537 slots built with `lvs_ctl::maglev::build`
//!     (the controller's own code, reals named by their address as the controller names them)
//!     before and after the change; one million random IPv4 TCP flows are hashed with
//!     `lvs_common::flow_hash` onto the table as the data plane does, and a flow "moves" when
//!     its slot holds another real after the change. Rounds remove (add) a different real.
//! (b) With the connection table: the director itself (the controller's `Director` + `lvs_director` through
//!     BPF_PROG_TEST_RUN), N = 10 and 100: flows are established, the pool changes, the same
//!     flows are sent again and the real each one is forwarded to (the destination MAC) is
//!     compared. Needs root; without it (and for N = 1000) the figure is computed from the
//!     table semantics (a connection-table hit keeps its real; only a removed real's flows are
//!     rescheduled) and the report says so.
//!
//! Ideal: 1/N of the flows move when one of N reals is removed, 1/(N+1) when one is added.
//! Balance: the largest real's flows over its fair share (its weight's share of all flows),
//! with equal weights and with weights 1..=10.

use anyhow::{Context, Result, ensure};
use clap::Parser;
use lvs_bench::{Figure, Section, Target};
use lvs_common::{FlowKey, PROTO_TCP, Reason, ServiceKey, flow_hash};
use lvs_ctl::{
    dataplane::{RealSpec, ServiceSpec},
    maglev,
};
use lvs_tests::{
    Harness, XDP_TX,
    packet::{DIRECTOR_MAC, frame, real_mac},
};
use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Instant,
};

const TABLE: u32 = 65537;
const FLOWS: usize = 1_000_000;
const ROUNDS: usize = 11;
const SIZES: [usize; 3] = [10, 100, 1000];
/// Flows sent through the director per measured change (the connection table holds 65536).
const DP_FLOWS: usize = 20_000;
const DP_SIZES: [usize; 2] = [10, 100];
/// Where the bound on other reals' flows comes from.
const SOURCE: &str = "maglev.rs unit tests";

/// splitmix64: a fixed seed, so every run measures the same flows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn vip() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10)), 80)
}

/// A random client (address and port) to the VIP.
fn client(rng: &mut Rng) -> SocketAddr {
    let r = rng.next();
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from((r >> 16) as u32)),
        1024 + (r as u16 % 64000),
    )
}

/// Real number `i`'s address (as the controller names backends: the address string).
fn real_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        198,
        18,
        (1 + i / 250) as u8,
        (2 + i % 250) as u8,
    ))
}

/// Flows per table slot, for `FLOWS` random flows.
fn flows_per_slot(rng: &mut Rng) -> Vec<u64> {
    let mut per_slot = vec![0u64; TABLE as usize];
    for _ in 0..FLOWS {
        let k = FlowKey::new(client(rng), vip(), PROTO_TCP);
        per_slot[(flow_hash(&k, false) % TABLE) as usize] += 1;
    }
    per_slot
}

/// The table for `pool` (real numbers and weights), as real numbers per slot.
fn table(pool: &[(usize, u32)], names: &[String]) -> Vec<usize> {
    let backends: Vec<maglev::Backend<'_>> = pool
        .iter()
        .map(|&(r, w)| maglev::Backend {
            name: names[r].as_bytes(),
            weight: w,
        })
        .collect();
    maglev::build(&backends, TABLE)
        .into_iter()
        .map(|pos| pool[pos as usize].0)
        .collect()
}

/// (share of flows whose real changed, share of flows of reals present on both sides that
/// changed).
fn moved(before: &[usize], after: &[usize], per_slot: &[u64], gone: Option<usize>) -> (f64, f64) {
    let (mut all, mut others) = (0u64, 0u64);
    for ((b, a), n) in before.iter().zip(after).zip(per_slot) {
        if b != a {
            all += n;
            if Some(*b) != gone {
                others += n;
            }
        }
    }
    (all as f64 / FLOWS as f64, others as f64 / FLOWS as f64)
}

/// Largest load over fair share, by flows and by slots.
fn balance(t: &[usize], pool: &[(usize, u32)], per_slot: &[u64]) -> (f64, f64) {
    let total_w: f64 = pool.iter().map(|&(_, w)| w as f64).sum();
    let mut flows = vec![0u64; pool.len()];
    let mut slots = vec![0u64; pool.len()];
    for (r, n) in t.iter().zip(per_slot) {
        flows[*r] += n;
        slots[*r] += 1;
    }
    let worst = |counts: &[u64], total: f64| {
        pool.iter()
            .map(|&(r, w)| counts[r] as f64 / (total * w as f64 / total_w))
            .fold(0.0, f64::max)
    };
    (worst(&flows, FLOWS as f64), worst(&slots, TABLE as f64))
}

struct Stat {
    samples: Vec<f64>,
}

impl Stat {
    fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Stat { samples }
    }
    fn median(&self) -> f64 {
        self.samples[self.samples.len() / 2]
    }
    fn spread(&self) -> (f64, f64) {
        (self.samples[0], self.samples[self.samples.len() - 1])
    }
}

fn pct(x: f64) -> f64 {
    x * 100.0
}

/// One measured change through the director: the share of `DP_FLOWS` established flows whose
/// real changed, and the share of flows of the other reals that changed.
struct DpChange {
    moved: f64,
    others: f64,
    rescheduled: u64,
    new: u64,
}

fn spec(reals: &[usize]) -> ServiceSpec {
    let v = vip();
    ServiceSpec {
        key: ServiceKey::new(v.ip(), v.port(), PROTO_TCP),
        flags: 0,
        ring_size: TABLE,
        reals: reals
            .iter()
            .map(|&i| RealSpec::dr(real_addr(i), 1, real_mac(i as u8 + 1), DIRECTOR_MAC))
            .collect(),
    }
}

/// Sends every frame once; the real number each was forwarded to.
fn pass(h: &Harness, frames: &[Vec<u8>]) -> Result<Vec<usize>> {
    frames
        .iter()
        .map(|f| {
            let out = h.run(f);
            ensure!(out.verdict == XDP_TX, "verdict {} not XDP_TX", out.verdict);
            let mac: [u8; 6] = out.frame[..6].try_into()?;
            ensure!(
                mac[..5] == real_mac(0)[..5],
                "destination {mac:02x?} is no real"
            );
            Ok(mac[5] as usize - 1)
        })
        .collect()
}

/// Establishes `DP_FLOWS` flows with reals `before`, changes the pool to `after`, sends the
/// same flows again.
fn dp_change(
    n: usize,
    before: &[usize],
    after: &[usize],
    gone: Option<usize>,
    rng: &mut Rng,
) -> Result<DpChange> {
    let mut h = Harness::new("cst");
    h.apply(&[spec(before)]);
    let frames: Vec<Vec<u8>> = (0..DP_FLOWS)
        .map(|_| {
            let mut f = frame(client(rng), vip(), PROTO_TCP, b"");
            f.resize(f.len().max(60), 0);
            f
        })
        .collect();
    let first = pass(&h, &frames)?;
    h.apply(&[spec(after)]);
    let (resched, new) = (
        h.counter(Reason::ConnRescheduled),
        h.counter(Reason::ConnNew),
    );
    let second = pass(&h, &frames)?;
    let (resched, new) = (
        h.counter(Reason::ConnRescheduled) - resched,
        h.counter(Reason::ConnNew) - new,
    );
    ensure!(
        new == 0,
        "N={n}: {new} established flows were missing from the connection table (evicted?)"
    );
    let changed: Vec<(usize, usize)> = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    let others = changed.iter().filter(|(a, _)| Some(*a) != gone).count();
    Ok(DpChange {
        moved: changed.len() as f64 / DP_FLOWS as f64,
        others: others as f64 / DP_FLOWS as f64,
        rescheduled: resched,
        new,
    })
}

/// How many flows change real server when one of N reals is removed or added, and how evenly
/// the Maglev table spreads flows. No options.
#[derive(Parser)]
#[command(
    name = "lvs-bench-consistency",
    long_about = "How many flows change real server when one of N reals (N = 10, 100, 1000) is \
removed or added, and how evenly the Maglev table spreads flows: (a) the Maglev table alone, \
one million random flows hashed onto tables of 65537 slots before and after the change; (b) \
with the connection table, through lvs_director under BPF_PROG_TEST_RUN (N = 10 and 100; needs \
root, without it the figure is computed from the table semantics and the section says so). \
Ideal: 1/N of the flows move on a removal, 1/(N+1) on an addition. No options. Writes \
target/bench/consistency.md and consistency.json.",
    after_help = "Example:\n  cargo xtask bench --only consistency"
)]
struct Args {}

fn main() -> Result<()> {
    Args::parse();
    let started = Instant::now();
    let mut rng = Rng(0x6c76_735f_6265_6e63);
    let per_slot = flows_per_slot(&mut rng);
    let names: Vec<String> = (0..SIZES[2] + 2 * ROUNDS + 2)
        .map(|i| real_addr(i).to_string())
        .collect();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;

    let mut figures = Vec::new();
    let mut md = String::new();
    writeln!(
        md,
        "## Consistency: flows that change real when the pool changes\n"
    )?;
    writeln!(
        md,
        "Maglev tables of {TABLE} slots built with `lvs_ctl::maglev::build` (reals named by \
         address, as the controller names them); {FLOWS} random IPv4 TCP flows hashed with \
         `lvs_common::flow_hash` onto the table, as the data plane does. A flow *moves* when \
         its real differs after the change. {ROUNDS} rounds, each removing (adding) a \
         different real; median and spread (min..max) over the rounds. Ideal: 1/N of the flows \
         move when one of N reals is removed, 1/(N+1) when one is added. *Others* = flows of \
         reals that stayed which moved anyway (the cost of consistent hashing over the ideal). \
         *Connection table*: the director itself through BPF_PROG_TEST_RUN ({DP_FLOWS} \
         established flows sent again after the change){}.\n",
        if root {
            "; N = 1000 is computed from the table semantics (a connection-table hit keeps its \
             real, only a removed real's flows are rescheduled)"
        } else {
            "; not run (needs root): computed from the table semantics instead"
        }
    )?;
    writeln!(
        md,
        "| N | change | ideal % | table alone: moved % (spread) | of which others % (spread) | with connection table: moved % | others % | how |"
    )?;
    writeln!(md, "|---:|---|---:|---:|---:|---:|---:|---|")?;

    for &n in &SIZES {
        let pool: Vec<(usize, u32)> = (0..n).map(|i| (i, 1)).collect();
        let before = table(&pool, &names);
        let (mut rm, mut rm_others, mut rm_victim) = (Vec::new(), Vec::new(), Vec::new());
        let (mut add, mut add_others) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let victim = rng.below(n);
            let after_pool: Vec<(usize, u32)> =
                pool.iter().copied().filter(|&(r, _)| r != victim).collect();
            let after = table(&after_pool, &names);
            let (all, others) = moved(&before, &after, &per_slot, Some(victim));
            rm.push(all);
            rm_others.push(others);
            rm_victim.push(all - others);
            // A real that was never in the pool: a different one each round.
            let newcomer = SIZES[2] + 1 + round;
            let mut add_pool = pool.clone();
            add_pool.push((newcomer, 1));
            let after = table(&add_pool, &names);
            let (all, others) = moved(&before, &after, &per_slot, None);
            // On addition every moved flow moves to the newcomer, or is "other" churn.
            let to_new = after
                .iter()
                .zip(&before)
                .zip(&per_slot)
                .filter(|((a, b), _)| **a == newcomer && *a != *b)
                .map(|(_, c)| *c)
                .sum::<u64>() as f64
                / FLOWS as f64;
            add.push(all);
            add_others.push(others - to_new);
        }
        let (rm, rm_others, rm_victim) = (Stat::of(rm), Stat::of(rm_others), Stat::of(rm_victim));
        let (add, add_others) = (Stat::of(add), Stat::of(add_others));

        let measured = root && DP_SIZES.contains(&n);
        let (dp_rm, dp_add) = if measured {
            let all: Vec<usize> = (0..n).collect();
            let victim = n / 2;
            let without: Vec<usize> = all.iter().copied().filter(|&r| r != victim).collect();
            let mut with_new = all.clone();
            with_new.push(n);
            (
                Some(dp_change(n, &all, &without, Some(victim), &mut rng)?),
                Some(dp_change(n, &all, &with_new, None, &mut rng)?),
            )
        } else {
            (None, None)
        };

        let ideal_rm = 1.0 / n as f64;
        let ideal_add = 1.0 / (n + 1) as f64;
        // The bound the Maglev unit tests hold the table to: other reals' slots that move on
        // one change, at most 1/N of the table when it has 100 slots per real, else 1%.
        let allowed = if TABLE as usize >= 100 * n {
            1.0 / n as f64
        } else {
            0.01
        };
        let spread = |s: &Stat| {
            let (lo, hi) = s.spread();
            format!("{:.3} ({:.3}..{:.3})", pct(s.median()), pct(lo), pct(hi))
        };
        let how = if measured {
            "measured (director)"
        } else {
            "computed"
        };
        let row = |change: &str,
                   ideal: f64,
                   alone: &Stat,
                   others: &Stat,
                   dp: Option<&DpChange>,
                   computed: (f64, f64)| {
            let (m, o) = dp.map_or(computed, |d| (d.moved, d.others));
            format!(
                "| {n} | {change} | {:.3} | {} | {} | {:.3} | {:.3} | {how}{} |",
                pct(ideal),
                spread(alone),
                spread(others),
                pct(m),
                pct(o),
                dp.map_or(String::new(), |d| format!(
                    ": {} rescheduled, {} new",
                    d.rescheduled, d.new
                ))
            )
        };
        writeln!(
            md,
            "{}",
            row(
                "1 removed",
                ideal_rm,
                &rm,
                &rm_others,
                dp_rm.as_ref(),
                (rm_victim.median(), 0.0)
            )
        )?;
        writeln!(
            md,
            "{}",
            row(
                "1 added",
                ideal_add,
                &add,
                &add_others,
                dp_add.as_ref(),
                (0.0, 0.0)
            )
        )?;

        let fig = |name: String, s: &Stat, method: &str, target: Option<Target>| Figure {
            name,
            value: pct(s.median()),
            unit: "% of flows".into(),
            spread: Some((pct(s.spread().0), pct(s.spread().1))),
            rounds: Some(ROUNDS),
            method: method.into(),
            compared_to: None,
            target,
        };
        figures.push(fig(
            format!("flows moved, 1 of {n} reals removed, table alone"),
            &rm,
            &format!(
                "Maglev tables before/after, 1M flows; ideal {:.3}%",
                pct(ideal_rm)
            ),
            None,
        ));
        figures.push(fig(
            format!("other reals' flows moved, 1 of {n} removed, table alone"),
            &rm_others,
            "Maglev tables before/after, 1M flows",
            Some(Target::at_most(
                pct(allowed),
                "% of flows",
                pct(rm_others.median()),
                SOURCE,
            )),
        ));
        figures.push(fig(
            format!("flows moved, 1 real added to {n}, table alone"),
            &add,
            &format!(
                "Maglev tables before/after, 1M flows; ideal {:.3}%",
                pct(ideal_add)
            ),
            None,
        ));
        for (change, d) in [
            (format!("1 of {n} reals removed"), &dp_rm),
            (format!("1 real added to {n}"), &dp_add),
        ] {
            if let Some(d) = d {
                figures.push(Figure {
                    name: format!("flows moved, {change}, with connection table"),
                    value: pct(d.moved),
                    unit: "% of flows".into(),
                    spread: None,
                    rounds: Some(1),
                    method: format!(
                        "lvs_director via BPF_PROG_TEST_RUN, {DP_FLOWS} flows sent before and after"
                    ),
                    compared_to: Some(format!("flows moved, {change}, table alone")),
                    target: Some(Target::at_most(
                        0.0,
                        "% other reals' flows",
                        pct(d.others),
                        "README (established flows stay)",
                    )),
                });
            }
        }
    }

    writeln!(
        md,
        "\n### Balance: the most loaded real over its fair share\n\n\
         Fair share = the real's weight over the sum of the weights. By flows: the {FLOWS} \
         flows above (sampling noise included: at N = 1000 a fair share is 1000 flows, ±3%); \
         by slots: the table itself, exact. 1.00 is perfect.\n"
    )?;
    writeln!(md, "| N | weights | by flows | by slots |")?;
    writeln!(md, "|---:|---|---:|---:|")?;
    for &n in &SIZES {
        for (label, w) in [
            ("equal", (|_| 1) as fn(usize) -> u32),
            ("mixed 1..=10", |i| 1 + (i % 10) as u32),
        ] {
            let pool: Vec<(usize, u32)> = (0..n).map(|i| (i, w(i))).collect();
            let t = table(&pool, &names);
            let (by_flows, by_slots) = balance(&t, &pool, &per_slot);
            writeln!(md, "| {n} | {label} | {by_flows:.3} | {by_slots:.3} |")?;
            figures.push(Figure {
                name: format!("balance, {n} reals, {label} weights"),
                value: by_flows,
                unit: "x fair share".into(),
                spread: None,
                rounds: Some(1),
                method: format!(
                    "largest real's flows over its fair share, 1M flows (by slots: {by_slots:.3})"
                ),
                compared_to: None,
                target: None,
            });
        }
    }
    writeln!(
        md,
        "\n{} s; `cargo run --release -p lvs-bench --bin lvs-bench-consistency`.\n",
        started.elapsed().as_secs()
    )?;

    print!("{md}");
    let section = Section {
        name: "consistency".into(),
        title: "Consistency".into(),
        markdown: md,
        figures,
    };
    let path = section.write().context("writing the consistency section")?;
    eprintln!("written to {}", path.display());
    Ok(())
}
