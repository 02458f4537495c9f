//! The configuration as plain serde types: what `lvs.yaml` says, and what `lvs-ctl save` writes.
//!
//! A file is read by [`read`](super::read), which reports every fault with its line; the serde
//! derives here read the same model from JSON (the daemon's socket) and write it back as YAML.
//! Every struct refuses unknown keys. Optional settings are `Option`s or carry their default, and
//! fields equal to their default are left out when the configuration is written back, so a saved
//! file stays as short as a hand-written one. Semantic rules (ranges, families, duplicates) live in
//! [`validate`](super::validate); [`Config::resolved_check`] applies the defaults for a real.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::duration;

/// The data plane's defaults, which the configuration takes when a setting is left out:
/// `global.ring_size`, `global.conn_table_size` and `global.tunnel.gue_port`.
pub use lvs_common::{DEFAULT_CONNS, DEFAULT_GUE_PORT, DEFAULT_RING_SIZE};

/// Where the XDP programs and maps are pinned by default.
pub const DEFAULT_PIN_PATH: &str = "/sys/fs/bpf/lvs";
/// The CLI socket's default path.
pub const DEFAULT_SOCKET: &str = "/run/lvs/lvs.sock";
/// Time between two checks of a real, unless configured.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// Time a check may take before it counts as failed, unless configured.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Consecutive failures that take a real down, unless configured.
pub const DEFAULT_FALL: u32 = 3;
/// Consecutive successes that bring a real back up, unless configured.
pub const DEFAULT_RISE: u32 = 2;
/// The HTTP path requested when an http(s) check sets no `request`.
pub const DEFAULT_HTTP_REQUEST: &str = "/";
/// The HTTP status codes that pass an http(s) check when it sets no `expect_status`.
pub const DEFAULT_EXPECT_STATUS: &[u16] = &[200];

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings of the director itself.
    pub global: Global,
    /// The virtual services, in file order (indexes in fault paths refer to this order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
}

/// The `global:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Interfaces the XDP director attaches to; at least one.
    pub interfaces: Vec<String>,
    /// How the XDP program is attached.
    #[serde(default, skip_serializing_if = "is_default")]
    pub xdp_mode: XdpMode,
    /// Size of each service's Maglev lookup table: a prime in `7..=1048573`.
    #[serde(
        default = "default_ring_size",
        skip_serializing_if = "is_default_ring_size"
    )]
    pub ring_size: u32,
    /// Entries of the connection table, `1024..=16777216`.
    #[serde(
        default = "default_conn_table_size",
        skip_serializing_if = "is_default_conn_table_size"
    )]
    pub conn_table_size: u32,
    /// bpffs directory where programs and maps are pinned (absolute).
    #[serde(
        default = "default_pin_path",
        skip_serializing_if = "is_default_pin_path"
    )]
    pub pin_path: PathBuf,
    /// Unix socket of the CLI (absolute, at most 107 bytes).
    #[serde(default = "default_socket", skip_serializing_if = "is_default_socket")]
    pub socket: PathBuf,
    /// Re-read the configuration file when it changes (default false, as keepalived). SIGHUP
    /// and `lvs-ctl reload` re-read it either way.
    #[serde(default, skip_serializing_if = "is_false")]
    pub watch_config: bool,
    /// Directory watched for maintenance files: a file named after a real (`198.18.1.2`) or a
    /// real and port (`198.18.1.2:80`, `[2001:db8::2]:80`) forces that real down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_dir: Option<PathBuf>,
    /// Command run on every change of a real's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_change: Option<String>,
    /// Tunnel sources for `ipip` and `gue` reals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// Defaults of every health check.
    #[serde(default, skip_serializing_if = "is_default")]
    pub check_defaults: CheckDefaults,
}

impl Global {
    /// A `global:` section with every default and the given interfaces.
    pub fn new(interfaces: Vec<String>) -> Self {
        Global {
            interfaces,
            xdp_mode: XdpMode::default(),
            ring_size: DEFAULT_RING_SIZE,
            conn_table_size: DEFAULT_CONNS,
            pin_path: default_pin_path(),
            socket: default_socket(),
            watch_config: false,
            maintenance_dir: None,
            on_change: None,
            tunnel: None,
            check_defaults: CheckDefaults::default(),
        }
    }
}

/// How the XDP program is attached to the interfaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) mode where the driver supports it, generic (skb) mode otherwise.
    #[default]
    Auto,
    /// Driver mode only; attaching fails if the driver lacks XDP support.
    Native,
    /// Generic mode (slower, works on every interface).
    Skb,
}

/// The `global.tunnel:` section: outer source addresses of encapsulated packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    /// Outer IPv4 source of packets sent to IPv4 `ipip`/`gue` reals.
    #[serde(default, with = "opt_ipv4", skip_serializing_if = "Option::is_none")]
    pub source_v4: Option<Ipv4Addr>,
    /// Outer IPv6 source of packets sent to IPv6 `ipip`/`gue` reals.
    #[serde(default, with = "opt_ipv6", skip_serializing_if = "Option::is_none")]
    pub source_v6: Option<Ipv6Addr>,
    /// Destination UDP port of GUE packets.
    #[serde(
        default = "default_gue_port",
        skip_serializing_if = "is_default_gue_port"
    )]
    pub gue_port: u16,
    /// Low bits of the IPv4 source varied by the flow hash (0..=16; 0 = one source), so
    /// the real servers' NICs spread tunnelled flows over their queues. The source's own
    /// low bits must be zero.
    #[serde(default, skip_serializing_if = "is_default")]
    pub vary_bits_v4: u8,
    /// Low bits of the IPv6 source varied by the flow hash (0..=32).
    #[serde(default, skip_serializing_if = "is_default")]
    pub vary_bits_v6: u8,
    /// TTL / hop limit of the outer header (1..=255; default 64).
    #[serde(
        default = "default_tunnel_ttl",
        skip_serializing_if = "is_default_tunnel_ttl"
    )]
    pub ttl: u8,
}

impl Default for Tunnel {
    /// No sources, GUE to 6080, no varied bits, TTL 64: what an empty `tunnel:` section reads as.
    fn default() -> Self {
        Tunnel {
            source_v4: None,
            source_v6: None,
            gue_port: default_gue_port(),
            vary_bits_v4: 0,
            vary_bits_v6: 0,
            ttl: default_tunnel_ttl(),
        }
    }
}

fn default_tunnel_ttl() -> u8 {
    lvs_common::DEFAULT_TUNNEL_TTL
}

fn is_default_tunnel_ttl(v: &u8) -> bool {
    *v == lvs_common::DEFAULT_TUNNEL_TTL
}

impl Tunnel {
    /// The data plane's form of these settings.
    pub fn to_data_plane(&self) -> lvs_common::TunnelConfig {
        let mask = |bits: u8| {
            if bits == 0 {
                0u32
            } else {
                u32::MAX >> (32 - bits as u32)
            }
        };
        let mut cfg = lvs_common::TunnelConfig {
            ttl: self.ttl,
            ..Default::default()
        };
        if let Some(a) = self.source_v4 {
            cfg.source4 = a.octets();
            cfg.vary4 = mask(self.vary_bits_v4.min(16)).to_be_bytes();
        }
        if let Some(a) = self.source_v6 {
            cfg.source6 = a.octets();
            cfg.vary6 = mask(self.vary_bits_v6.min(32)).to_be_bytes();
        }
        cfg
    }
}

/// The `global.check_defaults:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDefaults {
    /// Time between two checks of a real (`10ms..=1h`).
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
    /// Time a check may take (at most `interval`).
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Consecutive failures that take a real down (ldirectord's `failurecount`), `1..=100`.
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// Consecutive successes that bring a real back, `1..=100`.
    #[serde(default = "default_rise")]
    pub rise: u32,
}

impl Default for CheckDefaults {
    fn default() -> Self {
        CheckDefaults {
            interval: DEFAULT_CHECK_INTERVAL,
            timeout: DEFAULT_CHECK_TIMEOUT,
            fall: DEFAULT_FALL,
            rise: DEFAULT_RISE,
        }
    }
}

/// One virtual service: a VIP, port and protocol balanced over reals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// A unique name; [`Service::display_name`] gives `<vip>:<port>/<proto>` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The virtual address (IPv4 or IPv6).
    #[serde(with = "ip_addr")]
    pub vip: IpAddr,
    /// The virtual port; 0 balances every port of the VIP.
    pub port: u16,
    /// Transport protocol.
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: Protocol,
    /// Hash on the client address only, so a client sticks to one real across connections.
    #[serde(default, skip_serializing_if = "is_false")]
    pub persistent: bool,
    /// The scheduler; only Maglev exists.
    #[serde(default, skip_serializing_if = "is_default")]
    pub scheduler: Scheduler,
    /// A failed real keeps its established flows (weight 0) rather than leaving the table.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub quiescent: bool,
    /// Real used when every real is down (forwarded by `dr`).
    #[serde(default, with = "opt_ip_addr", skip_serializing_if = "Option::is_none")]
    pub fallback: Option<IpAddr>,
    /// The service's check (type `connect` when unset or when it sets no type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    /// The real servers.
    #[serde(default)]
    pub reals: Vec<Real>,
}

impl Service {
    /// A service with every default: tcp, maglev, quiescent, no check, no reals.
    pub fn new(vip: IpAddr, port: u16) -> Self {
        Service {
            name: None,
            vip,
            port,
            protocol: Protocol::default(),
            persistent: false,
            scheduler: Scheduler::default(),
            quiescent: true,
            fallback: None,
            check: None,
            reals: Vec::new(),
        }
    }

    /// The name operators see: `name`, or `<vip>:<port>/<proto>` (`[2001:db8::1]:80/tcp`).
    pub fn display_name(&self) -> Cow<'_, str> {
        match &self.name {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(self.endpoint()),
        }
    }

    /// `<vip>:<port>/<proto>`, with IPv6 addresses in brackets.
    pub fn endpoint(&self) -> String {
        match self.vip {
            IpAddr::V4(a) => format!("{a}:{}/{}", self.port, self.protocol),
            IpAddr::V6(a) => format!("[{a}]:{}/{}", self.port, self.protocol),
        }
    }
}

/// Transport protocol of a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// The scheduler of a service. Only Maglev exists; any other name is kept so that validation
/// can report it (`services[0].scheduler: "wrr" is not supported`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Scheduler {
    /// Maglev consistent hashing (`maglev`, or ipvs' name `mh`).
    #[default]
    Maglev,
    /// A scheduler lvs does not implement; never present in a validated configuration.
    Unsupported(String),
}

impl Serialize for Scheduler {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scheduler::Maglev => s.serialize_str("maglev"),
            Scheduler::Unsupported(name) => s.serialize_str(name),
        }
    }
}

impl<'de> Deserialize<'de> for Scheduler {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name: String = parse_scalar(d, "a scheduler name")?;
        Ok(match name.as_str() {
            "maglev" | "mh" => Scheduler::Maglev,
            _ => Scheduler::Unsupported(name),
        })
    }
}

/// One real server of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Real {
    /// The real's address, of the VIP's family.
    #[serde(with = "ip_addr")]
    pub address: IpAddr,
    /// Maglev weight, `0..=65535` (0 drains the real). Kept wider than `u16` so that an
    /// out-of-range value is reported by validation with its path.
    #[serde(default = "default_weight", skip_serializing_if = "is_default_weight")]
    pub weight: u32,
    /// How packets reach the real.
    #[serde(default, skip_serializing_if = "is_default")]
    pub method: Method,
    /// Per-real check settings, merged field by field over the service's check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
}

impl Real {
    /// A `dr` real of weight 1 without its own check.
    pub fn new(address: IpAddr) -> Self {
        Real {
            address,
            weight: 1,
            method: Method::default(),
            check: None,
        }
    }
}

/// Forwarding method of a real.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Direct routing: rewrite the destination MAC (ldirectord's `gate`).
    #[default]
    Dr,
    /// IP-in-IP encapsulation.
    Ipip,
    /// Generic UDP encapsulation.
    Gue,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Method::Dr => "dr",
            Method::Ipip => "ipip",
            Method::Gue => "gue",
        })
    }
}

/// A `check:` block, as written: every field optional, so that a real's check can override
/// just some fields of its service's check. [`Config::resolved_check`] applies the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The kind of check (`connect` when no level sets it).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckType>,
    /// Overrides `global.check_defaults.interval`.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Overrides `global.check_defaults.timeout`.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Overrides `global.check_defaults.fall`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    /// Overrides `global.check_defaults.rise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    /// Port to check (default: the service port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// http/https: the path requested, starting with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// http/https: a regex the response body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<String>,
    /// http/https: the `Host` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// http/https: the request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<HttpMethod>,
    /// http/https: the status codes that pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<Vec<u16>>,
    /// https: whether the certificate must verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    /// dns: the name (or address, for PTR) looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// dns: the record type asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<QueryType>,
    /// dns: text that one answer must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// external: the command, run as `command <vip> <vport> <rip> <rport>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Check {
    /// A check of the given type with nothing else set.
    pub fn of(kind: CheckType) -> Self {
        Check {
            kind: Some(kind),
            ..Check::default()
        }
    }

    /// This check's fields, with those it leaves unset taken from `base`; a type-specific field
    /// of `base` is not inherited when it does not apply to the merged type (a real that
    /// switches to `ping` does not inherit the service's `request`).
    pub fn merged_over(&self, base: &Check) -> Check {
        let kind = self.kind.or(base.kind).unwrap_or_default();
        let base = base.only_for(kind);
        fn pick<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
            over.as_ref().or(base.as_ref()).cloned()
        }
        Check {
            kind: pick(&self.kind, &base.kind),
            interval: pick(&self.interval, &base.interval),
            timeout: pick(&self.timeout, &base.timeout),
            fall: pick(&self.fall, &base.fall),
            rise: pick(&self.rise, &base.rise),
            port: pick(&self.port, &base.port),
            request: pick(&self.request, &base.request),
            receive: pick(&self.receive, &base.receive),
            virtualhost: pick(&self.virtualhost, &base.virtualhost),
            http_method: pick(&self.http_method, &base.http_method),
            expect_status: pick(&self.expect_status, &base.expect_status),
            verify_tls: pick(&self.verify_tls, &base.verify_tls),
            query: pick(&self.query, &base.query),
            query_type: pick(&self.query_type, &base.query_type),
            expect: pick(&self.expect, &base.expect),
            command: pick(&self.command, &base.command),
        }
    }

    /// This check without the type-specific fields that `kind` does not take.
    fn only_for(&self, kind: CheckType) -> Check {
        fn keep<T: Clone>(v: &Option<T>, yes: bool) -> Option<T> {
            if yes { v.clone() } else { None }
        }
        Check {
            kind: self.kind,
            interval: self.interval,
            timeout: self.timeout,
            fall: self.fall,
            rise: self.rise,
            port: keep(&self.port, kind.takes("port")),
            request: keep(&self.request, kind.takes("request")),
            receive: keep(&self.receive, kind.takes("receive")),
            virtualhost: keep(&self.virtualhost, kind.takes("virtualhost")),
            http_method: keep(&self.http_method, kind.takes("http_method")),
            expect_status: keep(&self.expect_status, kind.takes("expect_status")),
            verify_tls: keep(&self.verify_tls, kind.takes("verify_tls")),
            query: keep(&self.query, kind.takes("query")),
            query_type: keep(&self.query_type, kind.takes("query_type")),
            expect: keep(&self.expect, kind.takes("expect")),
            command: keep(&self.command, kind.takes("command")),
        }
    }

    /// The type this check runs: its own, or `connect`.
    pub fn effective_kind(&self) -> CheckType {
        self.kind.unwrap_or_default()
    }

    /// The names of the type-specific fields this check sets (for applicability rules).
    pub(crate) fn specific_fields(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let mut note = |present: bool, name: &'static str| {
            if present {
                set.push(name);
            }
        };
        note(self.port.is_some(), "port");
        note(self.request.is_some(), "request");
        note(self.receive.is_some(), "receive");
        note(self.virtualhost.is_some(), "virtualhost");
        note(self.http_method.is_some(), "http_method");
        note(self.expect_status.is_some(), "expect_status");
        note(self.verify_tls.is_some(), "verify_tls");
        note(self.query.is_some(), "query");
        note(self.query_type.is_some(), "query_type");
        note(self.expect.is_some(), "expect");
        note(self.command.is_some(), "command");
        set
    }
}

/// The kinds of health check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// A TCP connect (for UDP services: the port must not answer ICMP unreachable).
    #[default]
    Connect,
    /// An HTTP request (ldirectord: `negotiate` + `service=http`).
    Http,
    /// An HTTPS request.
    Https,
    /// A DNS query.
    Dns,
    /// A command whose exit status decides.
    External,
    /// ICMP echo.
    Ping,
    /// No check: the real is always up.
    On,
    /// No check: the real is always down.
    Off,
}

impl CheckType {
    /// Every type, in documentation order.
    pub const ALL: [CheckType; 8] = [
        CheckType::Connect,
        CheckType::Http,
        CheckType::Https,
        CheckType::Dns,
        CheckType::External,
        CheckType::Ping,
        CheckType::On,
        CheckType::Off,
    ];

    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Connect => "connect",
            CheckType::Http => "http",
            CheckType::Https => "https",
            CheckType::Dns => "dns",
            CheckType::External => "external",
            CheckType::Ping => "ping",
            CheckType::On => "on",
            CheckType::Off => "off",
        }
    }

    /// Whether the check talks to a port (so a port-0 service needs `check.port`).
    pub fn needs_port(self) -> bool {
        matches!(
            self,
            CheckType::Connect | CheckType::Http | CheckType::Https | CheckType::Dns
        )
    }

    /// Whether the type-specific field `field` of [`Check`] applies to this type.
    pub fn takes(self, field: &str) -> bool {
        use CheckType::*;
        match field {
            "port" => matches!(self, Connect | Http | Https | Dns | External),
            "request" | "receive" | "virtualhost" | "http_method" | "expect_status" => {
                matches!(self, Http | Https)
            }
            "verify_tls" => self == Https,
            "query" | "query_type" | "expect" => self == Dns,
            "command" => self == External,
            _ => true,
        }
    }
}

impl fmt::Display for CheckType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HTTP method of an http(s) check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpMethod {
    /// `GET`: the body is read (and matched against `receive`).
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    /// `HEAD`: only the status counts.
    #[serde(rename = "HEAD", alias = "head")]
    Head,
}

/// Record type of a dns check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum QueryType {
    #[default]
    #[serde(alias = "a")]
    A,
    #[serde(alias = "aaaa")]
    Aaaa,
    #[serde(alias = "cname")]
    Cname,
    #[serde(alias = "mx")]
    Mx,
    #[serde(alias = "txt")]
    Txt,
    #[serde(alias = "ns")]
    Ns,
    #[serde(alias = "soa")]
    Soa,
    #[serde(alias = "ptr")]
    Ptr,
}

/// A real's check with every default applied: where the health checker probes, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCheck {
    /// The real's address and the port checked: `check.port`, else the service port (0 for a
    /// port-0 service whose check type needs no port).
    pub addr: SocketAddr,
    /// The probe, its timing and its rise/fall counts.
    pub spec: CheckSpec,
}

/// One health check, fully resolved: what the health engine runs. Every type here is
/// `Clone + Eq + Hash` so that identical `(target, CheckSpec)` pairs, wanted by several
/// services, are recognised and probed once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckSpec {
    /// What the probe does.
    pub kind: CheckKind,
    /// Time between the starts of two probes.
    pub interval: Duration,
    /// Longest a single probe may take; it fails (and any child process is killed) after that.
    pub timeout: Duration,
    /// Consecutive successes that bring a server that is not up (down or not yet known) up.
    /// 0 is taken as 1.
    pub rise: u32,
    /// Consecutive failures that bring a server that is not down (up or not yet known) down.
    /// 0 is taken as 1.
    pub fall: u32,
}

/// The kinds of probe, after ldirectord's `checktype`/`service`, with their settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// TCP: the three-way handshake completes. UDP (as ldirectord): a datagram is sent on a
    /// connected socket; an ICMP port-unreachable (`ECONNREFUSED`) means down, a reply or
    /// silence until (nine tenths of) the timeout means up.
    Connect {
        /// The service's protocol.
        proto: Protocol,
    },
    /// An HTTP/1.1 request, optionally over TLS.
    Http {
        /// Speak TLS (HTTPS).
        tls: bool,
        /// Verify the server's certificate against the web PKI roots (only with `tls`; always
        /// `true` for http, where it is moot).
        verify_tls: bool,
        /// GET or HEAD.
        method: HttpMethod,
        /// Request path, with query string if any (`/healthz`).
        path: String,
        /// `Host` header and TLS server name; the target's address when `None`.
        host: Option<String>,
        /// Acceptable status codes; any 2xx when empty.
        expect_status: Vec<u16>,
        /// A regular expression (`regex` syntax) the first 64 KiB of the body must match.
        receive: Option<String>,
    },
    /// A DNS query to the target.
    Dns {
        /// Name to resolve (or address, for PTR).
        name: String,
        /// Record type asked for.
        qtype: QueryType,
        /// The service's protocol: UDP (one datagram each way) or TCP.
        proto: Protocol,
        /// When set, some answer of type `qtype` must equal this (an address for A/AAAA, the
        /// record's presentation form otherwise); when not, any answer of that type will do.
        expect: Option<String>,
    },
    /// A program, called as ldirectord does: `command <vip> <vport> <rip> <rport>`; exit status
    /// 0 means up. Killed (with its whole process group) at the timeout.
    External {
        /// Program to run (not through a shell).
        command: PathBuf,
        /// Virtual address of the service, passed as the first argument.
        vip: IpAddr,
        /// Virtual port of the service, passed as the second argument.
        vport: u16,
    },
    /// ICMP or ICMPv6 echo to the target's address (the port is ignored).
    Ping,
    /// Always up (ldirectord's `checktype = on`).
    On,
    /// Always down (ldirectord's `checktype = off`).
    Off,
}

impl Config {
    /// The check of real `real` of service `svc`, with the real's override merged over the
    /// service's check and `global.check_defaults` filling the rest.
    ///
    /// Meant for a validated configuration (where e.g. a dns check has a query).
    ///
    /// # Panics
    /// If `svc` or `real` is out of range.
    pub fn resolved_check(&self, svc: usize, real: usize) -> ResolvedCheck {
        let service = &self.services[svc];
        let r = &service.reals[real];
        let check = self.merged_check(svc, Some(real));
        let defaults = &self.global.check_defaults;
        let proto = service.protocol;
        let kind = match check.effective_kind() {
            CheckType::Connect => CheckKind::Connect { proto },
            kind @ (CheckType::Http | CheckType::Https) => CheckKind::Http {
                tls: kind == CheckType::Https,
                verify_tls: check.verify_tls.unwrap_or(true),
                method: check.http_method.unwrap_or_default(),
                path: check
                    .request
                    .clone()
                    .unwrap_or_else(|| DEFAULT_HTTP_REQUEST.to_owned()),
                host: check.virtualhost.clone(),
                expect_status: check
                    .expect_status
                    .clone()
                    .unwrap_or_else(|| DEFAULT_EXPECT_STATUS.to_vec()),
                receive: check.receive.clone(),
            },
            CheckType::Dns => CheckKind::Dns {
                name: check.query.clone().unwrap_or_default(),
                qtype: check.query_type.unwrap_or_default(),
                proto,
                expect: check.expect.clone(),
            },
            CheckType::External => CheckKind::External {
                command: PathBuf::from(check.command.as_deref().unwrap_or_default().trim()),
                vip: service.vip,
                vport: service.port,
            },
            CheckType::Ping => CheckKind::Ping,
            CheckType::On => CheckKind::On,
            CheckType::Off => CheckKind::Off,
        };
        ResolvedCheck {
            addr: SocketAddr::new(r.address, check.port.unwrap_or(service.port)),
            spec: CheckSpec {
                kind,
                interval: check.interval.unwrap_or(defaults.interval),
                timeout: check.timeout.unwrap_or(defaults.timeout),
                rise: check.rise.unwrap_or(defaults.rise),
                fall: check.fall.unwrap_or(defaults.fall),
            },
        }
    }

    /// The service's check, with real `real`'s override merged over it when given (defaults
    /// of `global.check_defaults` not applied).
    pub(crate) fn merged_check(&self, svc: usize, real: Option<usize>) -> Check {
        let service = &self.services[svc];
        let base = service.check.clone().unwrap_or_default();
        match real.and_then(|r| service.reals[r].check.as_ref()) {
            Some(over) => over.merged_over(&base),
            None => base,
        }
    }
}

// ---- defaults and skip predicates -------------------------------------------------------------

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_true(v: &bool) -> bool {
    *v
}
fn yes() -> bool {
    true
}
fn default_ring_size() -> u32 {
    DEFAULT_RING_SIZE
}
fn is_default_ring_size(v: &u32) -> bool {
    *v == DEFAULT_RING_SIZE
}
fn default_conn_table_size() -> u32 {
    DEFAULT_CONNS
}
fn is_default_conn_table_size(v: &u32) -> bool {
    *v == DEFAULT_CONNS
}
fn default_pin_path() -> PathBuf {
    PathBuf::from(DEFAULT_PIN_PATH)
}
fn is_default_pin_path(v: &Path) -> bool {
    v.as_os_str() == DEFAULT_PIN_PATH
}
fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}
fn is_default_socket(v: &Path) -> bool {
    v.as_os_str() == DEFAULT_SOCKET
}
fn default_gue_port() -> u16 {
    DEFAULT_GUE_PORT
}
fn is_default_gue_port(v: &u16) -> bool {
    *v == DEFAULT_GUE_PORT
}
fn default_interval() -> Duration {
    DEFAULT_CHECK_INTERVAL
}
fn default_timeout() -> Duration {
    DEFAULT_CHECK_TIMEOUT
}
fn default_fall() -> u32 {
    DEFAULT_FALL
}
fn default_rise() -> u32 {
    DEFAULT_RISE
}
fn default_weight() -> u32 {
    1
}
fn is_default_weight(v: &u32) -> bool {
    *v == 1
}

// ---- addresses with errors that name the value ------------------------------------------------

/// Parses any YAML scalar with [`FromStr`], failing inside the visitor (so that serde_yaml
/// places the error on the value) with a message naming the value: `vip: 10.0.0.x` fails as
/// `"10.0.0.x" is not an IP address`, and `vip: 10` likewise rather than with a type error.
struct ParseVisitor<T> {
    what: &'static str,
    _to: std::marker::PhantomData<T>,
}

impl<T: FromStr> ParseVisitor<T> {
    fn parse<E: de::Error>(&self, text: &str) -> Result<T, E> {
        text.trim()
            .parse()
            .map_err(|_| E::custom(format!("{text:?} is not {}", self.what)))
    }
}

impl<T: FromStr> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        self.parse(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.parse(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.parse(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.parse(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.parse(&v.to_string())
    }
}

fn parse_scalar<'de, D, T>(d: D, what: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    d.deserialize_any(ParseVisitor {
        what,
        _to: std::marker::PhantomData,
    })
}

macro_rules! address_serde {
    ($module:ident, $ty:ty, $what:literal) => {
        mod $module {
            use super::*;

            pub fn serialize<S: Serializer>(a: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(a)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                parse_scalar(d, $what)
            }
        }
    };
    (option $module:ident, $ty:ty, $what:literal) => {
        mod $module {
            use super::*;

            pub fn serialize<S: Serializer>(a: &Option<$ty>, s: S) -> Result<S::Ok, S::Error> {
                match a {
                    Some(a) => s.collect_str(a),
                    None => s.serialize_none(),
                }
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
                struct Opt;
                impl<'de> Visitor<'de> for Opt {
                    type Value = Option<$ty>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok(None)
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok(None)
                    }
                    fn visit_some<D: Deserializer<'de>>(
                        self,
                        d: D,
                    ) -> Result<Self::Value, D::Error> {
                        parse_scalar(d, $what).map(Some)
                    }
                }
                d.deserialize_option(Opt)
            }
        }
    };
}

address_serde!(ip_addr, IpAddr, "an IP address");
address_serde!(option opt_ip_addr, IpAddr, "an IP address");
address_serde!(option opt_ipv4, Ipv4Addr, "an IPv4 address");
address_serde!(option opt_ipv6, Ipv6Addr, "an IPv6 address");
