//! Prometheus metrics: what the daemon shows of itself at `global.metrics` (`GET /metrics`).
//!
//! The daemon's task answers a scrape with a [`Sample`], plain data read from the owner of
//! the data plane and the health engine; [`encode`] turns it into the text exposition format
//! (Prometheus text 0.0.4, or OpenMetrics when the scraper asks for it). The HTTP side
//! ([`server`]) asks for a sample at most once per [`MIN_INTERVAL`]: a faster scrape gets the
//! text it already has, so scraping never reads the per-CPU maps more often than that.

pub mod server;

use crate::{api::ServiceView, compile::RealKey, health};
use lvs_common::Reason;
use prometheus_client::{
    encoding::{prometheus_text, text as openmetrics_text},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};
use std::{
    sync::atomic::AtomicU64,
    time::{Duration, SystemTime},
};

/// The shortest time between two reads of the maps for metrics.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What the daemon records between scrapes: reloads and map writes (and the connection
/// table's size, fixed at start).
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Durations of [`Director::apply`](crate::dataplane::Director::apply), in seconds.
    pub map_writes: Histogram,
    /// When the configuration was last read (the start counts), and whether it was taken.
    pub last_reload: (SystemTime, bool),
    /// Reloads taken and rejected since the start.
    pub reloads: (u64, u64),
    /// Entries the connection table holds at most.
    pub conn_table_size: u32,
}

impl Recorder {
    /// A recorder for a daemon that read its file at `now` and made a connection table of
    /// `conn_table_size` entries.
    pub fn new(now: SystemTime, conn_table_size: u32) -> Self {
        Recorder {
            // 100 µs (nothing to write) to 6.5 s (many large tables), by factors of 4.
            map_writes: Histogram::new(exponential_buckets(0.0001, 4.0, 9)),
            last_reload: (now, true),
            reloads: (0, 0),
            conn_table_size,
        }
    }

    /// A reload ended at `now`, taken (`ok`) or rejected.
    pub fn reloaded(&mut self, now: SystemTime, ok: bool) {
        self.last_reload = (now, ok);
        if ok {
            self.reloads.0 += 1;
        } else {
            self.reloads.1 += 1;
        }
    }
}

/// Everything a scrape shows, read by the task that owns the data plane.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Services and reals with their counters, as `list` shows them.
    pub services: Vec<ServiceView>,
    /// Where every health check stands.
    pub checks: Vec<health::Status<RealKey>>,
    /// The data plane's verdict and event counters.
    pub counters: Vec<(Reason, u64)>,
    /// Entries in the connection table.
    pub conns: u64,
    /// Reloads and map writes.
    pub recorder: Recorder,
}

/// Which text format a scraper gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain`), what tools without an `Accept` get.
    Text,
    /// OpenMetrics 1.0 text, when the `Accept` header names it.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: &str) -> Self {
        if accept.contains("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;

fn counters(reg: &mut Registry, name: &str, help: &str, unit: Option<Unit>) -> Counters {
    let f = Counters::default();
    match unit {
        Some(u) => reg.register_with_unit(name, help, u, f.clone()),
        None => reg.register(name, help, f.clone()),
    }
    f
}

fn gauges(reg: &mut Registry, name: &str, help: &str) -> Gauges {
    let f = Gauges::default();
    reg.register(name, help, f.clone());
    f
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn to_i64(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// The registry of one sample: every metric lvs exports, named `lvs_*`.
pub fn registry(s: &Sample) -> Registry {
    let mut reg = Registry::with_prefix("lvs");

    // Packets, bytes and new connections (flows), of services and of reals.
    let traffic = |reg: &mut Registry, of: &str, whose: &str| {
        [
            (format!("{of}_packets"), "Packets forwarded to", None),
            (of.to_owned(), "Bytes forwarded to", Some(Unit::Bytes)),
            (
                format!("{of}_connections"),
                "New connections (flows) scheduled to",
                None,
            ),
        ]
        .map(|(name, what, unit)| counters(reg, &name, &format!("{what} {whose}"), unit))
    };
    let [svc_packets, svc_bytes, svc_conns] =
        traffic(&mut reg, "service", "the reals of a service");
    let [real_packets, real_bytes, real_conns] = traffic(&mut reg, "real", "a real");
    let weight = gauges(
        &mut reg,
        "real_weight",
        "Weight of a real in the Maglev table now (0: drained, in maintenance or down and quiescent)",
    );
    let configured = gauges(
        &mut reg,
        "real_configured_weight",
        "Weight of a real in the configuration",
    );
    let active = gauges(
        &mut reg,
        "real_active",
        "1 when the real is in the data plane, 0 when it is out (down and not quiescent)",
    );
    let health = gauges(
        &mut reg,
        "real_health",
        "Health of a real as applied: 1 for its state (up, down or unknown), 0 for the others",
    );
    let check_seconds = FloatGauges::default();
    reg.register_with_unit(
        "check_duration",
        "How long the last probe of a real's health check took",
        Unit::Seconds,
        check_seconds.clone(),
    );
    let check_failures = counters(
        &mut reg,
        "check_failures",
        "Failed probes of a real's health check since the daemon started, by cause",
        None,
    );

    for v in &s.services {
        let svc = v.service.to_string();
        let l: Labels = vec![("service", svc.clone())];
        svc_packets.get_or_create(&l).inc_by(v.stats.packets);
        svc_bytes.get_or_create(&l).inc_by(v.stats.bytes);
        svc_conns.get_or_create(&l).inc_by(v.stats.conns);
        for r in &v.reals {
            let l: Labels = vec![("service", svc.clone()), ("real", r.address.to_string())];
            real_packets.get_or_create(&l).inc_by(r.stats.packets);
            real_bytes.get_or_create(&l).inc_by(r.stats.bytes);
            real_conns.get_or_create(&l).inc_by(r.stats.conns);
            weight.get_or_create(&l).set(i64::from(r.weight));
            configured
                .get_or_create(&l)
                .set(i64::from(r.configured_weight));
            active.get_or_create(&l).set(i64::from(r.active));
            for state in [
                health::State::Up,
                health::State::Down,
                health::State::Unknown,
            ] {
                let mut l = l.clone();
                l.push(("state", state.to_string()));
                health.get_or_create(&l).set(i64::from(r.health == state));
            }
        }
    }
    for c in &s.checks {
        let l: Labels = vec![
            ("service", c.id.0.to_string()),
            ("real", c.id.1.to_string()),
            ("check", c.check.to_owned()),
        ];
        if let Some(d) = c.last_duration {
            check_seconds.get_or_create(&l).set(d.as_secs_f64());
        }
        for (cause, n) in &c.failures {
            let mut l = l.clone();
            l.push(("cause", (*cause).to_owned()));
            check_failures.get_or_create(&l).inc_by(*n);
        }
    }

    let dataplane = counters(
        &mut reg,
        "dataplane_packets",
        "Frames seen by lvs_director, by verdict or event (the reasons of lvs-ctl counters)",
        None,
    );
    for (reason, n) in &s.counters {
        dataplane
            .get_or_create(&vec![("reason", reason.as_str().to_owned())])
            .inc_by(*n);
    }

    let conns = Gauge::<i64>::default();
    conns.set(to_i64(s.conns));
    reg.register(
        "conntrack_entries",
        "Entries in the connection table",
        conns,
    );
    let limit = Gauge::<i64>::default();
    limit.set(i64::from(s.recorder.conn_table_size));
    reg.register(
        "conntrack_entries_limit",
        "Size of the connection table (global.conn_table_size)",
        limit,
    );

    let rec = &s.recorder;
    let at = Gauge::<f64, AtomicU64>::default();
    at.set(unix_seconds(rec.last_reload.0));
    reg.register_with_unit(
        "reload_last",
        "When the configuration was last read (the start or a reload), Unix time",
        Unit::Other("timestamp_seconds".into()),
        at,
    );
    let ok = Gauge::<i64>::default();
    ok.set(i64::from(rec.last_reload.1));
    reg.register(
        "reload_last_success",
        "1 when the last reload was taken, 0 when it was rejected",
        ok,
    );
    let reloads = counters(
        &mut reg,
        "reloads",
        "Reloads since the daemon started, by result (ok: taken, error: rejected)",
        None,
    );
    reloads
        .get_or_create(&vec![("result", "ok".to_owned())])
        .inc_by(rec.reloads.0);
    reloads
        .get_or_create(&vec![("result", "error".to_owned())])
        .inc_by(rec.reloads.1);
    reg.register_with_unit(
        "map_write_duration",
        "How long writing a desired state to the maps took (Director::apply)",
        Unit::Seconds,
        rec.map_writes.clone(),
    );
    reg
}

/// The text exposition of a sample.
pub fn encode(s: &Sample, format: Format) -> String {
    let reg = registry(s);
    let mut out = String::new();
    let done = match format {
        Format::Text => prometheus_text::encode(&mut out, &reg),
        Format::OpenMetrics => openmetrics_text::encode(&mut out, &reg),
    };
    // Writing to a String does not fail.
    done.expect("encoding metrics into a string");
    out
}

#[cfg(test)]
mod tests;
