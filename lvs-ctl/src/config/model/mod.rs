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

mod check;
mod resolved;
mod scalar;
mod service;

pub use check::*;
pub use resolved::*;
use scalar::*;
pub use service::*;

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
    /// A group whose members may use the socket for the read-only commands (`list`, `explain`,
    /// `save`); changes stay root-only. Default: none (the socket is root-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_group: Option<String>,
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
    /// Address and port of the Prometheus metrics endpoint (`GET /metrics`); none: off.
    /// Read at start: a reload that changes it takes effect at the next start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
    /// Tunnel sources for `ipip` and `gue` reals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// Defaults of every health check.
    #[serde(default, skip_serializing_if = "is_default")]
    pub check_defaults: CheckDefaults,
    /// The daemon's log level (`--log-level` and `RUST_LOG` take precedence).
    #[serde(default, skip_serializing_if = "is_default")]
    pub log_level: LogLevel,
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
            socket_group: None,
            watch_config: false,
            maintenance_dir: None,
            on_change: None,
            metrics: None,
            tunnel: None,
            check_defaults: CheckDefaults::default(),
            log_level: LogLevel::default(),
        }
    }
}

/// How the XDP program is attached to the interfaces.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
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

/// How much the daemon logs: `global.log_level` and `--log-level`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings (a real going down, a repaired map).
    Warn,
    /// Every change of state (the default).
    #[default]
    Info,
    /// Also every check result and table write.
    Debug,
    /// Everything, the libraries' details included.
    Trace,
}

impl LogLevel {
    /// The names the configuration takes, in order.
    pub const NAMES: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

    /// The level for the `log` crate.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
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
