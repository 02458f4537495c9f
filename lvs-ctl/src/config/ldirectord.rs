//! Import of an ldirectord configuration (`ldirectord.cf`) into a [`Config`].
//!
//! The importer follows ldirectord's own reading of the file (ldirectord 4.x, `read_config`):
//! global `key = value` lines; `virtual=` / `virtual6=` lines opening a block whose indented
//! lines belong to it; `#` comments; the defaults of `man ldirectord` (checktype `negotiate`,
//! the service guessed from the port, udp for port 53, scheduler `wrr`, `failurecount` 1,
//! `quiescent` yes, timeouts 5s for checks and 30s for negotiate checks, a 10s interval).
//!
//! Whatever has no equivalent in lvs is reported as a [`Warning`] naming the line, never dropped
//! silently: masq becomes dr, the ipvs schedulers become (weighted) maglev, e-mail alerts are
//! ignored. A warning that something was not carried over at all (a service, a real, a
//! fallback, a connection threshold; a service left without real) says so in
//! [`Warning::lost`]: [`Import::is_partial`] is then true and `lvs-ctl import` fails unless told
//! `--allow-partial`. What ldirectord (or ipvs) itself refuses (a `real=` without forwarding
//! method, a checkinterval that is not a number, an unknown scheduler) is an error naming the
//! line. The result is validated; if it still breaks a rule, the import fails with faults that
//! name the ldirectord line.
//!
//! `ipip` reals need an outer source address, which ldirectord never had: IPVS takes the
//! address the route to the real leaves by. [`Import::ldirectord`] does the same through the
//! resolver it is given ([`Import::route_source`] asks the kernel's routing table) unless the
//! caller sets the source.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use super::model::*;
use super::{ConfigError, Fault};

/// The outcome of [`import_ldirectord`]: a valid configuration and what did not carry over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The configuration (it passes [`Config::validate`]).
    pub config: Config,
    /// What was changed, guessed, defaulted or left out, in line order.
    pub warnings: Vec<Warning>,
}

/// Something of the ldirectord file that lvs does not do the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line of the ldirectord file; 0 for the file as a whole.
    pub line: usize,
    /// What happened to it.
    pub message: String,
    /// What of the file is not in the result at all; `None` for a change, a default or a
    /// directive lvs has no use for.
    pub lost: Option<Lost>,
}

/// What a [`Warning`] says was not carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lost {
    /// A `virtual=` block: the service and its reals.
    Service,
    /// A `real=` line (a range counts once).
    Real,
    /// A `fallback=` server.
    Fallback,
    /// A real's lower or upper connection threshold (`l:N`, `u:N`).
    Threshold,
    /// Not something left out, but a service that ends with no real.
    NoReal,
}

impl Lost {
    fn name(self, n: usize) -> &'static str {
        match (self, n) {
            (Lost::Service | Lost::NoReal, 1) => "service",
            (Lost::Service | Lost::NoReal, _) => "services",
            (Lost::Real, 1) => "real",
            (Lost::Real, _) => "reals",
            (Lost::Fallback, 1) => "fallback",
            (Lost::Fallback, _) => "fallbacks",
            (Lost::Threshold, 1) => "connection threshold",
            (Lost::Threshold, _) => "connection thresholds",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

/// Finds the outer source address for tunnelled packets to a real: `None` when there is none.
pub type RouteSource<'a> = &'a dyn Fn(IpAddr) -> Option<IpAddr>;

/// Converts the text of an ldirectord.cf into a validated [`Config`] and warnings.
///
/// A line that ldirectord itself would refuse (a `real=` without forwarding method, a
/// checkinterval that is not a number) is a [`ConfigError::Syntax`] naming it; a result that
/// cannot be made valid is [`ConfigError::Invalid`], each fault's path starting with the line
/// it comes from. Without tunnel settings and a route resolver, an `ipip` real is a fault.
pub fn import_ldirectord(text: &str) -> Result<Import, ConfigError> {
    import_ldirectord_with(text, None)
}

/// As [`import_ldirectord`], with the tunnel settings ldirectord never had (the outer source
/// addresses `ipip` reals need) given by the caller.
pub fn import_ldirectord_with(text: &str, tunnel: Option<Tunnel>) -> Result<Import, ConfigError> {
    let mut parser = Parser {
        tunnel,
        ..Parser::default()
    };
    parser.read(text)?;
    parser.build()
}

impl Import {
    /// As [`import_ldirectord_with`], and the tunnel source of each family that `tunnel` does
    /// not set is found as IPVS finds it: `route_source` of an `ipip` real of that family (the
    /// address the route to it leaves by; [`Import::route_source`] asks this machine's kernel).
    pub fn ldirectord(
        text: &str,
        tunnel: Option<Tunnel>,
        route_source: RouteSource<'_>,
    ) -> Result<Import, ConfigError> {
        let mut parser = Parser {
            tunnel,
            route_source: Some(route_source),
            ..Parser::default()
        };
        parser.read(text)?;
        parser.build()
    }

    /// The source address this machine's kernel would give a packet to `real`: that of the
    /// interface the route to it leaves by (or the route's `src`). It `connect`s a UDP socket,
    /// which looks the route up and sends nothing; no privileges are needed.
    pub fn route_source(real: IpAddr) -> Option<IpAddr> {
        let any: SocketAddr = match real {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(any).ok()?;
        socket.connect((real, 9)).ok()?;
        let source = socket.local_addr().ok()?.ip();
        (!source.is_unspecified()).then_some(source)
    }

    /// Whether something of the file is not in the configuration, or a service has no real.
    pub fn is_partial(&self) -> bool {
        self.warnings.iter().any(|w| w.lost.is_some())
    }

    /// One line for the operator: what was converted, and what was not, with its lines.
    pub fn summary(&self) -> String {
        let services = self.config.services.len();
        let reals: usize = self.config.services.iter().map(|s| s.reals.len()).sum();
        let mut text = format!(
            "converted {services} {} with {reals} {}",
            Lost::Service.name(services),
            Lost::Real.name(reals)
        );
        let mut lost: BTreeMap<Lost, Vec<usize>> = BTreeMap::new();
        for w in &self.warnings {
            if let Some(what) = w.lost {
                lost.entry(what).or_default().push(w.line);
            }
        }
        let part = |what: Lost, lines: &[usize]| {
            let mut unique = lines.to_vec();
            unique.dedup();
            let shown: Vec<String> = unique.iter().map(ToString::to_string).collect();
            format!(
                "{} {} ({} {})",
                lines.len(),
                what.name(lines.len()),
                if unique.len() == 1 { "line" } else { "lines" },
                shown.join(", ")
            )
        };
        let skipped: Vec<String> = lost
            .iter()
            .filter(|(what, _)| **what != Lost::NoReal)
            .map(|(what, lines)| part(*what, lines))
            .collect();
        if skipped.is_empty() {
            text.push_str("; nothing skipped");
        } else {
            text.push_str("; skipped ");
            text.push_str(&skipped.join(", "));
        }
        if let Some(lines) = lost.get(&Lost::NoReal) {
            text.push_str("; without real: ");
            text.push_str(&part(Lost::NoReal, lines));
        }
        text
    }

    /// The configuration as YAML.
    pub fn to_yaml(&self) -> String {
        self.config.to_yaml()
    }
}

/// A value and the line that set it.
type Setting<T> = Option<(T, usize)>;

#[derive(Default)]
struct Parser<'a> {
    warnings: Vec<Warning>,
    globals: Settings,
    fork: bool,
    checkinterval: Setting<u64>,
    maintenancedir: Setting<String>,
    fallback: Setting<String>,
    fallback6: Setting<String>,
    virtuals: Vec<Virtual>,
    /// Given by the caller (ldirectord has no such setting).
    tunnel: Option<Tunnel>,
    /// How to find the tunnel source of a family `tunnel` does not set.
    route_source: Option<RouteSource<'a>>,
    /// `autoreload = yes`.
    autoreload: bool,
    /// Blocks that take ldirectord's defaults, reported once for the file.
    defaulted: Defaulted,
}

/// The `virtual=` lines of the blocks that set neither globally nor themselves...
#[derive(Default)]
struct Defaulted {
    /// ... quiescent,
    quiescent: Vec<usize>,
    /// ... or scheduler.
    scheduler: Vec<usize>,
}

/// Settings that ldirectord reads both globally and per virtual service.
#[derive(Default, Clone)]
struct Settings {
    checktimeout: Setting<u64>,
    negotiatetimeout: Setting<u64>,
    failurecount: Setting<u32>,
    quiescent: Setting<bool>,
}

/// A `virtual=` block as written.
struct Virtual {
    line: usize,
    /// `None` for a block that cannot be imported (already warned about): its lines are read
    /// but nothing comes of them.
    endpoint: Option<(IpAddr, u16)>,
    settings: Settings,
    checkinterval: Setting<u64>,
    reals: Vec<(String, usize)>,
    checktype: Setting<String>,
    service: Setting<String>,
    protocol: Setting<Protocol>,
    scheduler: Setting<String>,
    schedflags: Setting<String>,
    persistent: Setting<u64>,
    fallback: Setting<String>,
    servicename: Setting<String>,
    request: Setting<String>,
    receive: Setting<String>,
    virtualhost: Setting<String>,
    httpmethod: Setting<HttpMethod>,
    checkport: Setting<u16>,
    checkcommand: Setting<String>,
}

impl Virtual {
    fn new(line: usize, endpoint: Option<(IpAddr, u16)>) -> Self {
        Virtual {
            line,
            endpoint,
            settings: Settings::default(),
            checkinterval: None,
            reals: Vec::new(),
            checktype: None,
            service: None,
            protocol: None,
            scheduler: None,
            schedflags: None,
            persistent: None,
            fallback: None,
            servicename: None,
            request: None,
            receive: None,
            virtualhost: None,
            httpmethod: None,
            checkport: None,
            checkcommand: None,
        }
    }
}

fn syntax(line: usize, message: impl Into<String>) -> ConfigError {
    ConfigError::Syntax {
        line,
        column: 1,
        message: message.into(),
    }
}

/// Global directives lvs has no use for, with what to do instead.
const IGNORED_GLOBAL: &[(&str, &str)] = &[
    ("callback", "lvs has no configuration-change callback"),
    ("logfile", "lvs logs to stderr"),
    (
        "supervised",
        "lvs runs in the foreground under its service manager",
    ),
    ("execute", "lvs runs one configuration per instance"),
    ("emailalert", "use global.on_change to send alerts"),
    ("emailalertfreq", "use global.on_change to send alerts"),
    ("emailalertstatus", "use global.on_change to send alerts"),
    ("emailalertfrom", "use global.on_change to send alerts"),
    ("smtp", "use global.on_change to send alerts"),
    (
        "fallbackcommand",
        "global.on_change is run on every real state change",
    ),
    ("cleanstop", "lvs keeps its tables when it stops"),
    ("readdquiescent", "lvs keeps quiescent reals in its tables"),
    (
        "checkcount",
        "deprecated in ldirectord; use failurecount (imported as fall)",
    ),
    (
        "connecttimeout",
        "deprecated in ldirectord in favour of negotiatetimeout",
    ),
    (
        "timeout",
        "deprecated in ldirectord in favour of checktimeout and negotiatetimeout",
    ),
];

/// The ipvs schedulers (`ipvsadm -s`), with how each picks a real where Maglev differs; `None`
/// for those Maglev stands for (mh; sh, a hash of the client address: persistent).
const SCHEDULERS: &[(&str, Option<&str>)] = &[
    (
        "rr",
        Some("gives new connections to the reals in turn, whatever their weights"),
    ),
    (
        "wrr",
        Some("gives new connections to the reals in turn, as often as their weights say"),
    ),
    (
        "lc",
        Some("sends a new connection to the real with the fewest active connections"),
    ),
    (
        "wlc",
        Some(
            "sends a new connection to the real with the fewest active connections per unit of \
             weight",
        ),
    ),
    (
        "lblc",
        Some("keeps each destination address on one real while it is not overloaded"),
    ),
    (
        "lblcr",
        Some("keeps each destination address on a set of reals"),
    ),
    (
        "dh",
        Some("chooses the real by a hash of the destination address"),
    ),
    ("sh", None),
    (
        "sed",
        Some(
            "sends a new connection to the real of shortest expected delay ((active \
             connections + 1) / weight)",
        ),
    ),
    (
        "nq",
        Some("sends a new connection to an idle real if there is one, else as sed"),
    ),
    (
        "fo",
        Some("sends every new connection to the available real of highest weight"),
    ),
    (
        "ovf",
        Some(
            "sends new connections to the real of highest weight until its active connections \
             exceed its weight",
        ),
    ),
    ("mh", None),
    (
        "twos",
        Some("sends a new connection to the less loaded of two reals picked at random"),
    ),
];

/// What weighted Maglev does instead of the scheduler `name`, which picks reals as `how`.
fn as_maglev(name: &str, how: &str) -> String {
    let hint = if name == "rr" {
        " (give the reals equal weights for rr's even spread)"
    } else {
        ""
    };
    format!(
        "{name} {how}; maglev spreads connections by a hash of the flow, in proportion to the \
         weights{hint}"
    )
}

/// Directives of a virtual block lvs has no use for.
const IGNORED_VIRTUAL: &[(&str, &str)] = &[
    ("login", "the checks of lvs do not log in"),
    ("passwd", "the checks of lvs do not log in"),
    ("database", "lvs has no SQL check"),
    ("secret", "lvs has no RADIUS check"),
    ("load", "lvs has no load check"),
    ("ops", "lvs has no one-packet scheduling"),
    ("emailalert", "use global.on_change to send alerts"),
    ("emailalertfreq", "use global.on_change to send alerts"),
    ("emailalertstatus", "use global.on_change to send alerts"),
    ("smtp", "use global.on_change to send alerts"),
    (
        "fallbackcommand",
        "global.on_change is run on every real state change",
    ),
    ("monitorfile", "lvs logs check results itself"),
    ("cleanstop", "lvs keeps its tables when it stops"),
    (
        "comment",
        "lvs has no comment field (keep it as a YAML comment)",
    ),
    (
        "checkcount",
        "deprecated in ldirectord; use failurecount (imported as fall)",
    ),
    (
        "connecttimeout",
        "deprecated in ldirectord in favour of negotiatetimeout",
    ),
];

impl Parser<'_> {
    fn warn(&mut self, line: usize, message: impl Into<String>) {
        self.push(line, None, message.into());
    }

    /// A warning that something is not carried over.
    fn lose(&mut self, line: usize, what: Lost, message: impl Into<String>) {
        self.push(line, Some(what), message.into());
    }

    fn push(&mut self, line: usize, lost: Option<Lost>, message: String) {
        if !self
            .warnings
            .iter()
            .any(|w| w.line == line && w.message == message)
        {
            self.warnings.push(Warning {
                line,
                message,
                lost,
            });
        }
    }

    fn read(&mut self, text: &str) -> Result<(), ConfigError> {
        let mut in_block = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = strip_comment(raw);
            if content.trim().is_empty() {
                continue;
            }
            let indented = content.starts_with([' ', '\t']);
            if !indented {
                in_block = false;
            }
            let Some((key, value)) = split_directive(content.trim()) else {
                self.warn(
                    line,
                    format!(
                        "{:?} is not a `key = value` directive; ignored",
                        content.trim()
                    ),
                );
                continue;
            };
            if indented {
                if in_block {
                    self.virtual_directive(line, &key, value)?;
                } else {
                    self.warn(
                        line,
                        format!("indented `{key}` outside a virtual block; ignored"),
                    );
                }
                continue;
            }
            match key.as_str() {
                "virtual" | "virtual6" => {
                    let endpoint = self.virtual_endpoint(line, &key, value);
                    self.virtuals.push(Virtual::new(line, endpoint));
                    in_block = true;
                }
                _ => self.global_directive(line, &key, value)?,
            }
        }
        Ok(())
    }

    fn global_directive(&mut self, line: usize, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "checktimeout" => self.globals.checktimeout = Some((seconds(line, key, value)?, line)),
            "negotiatetimeout" => {
                self.globals.negotiatetimeout = Some((seconds(line, key, value)?, line))
            }
            "checkinterval" => self.checkinterval = Some((seconds(line, key, value)?, line)),
            "failurecount" => self.globals.failurecount = Some((count(line, key, value)?, line)),
            "quiescent" => self.globals.quiescent = Some((yes_no(line, key, value)?, line)),
            "fork" => self.fork = yes_no(line, key, value)?,
            "autoreload" => self.autoreload = yes_no(line, key, value)?,
            "maintenancedir" => self.maintenancedir = Some((unquote(value).to_owned(), line)),
            "fallback" => self.fallback = Some((value.to_owned(), line)),
            "fallback6" => self.fallback6 = Some((value.to_owned(), line)),
            _ => match IGNORED_GLOBAL.iter().find(|(k, _)| *k == key) {
                Some((_, why)) => {
                    self.warn(line, format!("{key} has no equivalent: {why}; ignored"))
                }
                None => self.warn(line, format!("unknown directive `{key}`; ignored")),
            },
        }
        Ok(())
    }

    /// The address and port of `virtual=` / `virtual6=`, or `None` (with a warning) for a
    /// block that cannot be imported.
    fn virtual_endpoint(&mut self, line: usize, key: &str, value: &str) -> Option<(IpAddr, u16)> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            self.lose(
                line,
                Lost::Service,
                format!(
                    "firewall-mark service {value} is not supported (lvs balances addresses and \
                     ports); the block is skipped"
                ),
            );
            return None;
        }
        let parsed = split_host_port(value).and_then(|(host, port)| {
            let addr = host.parse::<IpAddr>().ok()?;
            Some((addr, port?))
        });
        let Some((addr, port)) = parsed else {
            self.lose(
                line,
                Lost::Service,
                format!(
                    "{key} {value:?} is not an address and port (host names are not resolved); \
                     the block is skipped"
                ),
            );
            return None;
        };
        let Some(port) = port_number(port) else {
            self.lose(
                line,
                Lost::Service,
                format!("{key}: unknown port {port:?}; the block is skipped"),
            );
            return None;
        };
        match (key, addr) {
            ("virtual", IpAddr::V6(_)) => self.warn(
                line,
                "an IPv6 service should be written virtual6= in ldirectord",
            ),
            ("virtual6", IpAddr::V4(_)) => self.warn(
                line,
                "an IPv4 service should be written virtual= in ldirectord",
            ),
            _ => {}
        }
        Some((addr, port))
    }

    fn virtual_directive(
        &mut self,
        line: usize,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let v = self.virtuals.last_mut().expect("in a block");
        let set = |v: &str| Some((unquote(v).to_owned(), line));
        match key {
            "real" | "real6" => v.reals.push((value.to_owned(), line)),
            "fallback" | "fallback6" => v.fallback = set(value),
            "checktype" => v.checktype = set(value),
            "service" => v.service = set(&value.to_ascii_lowercase()),
            "request" => v.request = set(value),
            "receive" => v.receive = set(value),
            "virtualhost" => v.virtualhost = set(value),
            "checkcommand" => v.checkcommand = set(value),
            "servicename" => v.servicename = set(value),
            "scheduler" => {
                let name = unquote(value);
                if !SCHEDULERS.iter().any(|(n, _)| *n == name) {
                    let known: Vec<&str> = SCHEDULERS.iter().map(|(n, _)| *n).collect();
                    return Err(syntax(
                        line,
                        format!("unknown scheduler {name:?} (ipvs has {})", known.join(", ")),
                    ));
                }
                v.scheduler = set(value);
            }
            "schedflags" => v.schedflags = set(value),
            "checkport" => {
                let port = value
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| syntax(line, format!("checkport {value:?} is not a port")))?;
                v.checkport = Some((port, line));
            }
            "httpmethod" => {
                let method = match value.trim().to_ascii_uppercase().as_str() {
                    "GET" => HttpMethod::Get,
                    "HEAD" => HttpMethod::Head,
                    _ => {
                        return Err(syntax(
                            line,
                            format!("httpmethod {value:?} is not GET or HEAD"),
                        ));
                    }
                };
                v.httpmethod = Some((method, line));
            }
            "protocol" => match value.trim() {
                "tcp" => v.protocol = Some((Protocol::Tcp, line)),
                "udp" => v.protocol = Some((Protocol::Udp, line)),
                "fwm" => {
                    if v.endpoint.take().is_some() {
                        self.lose(
                            line,
                            Lost::Service,
                            "protocol fwm (firewall marks) is not supported; the block is skipped",
                        );
                    }
                }
                other => {
                    return Err(syntax(
                        line,
                        format!("protocol {other:?} is not tcp, udp or fwm"),
                    ));
                }
            },
            "persistent" => v.persistent = Some((seconds(line, key, value)?, line)),
            "netmask" => self.warn(
                line,
                format!(
                    "netmask {} is not supported: persistence hashes the whole client address; \
                     ignored",
                    value.trim()
                ),
            ),
            "checktimeout" => v.settings.checktimeout = Some((seconds(line, key, value)?, line)),
            "negotiatetimeout" => {
                v.settings.negotiatetimeout = Some((seconds(line, key, value)?, line))
            }
            "failurecount" => v.settings.failurecount = Some((count(line, key, value)?, line)),
            "quiescent" => v.settings.quiescent = Some((yes_no(line, key, value)?, line)),
            "checkinterval" => v.checkinterval = Some((seconds(line, key, value)?, line)),
            _ => match IGNORED_VIRTUAL.iter().find(|(k, _)| *k == key) {
                Some((_, why)) => {
                    self.warn(line, format!("{key} has no equivalent: {why}; ignored"))
                }
                None => self.warn(line, format!("unknown directive `{key}`; ignored")),
            },
        }
        Ok(())
    }

    fn build(mut self) -> Result<Import, ConfigError> {
        let mut global = Global::new(vec!["eth0".into()]);
        global.tunnel = self.tunnel.clone();
        // `autoreload = yes`: re-read the file when it changes.
        global.watch_config = self.autoreload;
        self.warn(
            0,
            "ldirectord has no equivalent of global.interfaces: set to [eth0]; set it to the \
             interfaces where the VIP traffic arrives",
        );

        // Check defaults: ldirectord brings a real back on its first good check (rise 1).
        let interval = self.checkinterval.map_or(10, |(s, _)| s);
        let interval_line = self.checkinterval.map_or(0, |(_, l)| l);
        let timeout = self.globals.checktimeout.or(self.globals.negotiatetimeout);
        let timeout = self.clamp_timeout(timeout, (5, interval_line), interval);
        global.check_defaults = CheckDefaults {
            interval: Duration::from_secs(interval),
            timeout: Duration::from_secs(timeout),
            fall: self.globals.failurecount.map_or(1, |(n, _)| n),
            rise: 1,
        };

        if let Some((dir, line)) = self.maintenancedir.clone() {
            if dir.starts_with('/') {
                global.maintenance_dir = Some(PathBuf::from(dir));
                self.warn(
                    line,
                    "maintenance files are named after the real's address (\"198.18.1.2\" or \
                     \"198.18.1.2:80\"), not its host name",
                );
            } else {
                self.warn(
                    line,
                    format!("maintenancedir {dir:?} is not an absolute path; ignored"),
                );
            }
        }

        let mut services = Vec::new();
        // Lines of each service and of each of its reals, to name them in faults.
        let mut origins = Vec::new();
        let virtuals = std::mem::take(&mut self.virtuals);
        let mut names = HashSet::new();
        let mut endpoints: HashMap<(IpAddr, u16, Protocol), usize> = HashMap::new();
        for v in &virtuals {
            let Some(mut service) = self.service(v, &global.check_defaults) else {
                continue;
            };
            let key = (service.vip, service.port, service.protocol);
            if let Some(first) = endpoints.get(&key) {
                self.lose(
                    v.line,
                    Lost::Service,
                    format!(
                        "{} is already defined on line {first}; this block is skipped",
                        service.endpoint()
                    ),
                );
                continue;
            }
            endpoints.insert(key, v.line);
            if let Some(name) = &service.name
                && !names.insert(name.clone())
            {
                let line = v.servicename.as_ref().map_or(v.line, |(_, l)| *l);
                self.warn(
                    line,
                    format!("servicename {name:?} is used twice; this service is left unnamed"),
                );
                service.name = None;
            }
            let real_lines = self.reals(v, &mut service);
            if service.reals.is_empty() {
                let why = if v.reals.is_empty() {
                    "the block has no real= line"
                } else {
                    "none of its reals is carried over"
                };
                self.lose(
                    v.line,
                    Lost::NoReal,
                    format!("service {} has no real: {why}", service.endpoint()),
                );
            }
            origins.push((v.line, real_lines));
            services.push(service);
        }
        self.report_defaults();

        let mut config = Config { global, services };
        let mut faults = self.tunnel_sources(&mut config, &origins);
        self.warnings.sort_by_key(|w| w.line);
        match config.validate() {
            Ok(()) => {}
            Err(ConfigError::Invalid(found)) => {
                // An ipip real without source is already a fault that names the flag.
                let named: Vec<String> = faults.iter().map(|(path, _)| path.clone()).collect();
                faults.extend(
                    found
                        .into_iter()
                        .filter(|f| !named.contains(&f.path))
                        .map(|f| (f.path.clone(), f)),
                );
            }
            Err(other) => return Err(other),
        }
        if faults.is_empty() {
            Ok(Import {
                config,
                warnings: self.warnings,
            })
        } else {
            Err(ConfigError::Invalid(
                faults
                    .into_iter()
                    .map(|(_, f)| locate(f, &origins))
                    .collect(),
            ))
        }
    }

    /// One warning for the file per default of ldirectord's that blocks take.
    fn report_defaults(&mut self) {
        let lines = |lines: &[usize]| {
            let shown: Vec<String> = lines.iter().map(ToString::to_string).collect();
            let s = if lines.len() == 1 { "" } else { "s" };
            format!("the service{s} of line{s} {}", shown.join(", "))
        };
        let quiescent = std::mem::take(&mut self.defaulted.quiescent);
        if !quiescent.is_empty() {
            self.warn(
                0,
                format!(
                    "quiescent is not set for {}: imported as ldirectord's documented default, \
                     yes (a failed real gets weight 0 and keeps its connections; the ldirectord \
                     4.x program itself removes it: write quiescent=no for that)",
                    lines(&quiescent)
                ),
            );
        }
        let scheduler = std::mem::take(&mut self.defaulted.scheduler);
        if !scheduler.is_empty() {
            let how = SCHEDULERS
                .iter()
                .find(|(n, _)| *n == "wrr")
                .and_then(|(_, how)| *how)
                .expect("wrr is known");
            self.warn(
                0,
                format!(
                    "scheduler is not set for {}: ldirectord's default, wrr, is imported as \
                     weighted maglev: {}",
                    lines(&scheduler),
                    as_maglev("wrr", how)
                ),
            );
        }
    }

    /// Sets the tunnel source of each family that has `ipip` reals and that the caller did not
    /// set, as IPVS does: the address the route to the real leaves by. Returns a fault for each
    /// real left without source (`real 198.18.1.2 (line 12) is ipip: no route to it ...; give
    /// --tunnel-source-v4`), keyed by the validator's path for the same problem
    /// (`services[i].reals[j].method`), which it replaces.
    fn tunnel_sources(
        &mut self,
        config: &mut Config,
        origins: &[(usize, Vec<usize>)],
    ) -> Vec<(String, Fault)> {
        let mut faults = Vec::new();
        for v4 in [true, false] {
            let given = config.global.tunnel.as_ref().and_then(|t| {
                if v4 {
                    t.source_v4.map(IpAddr::V4)
                } else {
                    t.source_v6.map(IpAddr::V6)
                }
            });
            let flag = if v4 {
                "--tunnel-source-v4"
            } else {
                "--tunnel-source-v6"
            };
            let ipip: Vec<(IpAddr, usize, String)> = config
                .services
                .iter()
                .enumerate()
                .flat_map(|(i, s)| {
                    s.reals
                        .iter()
                        .enumerate()
                        .filter(move |(_, r)| r.method == Method::Ipip && r.address.is_ipv4() == v4)
                        .map(move |(j, r)| (r.address, i, j))
                })
                .map(|(address, i, j)| {
                    let line = origins[i].1[j];
                    (address, line, format!("services[{i}].reals[{j}].method"))
                })
                .collect();
            if given.is_some() || ipip.is_empty() {
                continue;
            }
            let Some(resolve) = self.route_source else {
                for (address, line, path) in ipip {
                    faults.push((
                        path,
                        Fault::new(
                            format!("real {address} (line {line}) is ipip"),
                            format!("no tunnel source is given; give {flag}"),
                        ),
                    ));
                }
                continue;
            };
            let mut chosen: Option<(IpAddr, IpAddr)> = None;
            let mut unrouted = Vec::new();
            for (address, line, path) in ipip {
                let source = resolve(address).filter(|s| s.is_ipv4() == v4 && !s.is_unspecified());
                match (source, chosen) {
                    (None, _) => unrouted.push((address, line, path)),
                    (Some(source), None) => {
                        chosen = Some((source, address));
                        self.warn(
                            line,
                            format!(
                                "real {address} is ipip: tunnel source {source} taken from the \
                                 route to it on this machine, as IPVS takes the director's (run \
                                 the import on the director, or give {flag})"
                            ),
                        );
                    }
                    (Some(source), Some((first, by))) if source != first => self.warn(
                        line,
                        format!(
                            "real {address} is ipip: the route to it leaves by {source}, but lvs \
                             has one tunnel source per family: {first} (the route to {by}) is \
                             used; give {flag} to choose"
                        ),
                    ),
                    (Some(_), Some(_)) => {}
                }
            }
            for (address, line, path) in unrouted {
                match chosen {
                    Some((first, _)) => self.warn(
                        line,
                        format!(
                            "real {address} is ipip and this machine has no route to it: it \
                             gets the tunnel source {first} of the other ipip reals"
                        ),
                    ),
                    None => faults.push((
                        path,
                        Fault::new(
                            format!("real {address} (line {line}) is ipip"),
                            format!("no route to it to take a tunnel source from; give {flag}"),
                        ),
                    )),
                }
            }
            if let Some((source, _)) = chosen {
                let tunnel = config.global.tunnel.get_or_insert_with(Tunnel::default);
                match source {
                    IpAddr::V4(a) => tunnel.source_v4 = Some(a),
                    IpAddr::V6(a) => tunnel.source_v6 = Some(a),
                }
            }
        }
        faults
    }

    /// ldirectord lets a check run longer than the interval; lvs does not: the timeout is cut to
    /// the interval, with a warning on the directive's line (or `default`'s, for ldirectord's
    /// default timeout).
    fn clamp_timeout(
        &mut self,
        timeout: Setting<u64>,
        default: (u64, usize),
        interval: u64,
    ) -> u64 {
        let (timeout, line, what) = match timeout {
            Some((t, line)) => (t, line, "check timeout"),
            None => (default.0, default.1, "ldirectord's default check timeout"),
        };
        if timeout > interval {
            self.warn(
                line,
                format!(
                    "{what} {timeout}s is longer than the check interval {interval}s; lvs \
                     needs timeout <= interval: imported as {interval}s"
                ),
            );
            interval
        } else {
            timeout
        }
    }

    /// The service of a virtual block, without its reals; `None` if it is skipped.
    fn service(&mut self, v: &Virtual, defaults: &CheckDefaults) -> Option<Service> {
        let (vip, port) = v.endpoint?;
        let mut s = Service::new(vip, port);
        s.protocol = match v.protocol {
            Some((p, _)) => p,
            None if port == 53 => Protocol::Udp,
            None => Protocol::Tcp,
        };
        s.name = v.servicename.as_ref().map(|(n, _)| n.trim().to_owned());
        // ldirectord's default (man ldirectord: "Default: yes").
        s.quiescent = match v.settings.quiescent.or(self.globals.quiescent) {
            Some((q, _)) => q,
            None => {
                self.defaulted.quiescent.push(v.line);
                true
            }
        };

        // Scheduling: ipvs' mh and sh hash the client address only unless told to add the port.
        let flags = v.schedflags.as_ref().map_or("", |(f, _)| f.as_str());
        match &v.scheduler {
            Some((name, _)) if name == "mh" || name == "sh" => {
                s.persistent = !flags.contains(&format!("{name}-port"));
            }
            Some((name, line)) => {
                let how = SCHEDULERS
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, how)| *how)
                    .expect("read() lets known schedulers only");
                self.warn(
                    *line,
                    format!(
                        "scheduler {name} is imported as weighted maglev: {}",
                        as_maglev(name, how)
                    ),
                );
            }
            None => self.defaulted.scheduler.push(v.line),
        }
        if let Some((_, line)) = &v.schedflags
            && !matches!(&v.scheduler, Some((n, _)) if n == "mh" || n == "sh")
        {
            self.warn(
                *line,
                format!("schedflags {flags:?} do not apply to maglev; ignored"),
            );
        }
        if let Some((secs, line)) = v.persistent {
            s.persistent = true;
            self.warn(
                line,
                format!(
                    "persistent timeout {secs}s is not applicable: lvs keeps a client on one real \
                     by hashing its address (imported as persistent: true)"
                ),
            );
        }

        s.fallback = self.fallback(v, vip, port);
        s.check = self.check(v, s.protocol, port, defaults);
        Some(s)
    }

    fn fallback(&mut self, v: &Virtual, vip: IpAddr, port: u16) -> Option<IpAddr> {
        let (text, line) = match (&v.fallback, vip) {
            (Some(f), _) => f.clone(),
            (None, IpAddr::V4(_)) => self.fallback.clone()?,
            (None, IpAddr::V6(_)) => self.fallback6.clone()?,
        };
        let mut words = text.split_whitespace();
        let spec = words.next().unwrap_or("");
        let method = words.next().unwrap_or("gate");
        let Some((host, fb_port)) = split_host_port(spec) else {
            self.lose(
                line,
                Lost::Fallback,
                format!("fallback {spec:?} is not an address; ignored"),
            );
            return None;
        };
        let Ok(addr) = host.parse::<IpAddr>() else {
            self.lose(
                line,
                Lost::Fallback,
                format!(
                    "fallback {host:?} is not an address (host names are not resolved); ignored"
                ),
            );
            return None;
        };
        if addr.is_loopback() {
            self.lose(
                line,
                Lost::Fallback,
                format!(
                    "fallback {spec} is this director itself; lvs forwards the fallback by dr to \
                     another host, so it is not imported for {}",
                    endpoint(vip, port)
                ),
            );
            return None;
        }
        if addr.is_ipv4() != vip.is_ipv4() {
            self.lose(
                line,
                Lost::Fallback,
                format!(
                    "fallback {spec} is not of the family of {}; ignored",
                    endpoint(vip, port)
                ),
            );
            return None;
        }
        if method != "gate" {
            self.warn(
                line,
                format!(
                    "{method} forwarding is not supported for the fallback; {spec} imported as dr"
                ),
            );
        }
        if let Some(p) = fb_port.and_then(port_number)
            && p != port
        {
            self.warn(
                line,
                format!("dr cannot change the port: fallback {spec} receives port {port}"),
            );
        }
        Some(addr)
    }

    /// The service's check from checktype, service, request, receive and the timeouts.
    fn check(
        &mut self,
        v: &Virtual,
        protocol: Protocol,
        port: u16,
        defaults: &CheckDefaults,
    ) -> Option<Check> {
        let checktype = v
            .checktype
            .as_ref()
            .map_or("negotiate", |(t, _)| t.as_str());
        let type_line = v.checktype.as_ref().map_or(v.line, |(_, l)| *l);
        let service = match &v.service {
            Some((s, _)) => s.clone(),
            None => service_of_port(port).to_owned(),
        };
        let service_line = v.service.as_ref().map_or(type_line, |(_, l)| *l);
        let negotiate = |p: &mut Parser| -> CheckType {
            match service.as_str() {
                "http" => CheckType::Http,
                "https" => {
                    p.warn(
                        service_line,
                        "ldirectord does not verify certificates: imported with verify_tls: false",
                    );
                    CheckType::Https
                }
                "dns" => CheckType::Dns,
                "none" => {
                    p.warn(
                        service_line,
                        "a negotiate check of service none always succeeds in ldirectord; \
                         imported as type on",
                    );
                    CheckType::On
                }
                other => {
                    let kind = connect_for(protocol);
                    p.warn(
                        service_line,
                        format!(
                            "negotiate checks of service {other} are not supported; imported as \
                             a {kind} check"
                        ),
                    );
                    kind
                }
            }
        };
        let (kind, uses_negotiate_timeout) = match checktype {
            "negotiate" => (negotiate(self), true),
            "connect" if protocol == Protocol::Udp => {
                self.warn(
                    type_line,
                    "ldirectord checks udp services with connect by ping; imported as type ping",
                );
                (CheckType::Ping, false)
            }
            "connect" => (CheckType::Connect, false),
            "ping" => (CheckType::Ping, false),
            "on" => (CheckType::On, false),
            "off" => (CheckType::Off, false),
            "external" => (CheckType::External, false),
            "external-perl" => {
                self.warn(
                    type_line,
                    "external-perl is run as an external command (type external)",
                );
                (CheckType::External, false)
            }
            n if n.parse::<u32>().is_ok() => {
                let kind = negotiate(self);
                self.warn(
                    type_line,
                    format!(
                        "combined checks (checktype={n}: connect, negotiate every {n}th time) are \
                         not supported; imported as the negotiate check ({kind})"
                    ),
                );
                (kind, true)
            }
            other => {
                self.warn(
                    type_line,
                    format!("unknown checktype {other:?}; imported as a connect check"),
                );
                (connect_for(protocol), false)
            }
        };

        let mut check = Check::default();
        if kind != CheckType::Connect {
            check.kind = Some(kind);
        }

        // Timing, as ldirectord resolves it per virtual service.
        let (vs, g) = (&v.settings, &self.globals);
        let (timeout, default) = if uses_negotiate_timeout {
            let t = vs.negotiatetimeout.or(vs.checktimeout);
            (t.or(g.negotiatetimeout).or(g.checktimeout), (30, type_line))
        } else {
            let t = vs.checktimeout.or(vs.negotiatetimeout);
            (t.or(g.checktimeout).or(g.negotiatetimeout), (5, type_line))
        };
        let mut interval = defaults.interval;
        if let Some((secs, line)) = v.checkinterval {
            if self.fork {
                interval = Duration::from_secs(secs);
                if interval != defaults.interval {
                    check.interval = Some(interval);
                }
            } else {
                self.warn(
                    line,
                    "ldirectord ignores a virtual service's checkinterval unless fork = yes; \
                     ignored",
                );
            }
        }
        // on and off run nothing: their timeout does not matter.
        let timeout = if matches!(kind, CheckType::On | CheckType::Off) {
            defaults.timeout.as_secs()
        } else {
            self.clamp_timeout(timeout, default, interval.as_secs())
        };
        if Duration::from_secs(timeout) != defaults.timeout {
            check.timeout = Some(Duration::from_secs(timeout));
        }
        if let Some((n, _)) = vs.failurecount
            && n != defaults.fall
        {
            check.fall = Some(n);
        }

        if let Some((p, line)) = v.checkport {
            if kind.takes("port") {
                if p != port {
                    check.port = Some(p);
                }
            } else {
                self.warn(
                    line,
                    format!("checkport is not used by a {kind} check; ignored"),
                );
            }
        }
        if let Some((cmd, line)) = &v.checkcommand {
            if kind == CheckType::External {
                check.command = Some(cmd.clone());
            } else {
                self.warn(
                    *line,
                    format!("checkcommand is not used by a {kind} check; ignored"),
                );
            }
        } else if kind == CheckType::External {
            self.warn(
                type_line,
                "checktype external without checkcommand runs /bin/true in ldirectord; imported \
                 as such",
            );
            check.command = Some("/bin/true".into());
        }
        let request = v.request.as_ref().map(|(r, l)| (r.as_str(), *l));
        let receive = v.receive.as_ref().map(|(r, l)| (r.as_str(), *l));
        self.request_receive(&mut check, kind, request, receive);
        if let Some((host, line)) = &v.virtualhost {
            if kind.takes("virtualhost") {
                check.virtualhost = Some(host.clone());
            } else {
                self.warn(
                    *line,
                    format!("virtualhost is not used by a {kind} check; ignored"),
                );
            }
        }
        if let Some((method, line)) = v.httpmethod {
            if !kind.takes("http_method") {
                self.warn(
                    line,
                    format!("httpmethod is not used by a {kind} check; ignored"),
                );
            } else if method == HttpMethod::Head {
                check.http_method = Some(method);
                if check.receive.take().is_some() {
                    self.warn(line, "a HEAD request has no body: receive is ignored");
                }
            }
        }
        if kind == CheckType::Https {
            check.verify_tls = Some(false);
        }

        (check != Check::default()).then_some(check)
    }

    /// Sets request/receive (http, https) or query/expect (dns) from ldirectord's strings.
    fn request_receive(
        &mut self,
        check: &mut Check,
        kind: CheckType,
        request: Option<(&str, usize)>,
        receive: Option<(&str, usize)>,
    ) {
        match kind {
            CheckType::Http | CheckType::Https => {
                if let Some((req, line)) = request {
                    if req.starts_with("http://") || req.starts_with("https://") {
                        self.warn(
                            line,
                            format!(
                                "request {req:?} is a URL; lvs requests a path of the real: \
                                 ignored"
                            ),
                        );
                    } else {
                        let path = if req.starts_with('/') {
                            req.to_owned()
                        } else {
                            format!("/{req}")
                        };
                        if path != DEFAULT_HTTP_REQUEST {
                            check.request = Some(path.replace(' ', "%20"));
                        }
                    }
                }
                if let Some((re, line)) = receive
                    && !re.is_empty()
                {
                    match regex::Regex::new(re) {
                        Ok(_) => check.receive = Some(re.to_owned()),
                        Err(e) => self.warn(
                            line,
                            format!(
                                "receive {re:?} is not a regex lvs understands ({}); ignored",
                                e.to_string().lines().last().unwrap_or_default()
                            ),
                        ),
                    }
                }
            }
            CheckType::Dns => {
                match request {
                    Some((req, _)) => {
                        let name = req.trim_start_matches('/');
                        match name.parse::<IpAddr>() {
                            Ok(addr) => {
                                check.query = Some(reverse_name(addr));
                                check.query_type = Some(QueryType::Ptr);
                            }
                            Err(_) => check.query = Some(name.to_owned()),
                        }
                    }
                    None => {
                        // ldirectord would look up "" and fail; the root is a safe stand-in.
                        check.query = Some(".".into());
                        check.query_type = Some(QueryType::Ns);
                    }
                }
                if let Some((re, line)) = receive
                    && !re.is_empty()
                {
                    let text = re.replace("\\.", ".");
                    if text.contains(['\\', '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '|'])
                    {
                        self.warn(
                            line,
                            format!(
                                "receive {re:?} is a regex in ldirectord; lvs looks for it as \
                                 plain text in the answers"
                            ),
                        );
                        check.expect = Some(re.to_owned());
                    } else {
                        check.expect = Some(text);
                    }
                }
                if request.is_none()
                    && let Some((_, line)) = receive
                {
                    self.warn(
                        line,
                        "a dns check without request: lvs asks for the root NS",
                    );
                }
            }
            _ => {
                for (what, setting) in [("request", request), ("receive", receive)] {
                    if let Some((_, line)) = setting {
                        self.warn(
                            line,
                            format!("{what} is not used by a {kind} check; ignored"),
                        );
                    }
                }
            }
        }
    }

    /// Adds the reals of `v` to `service`; returns the line of each real added.
    fn reals(&mut self, v: &Virtual, service: &mut Service) -> Vec<usize> {
        let mut lines = Vec::new();
        // The line and the port in ipvs of each address: gate and ipip reals get the service's.
        let mut seen: HashMap<IpAddr, (usize, u16)> = HashMap::new();
        let kind = service
            .check
            .as_ref()
            .map_or(CheckType::Connect, Check::effective_kind);
        for (text, line) in &v.reals {
            let line = *line;
            let Some(real) = self.parse_real(text, line) else {
                continue;
            };
            for address in real.addresses {
                let shown = match (address, real.port) {
                    (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
                    (a, Some(p)) => format!("{a}:{p}"),
                    (a, None) => a.to_string(),
                };
                if address.is_ipv4() != service.vip.is_ipv4() {
                    self.lose(
                        line,
                        Lost::Real,
                        format!(
                            "real {shown} is not of the family of {}; skipped",
                            service.endpoint()
                        ),
                    );
                    continue;
                }
                let ipvs_port = match (real.method.as_str(), real.port) {
                    ("masq", Some(p)) if p != 0 => p,
                    _ => service.port,
                };
                if let Some(&(first, port)) = seen.get(&address) {
                    if port == ipvs_port {
                        self.warn(
                            line,
                            format!(
                                "real {shown} repeats the real of line {first} (ipvs would hold \
                                 it once too); skipped"
                            ),
                        );
                    } else {
                        self.lose(
                            line,
                            Lost::Real,
                            format!(
                                "real {shown} repeats the address of the real of line {first}: \
                                 lvs balances on addresses, not ports; skipped"
                            ),
                        );
                    }
                    continue;
                }
                let method = match real.method.as_str() {
                    "gate" => Method::Dr,
                    "ipip" => Method::Ipip,
                    _ => {
                        self.warn(
                            line,
                            format!(
                                "masq forwarding is not supported; real {shown} imported as dr"
                            ),
                        );
                        Method::Dr
                    }
                };
                if let Some(p) = real.port
                    && p != service.port
                    && p != 0
                {
                    self.warn(
                        line,
                        format!(
                            "dr and ipip cannot change the port: real {shown} receives port {}",
                            service.port
                        ),
                    );
                }
                seen.insert(address, (line, ipvs_port));
                let mut r = Real::new(address);
                r.method = method;
                r.weight = real.weight;
                if real.request.is_some() || real.receive.is_some() {
                    let mut check = Check::default();
                    let request = real.request.as_deref().map(|r| (r, line));
                    let receive = real.receive.as_deref().map(|r| (r, line));
                    self.request_receive(&mut check, kind, request, receive);
                    if check != Check::default() {
                        r.check = Some(check);
                    }
                }
                service.reals.push(r);
                lines.push(line);
            }
        }
        lines
    }

    /// One `real=` line: `ip[->ip][:port] gate|masq|ipip [weight] ["request", "receive"]
    /// ["<l:N>"] ["<u:N>"]`. `None` (with a warning) if it cannot be imported. A threshold is
    /// `l:N` or `u:N`, bare (ldirectord's program reads that) or in `<>` and quotes (its manual
    /// writes that): never a request or receive string.
    fn parse_real(&mut self, text: &str, line: usize) -> Option<RealLine> {
        let tokens = tokenize(text);
        let Some((spec, _)) = tokens.first() else {
            self.lose(line, Lost::Real, "real without address; skipped");
            return None;
        };
        let Some((method, _)) = tokens.get(1) else {
            self.lose(
                line,
                Lost::Real,
                format!("real {spec} has no forwarding method (gate, masq or ipip); skipped"),
            );
            return None;
        };
        if !matches!(method.as_str(), "gate" | "masq" | "ipip") {
            self.lose(
                line,
                Lost::Real,
                format!(
                    "real {spec}: forwarding method {method:?} is not gate, masq or ipip; skipped"
                ),
            );
            return None;
        }
        // A range's first address has no port: split at the last "->".
        let (range, port) = match spec.rsplit_once("->") {
            Some((first, last)) => {
                let (last, port) = split_host_port(last).unwrap_or((last, None));
                (format!("{first}->{last}"), port)
            }
            None => {
                let (host, port) = split_host_port(spec).unwrap_or((spec.as_str(), None));
                (host.to_owned(), port)
            }
        };
        let port = match port {
            Some(p) => match port_number(p) {
                Some(n) => Some(n),
                None => {
                    self.lose(
                        line,
                        Lost::Real,
                        format!("real {spec}: unknown port {p:?}; skipped"),
                    );
                    return None;
                }
            },
            None => None,
        };
        let addresses = match range.split_once("->") {
            Some((first, last)) => self.range(line, spec, first, last)?,
            None => match strip_brackets(&range).parse::<IpAddr>() {
                Ok(a) => vec![a],
                Err(_) => {
                    self.lose(
                        line,
                        Lost::Real,
                        format!(
                            "real {spec} is not an address (host names are not resolved); skipped"
                        ),
                    );
                    return None;
                }
            },
        };

        let mut real = RealLine {
            addresses,
            port,
            method: method.clone(),
            weight: 1,
            request: None,
            receive: None,
        };
        let mut rest = tokens[2..].iter().peekable();
        if let Some((w, false)) = rest.peek()
            && let Ok(weight) = w.parse::<u64>()
        {
            rest.next();
            real.weight = u32::try_from(weight.min(65535)).expect("clamped");
            if weight > 65535 {
                self.warn(
                    line,
                    format!("real {spec}: weight {weight} is over 65535; imported as 65535"),
                );
            }
        }
        while let Some((token, quoted)) = rest.next() {
            if let Some((kind, value)) = threshold(token) {
                let (what, option) = match kind {
                    'l' => ("lower", "-y"),
                    _ => ("upper", "-x"),
                };
                match value.parse::<u32>() {
                    Ok(0) => self.warn(
                        line,
                        format!(
                            "real {spec}: {what} connection threshold 0 ({token}) is ipvs' \
                             default, none; nothing to carry over"
                        ),
                    ),
                    Ok(n) => self.lose(
                        line,
                        Lost::Threshold,
                        format!(
                            "real {spec}: {what} connection threshold {n} ({token}, ipvsadm \
                             {option}) is not carried over: lvs has no connection thresholds"
                        ),
                    ),
                    Err(_) => self.warn(
                        line,
                        format!(
                            "real {spec}: {token:?} is not a connection threshold (l:N or u:N); \
                             ignored"
                        ),
                    ),
                }
            } else if *quoted && real.request.is_none() {
                real.request = Some(token.clone());
                match rest.peek() {
                    Some((receive, true)) if threshold(receive).is_none() => {
                        real.receive = Some(receive.clone());
                        rest.next();
                    }
                    _ => self.warn(
                        line,
                        format!("real {spec}: a request without receive string"),
                    ),
                }
            } else {
                self.warn(
                    line,
                    format!("real {spec}: {token:?} is not understood; ignored"),
                );
            }
        }
        Some(real)
    }

    /// The addresses of an IPv4 range `first->last`.
    fn range(&mut self, line: usize, spec: &str, first: &str, last: &str) -> Option<Vec<IpAddr>> {
        const MAX_RANGE: u32 = 4096;
        let (Ok(a), Ok(b)) = (first.parse::<Ipv4Addr>(), last.parse::<Ipv4Addr>()) else {
            self.lose(
                line,
                Lost::Real,
                format!(
                    "real {spec}: ranges are only of IPv4 addresses (host names are not \
                     resolved); skipped"
                ),
            );
            return None;
        };
        let (a, b) = (u32::from(a), u32::from(b));
        if a > b {
            self.lose(
                line,
                Lost::Real,
                format!("real {spec}: the range is backwards; skipped"),
            );
            return None;
        }
        if b - a >= MAX_RANGE {
            self.lose(
                line,
                Lost::Real,
                format!("real {spec}: more than {MAX_RANGE} addresses; skipped"),
            );
            return None;
        }
        Some((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect())
    }
}

struct RealLine {
    addresses: Vec<IpAddr>,
    port: Option<u16>,
    method: String,
    weight: u32,
    request: Option<String>,
    receive: Option<String>,
}

/// Rewrites a fault's path to start with the ldirectord line it comes from.
fn locate(fault: Fault, origins: &[(usize, Vec<usize>)]) -> Fault {
    let line = parse_index(&fault.path, "services[").and_then(|(svc, rest)| {
        let (virtual_line, reals) = origins.get(svc)?;
        match parse_index(rest, ".reals[") {
            Some((real, _)) => reals.get(real).copied(),
            None => Some(*virtual_line),
        }
    });
    match line {
        Some(line) => Fault {
            path: format!("line {line} ({})", fault.path),
            message: fault.message,
        },
        None => fault,
    }
}

fn parse_index<'a>(text: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = text.strip_prefix(prefix)?;
    let (n, rest) = rest.split_once(']')?;
    Some((n.parse().ok()?, rest))
}

// ---- lexical helpers ---------------------------------------------------------------------------

/// The line without a `#` comment (a `#` inside double quotes is kept).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `key = value` (the key lowercased), or `None` if there is no `=`.
fn split_directive(line: &str) -> Option<(String, &str)> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim()))
}

fn unquote(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// `('l', "10")` for a connection threshold `l:10`, `<l:10>` (also quoted); likewise `u`.
fn threshold(token: &str) -> Option<(char, &str)> {
    let bare = token
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(token);
    match bare.split_once(':')? {
        ("l", value) => Some(('l', value)),
        ("u", value) => Some(('u', value)),
        _ => None,
    }
}

/// Whitespace- (and comma-) separated words; double-quoted strings are one word, marked `true`.
fn tokenize(text: &str) -> Vec<(String, bool)> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let word: String = chars.by_ref().take_while(|&c| c != '"').collect();
            tokens.push((word, true));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == ',' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push((word, false));
        }
    }
    tokens
}

/// `host:port`, `[v6]:port`, `host` or `[v6]`; the port is `None` when absent. An IPv6 address
/// without brackets is taken whole.
fn split_host_port(spec: &str) -> Option<(&str, Option<&str>)> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    if let Some(rest) = spec.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    if spec.matches(':').count() > 1 {
        return Some((spec, None));
    }
    match spec.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((spec, None)),
    }
}

/// Well-known service names ldirectord resolves through /etc/services.
const SERVICE_PORTS: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("nntp", 119),
    ("imap", 143),
    ("imap2", 143),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("ms-sql-s", 1433),
    ("radius", 1812),
    ("mysql", 3306),
    ("http-alt", 8080),
    ("sip", 5060),
    ("postgresql", 5432),
];

fn port_number(port: &str) -> Option<u16> {
    port.parse().ok().or_else(|| {
        SERVICE_PORTS
            .iter()
            .find(|(name, _)| *name == port)
            .map(|(_, n)| *n)
    })
}

/// ldirectord's `ld_port_to_service`: the negotiate check of a port when `service` is unset.
fn service_of_port(port: u16) -> &'static str {
    match port {
        21 => "ftp",
        25 => "smtp",
        53 => "dns",
        80 => "http",
        110 => "pop",
        119 => "nntp",
        143 => "imap",
        389 => "ldap",
        443 => "https",
        587 => "submission",
        636 => "ldaps",
        993 => "imaps",
        995 => "pops",
        1521 => "oracle",
        1812 => "radius",
        3128 => "http_proxy",
        3306 => "mysql",
        5060 => "sip",
        5432 => "pgsql",
        _ => "none",
    }
}

fn connect_for(protocol: Protocol) -> CheckType {
    match protocol {
        Protocol::Tcp => CheckType::Connect,
        Protocol::Udp => CheckType::Ping,
    }
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn endpoint(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn seconds(line: usize, key: &str, value: &str) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|&s| s > 0 || key == "persistent")
        .ok_or_else(|| syntax(line, format!("{key} {value:?} is not a number of seconds")))
}

fn count(line: usize, key: &str, value: &str) -> Result<u32, ConfigError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| syntax(line, format!("{key} {value:?} is not a positive number")))
}

fn yes_no(line: usize, key: &str, value: &str) -> Result<bool, ConfigError> {
    match unquote(value) {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(syntax(
            line,
            format!("{key} must be yes or no, not {other:?}"),
        )),
    }
}

/// The name a PTR query asks for: `2.1.18.198.in-addr.arpa`, or nibbles in `ip6.arpa`.
fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(a) => {
            let mut name = String::new();
            for byte in a.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name + "ip6.arpa"
        }
    }
}

#[cfg(test)]
mod tests;
