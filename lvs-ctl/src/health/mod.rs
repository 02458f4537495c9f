//! Health checks of real servers, after ldirectord's, done concurrently and with rise/fall.
//!
//! The config layer resolves each real server's check into a [`CheckSpec`] and an address, the
//! [`Target`];
//! a [`Monitor`] runs them (one tokio task per distinct `(Target, CheckSpec)`, however many
//! services want it) and sends an [`Event`] on every change of state. Every probe is bounded:
//! in time by the spec's timeout (child processes are killed with their process group), and in
//! memory by reading at most [`http::BODY_LIMIT`] of a body or one DNS message.
//!
//! Check types: [`CheckKind::Connect`] (TCP, or UDP as ldirectord does), [`CheckKind::Http`]
//! (and HTTPS), [`CheckKind::Dns`], [`CheckKind::External`], [`CheckKind::Ping`], and the
//! constant [`CheckKind::On`] and [`CheckKind::Off`].

mod connect;
mod dns;
mod error;
mod external;
mod hook;
pub mod http;
mod monitor;
mod ping;
mod probe;
pub mod spec;
pub mod state;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;

pub use error::ProbeError;
pub use hook::{HOOK_TIMEOUT, HookError, run_hook, run_hook_with_timeout};
pub use monitor::{CheckId, Event, Monitor, Status};
pub use spec::{CheckKind, CheckSpec, HttpMethod, Protocol, QueryType, SpecError, Target};
pub use state::State;

/// Whether `addr` is in maintenance: as ldirectord's `maintenancedir`, true when `dir` holds a
/// file (of any kind) named `<ip>` or `<ip>:<port>` (for IPv6 also `[<ip>]:<port>`).
pub fn in_maintenance(dir: &Path, addr: SocketAddr) -> bool {
    let ip = addr.ip();
    let port = addr.port();
    let mut names = vec![ip.to_string(), format!("{ip}:{port}")];
    if ip.is_ipv6() {
        names.push(format!("[{ip}]:{port}"));
    }
    names
        .iter()
        .any(|name| dir.join(name).symlink_metadata().is_ok())
}
