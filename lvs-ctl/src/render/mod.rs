//! What `lvs-ctl list` and `lvs-ctl explain` print: tables in the layout of `ipvsadm -Ln`
//! (with `--stats`, `--rate`, `--exact`) and JSON for scripts. Pure functions of the
//! [`api`](crate::api) types.
//!
//! Differences from ipvsadm, because the director is not IPVS: the scheduler is always `mh`
//! (Maglev); a real's last column is its state (`up`, `down`, `drain`, ...) instead of
//! active/inactive connection counts, which an XDP connection table does not keep; and the Out
//! columns of the statistics are 0, as IPVS shows them for direct routing and tunnels: replies
//! go from the reals straight to the clients.

use crate::api::{
    CheckView, ConnListing, Explanation, Listing, RealView, ServiceRef, ServiceView, StatsView, Via,
};
use crate::config::{Method, Protocol};
use std::fmt::Write;
use std::net::SocketAddr;

/// Which table `list` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Counters (`--stats`).
    pub stats: bool,
    /// Rates (`--rate`).
    pub rate: bool,
    /// Exact numbers instead of K/M/G suffixes (`--exact`).
    pub exact: bool,
}

/// The listing as ipvsadm would lay it out.
pub fn list(l: &Listing, opts: ListOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lvs XDP director (Maglev), {} service(s)",
        l.services.len()
    );
    for r in &l.repairs {
        let _ = writeln!(
            out,
            "WARNING: changed by someone else, repaired at {} ({} ago): {}",
            clock(r.at_ms),
            age(l.at_ms.saturating_sub(r.at_ms)),
            r.what
        );
    }
    if opts.stats {
        counters(
            &mut out,
            l,
            ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"],
            |s| (s.stats.conns, s.stats.packets, s.stats.bytes),
            |r| (r.stats.conns, r.stats.packets, r.stats.bytes),
            opts.exact,
        );
    } else if opts.rate {
        counters(
            &mut out,
            l,
            ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"],
            |s| (s.rate.cps, s.rate.pps, s.rate.bps),
            |r| (r.rate.cps, r.rate.pps, r.rate.bps),
            opts.exact,
        );
    } else {
        let _ = writeln!(out, "Prot LocalAddress:Port Scheduler Flags");
        let _ = writeln!(
            out,
            "  -> RemoteAddress:Port           Forward Weight State"
        );
        for s in &l.services {
            let mut flags = String::new();
            if s.persistent {
                flags.push_str(" persistent");
            }
            if !s.quiescent {
                flags.push_str(" non-quiescent");
            }
            let _ = writeln!(
                out,
                "{:<4} {} mh{flags}",
                proto(s.service.protocol),
                addr(s)
            );
            for r in &s.reals {
                let _ = writeln!(
                    out,
                    "  -> {:<28} {:<7} {:<6} {}",
                    real_addr(s, r),
                    forward(r.method),
                    r.weight,
                    state(r)
                );
                if let Some(c) = &r.check {
                    let _ = writeln!(out, "       {}", check_line(c, l.at_ms));
                }
            }
        }
    }
    out
}

/// `check http 198.18.1.2:80: down since 12:00:01 UTC (3.2s); last error: status 503,
/// expected 200`: the health check under its real's line.
fn check_line(c: &CheckView, now_ms: u64) -> String {
    let mut line = format!(
        "check {}: {} since {} ({})",
        c.check,
        c.state,
        clock(c.since_ms),
        age(now_ms.saturating_sub(c.since_ms))
    );
    if let Some(e) = &c.last_error {
        // The cause repeats the check and target; the line already says them.
        let e = e
            .strip_prefix(c.check.as_str())
            .and_then(|e| e.strip_prefix(": "))
            .unwrap_or(e);
        let _ = write!(line, "; last error: {e}");
    }
    line
}

/// `HH:MM:SS UTC` of a time in ms since the Unix epoch.
fn clock(ms: u64) -> String {
    let s = ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// `850ms`, `3.2s`, `5m3s`, `2h5m`, `3d4h`.
fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{}.{}s", s, ms % 1000 / 100),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{}h", s / 86_400, s / 3600 % 24),
    }
}

/// The listing as JSON (pretty, stable field names: the [`Listing`] type).
pub fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("API types always serialize")
}

/// The listing of one service (an error names it when there is no such service), with the
/// services and their reals in address order when `sort` is set (`ipvsadm --sort`).
pub fn select(mut l: Listing, service: Option<&ServiceRef>, sort: bool) -> Result<Listing, String> {
    if let Some(want) = service {
        l.services.retain(|s| s.service == *want);
        if l.services.is_empty() {
            return Err(format!("service {want}: no such service"));
        }
    }
    if sort {
        l.services.sort_by_key(|s| s.service);
        for s in &mut l.services {
            s.reals.sort_by_key(|r| r.address);
        }
    }
    Ok(l)
}

/// The connection entries in address order: virtual address, client, protocol.
pub fn sorted_connections(mut c: ConnListing) -> ConnListing {
    c.entries
        .sort_by_key(|e| (e.virtual_addr, e.client, e.protocol as u8));
    c
}

/// The connection table in the layout of `ipvsadm -Lnc`, without its expire and state
/// columns: the XDP connection table keeps neither (entries leave it by LRU). A real that
/// left shows as `(rescheduled)`: the flow's next packet is scheduled again.
pub fn connections(c: &ConnListing) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "lvs connection entries: {}", c.entries.len());
    let _ = writeln!(
        out,
        "{:<4} {:<45} {:<45} destination",
        "pro", "source", "virtual"
    );
    for e in &c.entries {
        let dst = match e.real {
            Some(r) => SocketAddr::new(r, e.virtual_addr.port()).to_string(),
            None => "(rescheduled)".into(),
        };
        let _ = writeln!(
            out,
            "{:<4} {:<45} {:<45} {dst}",
            proto(e.protocol),
            e.client.to_string(),
            e.virtual_addr.to_string()
        );
    }
    if c.more {
        let _ = writeln!(
            out,
            "(more entries: the listing stops at --max; --max 0 lists them all)"
        );
    }
    out
}

/// `explain`'s answer for an operator.
pub fn explain(e: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", e.flow);
    match &e.service {
        Some(s) => {
            let _ = writeln!(out, "  service  {s}");
        }
        None => {
            let _ = writeln!(
                out,
                "  service  none: not a virtual service, the packet is passed to the kernel untouched"
            );
        }
    }
    match e.real {
        Some(r) => {
            let _ = writeln!(out, "  real     {r}");
        }
        None if e.service.is_some() => {
            let _ = writeln!(out, "  real     none: the packet is dropped (drop_no_real)");
        }
        None => {}
    }
    match &e.via {
        Via::NoService => {}
        Via::Connection { index } => {
            let _ = writeln!(
                out,
                "  why      connection table hit: the flow is established on real #{index}"
            );
        }
        Via::Maglev {
            slot,
            size,
            hash,
            src_only,
            index,
            stale_connection,
        } => {
            let what = if *src_only {
                "client address (persistent service)"
            } else {
                "5-tuple"
            };
            let _ = writeln!(
                out,
                "  why      Maglev slot {slot} of {size} (hash {hash:#010x} of the {what}) holds real #{index}"
            );
            if *stale_connection {
                let _ = writeln!(
                    out,
                    "           (the connection table named a real that left: the flow is rescheduled)"
                );
            } else {
                let _ = writeln!(
                    out,
                    "           (no connection-table entry: a new flow is scheduled this way)"
                );
            }
        }
    }
    out
}

/// The `--stats` or `--rate` table: per service and real, connections, packets and bytes
/// (or their rates) in ipvsadm's columns; the Out columns are 0, replies bypass the director.
fn counters(
    out: &mut String,
    l: &Listing,
    names: [&str; 5],
    service: impl Fn(&ServiceView) -> (u64, u64, u64),
    real: impl Fn(&RealView) -> (u64, u64, u64),
    exact: bool,
) {
    let [a, b, c, d, e] = names;
    let _ = writeln!(
        out,
        "{:<33} {a:>8} {b:>8} {c:>8} {d:>8} {e:>8}",
        "Prot LocalAddress:Port"
    );
    let _ = writeln!(out, "  -> RemoteAddress:Port");
    let row = |(conns, packets, bytes): (u64, u64, u64)| {
        [conns, packets, 0, bytes, 0]
            .map(|v| num(v, exact))
            .join(" ")
    };
    for s in &l.services {
        let _ = writeln!(
            out,
            "{:<4} {:<28} {}",
            proto(s.service.protocol),
            addr(s),
            row(service(s))
        );
        for r in &s.reals {
            let _ = writeln!(out, "  -> {:<28} {}", real_addr(s, r), row(real(r)));
        }
    }
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

fn addr(s: &ServiceView) -> String {
    SocketAddr::new(s.service.vip, s.service.port).to_string()
}

fn real_addr(s: &ServiceView, r: &RealView) -> String {
    SocketAddr::new(r.address, s.service.port).to_string()
}

fn forward(m: Method) -> &'static str {
    match m {
        Method::Dr => "Route",
        Method::Ipip => "Tunnel",
        Method::Gue => "GUE",
    }
}

fn state(r: &RealView) -> String {
    let health = r.health.to_string();
    let mut words = vec![health.as_str()];
    if r.fallback {
        words.push("fallback");
    }
    if !r.active {
        words.push("inactive");
    }
    if r.drained {
        words.push("drain");
    }
    if r.maintenance {
        words.push("maint");
    }
    if !r.resolved {
        words.push("no-neigh");
    }
    words.join(",")
}

/// A number in an 8-wide column, as ipvsadm prints it: exact below 100 million, else with a
/// K/M/G/T suffix (`--exact` always exact).
fn num(i: u64, exact: bool) -> String {
    if exact || i < 100_000_000 {
        format!("{i:>8}")
    } else if i < 1_000_000_000 {
        format!("{:>7}K", i / 1_000)
    } else if i < 100_000_000_000 {
        format!("{:>7}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        format!("{:>7}G", i / 1_000_000_000)
    } else {
        format!("{:>7}T", i / 1_000_000_000_000)
    }
}

impl StatsView {
    /// From the data plane's counters.
    pub fn of(s: &lvs_common::Stats) -> Self {
        StatsView {
            conns: s.conns,
            packets: s.packets,
            bytes: s.bytes,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
