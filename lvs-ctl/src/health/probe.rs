//! One probe of one target: dispatch to the check type, bound by the timeout, and the words a
//! failure is reported with.

use std::io;
use std::time::Duration;

use super::dns::DnsCheck;
use super::http::HttpCheck;
use super::spec::{CheckKind, CheckSpec, Protocol, SpecError, Target};
use super::{connect, external, ping};
use crate::config::duration;

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

/// A check ready to run: the spec with its regex, TLS config and DNS query prepared once.
pub(crate) struct Prober {
    target: Target,
    spec: CheckSpec,
    prepared: Result<Prepared, SpecError>,
}

enum Prepared {
    Plain,
    Http(Box<HttpCheck>),
    Dns(DnsCheck),
}

impl Prober {
    /// Prepares `spec` for `target`. An invalid spec is kept: every probe then fails with why.
    pub(crate) fn new(target: Target, spec: CheckSpec) -> Self {
        let prepared = spec.validate().and_then(|()| match &spec.kind {
            CheckKind::Http { .. } => {
                HttpCheck::new(target, &spec.kind).map(|h| Prepared::Http(Box::new(h)))
            }
            CheckKind::Dns { .. } => DnsCheck::new(&spec.kind).map(Prepared::Dns),
            _ => Ok(Prepared::Plain),
        });
        Self {
            target,
            spec,
            prepared,
        }
    }

    /// The target probed.
    pub(crate) fn target(&self) -> Target {
        self.target
    }

    /// The spec run.
    pub(crate) fn spec(&self) -> &CheckSpec {
        &self.spec
    }

    /// Runs one probe, never longer than the timeout. `Ok` carries a short note for the cause
    /// of an up event (`status 200`).
    pub(crate) async fn probe(&self) -> Result<String, ProbeError> {
        let timeout = self.spec.timeout;
        match tokio::time::timeout(timeout, self.probe_unbounded()).await {
            Ok(r) => r,
            Err(_) => Err(ProbeError::Timeout(timeout)),
        }
    }

    async fn probe_unbounded(&self) -> Result<String, ProbeError> {
        let prepared = self.prepared.as_ref().map_err(|e| e.clone())?;
        let addr = self.target.addr;
        match (&self.spec.kind, prepared) {
            (CheckKind::Connect { proto }, _) => match proto {
                Protocol::Tcp => connect::tcp(addr).await,
                // Silence for most of the timeout means up; leave the rest as margin so the
                // outer timeout does not fire first.
                Protocol::Udp => connect::udp(addr, self.spec.timeout * 9 / 10).await,
            },
            (_, Prepared::Http(h)) => h.probe(addr).await,
            (_, Prepared::Dns(d)) => d.probe(addr).await,
            (
                CheckKind::External {
                    command,
                    vip,
                    vport,
                },
                _,
            ) => external::probe(command, *vip, *vport, addr).await,
            (CheckKind::Ping, _) => ping::probe(addr.ip()).await,
            (CheckKind::On, _) => Ok("always on".into()),
            (CheckKind::Off, _) => Err(ProbeError::Off),
            (CheckKind::Http { .. } | CheckKind::Dns { .. }, Prepared::Plain) => {
                Err(ProbeError::Failed("internal: check not prepared".into()))
            }
        }
    }

    /// `http 127.0.0.1:8080: status 503, expected 200`: check, target, then what happened.
    pub(crate) fn cause(&self, result: &Result<String, ProbeError>) -> String {
        let what = match result {
            Ok(note) => note.clone(),
            Err(e) => e.to_string(),
        };
        match self.spec.kind {
            // The port means nothing to ping.
            CheckKind::Ping => format!("ping {}: {what}", self.target.addr.ip()),
            _ => format!("{} {}: {what}", self.spec.kind.name(), self.target.addr),
        }
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
