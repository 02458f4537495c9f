//! What the engine adds to the configuration's resolved check ([`CheckSpec`], made by
//! [`Config::resolved_check`](crate::config::Config::resolved_check)): the [`Target`] it
//! probes, the name causes start with, and the checks that can be made before probing.

use std::fmt;
use std::net::SocketAddr;

use hickory_proto::rr::Name;

pub use crate::config::{CheckKind, CheckSpec, HttpMethod, Protocol, QueryType};

/// What a check probes: the real server's address and the port the check talks to (which may
/// differ from the port traffic is forwarded to, as ldirectord's `checkport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// Real server address and check port.
    pub addr: SocketAddr,
}

impl Target {
    /// A target at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

impl CheckKind {
    /// Short name used at the start of every cause: `connect`, `http`, `https`, `dns`, ...
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Connect {
                proto: Protocol::Tcp,
            } => "connect",
            CheckKind::Connect {
                proto: Protocol::Udp,
            } => "connect udp",
            CheckKind::Http { tls: false, .. } => "http",
            CheckKind::Http { tls: true, .. } => "https",
            CheckKind::Dns { .. } => "dns",
            CheckKind::External { .. } => "external",
            CheckKind::Ping => "ping",
            CheckKind::On => "on",
            CheckKind::Off => "off",
        }
    }
}

/// A spec that can never succeed as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// `interval` or `timeout` is zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// `receive` does not compile.
    #[error("receive: invalid regular expression: {0}")]
    Regex(String),
    /// `path` does not start with `/`.
    #[error("path {0:?} must start with '/'")]
    Path(String),
    /// The TLS client could not be configured.
    #[error("tls: {0}")]
    Tls(String),
    /// Internal: a check module was handed another kind of spec.
    #[error("internal: expected a {0} check")]
    Kind(&'static str),
    /// `name` is not a domain name.
    #[error("name {0:?} is not a domain name: {1}")]
    DnsName(String, String),
}

impl CheckSpec {
    /// Checks what can be checked without probing, so the config layer can reject a bad spec
    /// when it loads it. The engine runs invalid specs anyway, failing every probe with the
    /// reason.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.interval.is_zero() {
            return Err(SpecError::ZeroDuration("interval"));
        }
        if self.timeout.is_zero() {
            return Err(SpecError::ZeroDuration("timeout"));
        }
        match &self.kind {
            CheckKind::Http { path, receive, .. } => {
                if !path.starts_with('/') {
                    return Err(SpecError::Path(path.clone()));
                }
                if let Some(re) = receive {
                    regex::bytes::Regex::new(re).map_err(|e| SpecError::Regex(e.to_string()))?;
                }
            }
            CheckKind::Dns { name, .. } => {
                parse_name(name)?;
            }
            _ => {}
        }
        Ok(())
    }
}

pub(crate) fn parse_name(name: &str) -> Result<Name, SpecError> {
    let mut n =
        Name::from_utf8(name).map_err(|e| SpecError::DnsName(name.into(), e.to_string()))?;
    n.set_fqdn(true);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spec(kind: CheckKind) -> CheckSpec {
        CheckSpec {
            kind,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 1,
        }
    }

    #[test]
    fn validate_rejects_bad_regex_name_and_zero_interval() {
        let http = |receive: &str| CheckKind::Http {
            tls: false,
            verify_tls: true,
            method: HttpMethod::Get,
            path: "/".into(),
            host: None,
            expect_status: vec![],
            receive: Some(receive.into()),
        };
        assert!(spec(http("ok|fine")).validate().is_ok());
        assert!(matches!(
            spec(http("(")).validate(),
            Err(SpecError::Regex(_))
        ));
        let dns = |name: &str| CheckKind::Dns {
            name: name.into(),
            qtype: QueryType::A,
            proto: Protocol::Udp,
            expect: None,
        };
        assert!(spec(dns("example.org")).validate().is_ok());
        assert!(matches!(
            spec(dns("a..b")).validate(),
            Err(SpecError::DnsName(..))
        ));
        let mut s = spec(CheckKind::On);
        s.interval = Duration::ZERO;
        assert_eq!(s.validate(), Err(SpecError::ZeroDuration("interval")));
    }

    #[test]
    fn identical_specs_hash_equal() {
        use std::collections::HashSet;
        let a = spec(CheckKind::Connect {
            proto: Protocol::Tcp,
        });
        let set: HashSet<_> = [a.clone(), a.clone(), spec(CheckKind::Ping)].into();
        assert_eq!(set.len(), 2);
    }
}
