//! Hooks: a program run on every change of state (to notify, or to act as ldirectord's
//! `callback`), with the event in its environment.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::external::{ChildGroup, describe_exit};
use super::monitor::{CheckId, Event};
use crate::config::duration;

/// How long [`run_hook`] lets a hook run before killing it and its process group.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Most of a hook's stdout, and of its stderr, that is kept for the log.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// Why a hook did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The program could not be started.
    #[error("hook {}: starting: {source}", .command.display())]
    Spawn {
        /// The hook.
        command: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It ran past its timeout and was killed.
    #[error("hook {}: timed out after {}, killed", .command.display(), duration::format(*.timeout))]
    Timeout {
        /// The hook.
        command: PathBuf,
        /// The timeout.
        timeout: Duration,
    },
    /// It ended unsuccessfully.
    #[error("hook {}: {status}", .command.display())]
    Failed {
        /// The hook.
        command: PathBuf,
        /// `exit status 1`, `killed by signal 9`.
        status: String,
    },
    /// Waiting for it failed.
    #[error("hook {}: waiting: {source}", .command.display())]
    Wait {
        /// The hook.
        command: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs `command` for `event` with [`HOOK_TIMEOUT`]; see [`run_hook_with_timeout`].
pub async fn run_hook<K: CheckId>(
    command: &Path,
    event: &Event<K>,
    extra: &[(&str, String)],
) -> Result<(), HookError> {
    run_hook_with_timeout(command, event, extra, HOOK_TIMEOUT).await
}

/// Runs `command` (no arguments, not through a shell) with the event in its environment:
///
/// | variable | value |
/// | --- | --- |
/// | `LVS_EVENT` | `up` or `down` |
/// | `LVS_REAL` | target address and check port, `198.18.1.2:80`, `[2001:db8::2]:80` |
/// | `LVS_REAL_IP`, `LVS_REAL_PORT` | the same, apart |
/// | `LVS_CAUSE` | the event's cause |
/// | `LVS_TIME` | seconds since the Unix epoch of the event |
/// | `LVS_CHECK_ID` | the caller's id, as `{:?}` prints it |
///
/// followed by `extra` (which may override them). Its stdout and stderr are logged (at most
/// 64 KiB of each); it is killed, with its process group, after `timeout`.
pub async fn run_hook_with_timeout<K: CheckId>(
    command: &Path,
    event: &Event<K>,
    extra: &[(&str, String)],
    timeout: Duration,
) -> Result<(), HookError> {
    let mut cmd = Command::new(command);
    let at = event
        .at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    cmd.env("LVS_EVENT", if event.up { "up" } else { "down" })
        .env("LVS_REAL", event.target.addr.to_string())
        .env("LVS_REAL_IP", event.target.addr.ip().to_string())
        .env("LVS_REAL_PORT", event.target.addr.port().to_string())
        .env("LVS_CAUSE", &event.cause)
        .env("LVS_TIME", at.to_string())
        .env("LVS_CHECK_ID", format!("{:?}", event.id))
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut group = ChildGroup::spawn(cmd).map_err(|source| HookError::Spawn {
        command: command.to_path_buf(),
        source,
    })?;
    let stdout = group.child_mut().stdout.take();
    let stderr = group.child_mut().stderr.take();
    let finished = tokio::time::timeout(timeout, async {
        let (status, out, err) = tokio::join!(
            group.wait(),
            read_capped(stdout, OUTPUT_LIMIT),
            read_capped(stderr, OUTPUT_LIMIT)
        );
        (status, out, err)
    })
    .await;
    let Ok((status, out, err)) = finished else {
        // Dropping `group` kills the hook and everything it started.
        return Err(HookError::Timeout {
            command: command.to_path_buf(),
            timeout,
        });
    };
    for (stream, text) in [("stdout", out), ("stderr", err)] {
        for line in String::from_utf8_lossy(&text).lines() {
            log::info!("hook {} {stream}: {line}", command.display());
        }
    }
    let status = status.map_err(|source| HookError::Wait {
        command: command.to_path_buf(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(HookError::Failed {
            command: command.to_path_buf(),
            status: describe_exit(status),
        })
    }
}

/// Reads `pipe` to its end, keeping the first `limit` bytes; the rest is read and dropped so the
/// writer never blocks on a full pipe.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>, limit: usize) -> Vec<u8> {
    let Some(mut pipe) = pipe else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let take = n.min(limit - kept.len());
                kept.extend_from_slice(&buf[..take]);
            }
        }
    }
}
