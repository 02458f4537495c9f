//! Why a probe failed, in the words an operator reads (`connection refused`, `status 503,
//! expected 200`), shared by every check type.

use super::spec::SpecError;
use crate::config::duration;
use std::{io, time::Duration};

/// Why a probe failed. `Display` gives the reason alone (`connection refused`,
/// `status 503, expected 200`); an [`Event`](super::Event)'s cause puts the check and target in
/// front.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The probe did not finish within the check's timeout.
    #[error("timed out after {}", duration::format(*.0))]
    Timeout(Duration),
    /// A socket or process operation failed; `op` says which (empty for the check's main step).
    #[error("{}", io_reason(op, source))]
    Io {
        /// What we were doing: `connect`, `tls handshake`, `send`, ...
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The server answered, but not as expected.
    #[error("{0}")]
    Failed(String),
    /// The spec can never succeed (bad regex, unknown record type, ...).
    #[error("invalid check: {0}")]
    Invalid(#[from] SpecError),
    /// `checktype off`.
    #[error("check is off")]
    Off,
}

impl ProbeError {
    /// The kind of failure, a label for metrics: `timeout`, `refused`, `reset`,
    /// `unreachable`, `io` (another socket or process error), `response` (the server answered
    /// wrongly), `invalid` or `off`.
    pub fn kind(&self) -> &'static str {
        use io::ErrorKind as K;
        match self {
            ProbeError::Timeout(_) => "timeout",
            ProbeError::Io { source, .. } => match source.kind() {
                K::TimedOut => "timeout",
                K::ConnectionRefused => "refused",
                K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => "reset",
                K::HostUnreachable | K::NetworkUnreachable => "unreachable",
                _ => "io",
            },
            ProbeError::Failed(_) => "response",
            ProbeError::Invalid(_) => "invalid",
            ProbeError::Off => "off",
        }
    }

    /// An I/O error while doing `op`.
    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| ProbeError::Io { op, source }
    }
}

/// `connection refused` rather than `Connection refused (os error 111)`, prefixed by `op`.
fn io_reason(op: &str, e: &io::Error) -> String {
    use io::ErrorKind as K;
    let reason = match e.kind() {
        K::ConnectionRefused => "connection refused".to_string(),
        K::ConnectionReset => "connection reset".to_string(),
        K::ConnectionAborted => "connection aborted".to_string(),
        K::UnexpectedEof => "connection closed early".to_string(),
        K::HostUnreachable => "host unreachable".to_string(),
        K::NetworkUnreachable => "network unreachable".to_string(),
        K::TimedOut => "timed out".to_string(),
        K::NotFound => "not found".to_string(),
        K::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            let s = match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            let mut c = s.chars();
            match c.next() {
                Some(first) => first.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    };
    if op.is_empty() {
        reason
    } else {
        format!("{op}: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_naturally() {
        let e = ProbeError::Io {
            op: "",
            source: io::Error::from_raw_os_error(libc::ECONNREFUSED),
        };
        assert_eq!(e.to_string(), "connection refused");
        let e = ProbeError::Io {
            op: "send",
            source: io::Error::from_raw_os_error(libc::EMSGSIZE),
        };
        assert_eq!(e.to_string(), "send: message too long");
    }
}
