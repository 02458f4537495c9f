//! Reloading the file: a three-way merge with the run-time changes, all or nothing.

use crate::{
    api::Response,
    config::{self},
};

use super::*;

impl Daemon {
    /// Reloads the file. Invalid: rejected, nothing changes.
    pub(super) async fn reload_file(&mut self, why: &str) -> Response {
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
            (
                "global.metrics",
                self.desired.global.metrics != next.global.metrics,
            ),
        ]
        .into_iter()
        .filter_map(|(k, changed)| changed.then_some(k))
        .collect();
        // New interfaces are attached by the owner after the tables; one that cannot be is a
        // rejection before anything is written.
        if let Err(e) = Director::preflight(&next.global.interfaces) {
            let message = format!("reload ({why}) rejected, running state unchanged: {e}");
            log::error!("{message}");
            return Response::Error { message };
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
        let done = match self.reconcile(&format!("reload ({why})")) {
            Ok(done) => done,
            Err(e) => {
                self.file = old_file;
                self.desired = old;
                self.rt.drained = old_drained;
                self.apply_or_log("restoring after a failed reload");
                let message =
                    format!("reload ({why}): writing the tables: {e}; previous state restored");
                log::error!("{message}");
                return Response::Error { message };
            }
        };
        self.monitor.set_checks(checks(&self.desired));
        crate::logging::configure(self.desired.global.log_level);
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
        if done.tables.is_empty() {
            log::info!("{message}");
        } else {
            log::info!("{message}; {}", done.tables);
        }
        Response::Done { message }
    }
}
