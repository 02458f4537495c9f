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

mod check;
mod convert;
mod directives;
mod lex;
mod reals;

use directives::*;
use lex::*;

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

struct RealLine {
    addresses: Vec<IpAddr>,
    port: Option<u16>,
    method: String,
    weight: u32,
    request: Option<String>,
    receive: Option<String>,
}

#[cfg(test)]
mod tests;
