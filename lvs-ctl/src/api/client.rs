//! The client half of the control socket: one request, one answer.

use super::{MAX_LINE, Request, Response};
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

/// The socket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon answers at the socket.
    #[error("cannot reach the daemon at {}: {} — is 'lvs-ctl daemon' running?", path.display(), describe(error))]
    Unreachable {
        /// The socket.
        path: PathBuf,
        /// Why (already in the message, so not a `source`: printed once).
        error: std::io::Error,
    },
    /// The daemon was reached but the exchange failed.
    #[error("talking to the daemon at {}: {what}", path.display())]
    Exchange {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
}

/// An I/O error in the words an operator expects (`connection refused`, not `Connection
/// refused (os error 111)`).
pub fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        NotFound => "no such socket".into(),
        PermissionDenied => "permission denied (the socket is root-only)".into(),
        TimedOut | WouldBlock => "timed out".into(),
        _ => e.to_string(),
    }
}

/// Sends one request to the daemon at `socket` and waits (at most `timeout`) for its answer.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let unreachable = |error| ClientError::Unreachable {
        path: socket.to_owned(),
        error,
    };
    let exchange = |what: String| ClientError::Exchange {
        path: socket.to_owned(),
        what,
    };
    let mut stream = UnixStream::connect(socket).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| exchange(e.to_string()))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| exchange(e.to_string()))?;
    let mut line =
        serde_json::to_vec(request).map_err(|e| exchange(format!("encoding the request: {e}")))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| exchange(format!("sending: {}", describe(&e))))?;
    let mut reader = BufReader::new(stream).take(MAX_LINE as u64);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .map_err(|e| exchange(format!("reading the answer: {}", describe(&e))))?;
    if answer.is_empty() {
        return Err(exchange(
            "the daemon closed the connection without answering".into(),
        ));
    }
    serde_json::from_str(&answer).map_err(|e| exchange(format!("decoding the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_daemon_is_named_with_the_socket_and_a_hint() {
        let path = std::env::temp_dir().join(format!("lvs-no-daemon-{}.sock", std::process::id()));
        // A socket file nobody listens on: connection refused.
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(listener);
        let e = call(&path, &Request::List, Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot reach the daemon at {}: connection refused — is 'lvs-ctl daemon' running?",
                path.display()
            )
        );
        let _ = std::fs::remove_file(&path);
    }
}
