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

/// Binds the control socket, root-only. A socket file nobody answers on is stale and
/// replaced; one that answers belongs to a running daemon and is an error.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
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
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err(format!("setting mode 0600: {e}")))?;
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
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(tokio::io::AsyncReadExt::take(rd, MAX_LINE as u64));
    let resp = match tokio::time::timeout(Duration::from_secs(10), rd.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => match serde_json::from_str::<Request>(&line) {
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
