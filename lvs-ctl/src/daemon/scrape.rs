//! What the daemon's task gives a metrics scrape, and the reloads it records for it.

use crate::{api::Response, metrics::Sample};

use super::*;

impl Daemon {
    /// Reloads the file ([`Daemon::reload_file`]), telling systemd (`RELOADING=1`, then
    /// `READY=1` whatever the outcome: a rejected file leaves the daemon running as before),
    /// and records when and with what result for metrics.
    pub(super) async fn reload(&mut self, why: &str) -> Response {
        notify::reloading();
        let resp = self.reload_file(why).await;
        notify::ready(&self.status);
        let ok = !matches!(resp, Response::Error { .. });
        self.recorder.reloaded(SystemTime::now(), ok);
        resp
    }

    /// One sample for metrics: the counters read back by the data plane's owner (the
    /// connection table walked once), and the health engine's state.
    pub(super) fn scrape(&self) -> Sample {
        let counters = self.director.counters().unwrap_or_else(|e| {
            log::warn!("metrics: reading the counters: {e}");
            Vec::new()
        });
        Sample {
            services: self.listing().services,
            checks: self.monitor.status(),
            counters,
            conns: self.director.conn_count() as u64,
            recorder: self.recorder.clone(),
        }
    }
}
