//! What a start checks before its first kernel write, and how a failed start is undone.

use super::*;

/// Undoes a start that fails: the socket it bound, and the pins it made where there were none
/// (links with them: the program is detached). Disarmed once the daemon runs.
pub(super) struct StartGuard {
    pub(super) pin_dir: PathBuf,
    pub(super) made_pins: bool,
    pub(super) socket: Option<PathBuf>,
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
pub(super) fn preflight(cfg: &Config) -> Result<(), DaemonError> {
    let g = &cfg.global;
    api::server::check_path(&g.socket)?;
    if let Some(name) = &g.socket_group {
        api::server::group_id(&g.socket, name)?;
    }
    Director::preflight(&g.interfaces)?;
    Ok(())
}
