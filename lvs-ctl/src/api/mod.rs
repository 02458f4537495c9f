//! The protocol between `lvs-ctl` and the daemon: one JSON line of [`Request`] over the unix
//! socket, one JSON line of [`Response`] back, then the connection closes.
//!
//! The socket is root-only (mode 0600): whoever can write to it controls the director.

use crate::config::{self, Method, Protocol};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

mod client;
pub mod server;

pub use client::{ClientError, call, describe};

/// Longest request or response line accepted (a `save` of a large configuration fits).
pub const MAX_LINE: usize = 16 << 20;

/// A virtual service named by what identifies it: VIP, port, protocol
/// (`198.18.100.1:80/tcp`, `[2001:db8::1]:53/udp`; the protocol defaults to tcp).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceRef {
    /// Virtual address.
    pub vip: IpAddr,
    /// Virtual port (0: every port).
    pub port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
}

impl ServiceRef {
    /// Whether `svc` is this service.
    pub fn matches(&self, svc: &config::Service) -> bool {
        svc.vip == self.vip && svc.port == self.port && svc.protocol == self.protocol
    }

    /// The reference of a configured service.
    pub fn of(svc: &config::Service) -> Self {
        ServiceRef {
            vip: svc.vip,
            port: svc.port,
            protocol: svc.protocol,
        }
    }
}

impl Ord for ServiceRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // tcp before udp, as their protocol numbers.
        (self.vip, self.port, self.protocol as u8).cmp(&(
            other.vip,
            other.port,
            other.protocol as u8,
        ))
    }
}

impl PartialOrd for ServiceRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            SocketAddr::new(self.vip, self.port),
            self.protocol
        )
    }
}

/// A string that is not a `VIP:PORT[/PROTO]` (the message says which part and why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl FromStr for ServiceRef {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (addr, proto) = match s.rsplit_once('/') {
            Some((a, p)) => (a, parse_protocol(p)?),
            None => (s, Protocol::Tcp),
        };
        let sa: SocketAddr = addr.parse().map_err(|_| {
            ParseError(format!(
                "service {s:?}: expected VIP:PORT[/tcp|/udp], e.g. 198.18.100.1:80/tcp or [2001:db8::1]:53/udp"
            ))
        })?;
        Ok(ServiceRef {
            vip: sa.ip(),
            port: sa.port(),
            protocol: proto,
        })
    }
}

/// `tcp` or `udp`.
pub fn parse_protocol(s: &str) -> Result<Protocol, ParseError> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        _ => Err(ParseError(format!("protocol {s:?}: expected tcp or udp"))),
    }
}

/// What the CLI asks of the daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The running state with statistics and rates.
    List,
    /// Adds a virtual service.
    ServiceAdd {
        /// The service as it would be written in the file.
        service: config::Service,
    },
    /// Changes settings of a service; `None` keeps a setting.
    ServiceEdit {
        /// Which service.
        target: ServiceRef,
        /// Hash on the client address only.
        persistent: Option<bool>,
        /// Failed reals keep their flows (weight 0) instead of leaving the table.
        quiescent: Option<bool>,
        /// New name.
        name: Option<String>,
    },
    /// Removes a service (its flows are dropped; the reals' other services are untouched).
    ServiceDel {
        /// Which service.
        target: ServiceRef,
    },
    /// Adds a real server to a service.
    RealAdd {
        /// Which service.
        target: ServiceRef,
        /// The real as it would be written in the file.
        real: config::Real,
    },
    /// Changes a real server; `None` keeps a setting.
    RealEdit {
        /// Which service.
        target: ServiceRef,
        /// Which real.
        address: IpAddr,
        /// New configured weight.
        weight: Option<u32>,
        /// New forwarding method.
        method: Option<Method>,
        /// `Some(true)`: weight 0 whatever is configured (keeps flows, takes no new ones);
        /// `Some(false)`: back to the configured weight.
        drain: Option<bool>,
    },
    /// Removes a real server from a service (its flows are rescheduled).
    RealDel {
        /// Which service.
        target: ServiceRef,
        /// Which real.
        address: IpAddr,
    },
    /// The running configuration as YAML (file + run-time edits).
    Save,
    /// Reads the configuration file again and applies the difference.
    Reload,
    /// Which real a flow goes to, and why.
    Explain {
        /// Client address and port.
        src: SocketAddr,
        /// VIP and port.
        dst: SocketAddr,
        /// Transport protocol.
        protocol: Protocol,
    },
    /// The connection table (`list --connections`), at most `max` entries (0: all).
    Connections {
        /// Only flows of this service.
        service: Option<ServiceRef>,
        /// Only flows pinned to this real.
        real: Option<IpAddr>,
        /// At most this many entries (0: no bound).
        max: u32,
    },
}

impl Request {
    /// Whether the request only reads (what members of `global.socket_group` may send).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::List | Request::Save | Request::Explain { .. } | Request::Connections { .. }
        )
    }
}

/// The daemon's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// A change was applied (or was already in place).
    Done {
        /// What changed, for the operator.
        message: String,
    },
    /// The running state.
    List(Listing),
    /// `save`.
    Yaml {
        /// The configuration.
        text: String,
    },
    /// `explain`.
    Explain(Explanation),
    /// `list --connections`.
    Connections(ConnListing),
    /// The request was refused; nothing changed.
    Error {
        /// Why, naming the field and value.
        message: String,
    },
}

/// One entry of the connection table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnView {
    /// Transport protocol.
    pub protocol: Protocol,
    /// The client.
    pub client: SocketAddr,
    /// The VIP and port the client sent to.
    pub virtual_addr: SocketAddr,
    /// The real the flow is pinned to; none when that real left (the next packet of the flow
    /// is scheduled again).
    pub real: Option<IpAddr>,
}

/// What `list --connections` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnListing {
    /// The entries, in the table's order.
    pub entries: Vec<ConnView>,
    /// More entries matched than were listed (the bound was reached).
    pub more: bool,
}

/// Traffic counters of a service or a real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsView {
    /// Connections (flows) scheduled.
    pub conns: u64,
    /// Packets forwarded.
    pub packets: u64,
    /// Bytes forwarded.
    pub bytes: u64,
}

/// Rates over the daemon's last sampling interval (about 2 s), per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateView {
    /// New connections per second.
    pub cps: u64,
    /// Packets per second.
    pub pps: u64,
    /// Bytes per second.
    pub bps: u64,
}

/// One virtual service as running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    /// Configured name, if any.
    pub name: Option<String>,
    /// VIP, port and protocol.
    pub service: ServiceRef,
    /// Hash on the client address only.
    pub persistent: bool,
    /// Failed reals get weight 0 (true) or leave the table (false).
    pub quiescent: bool,
    /// Maglev table size.
    pub ring_size: u32,
    /// Counters.
    pub stats: StatsView,
    /// Rates.
    pub rate: RateView,
    /// Reals, in configuration order; a fallback real in use comes last.
    pub reals: Vec<RealView>,
}

/// Health as the daemon applies it: the health engine's own state.
pub use crate::health::State as Health;

/// One real server of a service as running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealView {
    /// The real's address.
    pub address: IpAddr,
    /// Forwarding method.
    pub method: Method,
    /// Weight in the configuration.
    pub configured_weight: u32,
    /// Weight in the Maglev table now (0 when drained, in maintenance, or down and quiescent).
    pub weight: u32,
    /// In the data plane at all (false: down and not quiescent; its flows were rescheduled).
    pub active: bool,
    /// Health check verdict.
    pub health: Health,
    /// Drained through `lvs-ctl real edit --drain`.
    pub drained: bool,
    /// In maintenance (`global.maintenance_dir`).
    pub maintenance: bool,
    /// The fallback real, in use because every real is down.
    pub fallback: bool,
    /// The next hop's MAC is known (false: its packets are dropped, `drop_no_neighbour`).
    pub resolved: bool,
    /// Counters.
    pub stats: StatsView,
    /// Rates.
    pub rate: RateView,
    /// Where its health check stands (none for a fallback real, which is not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckView>,
}

/// Where a real's health check stands. Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    /// The check and what it probes: `http 198.18.1.2:80`, `ping 198.18.1.2`.
    pub check: String,
    /// The check's own state (the real's `health` is the state the daemon applied).
    pub state: Health,
    /// When the check entered `state` (when it started, while unknown).
    pub since_ms: u64,
    /// Cause of the last change of state, `http 198.18.1.2:80: status 503, expected 200`
    /// (empty before the first).
    #[serde(default)]
    pub cause: String,
    /// Cause of the last probe when it failed; none when it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last probe ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_ms: Option<u64>,
    /// How long the last probe took, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_us: Option<u64>,
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The whole running state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Every service, in configuration order.
    pub services: Vec<ServiceView>,
    /// When the daemon made this listing (ms since the Unix epoch), for the ages `list` shows.
    #[serde(default)]
    pub at_ms: u64,
    /// What the daemon found changed in the kernel by someone else, and put back (newest
    /// last; the last few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<RepairView>,
}

/// One repair of the data plane: when, and what had changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairView {
    pub at_ms: u64,
    pub what: String,
}

/// Longest path of a unix socket (`sun_path` less its terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// How a flow was (or would be) scheduled: the data plane's own words.
pub use crate::dataplane::Via;

/// The answer of `explain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// The flow, `SRC:PORT -> VIP:PORT/proto`.
    pub flow: String,
    /// The service that matched, if any.
    pub service: Option<ServiceRef>,
    /// Where the packet goes.
    pub real: Option<IpAddr>,
    /// Why.
    pub via: Via,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_refs_parse_with_and_without_protocol() {
        let r: ServiceRef = "198.18.100.1:80".parse().unwrap();
        assert_eq!(r.to_string(), "198.18.100.1:80/tcp");
        let r: ServiceRef = "[2001:db8::1]:53/udp".parse().unwrap();
        assert_eq!(
            r,
            ServiceRef {
                vip: "2001:db8::1".parse().unwrap(),
                port: 53,
                protocol: Protocol::Udp
            }
        );
        assert_eq!(r.to_string(), "[2001:db8::1]:53/udp");
        let e = "198.18.100.1/tcp".parse::<ServiceRef>().unwrap_err();
        assert!(e.0.contains("expected VIP:PORT"), "{e}");
        let e = "198.18.100.1:80/sctp".parse::<ServiceRef>().unwrap_err();
        assert_eq!(e.0, "protocol \"sctp\": expected tcp or udp");
    }

    #[test]
    fn requests_round_trip_as_json_lines() {
        let mut svc = config::Service::new("198.18.100.1".parse().unwrap(), 80);
        svc.reals
            .push(config::Real::new("198.18.1.2".parse().unwrap()));
        let reqs = [
            Request::List,
            Request::ServiceAdd { service: svc },
            Request::RealEdit {
                target: "198.18.100.1:80".parse().unwrap(),
                address: "198.18.1.2".parse().unwrap(),
                weight: Some(3),
                method: None,
                drain: Some(true),
            },
            Request::Explain {
                src: "198.18.0.1:4000".parse().unwrap(),
                dst: "198.18.100.1:80".parse().unwrap(),
                protocol: Protocol::Udp,
            },
        ];
        for r in reqs {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), r, "{line}");
        }
    }
}
