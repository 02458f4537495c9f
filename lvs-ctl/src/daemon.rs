//! `lvs-ctl daemon`: keeps the data plane equal to the desired state.
//!
//! Desired state = the configuration file + run-time edits made through the CLI + health
//! (check verdicts, maintenance files, drains) + where the reals are on the wire (neighbours).
//! One task owns the [`Dataplane`] and the [`Tables`] writer; CLI requests, health events,
//! reloads and the periodic tick all go through it, one at a time, so every change is computed
//! from the whole desired state ([`plan`]) and applied by [`Tables::apply`], which writes only
//! the difference (make before break, Maglev tables swapped atomically per service).
//!
//! Reload semantics (`SIGHUP`, `lvs-ctl reload`, or the file's modification time changing):
//! as `ipvsadm-restore`, the file replaces the running state, run-time edits and drains
//! included; services whose settings and reals did not change keep their tables and
//! connections. A file that does not validate is rejected with its faults and nothing changes.
//!
//! Stopping the daemon leaves the program attached and the maps pinned: forwarding goes on.
//! The next daemon adopts the pinned state and reconciles it without touching what is right.

use crate::{
    api::{
        self, CheckView, Explanation, Health, Listing, RateView, RealView, Request, Response,
        ServiceRef, ServiceView, StatsView, Via,
    },
    config::{self, CheckKind as CfgKind, Config, Method},
    dataplane::{self, Dataplane, LoadOptions, PinLock},
    health::{self, CheckSpec, Event, Monitor, Target},
    neighbour::{Hop, Resolver},
    tables::{ApplyError, RealSpec, ServiceSpec, Tables},
};
use lvs_common::{
    FlowKey, METHOD_DR, METHOD_GUE, METHOD_IPIP, SVC_F_HASH_SRC_ONLY, Stats, flow_hash,
};
use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    net::{IpAddr, SocketAddr},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    signal::unix::{SignalKind, signal},
    sync::{mpsc, oneshot},
};

/// A real of a service, as health checks, drains and maintenance know it.
pub type RealKey = (ServiceRef, IpAddr);

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
    /// Writing the tables.
    #[error("writing the tables: {0}")]
    Apply(#[from] ApplyError),
    /// The control socket.
    #[error("control socket {}: {what}", path.display())]
    Socket {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
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

// -------------------------------------------------------------------------------------------
// The pure core: desired state -> services for the writer, and the view of them.
// -------------------------------------------------------------------------------------------

/// Everything besides the configuration that decides what the data plane holds.
#[derive(Clone, Debug, Default)]
pub struct RunState {
    /// Check verdicts; a real without one is [`Health::Unknown`], treated as up.
    pub health: HashMap<RealKey, bool>,
    /// Drained through the CLI: weight 0 whatever is configured.
    pub drained: BTreeSet<RealKey>,
    /// In maintenance (a file in `global.maintenance_dir`): weight 0.
    pub maintenance: BTreeSet<RealKey>,
    /// Where each real address is on the wire (missing: the route is not known yet).
    pub hops: HashMap<IpAddr, Hop>,
}

/// One service as [`plan`] wants it.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The service.
    pub service: ServiceRef,
    /// What the writer gets.
    pub spec: ServiceSpec,
    /// What `list` shows (counters left at zero).
    pub view: ServiceView,
}

/// The data plane's form of the desired state, with the view `list` shows.
///
/// Per real: down and quiescent → weight 0 (keeps its flows); down and not quiescent →
/// inactive (out of the table, its flows rescheduled); drained or in maintenance → weight 0.
/// When no real of a service can take new flows, its `fallback` real (direct routing, weight 1)
/// is added. A direct-routing real whose neighbour is not resolved gets a zero MAC: the data
/// plane counts and drops its packets rather than guessing.
pub fn plan(cfg: &Config, rt: &RunState) -> Vec<Planned> {
    cfg.services
        .iter()
        .map(|svc| {
            let sref = ServiceRef::of(svc);
            let mut reals: Vec<(RealSpec, RealView)> = svc
                .reals
                .iter()
                .map(|r| {
                    let key = (sref, r.address);
                    let health = match rt.health.get(&key) {
                        None => Health::Unknown,
                        Some(true) => Health::Up,
                        Some(false) => Health::Down,
                    };
                    let drained = rt.drained.contains(&key);
                    let maintenance = rt.maintenance.contains(&key);
                    let down = health == Health::Down;
                    let active = !down || svc.quiescent;
                    let weight = if down || drained || maintenance {
                        0
                    } else {
                        r.weight
                    };
                    real_pair(
                        cfg,
                        r.address,
                        r.method,
                        r.weight,
                        weight,
                        active,
                        rt,
                        |v| {
                            v.health = health;
                            v.drained = drained;
                            v.maintenance = maintenance;
                        },
                    )
                })
                .collect();
            let serving = reals.iter().any(|(s, _)| s.active && s.weight > 0);
            if let Some(fb) = svc.fallback
                && !serving
                && !svc.reals.iter().any(|r| r.address == fb)
            {
                reals.push(real_pair(cfg, fb, Method::Dr, 1, 1, true, rt, |v| {
                    v.fallback = true
                }));
            }
            let spec = ServiceSpec {
                key: sref.key(),
                flags: if svc.persistent {
                    SVC_F_HASH_SRC_ONLY
                } else {
                    0
                },
                ring_size: cfg.global.ring_size,
                reals: reals.iter().map(|(s, _)| s.clone()).collect(),
            };
            let view = ServiceView {
                name: svc.name.clone(),
                service: sref,
                persistent: svc.persistent,
                quiescent: svc.quiescent,
                ring_size: cfg.global.ring_size,
                stats: StatsView::default(),
                rate: RateView::default(),
                reals: reals.into_iter().map(|(_, v)| v).collect(),
            };
            Planned {
                service: sref,
                spec,
                view,
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn real_pair(
    cfg: &Config,
    addr: IpAddr,
    method: Method,
    configured: u32,
    weight: u32,
    active: bool,
    rt: &RunState,
    tweak: impl FnOnce(&mut RealView),
) -> (RealSpec, RealView) {
    let hop = rt.hops.get(&addr);
    let mac = hop.and_then(|h| h.dst_mac);
    let spec = RealSpec {
        addr,
        weight,
        method: match method {
            Method::Dr => METHOD_DR,
            Method::Ipip => METHOD_IPIP,
            Method::Gue => METHOD_GUE,
        },
        dst_mac: mac.unwrap_or([0; 6]),
        src_mac: hop.map_or([0; 6], |h| h.src_mac),
        ifindex: hop.map_or(0, |h| h.ifindex),
        tunnel_port: match method {
            Method::Gue => cfg
                .global
                .tunnel
                .as_ref()
                .map_or(config::DEFAULT_GUE_PORT, |t| t.gue_port),
            _ => 0,
        },
        active,
    };
    let mut view = RealView {
        address: addr,
        method,
        configured_weight: configured,
        weight: if active { weight } else { 0 },
        active,
        health: Health::Unknown,
        drained: false,
        maintenance: false,
        fallback: false,
        resolved: mac.is_some(),
        stats: StatsView::default(),
        rate: RateView::default(),
        check: None,
    };
    tweak(&mut view);
    (spec, view)
}

/// The health checks the configuration asks for, keyed by service and real.
pub fn checks(cfg: &Config) -> Vec<(RealKey, Target, CheckSpec)> {
    let mut out = Vec::new();
    for (i, svc) in cfg.services.iter().enumerate() {
        let sref = ServiceRef::of(svc);
        for (j, real) in svc.reals.iter().enumerate() {
            let rc = cfg.resolved_check(i, j);
            let proto = match svc.protocol {
                config::Protocol::Tcp => health::Proto::Tcp,
                config::Protocol::Udp => health::Proto::Udp,
            };
            let http = |h: &config::HttpCheck, tls: bool| health::CheckKind::Http {
                tls,
                verify_tls: h.verify_tls,
                method: match h.method {
                    config::HttpMethod::Get => health::HttpMethod::Get,
                    config::HttpMethod::Head => health::HttpMethod::Head,
                },
                path: h.request.clone(),
                host: h.virtualhost.clone(),
                expect_status: h.expect_status.clone(),
                receive: h.receive.clone(),
            };
            let kind = match &rc.kind {
                CfgKind::Connect => health::CheckKind::Connect { proto },
                CfgKind::Http(h) => http(h, false),
                CfgKind::Https(h) => http(h, true),
                CfgKind::Dns(d) => health::CheckKind::Dns {
                    name: d.query.clone(),
                    qtype: format!("{:?}", d.query_type).to_ascii_uppercase(),
                    proto,
                    expect: d.expect.clone(),
                },
                CfgKind::External { command } => health::CheckKind::External {
                    command: PathBuf::from(command.trim()),
                    vip: svc.vip,
                    vport: svc.port,
                },
                CfgKind::Ping => health::CheckKind::Ping,
                CfgKind::On => health::CheckKind::On,
                CfgKind::Off => health::CheckKind::Off,
            };
            let spec = CheckSpec {
                kind,
                interval: rc.interval,
                timeout: rc.timeout,
                rise: rc.rise,
                fall: rc.fall,
            };
            out.push((
                (sref, real.address),
                Target::new(SocketAddr::new(real.address, rc.port)),
                spec,
            ));
        }
    }
    out
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

/// Applies one CLI edit to a copy of the desired configuration (and drains), validating the
/// result: the error names the field and value, and nothing is changed on error.
pub fn edit(
    cfg: &Config,
    drained: &BTreeSet<RealKey>,
    req: &Request,
) -> Result<(Config, BTreeSet<RealKey>, String), String> {
    let mut next = cfg.clone();
    let mut drains = drained.clone();
    let find = |c: &Config, t: &ServiceRef| {
        c.services
            .iter()
            .position(|s| t.matches(s))
            .ok_or_else(|| format!("service {t}: no such service"))
    };
    let message = match req {
        Request::ServiceAdd { service } => {
            let sref = ServiceRef::of(service);
            if find(&next, &sref).is_ok() {
                return Err(format!(
                    "service {sref}: exists already (use `service edit`)"
                ));
            }
            next.services.push(service.clone());
            format!("service {sref} added with {} real(s)", service.reals.len())
        }
        Request::ServiceEdit {
            target,
            persistent,
            quiescent,
            name,
        } => {
            let i = find(&next, target)?;
            let s = &mut next.services[i];
            if let Some(p) = persistent {
                s.persistent = *p;
            }
            if let Some(q) = quiescent {
                s.quiescent = *q;
            }
            if let Some(n) = name {
                s.name = Some(n.clone());
            }
            format!("service {target} changed")
        }
        Request::ServiceDel { target } => {
            let i = find(&next, target)?;
            next.services.remove(i);
            drains.retain(|(s, _)| s != target);
            format!("service {target} removed")
        }
        Request::RealAdd { target, real } => {
            let i = find(&next, target)?;
            if next.services[i]
                .reals
                .iter()
                .any(|r| r.address == real.address)
            {
                return Err(format!(
                    "real {} of {target}: exists already (use `real edit`)",
                    real.address
                ));
            }
            next.services[i].reals.push(real.clone());
            format!(
                "real {} added to {target} with weight {}",
                real.address, real.weight
            )
        }
        Request::RealEdit {
            target,
            address,
            weight,
            method,
            drain,
        } => {
            let i = find(&next, target)?;
            let r = next.services[i]
                .reals
                .iter_mut()
                .find(|r| r.address == *address)
                .ok_or_else(|| format!("real {address} of {target}: no such real"))?;
            let mut what = Vec::new();
            if let Some(w) = weight {
                r.weight = *w;
                what.push(format!("weight {w}"));
            }
            if let Some(m) = method {
                r.method = *m;
                what.push(format!("method {m}"));
            }
            match drain {
                Some(true) => {
                    drains.insert((*target, *address));
                    what.push("drained (weight 0, keeps its flows)".into());
                }
                Some(false) => {
                    drains.remove(&(*target, *address));
                    what.push("undrained".into());
                }
                None => {}
            }
            if what.is_empty() {
                return Err(
                    "real edit: nothing to change (give --weight, --method, --drain or --undrain)"
                        .into(),
                );
            }
            format!("real {address} of {target}: {}", what.join(", "))
        }
        Request::RealDel { target, address } => {
            let i = find(&next, target)?;
            let before = next.services[i].reals.len();
            next.services[i].reals.retain(|r| r.address != *address);
            if next.services[i].reals.len() == before {
                return Err(format!("real {address} of {target}: no such real"));
            }
            drains.remove(&(*target, *address));
            format!("real {address} removed from {target}")
        }
        _ => return Err("internal: not an edit".into()),
    };
    next.validate()
        .map_err(|e| e.to_string().replace('\n', "; "))?;
    Ok((next, drains, message))
}

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
    dp: Dataplane,
    tables: Tables,
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
}

/// How often (in ticks, seconds) the daemon checks that the kernel holds what it wrote.
const VERIFY_TICKS: u64 = 5;
/// Repairs `list` remembers.
const REPAIRS_KEPT: usize = 16;

type Call = (Request, oneshot::Sender<Response>);

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

/// Undoes a start that fails: the socket it bound, and the pins it made where there were none
/// (links with them: the program is detached). Disarmed once the daemon runs.
struct StartGuard {
    pin_dir: PathBuf,
    made_pins: bool,
    socket: Option<PathBuf>,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let Some(socket) = &self.socket {
            let _ = std::fs::remove_file(socket);
        }
        if self.made_pins
            && let Err(e) = dataplane::unpin_all(&self.pin_dir)
        {
            log::error!(
                "start failed; removing {} again: {e}",
                self.pin_dir.display()
            );
        }
    }
}

/// Every check of a start that writes nothing to the kernel, so a start that cannot succeed
/// fails before the first write: the interfaces exist (and fit the interface table), the
/// socket path fits a unix socket address.
fn preflight(cfg: &Config) -> Result<(), DaemonError> {
    let g = &cfg.global;
    let socket = g.socket.as_os_str().len();
    if socket > api::MAX_SOCKET_PATH {
        return Err(DaemonError::Socket {
            path: g.socket.clone(),
            what: format!(
                "the path is {socket} bytes; a unix socket path has at most {}",
                api::MAX_SOCKET_PATH
            ),
        });
    }
    Dataplane::preflight_ifaces(&g.interfaces)?;
    Ok(())
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
    let g = &desired.global;
    preflight(&desired)?;
    // One daemon per pin directory, decided before anything is written; held until exit.
    let lock = PinLock::acquire(&g.pin_path)?;
    let mut guard = StartGuard {
        pin_dir: g.pin_path.clone(),
        made_pins: lock.created(),
        socket: None,
    };
    // One daemon per socket too: a live one there is an error before any kernel write.
    let listener = bind(&g.socket)?;
    guard.socket = Some(g.socket.clone());
    let mut opts = LoadOptions::new(&g.pin_path);
    opts.conn_table_size = g.conn_table_size;
    let mut dp = Dataplane::load(&opts)?;
    // A restart: rebuild the writer's memory from the pinned maps, so reconciling the same
    // wanted state writes nothing and moves no flow.
    let tables = Tables::adopt(&mut dp)?;
    let resolver = Resolver::new().map_err(|e| DaemonError::Io {
        what: "netlink".into(),
        source: std::io::Error::other(e),
    })?;
    let (events_tx, mut events) = mpsc::channel::<Event<RealKey>>(1024);
    let monitor = Monitor::new(events_tx);
    let socket = g.socket.clone();
    let ifaces = g.interfaces.clone();
    let mode = xdp_mode(g.xdp_mode);

    let rt = RunState {
        maintenance: maintenance(&desired, g.maintenance_dir.as_deref()),
        ..RunState::default()
    };
    let mut d = Daemon {
        path: config_path.to_owned(),
        mtime,
        file: desired.clone(),
        desired,
        rt,
        dp,
        tables,
        monitor,
        resolver,
        samples: HashMap::new(),
        rates: HashMap::new(),
        ticks: 0,
        fallbacks: BTreeSet::new(),
        repairs: VecDeque::new(),
        lock,
    };
    d.resolve_all(false).await;
    // Write the tables before attaching, so a first start never runs without them.
    if !d.reconcile("tables reconciled at start")? {
        log::info!("the pinned tables already hold the desired state: nothing written");
    }
    for iface in &ifaces {
        d.dp.attach_pinned(iface, mode)?;
        log::info!(
            "lvs_director attached to {iface} (pinned under {})",
            d.dp.pin_dir().display()
        );
    }
    d.monitor.set_checks(checks(&d.desired));

    let (calls_tx, mut calls) = mpsc::channel::<Call>(64);
    tokio::spawn(accept(listener, calls_tx));
    log::info!("listening on {}", socket.display());
    // Running: from here on a failure is repaired, not undone.
    guard.made_pins = false;
    guard.socket = None;

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
            _ = hup.recv() => { let _ = d.reload("SIGHUP").await; }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick.tick() => d.tick().await,
        }
    }
    let _ = std::fs::remove_file(&socket);
    log::info!(
        "stopping; lvs_director stays attached and keeps forwarding (lvs-ctl unload removes it)"
    );
    Ok(())
}

fn xdp_mode(m: config::XdpMode) -> aya::programs::XdpMode {
    match m {
        config::XdpMode::Auto => aya::programs::XdpMode::Default,
        config::XdpMode::Native => aya::programs::XdpMode::Driver,
        config::XdpMode::Skb => aya::programs::XdpMode::Skb,
    }
}

/// Binds the control socket, root-only. A socket file nobody answers on is stale and
/// replaced; one that answers belongs to a running daemon and is an error.
fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    let err = |what: String| DaemonError::Socket {
        path: path.to_owned(),
        what,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err("another daemon is listening there".into()));
        }
        std::fs::remove_file(path).map_err(|e| err(format!("removing the stale socket: {e}")))?;
    }
    // SAFETY: umask only changes this process's file creation mask; restored right after.
    let old = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = listener.map_err(|e| err(format!("binding: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err(format!("setting mode 0600: {e}")))?;
    Ok(listener)
}

async fn accept(listener: UnixListener, calls: mpsc::Sender<Call>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, calls.clone()));
            }
            Err(e) => {
                log::warn!("control socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(stream: UnixStream, calls: mpsc::Sender<Call>) {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(tokio::io::AsyncReadExt::take(rd, api::MAX_LINE as u64));
    let resp = match tokio::time::timeout(Duration::from_secs(10), rd.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => match serde_json::from_str::<Request>(&line) {
            Ok(req) => {
                let (tx, rx) = oneshot::channel();
                if calls.send((req, tx)).await.is_err() {
                    return;
                }
                match rx.await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
            Err(e) => Response::Error {
                message: format!("malformed request: {e}"),
            },
        },
        _ => return,
    };
    let mut out = serde_json::to_vec(&resp).unwrap_or_default();
    out.push(b'\n');
    let _ = wr.write_all(&out).await;
}

impl Daemon {
    /// Writes the tunnel settings when they differ from the data plane's.
    fn write_tunnel(&mut self) -> Result<(), ApplyError> {
        let want = self
            .desired
            .global
            .tunnel
            .as_ref()
            .map(|t| t.to_data_plane())
            .unwrap_or_default();
        if self.dp.tunnel()? != want {
            self.dp.set_tunnel(&want)?;
            log::info!("tunnel settings written: {want:?}");
        }
        Ok(())
    }

    /// Writes the tunnel settings and the tables for the desired state; `Ok(false)` when the
    /// tables held it already.
    fn reconcile(&mut self, why: &str) -> Result<bool, ApplyError> {
        self.write_tunnel()?;
        let planned = plan(&self.desired, &self.rt);
        let specs: Vec<ServiceSpec> = planned.iter().map(|p| p.spec.clone()).collect();
        let report = self.tables.apply(&mut self.dp, &specs)?;
        if !report.is_empty() {
            log::info!("{why}: {report:?}");
        }
        let fallbacks: BTreeSet<RealKey> = planned
            .iter()
            .flat_map(|p| {
                p.view
                    .reals
                    .iter()
                    .filter(|r| r.fallback)
                    .map(|r| (p.service, r.address))
            })
            .collect();
        for (svc, addr) in fallbacks.difference(&self.fallbacks) {
            log::info!("service {svc}: fallback {addr} takes new flows, no real can ({why})");
        }
        for (svc, addr) in self.fallbacks.difference(&fallbacks) {
            log::info!(
                "service {svc}: fallback {addr} leaves, a real can take new flows again ({why})"
            );
        }
        self.fallbacks = fallbacks;
        Ok(!report.is_empty())
    }

    /// Every real address of the desired state (with fallbacks).
    fn addresses(&self) -> BTreeSet<IpAddr> {
        let mut out = BTreeSet::new();
        for s in &self.desired.services {
            out.extend(s.reals.iter().map(|r| r.address));
            out.extend(s.fallback);
        }
        out
    }

    /// Resolves the real addresses never looked up (new reals): a change answers fast; the
    /// tick retries those still unresolved.
    async fn resolve_new(&mut self) {
        let new: Vec<IpAddr> = self
            .addresses()
            .into_iter()
            .filter(|a| !self.rt.hops.contains_key(a))
            .collect();
        for addr in new {
            self.resolve(addr).await;
        }
    }

    /// Resolves real addresses: all of them, or (with `only_missing`) those without a MAC.
    /// Returns whether anything changed.
    async fn resolve_all(&mut self, only_missing: bool) -> bool {
        let mut changed = false;
        let addrs = self.addresses();
        self.rt.hops.retain(|a, _| addrs.contains(a));
        for addr in addrs {
            if only_missing && self.rt.hops.get(&addr).is_some_and(|h| h.dst_mac.is_some()) {
                continue;
            }
            changed |= self.resolve(addr).await;
        }
        changed
    }

    async fn resolve(&mut self, addr: IpAddr) -> bool {
        let result =
            tokio::time::timeout(Duration::from_secs(2), self.resolver.resolve(addr)).await;
        let hop = match result {
            Ok(Ok(hop)) => hop,
            Ok(Err(e)) => {
                if self.rt.hops.remove(&addr).is_some() || self.ticks.is_multiple_of(30) {
                    log::warn!("real {addr}: {e}; its packets are dropped until it resolves");
                }
                return false;
            }
            Err(_) => {
                log::warn!("real {addr}: route look-up timed out");
                return false;
            }
        };
        if hop.dst_mac.is_none() {
            self.resolver.solicit(&hop).await;
        }
        let old = self.rt.hops.insert(addr, hop);
        if old != Some(hop) {
            match hop.dst_mac {
                Some(m) => log::info!(
                    "real {addr}: next hop {} is {} on interface #{}",
                    hop.next_hop,
                    mac(m),
                    hop.ifindex
                ),
                None => log::warn!(
                    "real {addr}: next hop {} on interface #{} not resolved yet; its packets are dropped (drop_no_neighbour) until it is",
                    hop.next_hop,
                    hop.ifindex
                ),
            }
            return true;
        }
        false
    }

    async fn tick(&mut self) {
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
    fn verify(&mut self) {
        let ifaces = self.desired.global.interfaces.clone();
        let mut found = self.dp.drift(&ifaces);
        if !found.is_empty()
            && let Err(e) = self
                .dp
                .repair(&ifaces, xdp_mode(self.desired.global.xdp_mode))
        {
            log::error!("data plane: repairing pins and links: {e}");
        }
        let pin_dir = self.dp.pin_dir().to_owned();
        if !self.lock.holds(&pin_dir) {
            match PinLock::acquire(&pin_dir) {
                Ok(lock) => self.lock = lock,
                Err(e) => log::error!("data plane: {e}"),
            }
        }
        match self.tables.repair(&mut self.dp) {
            Ok(f) => found.extend(f),
            Err(e) => log::error!("data plane: checking the maps: {e}"),
        }
        if found.is_empty() {
            return;
        }
        // A table forgotten by the check is rebuilt now, make-before-break.
        self.apply_or_log("repair");
        let now = SystemTime::now();
        for what in found {
            log::warn!("data plane changed by someone else: {what}; repaired");
            if self.repairs.len() == REPAIRS_KEPT {
                self.repairs.pop_front();
            }
            self.repairs.push_back((now, what));
        }
    }

    fn apply_or_log(&mut self, why: &str) {
        if let Err(e) = self.reconcile(why) {
            log::error!("{why}: writing the tables: {e}");
        }
    }

    /// Runs `global.on_change` (if set) for a change of `key`, in the background, with the
    /// environment of [`health::run_hook`] plus `LVS_SERVICE` and `LVS_REASON` (what changed:
    /// `health`, `maintenance` or `drain`). `up`: whether the real can take new flows after it.
    /// `LVS_REAL` is the real with the service's port, as `list` shows it; a health cause names
    /// the check's own target.
    fn hook(&self, key: &RealKey, up: bool, reason: &str, cause: &str) {
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

    async fn on_health(&mut self, ev: Event<RealKey>) {
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
        log::info!(
            "real {} of {}: {} ({}); {effect}",
            key.1,
            key.0,
            if ev.up { "up" } else { "down" },
            ev.cause
        );
        self.hook(&key, ev.up, "health", &ev.cause);
    }

    /// Reloads the file. Invalid: rejected, nothing changes.
    async fn reload(&mut self, why: &str) -> Response {
        self.mtime = file_mtime(&self.path);
        let next = match config::load(&self.path) {
            Ok(c) => c,
            Err(e) => {
                let message = format!(
                    "reload ({why}) rejected, running state unchanged: {}: {e}",
                    self.path.display()
                );
                log::error!("{message}");
                return Response::Error {
                    message: message.replace('\n', "; "),
                };
            }
        };
        let restart: Vec<&str> = [
            (
                "global.pin_path",
                self.desired.global.pin_path != next.global.pin_path,
            ),
            (
                "global.socket",
                self.desired.global.socket != next.global.socket,
            ),
            (
                "global.conn_table_size",
                self.desired.global.conn_table_size != next.global.conn_table_size,
            ),
            (
                "global.xdp_mode",
                self.desired.global.xdp_mode != next.global.xdp_mode,
            ),
        ]
        .into_iter()
        .filter_map(|(k, changed)| changed.then_some(k))
        .collect();
        let new_ifaces: Vec<String> = next
            .global
            .interfaces
            .iter()
            .filter(|i| !self.desired.global.interfaces.contains(i))
            .cloned()
            .collect();
        for iface in &new_ifaces {
            if let Err(e) = self.dp.attach_pinned(iface, xdp_mode(next.global.xdp_mode)) {
                let message = format!(
                    "reload ({why}) rejected, running state unchanged: attaching to {iface}: {e}"
                );
                log::error!("{message}");
                return Response::Error { message };
            }
        }
        // Run-time changes are state, not configuration: they stay where the file did not
        // change what they changed.
        let merged = config::merge::reload(&self.file, &self.desired, &next);
        if let Err(e) = merged.validate() {
            let message = format!(
                "reload ({why}) rejected, running state unchanged: {} with the run-time changes \
                 kept: {e}",
                self.path.display()
            );
            log::error!("{message}");
            return Response::Error {
                message: message.replace('\n', "; "),
            };
        }
        let old_file = std::mem::replace(&mut self.file, next);
        let old = std::mem::replace(&mut self.desired, merged);
        // Drains are run-time state, not configuration: they stay for the reals the file
        // still has.
        let old_drained = self.rt.drained.clone();
        let desired = &self.desired;
        self.rt.drained.retain(|(svc, addr)| {
            desired
                .services
                .iter()
                .any(|s| svc.matches(s) && s.reals.iter().any(|r| r.address == *addr))
        });
        self.rt.maintenance = maintenance(
            &self.desired,
            self.desired.global.maintenance_dir.as_deref(),
        );
        self.resolve_new().await;
        if let Err(e) = self.reconcile(&format!("reload ({why})")) {
            self.file = old_file;
            self.desired = old;
            self.rt.drained = old_drained;
            self.apply_or_log("restoring after a failed reload");
            return Response::Error {
                message: format!(
                    "reload ({why}): writing the tables: {e}; previous state restored"
                ),
            };
        }
        self.monitor.set_checks(checks(&self.desired));
        let mut message = format!(
            "reloaded {} ({why}): {} service(s)",
            self.path.display(),
            self.desired.services.len()
        );
        if !restart.is_empty() {
            message.push_str(&format!(
                "; {} changed: takes effect at the next daemon start",
                restart.join(", ")
            ));
        }
        log::info!("{message}");
        Response::Done { message }
    }

    async fn handle(&mut self, req: Request) -> Response {
        match req {
            Request::List => Response::List(self.listing()),
            Request::Save => Response::Yaml {
                text: self.desired.to_yaml(),
            },
            Request::Reload => self.reload("lvs-ctl reload").await,
            Request::Explain { src, dst, protocol } => {
                Response::Explain(self.explain(src, dst, protocol))
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
                self.monitor.set_checks(checks(&self.desired));
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

    fn stats_of(&self, s: &ServiceRef, real: Option<IpAddr>) -> Stats {
        let key = s.key();
        let r = match real {
            None => self.tables.service_stats(&self.dp, &key).ok(),
            Some(a) => self
                .tables
                .real_index(&key, a)
                .and_then(|i| self.dp.real_stats(i).ok()),
        };
        r.unwrap_or_default()
    }

    fn sample(&mut self) {
        let now = Instant::now();
        let mut keys = Vec::new();
        for p in plan(&self.desired, &self.rt) {
            keys.push((p.service, None));
            keys.extend(p.view.reals.iter().map(|r| (p.service, Some(r.address))));
        }
        let mut samples = HashMap::new();
        let mut rates = HashMap::new();
        for k in keys {
            let s = self.stats_of(&k.0, k.1);
            if let Some((then, prev)) = self.samples.get(&k) {
                let dt = now.duration_since(*then).as_secs_f64().max(0.001);
                let per = |a: u64, b: u64| (a.saturating_sub(b) as f64 / dt).round() as u64;
                rates.insert(
                    k,
                    RateView {
                        cps: per(s.conns, prev.conns),
                        pps: per(s.packets, prev.packets),
                        bps: per(s.bytes, prev.bytes),
                    },
                );
            }
            samples.insert(k, (now, s));
        }
        self.samples = samples;
        self.rates = rates;
    }

    fn listing(&self) -> Listing {
        let checks: HashMap<RealKey, CheckView> = self
            .monitor
            .status()
            .into_iter()
            .map(|st| (st.id, check_view(&st)))
            .collect();
        let services = plan(&self.desired, &self.rt)
            .into_iter()
            .map(|p| {
                let mut v = p.view;
                v.stats = StatsView::of(&self.stats_of(&p.service, None));
                v.rate = self
                    .rates
                    .get(&(p.service, None))
                    .copied()
                    .unwrap_or_default();
                for r in &mut v.reals {
                    if !r.fallback {
                        r.check = checks.get(&(p.service, r.address)).cloned();
                    }
                    r.stats = StatsView::of(&self.stats_of(&p.service, Some(r.address)));
                    r.rate = self
                        .rates
                        .get(&(p.service, Some(r.address)))
                        .copied()
                        .unwrap_or_default();
                }
                v
            })
            .collect();
        Listing {
            services,
            at_ms: api::unix_ms(SystemTime::now()),
            repairs: self
                .repairs
                .iter()
                .map(|(at, what)| api::RepairView {
                    at_ms: api::unix_ms(*at),
                    what: what.clone(),
                })
                .collect(),
        }
    }

    fn explain(&self, src: SocketAddr, dst: SocketAddr, protocol: config::Protocol) -> Explanation {
        let flow_name = format!("{src} -> {dst}/{protocol}");
        let proto = api::proto_number(protocol);
        let flow = FlowKey::new(src, dst, proto);
        let live = self.dp.services();
        let exact = ServiceRef {
            vip: dst.ip(),
            port: dst.port(),
            protocol,
        };
        let any_port = ServiceRef { port: 0, ..exact };
        let found = [exact, any_port].into_iter().find_map(|r| {
            let key = r.key();
            live.iter().find(|(k, _)| *k == key).map(|(_, s)| (r, *s))
        });
        let Some((sref, svc)) = found else {
            return Explanation {
                flow: flow_name,
                service: None,
                real: None,
                via: Via::NoService,
            };
        };
        let real_at = |index: u32| self.dp.real(index).ok();
        let mut stale = false;
        if let Some(conn) = self.dp.conn(&flow) {
            match real_at(conn.real) {
                Some(r) if r.is_active() && r.generation == conn.generation => {
                    return Explanation {
                        flow: flow_name,
                        service: Some(sref),
                        real: Some(r.addr()),
                        via: Via::Connection { index: conn.real },
                    };
                }
                _ => stale = true,
            }
        }
        let src_only = svc.flags & SVC_F_HASH_SRC_ONLY != 0;
        let hash = flow_hash(&flow, src_only);
        let size = svc.ring_size.max(1);
        let slot = hash % size;
        let index = self
            .dp
            .read_ring(svc.ring)
            .ok()
            .flatten()
            .and_then(|t| t.get(slot as usize).copied())
            .unwrap_or(0);
        let real = (index != 0)
            .then(|| real_at(index))
            .flatten()
            .map(|r| r.addr());
        Explanation {
            flow: flow_name,
            service: Some(sref),
            real,
            via: Via::Maglev {
                slot,
                size: svc.ring_size,
                hash,
                src_only,
                index,
                stale_connection: stale,
            },
        }
    }
}

/// What `list` shows of a check's [`health::Status`].
fn check_view(st: &health::Status<RealKey>) -> CheckView {
    let check = match st.check {
        // The port means nothing to ping (and the causes say it that way).
        "ping" => format!("ping {}", st.target.addr.ip()),
        name => format!("{name} {}", st.target),
    };
    CheckView {
        check,
        state: match st.state {
            health::State::Unknown => Health::Unknown,
            health::State::Up => Health::Up,
            health::State::Down => Health::Down,
        },
        since_ms: api::unix_ms(st.since),
        cause: st.last_change.clone(),
        last_error: st.last_error.clone(),
        last_probe_ms: st.last_probe.map(api::unix_ms),
        last_duration_us: st
            .last_duration
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
    }
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        config::parse(
            "global: {interfaces: [d0]}\n\
             services:\n\
             - {vip: 198.18.100.1, port: 80, fallback: 198.18.9.9,\n\
                reals: [{address: 198.18.1.2, weight: 3}, {address: 198.18.2.2}]}\n\
             - {vip: 198.18.100.1, port: 53, protocol: udp, quiescent: false, persistent: true,\n\
                reals: [{address: 198.18.1.2}]}\n",
        )
        .expect("valid config")
    }

    fn sref(s: &str) -> ServiceRef {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plan_maps_health_drain_and_maintenance_to_weights() {
        let c = cfg();
        let web = sref("198.18.100.1:80/tcp");
        let dns = sref("198.18.100.1:53/udp");
        let mut rt = RunState::default();
        let hop = Hop {
            ifindex: 7,
            src_mac: [2, 0, 0, 0, 1, 1],
            next_hop: ip("198.18.1.2"),
            dst_mac: Some([2, 0, 0, 0, 1, 2]),
        };
        rt.hops.insert(ip("198.18.1.2"), hop);
        let p = plan(&c, &rt);
        assert_eq!(p.len(), 2);
        let r = &p[0].spec.reals[0];
        assert_eq!(
            (r.weight, r.active, r.ifindex, r.dst_mac, r.src_mac),
            (3, true, 7, [2, 0, 0, 0, 1, 2], [2, 0, 0, 0, 1, 1])
        );
        // Unresolved: MAC left zero, never guessed.
        assert_eq!(p[0].spec.reals[1].dst_mac, [0; 6]);
        assert!(!p[0].view.reals[1].resolved);
        assert_eq!(p[1].spec.flags, SVC_F_HASH_SRC_ONLY);

        // Down + quiescent: weight 0 but active. Down + not quiescent: inactive.
        rt.health.insert((web, ip("198.18.1.2")), false);
        rt.health.insert((dns, ip("198.18.1.2")), false);
        rt.drained.insert((web, ip("198.18.2.2")));
        let p = plan(&c, &rt);
        assert_eq!(
            (p[0].spec.reals[0].weight, p[0].spec.reals[0].active),
            (0, true)
        );
        assert_eq!(
            (p[1].spec.reals[0].weight, p[1].spec.reals[0].active),
            (0, false)
        );
        // Drained is weight 0; with every real at weight 0 the fallback serves.
        assert_eq!(p[0].spec.reals[1].weight, 0);
        assert_eq!(p[0].spec.reals.len(), 3);
        assert_eq!(
            (p[0].spec.reals[2].addr, p[0].spec.reals[2].weight),
            (ip("198.18.9.9"), 1)
        );
        assert!(p[0].view.reals[2].fallback);
        // A service without fallback gets none.
        assert_eq!(p[1].spec.reals.len(), 1);

        // Back up: the fallback leaves.
        rt.health.insert((web, ip("198.18.1.2")), true);
        let p = plan(&c, &rt);
        assert_eq!(p[0].spec.reals.len(), 2);
        rt.maintenance.insert((web, ip("198.18.1.2")));
        let p = plan(&c, &rt);
        assert_eq!(p[0].spec.reals[0].weight, 0);
        assert!(p[0].view.reals[0].maintenance);
    }

    #[test]
    fn checks_follow_the_resolved_config() {
        let c = cfg();
        let cs = checks(&c);
        assert_eq!(cs.len(), 3);
        assert_eq!(cs[0].1.addr, "198.18.1.2:80".parse().unwrap());
        assert_eq!(
            cs[0].2.kind,
            health::CheckKind::Connect {
                proto: health::Proto::Tcp
            }
        );
        assert_eq!(
            cs[2].2.kind,
            health::CheckKind::Connect {
                proto: health::Proto::Udp
            }
        );
        assert_eq!(cs[0].2.fall, config::DEFAULT_FALL);
    }

    #[test]
    fn edits_are_validated_and_name_the_field_and_value() {
        let c = cfg();
        let web = sref("198.18.100.1:80/tcp");
        let none = BTreeSet::new();
        let add = Request::RealAdd {
            target: web,
            real: config::Real {
                weight: 70000,
                ..config::Real::new(ip("198.18.3.2"))
            },
        };
        let e = edit(&c, &none, &add).unwrap_err();
        assert_eq!(
            e,
            "services[0].reals[2].weight: 70000 is out of range 0..=65535"
        );
        let add = Request::RealAdd {
            target: web,
            real: config::Real::new(ip("2001:db8::2")),
        };
        assert!(edit(&c, &none, &add).unwrap_err().contains("2001:db8::2"));
        let del = Request::RealDel {
            target: sref("198.18.100.1:81/tcp"),
            address: ip("198.18.1.2"),
        };
        assert_eq!(
            edit(&c, &none, &del).unwrap_err(),
            "service 198.18.100.1:81/tcp: no such service"
        );
        let del = Request::RealDel {
            target: web,
            address: ip("198.18.7.7"),
        };
        assert_eq!(
            edit(&c, &none, &del).unwrap_err(),
            "real 198.18.7.7 of 198.18.100.1:80/tcp: no such real"
        );

        let drain = Request::RealEdit {
            target: web,
            address: ip("198.18.2.2"),
            weight: None,
            method: None,
            drain: Some(true),
        };
        let (c2, d2, msg) = edit(&c, &none, &drain).unwrap();
        assert_eq!(c2, c, "a drain is not a config change");
        assert!(d2.contains(&(web, ip("198.18.2.2"))));
        assert!(msg.contains("drained"), "{msg}");
        let del = Request::RealDel {
            target: web,
            address: ip("198.18.2.2"),
        };
        let (c3, d3, _) = edit(&c2, &d2, &del).unwrap();
        assert_eq!(c3.services[0].reals.len(), 1);
        assert!(d3.is_empty(), "the drain goes with the real");
    }
}
