//! `lvs-ctl daemon`: keeps the data plane equal to the desired state.
//!
//! Desired state = the configuration file + run-time edits made through the CLI + health
//! (check verdicts, maintenance files, drains) + where the reals are on the wire (neighbours).
//! This module is the event loop that wires the parts: the configuration and its reloads
//! ([`reload`]), the health engine ([`Monitor`]), the API server ([`api::server`]), the
//! neighbour resolver ([`neighbours`]) and the data plane's owner ([`Director`]). One task
//! holds them; CLI requests, health events, reloads and the periodic tick go through it one at
//! a time, so every change is compiled from the whole desired state ([`compile`]) and handed to
//! [`Director::apply`], which writes only the difference (make before break).
//!
//! Reload semantics (`SIGHUP`, `lvs-ctl reload`, or the file's modification time changing):
//! as `ipvsadm-restore`, the file replaces the running state, run-time edits and drains
//! included; services whose settings and reals did not change keep their tables and
//! connections. A file that does not validate is rejected with its faults and nothing changes.
//!
//! Stopping the daemon leaves the program attached and the maps pinned: forwarding goes on.
//! The next daemon adopts the pinned state and reconciles it without touching what is right.

use crate::{
    api::{self, RateView, Request, Response, ServiceRef},
    compile::{Desired, compile},
    config::{self, Config},
    dataplane::{self, Applied, ApplyError, Director, LoadOptions, PinLock},
    health::{self, Event, Monitor, Target},
    metrics::{self, Recorder},
    neighbour::Resolver,
};
use lvs_common::Stats;
use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};

/// Why the daemon could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration file.
    #[error("loading config {}: {error}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (in the message, not a `source()`: it would be printed twice).
        error: config::ConfigError,
    },
    /// Loading or attaching the program.
    #[error(transparent)]
    Dataplane(#[from] dataplane::Error),
    /// Writing the maps or attaching the program.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The control socket.
    #[error(transparent)]
    Socket(#[from] api::server::SocketError),
    /// Other I/O (runtime, signals, netlink).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Reals in maintenance according to `dir`.
pub fn maintenance(cfg: &Config, dir: Option<&Path>) -> BTreeSet<RealKey> {
    let Some(dir) = dir else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for svc in &cfg.services {
        for r in &svc.reals {
            if health::in_maintenance(dir, SocketAddr::new(r.address, svc.port)) {
                out.insert((ServiceRef::of(svc), r.address));
            }
        }
    }
    out
}

mod edit;
mod neighbours;
mod notify;
mod reload;
mod scrape;
mod start;
mod view;

pub use crate::compile::{Planned, RealKey, RunState, checks, plan};
pub use edit::edit;
use start::{StartGuard, preflight};
pub use view::{connections, explain};

// -------------------------------------------------------------------------------------------
// The shell: the task that owns the data plane.
// -------------------------------------------------------------------------------------------

struct Daemon {
    path: PathBuf,
    mtime: Option<SystemTime>,
    /// The file as last read; `desired` is it plus the run-time changes since.
    file: Config,
    desired: Config,
    rt: RunState,
    /// The last desired state applied: what the maps hold, what `list` shows.
    state: Desired,
    director: Director,
    monitor: Monitor<RealKey>,
    resolver: Resolver,
    samples: HashMap<(ServiceRef, Option<IpAddr>), (Instant, Stats)>,
    rates: HashMap<(ServiceRef, Option<IpAddr>), RateView>,
    ticks: u64,
    /// Fallback reals in the tables now, to log when one engages or leaves.
    fallbacks: BTreeSet<RealKey>,
    /// The last repairs of the data plane (when, what was found), newest last, for `list`.
    repairs: VecDeque<(SystemTime, String)>,
    /// This daemon's hold on the pin directory.
    lock: PinLock,
    /// Reloads and map writes, for metrics.
    recorder: Recorder,
    /// The status line systemd has (`STATUS=`).
    status: String,
}

/// The tunnel settings in words: `source 198.18.0.1, 2001:db8::1, GUE port 6080, TTL 64`.
fn tunnel_words(cfg: &Config) -> String {
    let Some(t) = &cfg.global.tunnel else {
        return "none (no tunnel source)".to_owned();
    };
    let sources: Vec<String> = [t.source_v4.map(IpAddr::V4), t.source_v6.map(IpAddr::V6)]
        .into_iter()
        .flatten()
        .map(|a| a.to_string())
        .collect();
    let mut words = format!(
        "source {}, GUE port {}, TTL {}",
        sources.join(" and "),
        t.gue_port,
        t.ttl
    );
    if t.vary_bits_v4 > 0 || t.vary_bits_v6 > 0 {
        words.push_str(&format!(
            ", {}/{} low source bits varied (IPv4/IPv6)",
            t.vary_bits_v4, t.vary_bits_v6
        ));
    }
    words
}

/// How often (in ticks, seconds) the daemon checks that the kernel holds what it wrote.
const VERIFY_TICKS: u64 = 5;
/// Repairs `list` remembers.
const REPAIRS_KEPT: usize = 16;

/// Runs the daemon until SIGTERM or SIGINT. Forwarding goes on after it returns.
pub fn run(config_path: &Path) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| DaemonError::Io {
            what: "starting the runtime".into(),
            source,
        })?;
    runtime.block_on(main_loop(config_path))
}

fn file_mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

async fn main_loop(config_path: &Path) -> Result<(), DaemonError> {
    let load = |p: &Path| {
        config::load(p).map_err(|error| DaemonError::Config {
            path: p.to_owned(),
            error,
        })
    };
    let mtime = file_mtime(config_path);
    let desired = load(config_path)?;
    crate::logging::configure(desired.global.log_level);
    let g = &desired.global;
    preflight(&desired)?;
    // One daemon per pin directory, decided before anything is written; held until exit.
    let lock = PinLock::acquire(&g.pin_path)?;
    let mut guard = StartGuard {
        pin_dir: g.pin_path.clone(),
        made_pins: lock.created(),
        socket: None,
    };
    let group = match &g.socket_group {
        Some(name) => Some(api::server::group_id(&g.socket, name)?),
        None => None,
    };
    // One daemon per socket too: a live one there is an error before any kernel write.
    let listener = api::server::bind(&g.socket, group)?;
    guard.socket = Some(g.socket.clone());
    let metrics_listener = g
        .metrics
        .map(|addr| {
            metrics::server::bind(addr).map_err(|source| DaemonError::Io {
                what: format!("binding global.metrics {addr}"),
                source,
            })
        })
        .transpose()?;
    let mut opts = LoadOptions::new(&g.pin_path);
    opts.conn_table_size = g.conn_table_size;
    // A restart: the owner adopts the pinned maps, so reconciling the same desired state
    // writes nothing and moves no flow.
    let director = Director::open(&opts)?;
    let resolver = Resolver::new().map_err(|e| DaemonError::Io {
        what: "netlink".into(),
        source: std::io::Error::other(e),
    })?;
    let (events_tx, mut events) = mpsc::channel::<Event<RealKey>>(1024);
    let monitor = Monitor::new(events_tx);
    let socket = g.socket.clone();

    let rt = RunState {
        maintenance: maintenance(&desired, g.maintenance_dir.as_deref()),
        ..RunState::default()
    };
    let mut d = Daemon {
        path: config_path.to_owned(),
        mtime,
        file: desired.clone(),
        state: compile(&desired, &rt),
        desired,
        rt,
        director,
        monitor,
        resolver,
        samples: HashMap::new(),
        rates: HashMap::new(),
        ticks: 0,
        fallbacks: BTreeSet::new(),
        repairs: VecDeque::new(),
        lock,
        status: String::new(),
        recorder: Recorder::new(SystemTime::now(), opts.conn_table_size),
    };
    d.resolve_all(false).await;
    // The owner writes the tables before it attaches: a first start never runs without them.
    let done = d.reconcile("tables reconciled at start")?;
    if !done.tunnel && done.tables.is_empty() {
        log::info!("the pinned tables already hold the desired state: nothing written");
    } else if !done.tables.is_empty() {
        log::info!("tables reconciled at start: {}", done.tables);
    }
    d.monitor.set_checks(d.state.checks.clone());

    let mut calls = api::server::listen(listener);
    log::info!("listening on {}", socket.display());
    // Scrapes come to this task as API calls do (none when metrics are off: the sender is
    // dropped and the branch below never fires).
    let (scrape_tx, mut scrapes) = mpsc::channel::<metrics::server::Ask>(4);
    if let Some(l) = metrics_listener {
        if let Ok(a) = l.local_addr() {
            log::info!("metrics at http://{a}/metrics");
        }
        metrics::server::serve(l, scrape_tx);
    }
    // Running: from here on a failure is repaired, not undone.
    guard.made_pins = false;
    guard.socket = None;
    notify::ready(&d.status);

    let sig = |k: SignalKind, name: &str| {
        signal(k).map_err(|source| DaemonError::Io {
            what: format!("handling {name}"),
            source,
        })
    };
    let mut hup = sig(SignalKind::hangup(), "SIGHUP")?;
    let mut term = sig(SignalKind::terminate(), "SIGTERM")?;
    let mut int = sig(SignalKind::interrupt(), "SIGINT")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Health verdicts before requests: a check state that `list` shows has been applied
        // to the maps (the monitor publishes a state only once its event is queued here).
        tokio::select! {
            biased;
            Some(ev) = events.recv() => d.on_health(ev).await,
            Some((req, reply)) = calls.recv() => {
                while let Ok(ev) = events.try_recv() {
                    d.on_health(ev).await;
                }
                let resp = d.handle(req).await;
                let _ = reply.send(resp);
            }
            Some(ask) = scrapes.recv() => { let _ = ask.send(d.scrape()); }
            _ = hup.recv() => { let _ = d.reload("SIGHUP").await; }
            _ = term.recv() => { notify::stopping(); break }
            _ = int.recv() => { notify::stopping(); break }
            _ = tick.tick() => d.tick().await,
        }
    }
    let _ = std::fs::remove_file(&socket);
    log::info!(
        "stopping; lvs_director stays attached and keeps forwarding (lvs-ctl unload removes it)"
    );
    Ok(())
}

impl Daemon {
    /// Compiles the desired state and has the owner apply it; on success it is the state
    /// `list` shows. Returns what was written.
    pub(super) fn reconcile(&mut self, why: &str) -> Result<Applied, ApplyError> {
        let next = compile(&self.desired, &self.rt);
        let started = Instant::now();
        let done = self.director.apply(&next.dataplane);
        self.recorder
            .map_writes
            .observe(started.elapsed().as_secs_f64());
        let done = done?;
        if done.tunnel {
            log::info!("tunnel settings written: {}", tunnel_words(&self.desired));
        }
        // The event that caused the write has its own line; this one is the detail.
        if !done.tables.is_empty() {
            log::debug!("{why}: {}", done.tables);
        }
        for iface in &done.attached {
            log::info!(
                "lvs_director attached to {iface} (pinned under {})",
                self.director.pin_dir().display()
            );
        }
        let fallbacks = next.fallbacks();
        for (svc, addr) in fallbacks.difference(&self.fallbacks) {
            log::warn!("service {svc}: fallback {addr} takes new flows, no real can ({why})");
        }
        for (svc, addr) in self.fallbacks.difference(&fallbacks) {
            log::info!(
                "service {svc}: fallback {addr} leaves, a real can take new flows again ({why})"
            );
        }
        self.fallbacks = fallbacks;
        self.state = next;
        let status = self.summary();
        if status != self.status {
            notify::status(&status);
            self.status = status;
        }
        Ok(done)
    }

    pub(super) async fn tick(&mut self) {
        self.ticks += 1;
        if self.desired.global.watch_config && file_mtime(&self.path) != self.mtime {
            let _ = self.reload("the file changed").await;
        }
        let maint = maintenance(
            &self.desired,
            self.desired.global.maintenance_dir.as_deref(),
        );
        if maint != self.rt.maintenance {
            for k in maint.symmetric_difference(&self.rt.maintenance) {
                let entering = maint.contains(k);
                log::info!(
                    "real {} of {}: {} maintenance (weight {})",
                    k.1,
                    k.0,
                    if entering { "entered" } else { "left" },
                    if entering { "0" } else { "as configured" }
                );
                self.hook(
                    k,
                    !entering,
                    "maintenance",
                    if entering {
                        "maintenance file"
                    } else {
                        "maintenance file removed"
                    },
                );
            }
            self.rt.maintenance = maint;
            self.apply_or_log("maintenance");
        }
        // Unresolved neighbours every second, all of them every 30 s (MACs and routes change).
        let changed = self.resolve_all(!self.ticks.is_multiple_of(30)).await;
        if changed {
            self.apply_or_log("neighbours");
        }
        if self.ticks.is_multiple_of(2) {
            self.sample();
        }
        if self.ticks.is_multiple_of(VERIFY_TICKS) {
            self.verify();
        }
    }

    /// Checks that the kernel still holds what this daemon put there (its program on every
    /// interface, its maps pinned, the map contents it wrote) and puts back what someone else
    /// removed or changed, saying so at WARN and in `list`.
    pub(super) fn verify(&mut self) {
        let found = self.director.verify(&self.state.dataplane);
        let pin_dir = self.director.pin_dir().to_owned();
        if !self.lock.holds(&pin_dir) {
            match PinLock::acquire(&pin_dir) {
                Ok(lock) => self.lock = lock,
                Err(e) => log::error!("data plane: {e}"),
            }
        }
        let now = SystemTime::now();
        for what in found {
            log::warn!("data plane changed by someone else: {what}; repaired");
            if self.repairs.len() == REPAIRS_KEPT {
                self.repairs.pop_front();
            }
            self.repairs.push_back((now, what));
        }
    }

    pub(super) fn apply_or_log(&mut self, why: &str) {
        if let Err(e) = self.reconcile(why) {
            log::error!("{why}: writing the tables: {e}");
        }
    }

    /// Runs `global.on_change` (if set) for a change of `key`, in the background, with the
    /// environment of [`health::run_hook`] plus `LVS_SERVICE` and `LVS_REASON` (what changed:
    /// `health`, `maintenance` or `drain`). `up`: whether the real can take new flows after it.
    /// `LVS_REAL` is the real with the service's port, as `list` shows it; a health cause names
    /// the check's own target.
    pub(super) fn hook(&self, key: &RealKey, up: bool, reason: &str, cause: &str) {
        let Some(cmd) = self.desired.global.on_change.clone() else {
            return;
        };
        let ev = Event {
            id: *key,
            target: Target::new(SocketAddr::new(key.1, key.0.port)),
            up,
            cause: cause.to_owned(),
            at: SystemTime::now(),
        };
        let extra = [
            ("LVS_SERVICE", key.0.to_string()),
            ("LVS_REASON", reason.to_owned()),
        ];
        tokio::spawn(async move {
            if let Err(e) = health::run_hook(Path::new(&cmd), &ev, &extra).await {
                log::warn!("{e}");
            }
        });
    }

    pub(super) async fn on_health(&mut self, ev: Event<RealKey>) {
        let key = ev.id;
        if !self
            .desired
            .services
            .iter()
            .any(|s| key.0.matches(s) && s.reals.iter().any(|r| r.address == key.1))
        {
            return;
        }
        let old = self.rt.health.insert(key, ev.up);
        if old == Some(ev.up) {
            return;
        }
        let quiescent = self
            .desired
            .services
            .iter()
            .find(|s| key.0.matches(s))
            .is_none_or(|s| s.quiescent);
        let effect = match (ev.up, quiescent) {
            (true, _) => "back in the table",
            (false, true) => "weight 0, keeps its established flows (quiescent)",
            (false, false) => "out of the table, its flows rescheduled",
        };
        if ev.up {
            // The check sent traffic to the real: its neighbour may be known now. (Not on the
            // way down: a failed real leaves the table without waiting for netlink.)
            self.resolve(key.1).await;
        }
        // The maps first, then the word: what the log and the hook announce is in force.
        self.apply_or_log(&format!(
            "real {} of {} {}",
            key.1,
            key.0,
            if ev.up { "up" } else { "down" }
        ));
        let level = if ev.up {
            log::Level::Info
        } else {
            log::Level::Warn
        };
        log::log!(
            level,
            "real {} of {}: {} ({}); {effect}",
            key.1,
            key.0,
            if ev.up { "up" } else { "down" },
            ev.cause
        );
        self.hook(&key, ev.up, "health", &ev.cause);
    }

    pub(super) async fn handle(&mut self, req: Request) -> Response {
        match req {
            Request::List => Response::List(self.listing()),
            Request::Save => Response::Yaml {
                text: self.desired.to_yaml(),
            },
            Request::Reload => self.reload("lvs-ctl reload").await,
            Request::Explain { src, dst, protocol } => {
                Response::Explain(explain(&self.director, src, dst, protocol))
            }
            Request::Connections { service, real, max } => {
                Response::Connections(connections(&self.director, service, real, max))
            }
            edit_req => {
                let (next, drains, message) = match edit(&self.desired, &self.rt.drained, &edit_req)
                {
                    Ok(x) => x,
                    Err(message) => return Response::Error { message },
                };
                let old = std::mem::replace(&mut self.desired, next);
                let old_drains = std::mem::replace(&mut self.rt.drained, drains);
                self.rt.maintenance = maintenance(
                    &self.desired,
                    self.desired.global.maintenance_dir.as_deref(),
                );
                self.resolve_new().await;
                if let Err(e) = self.reconcile(&message) {
                    self.desired = old;
                    self.rt.drained = old_drains;
                    self.apply_or_log("restoring after a failed change");
                    return Response::Error {
                        message: format!("{message}: writing the tables: {e}; nothing changed"),
                    };
                }
                self.monitor.set_checks(self.state.checks.clone());
                log::info!("lvs-ctl: {message}");
                if let Request::RealEdit {
                    target,
                    address,
                    drain: Some(drain),
                    ..
                } = &edit_req
                    && old_drains.contains(&(*target, *address)) != *drain
                {
                    self.hook(
                        &(*target, *address),
                        !drain,
                        "drain",
                        &format!("lvs-ctl: {message}"),
                    );
                }
                Response::Done { message }
            }
        }
    }
}
