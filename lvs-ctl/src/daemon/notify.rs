//! Telling systemd where the daemon stands (`Type=notify`, sd_notify(3) over `NOTIFY_SOCKET`;
//! nothing is sent without it): `READY=1` once the tables are written, the program attached and
//! the socket listening; `RELOADING=1` with `MONOTONIC_USEC` (systemd 253 and later require it)
//! then `READY=1` around a reload; `STOPPING=1` on SIGTERM; a `STATUS=` summary on changes.

use super::*;
use sd_notify::NotifyState;

/// Sends `states`; a failure is logged (at debug: systemd then only misses a status).
fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("telling systemd ({}): {e}", states[0]);
    }
}

/// The daemon runs: `READY=1` with its status.
pub(super) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins.
pub(super) fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    match NotifyState::monotonic_usec_now() {
        Ok(now) => states.push(now),
        Err(e) => log::debug!("reading the monotonic clock for systemd: {e}"),
    }
    states.push(NotifyState::Status("reloading"));
    send(&states);
}

/// The daemon stops (the director keeps forwarding).
pub(super) fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping; lvs_director keeps forwarding"),
    ]);
}

/// A new status line.
pub(super) fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

impl Daemon {
    /// The status line: services, and the reals that take new flows (in service) out of all.
    pub(super) fn summary(&self) -> String {
        let services = self.state.services.len();
        let reals = self.state.services.iter().flat_map(|v| &v.reals);
        let (up, all) = reals.filter(|r| !r.fallback).fold((0, 0), |(up, all), r| {
            (up + usize::from(r.active && r.weight > 0), all + 1)
        });
        format!(
            "{services} service{}, {up} of {all} reals in service",
            if services == 1 { "" } else { "s" }
        )
    }
}
