//! One probe of one target: dispatch to the check type, bound by the timeout, and the words a
//! failure is reported with.

use super::dns::DnsCheck;
use super::error::ProbeError;
use super::http::HttpCheck;
use super::spec::{CheckKind, CheckSpec, Protocol, SpecError, Target};
use super::{connect, external, ping};

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
