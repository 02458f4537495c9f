//! The resolved runtime description of a health check: what to probe, how often, and how many
//! results in a row change a server's state.
//!
//! The config layer turns its YAML into these plain values; the engine never sees YAML. Every
//! type here is `Clone + Eq + Hash` so that identical `(Target, CheckSpec)` pairs, wanted by
//! several services, are recognised and probed once.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};

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

/// One health check, fully resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckSpec {
    /// What the probe does.
    pub kind: CheckKind,
    /// Time between the starts of two probes.
    pub interval: Duration,
    /// Longest a single probe may take; it fails (and any child process is killed) after that.
    pub timeout: Duration,
    /// Consecutive successes that bring a server that is not up (down or not yet known) up.
    /// 0 is taken as 1.
    pub rise: u32,
    /// Consecutive failures that bring a server that is not down (up or not yet known) down.
    /// 0 is taken as 1.
    pub fall: u32,
}

/// Transport protocol of a connect or DNS check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// Request method of an HTTP check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`: the body is read (up to a bound) when `receive` is set.
    Get,
    /// `HEAD`: status only.
    Head,
}

/// The kinds of probe, after ldirectord's `checktype`/`service`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// TCP: the three-way handshake completes. UDP (as ldirectord): a datagram is sent on a
    /// connected socket; an ICMP port-unreachable (`ECONNREFUSED`) means down, a reply or
    /// silence until (nine tenths of) the timeout means up.
    Connect {
        /// TCP or UDP.
        proto: Proto,
    },
    /// An HTTP/1.1 request, optionally over TLS.
    Http {
        /// Speak TLS (HTTPS).
        tls: bool,
        /// Verify the server's certificate against the web PKI roots (only with `tls`).
        verify_tls: bool,
        /// GET or HEAD.
        method: HttpMethod,
        /// Request path, with query string if any (`/healthz`).
        path: String,
        /// `Host` header and TLS server name; the target's address when `None`.
        host: Option<String>,
        /// Acceptable status codes; any 2xx when empty.
        expect_status: Vec<u16>,
        /// A regular expression (`regex` syntax) the first 64 KiB of the body must match.
        receive: Option<String>,
    },
    /// A DNS query to the target.
    Dns {
        /// Name to resolve.
        name: String,
        /// Record type: `A`, `AAAA`, `MX`, `TXT`, ...
        qtype: String,
        /// UDP (one datagram each way) or TCP.
        proto: Proto,
        /// When set, some answer of type `qtype` must equal this (an address for A/AAAA, the
        /// record's presentation form otherwise); when not, any answer of that type will do.
        expect: Option<String>,
    },
    /// A program, called as ldirectord does: `command <vip> <vport> <rip> <rport>`; exit status
    /// 0 means up. Killed (with its whole process group) at the timeout.
    External {
        /// Program to run (not through a shell).
        command: PathBuf,
        /// Virtual address of the service, passed as the first argument.
        vip: IpAddr,
        /// Virtual port of the service, passed as the second argument.
        vport: u16,
    },
    /// ICMP or ICMPv6 echo to the target's address (the port is ignored).
    Ping,
    /// Always up (ldirectord's `checktype = on`).
    On,
    /// Always down (ldirectord's `checktype = off`).
    Off,
}

impl CheckKind {
    /// Short name used at the start of every cause: `connect`, `http`, `https`, `dns`, ...
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Connect { proto: Proto::Tcp } => "connect",
            CheckKind::Connect { proto: Proto::Udp } => "connect udp",
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
    /// `qtype` is not a record type.
    #[error("qtype {0:?} is not a DNS record type")]
    QType(String),
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
            CheckKind::Dns { name, qtype, .. } => {
                parse_qtype(qtype)?;
                parse_name(name)?;
            }
            _ => {}
        }
        Ok(())
    }
}

pub(crate) fn parse_qtype(qtype: &str) -> Result<RecordType, SpecError> {
    RecordType::from_str(&qtype.to_ascii_uppercase()).map_err(|_| SpecError::QType(qtype.into()))
}

pub(crate) fn parse_name(name: &str) -> Result<Name, SpecError> {
    let mut n =
        Name::from_utf8(name).map_err(|e| SpecError::DnsName(name.into(), e.to_string()))?;
    n.set_fqdn(true);
    Ok(n)
}

#[cfg(test)]
mod tests {
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
    fn validate_rejects_bad_regex_qtype_and_zero_interval() {
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
        let dns = CheckKind::Dns {
            name: "example.org".into(),
            qtype: "a".into(),
            proto: Proto::Udp,
            expect: None,
        };
        assert!(spec(dns).validate().is_ok());
        let dns = CheckKind::Dns {
            name: "example.org".into(),
            qtype: "NOPE".into(),
            proto: Proto::Udp,
            expect: None,
        };
        assert!(matches!(spec(dns).validate(), Err(SpecError::QType(_))));
        let mut s = spec(CheckKind::On);
        s.interval = Duration::ZERO;
        assert_eq!(s.validate(), Err(SpecError::ZeroDuration("interval")));
    }

    #[test]
    fn identical_specs_hash_equal() {
        use std::collections::HashSet;
        let a = spec(CheckKind::Connect { proto: Proto::Tcp });
        let set: HashSet<_> = [a.clone(), a.clone(), spec(CheckKind::Ping)].into();
        assert_eq!(set.len(), 2);
    }
}
