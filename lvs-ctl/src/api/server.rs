//! The server half of the control socket: one JSON line in, one out. Requests go to the one
//! task that owns the data plane, one at a time, through the channel [`listen`] returns.

use super::{MAX_LINE, MAX_SOCKET_PATH, Request, Response};
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
};

/// A request and where its answer goes.
pub type Call = (Request, oneshot::Sender<Response>);

/// The control socket cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("control socket {}: {what}", path.display())]
pub struct SocketError {
    /// The socket.
    pub path: PathBuf,
    /// What went wrong.
    pub what: String,
}

/// Checks, without touching anything, that `path` fits a unix socket address.
pub fn check_path(path: &Path) -> Result<(), SocketError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(SocketError {
            path: path.to_owned(),
            what: format!(
                "the path is {len} bytes; a unix socket path has at most {MAX_SOCKET_PATH}"
            ),
        });
    }
    Ok(())
}

/// The id of group `name` (`global.socket_group`), or an error naming it.
pub fn group_id(path: &Path, name: &str) -> Result<u32, SocketError> {
    let err = |what: String| SocketError {
        path: path.to_owned(),
        what,
    };
    let c = std::ffi::CString::new(name)
        .map_err(|_| err(format!("global.socket_group {name:?}: not a group name")))?;
    // SAFETY: `libc::group` is plain C data (integers and pointers); all zero is a valid value.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 << 10];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: getgrnam_r writes into `grp` and `buf` (both ours, `buf.len()` bytes) and sets
    // `found` to `&grp` or null; nothing is kept past the call.
    let rc = unsafe {
        libc::getgrnam_r(
            c.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(err(format!(
            "global.socket_group {name:?}: no such group on this host"
        )));
    }
    Ok(grp.gr_gid)
}

/// Binds the control socket: root-only, or (with `group`) also readable and writable by that
/// group, whose members may send the read-only requests. A socket file nobody answers on is
/// stale and replaced; one that answers belongs to a running daemon and is an error.
pub fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, SocketError> {
    let err = |what: String| SocketError {
        path: path.to_owned(),
        what,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err("another daemon is listening there".into()));
        }
        std::fs::remove_file(path).map_err(|e| err(format!("removing the stale socket: {e}")))?;
    }
    // SAFETY: umask only changes this process's file creation mask; restored right after.
    let old = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = listener.map_err(|e| err(format!("binding: {e}")))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, Some(0), Some(gid))
            .map_err(|e| err(format!("giving the socket to group {gid}: {e}")))?;
    }
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| err(format!("setting mode {mode:o}: {e}")))?;
    Ok(listener)
}

/// Serves `listener` in the background; every request arrives on the returned channel.
pub fn listen(listener: UnixListener) -> mpsc::Receiver<Call> {
    let (tx, rx) = mpsc::channel::<Call>(64);
    tokio::spawn(accept(listener, tx));
    rx
}

async fn accept(listener: UnixListener, calls: mpsc::Sender<Call>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, calls.clone()));
            }
            Err(e) => {
                log::warn!("control socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(stream: UnixStream, calls: mpsc::Sender<Call>) {
    // Root may send anything; anyone else reached the socket through `global.socket_group`.
    let root = stream.peer_cred().is_ok_and(|c| c.uid() == 0);
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(tokio::io::AsyncReadExt::take(rd, MAX_LINE as u64));
    let resp = match tokio::time::timeout(Duration::from_secs(10), rd.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => match serde_json::from_str::<Request>(&line) {
            Ok(req) if !root && !req.is_read_only() => Response::Error {
                message: "permission denied: changes are root-only (members of \
                          global.socket_group may list, explain and save)"
                    .into(),
            },
            Ok(req) => {
                let (tx, rx) = oneshot::channel();
                if calls.send((req, tx)).await.is_err() {
                    return;
                }
                match rx.await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
            Err(e) => Response::Error {
                message: format!("malformed request: {e}"),
            },
        },
        _ => return,
    };
    let mut out = serde_json::to_vec(&resp).unwrap_or_default();
    out.push(b'\n');
    let _ = wr.write_all(&out).await;
}
