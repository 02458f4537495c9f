//! External checks (ldirectord's `checktype = external`) and the process-group guard that makes
//! sure a check or hook program, and everything it started, is gone when we stop waiting.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};

use super::error::ProbeError;

/// A child process leading its own process group. Dropping the guard (at the timeout, or when
/// the probe task is aborted) kills the whole group, so a script's `sleep` goes with it.
pub(crate) struct ChildGroup {
    child: Child,
    pgid: Option<i32>,
}

impl ChildGroup {
    /// Spawns `cmd` in a new process group (its pid is the group id).
    pub(crate) fn spawn(mut cmd: Command) -> std::io::Result<Self> {
        cmd.process_group(0).kill_on_drop(true);
        let child = cmd.spawn()?;
        let pgid = child.id().and_then(|id| i32::try_from(id).ok());
        Ok(Self { child, pgid })
    }

    /// The child, to take its pipes.
    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the leader to exit.
    pub(crate) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) with a negative pid signals the process group `pgid`, which we
            // created. If the leader was reaped and no member is left, the group id cannot have
            // been reused as one (Linux does not reuse a pid that is still a pgid, and a fresh
            // process would need setpgid/setsid in the instant since), so at worst this fails
            // with ESRCH, which is ignored.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        // kill_on_drop kills the leader if still running; tokio reaps it in the background.
    }
}

/// Runs `command <vip> <vport> <rip> <rport>`; exit status 0 means up. The caller's timeout
/// drops the future, and with it the [`ChildGroup`].
pub(crate) async fn probe(
    command: &Path,
    vip: IpAddr,
    vport: u16,
    real: SocketAddr,
) -> Result<String, ProbeError> {
    let mut cmd = Command::new(command);
    cmd.arg(vip.to_string())
        .arg(vport.to_string())
        .arg(real.ip().to_string())
        .arg(real.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = ChildGroup::spawn(cmd).map_err(ProbeError::io("spawn"))?;
    let status = child.wait().await.map_err(ProbeError::io("wait"))?;
    if status.success() {
        Ok("exit status 0".into())
    } else {
        Err(ProbeError::Failed(describe_exit(status)))
    }
}

/// `exit status 1`, `killed by signal 9`.
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => status.to_string(),
    }
}
