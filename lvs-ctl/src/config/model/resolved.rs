//! A real's check with every default applied: what the health engine runs.

use super::*;

/// A real's check with every default applied: where the health checker probes, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCheck {
    /// The real's address and the port checked: `check.port`, else the service port (0 for a
    /// port-0 service whose check type needs no port).
    pub addr: SocketAddr,
    /// The probe, its timing and its rise/fall counts.
    pub spec: CheckSpec,
}

/// One health check, fully resolved: what the health engine runs. Every type here is
/// `Clone + Eq + Hash` so that identical `(target, CheckSpec)` pairs, wanted by several
/// services, are recognised and probed once.
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

/// The kinds of probe, after ldirectord's `checktype`/`service`, with their settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// TCP: the three-way handshake completes. UDP (as ldirectord): a datagram is sent on a
    /// connected socket; an ICMP port-unreachable (`ECONNREFUSED`) means down, a reply or
    /// silence until (nine tenths of) the timeout means up.
    Connect {
        /// The service's protocol.
        proto: Protocol,
    },
    /// An HTTP/1.1 request, optionally over TLS.
    Http {
        /// Speak TLS (HTTPS).
        tls: bool,
        /// Verify the server's certificate against the web PKI roots (only with `tls`; always
        /// `true` for http, where it is moot).
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
        /// Name to resolve (or address, for PTR).
        name: String,
        /// Record type asked for.
        qtype: QueryType,
        /// The service's protocol: UDP (one datagram each way) or TCP.
        proto: Protocol,
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

impl Config {
    /// The check of real `real` of service `svc`, with the real's override merged over the
    /// service's check and `global.check_defaults` filling the rest.
    ///
    /// Meant for a validated configuration (where e.g. a dns check has a query).
    ///
    /// # Panics
    /// If `svc` or `real` is out of range.
    pub fn resolved_check(&self, svc: usize, real: usize) -> ResolvedCheck {
        let service = &self.services[svc];
        let r = &service.reals[real];
        let check = self.merged_check(svc, Some(real));
        let defaults = &self.global.check_defaults;
        let proto = service.protocol;
        let kind = match check.effective_kind() {
            CheckType::Connect => CheckKind::Connect { proto },
            kind @ (CheckType::Http | CheckType::Https) => CheckKind::Http {
                tls: kind == CheckType::Https,
                verify_tls: check.verify_tls.unwrap_or(true),
                method: check.http_method.unwrap_or_default(),
                path: check
                    .request
                    .clone()
                    .unwrap_or_else(|| DEFAULT_HTTP_REQUEST.to_owned()),
                host: check.virtualhost.clone(),
                expect_status: check
                    .expect_status
                    .clone()
                    .unwrap_or_else(|| DEFAULT_EXPECT_STATUS.to_vec()),
                receive: check.receive.clone(),
            },
            CheckType::Dns => CheckKind::Dns {
                name: check.query.clone().unwrap_or_default(),
                qtype: check.query_type.unwrap_or_default(),
                proto,
                expect: check.expect.clone(),
            },
            CheckType::External => CheckKind::External {
                command: PathBuf::from(check.command.as_deref().unwrap_or_default().trim()),
                vip: service.vip,
                vport: service.port,
            },
            CheckType::Ping => CheckKind::Ping,
            CheckType::On => CheckKind::On,
            CheckType::Off => CheckKind::Off,
        };
        ResolvedCheck {
            addr: SocketAddr::new(r.address, check.port.unwrap_or(service.port)),
            spec: CheckSpec {
                kind,
                interval: check.interval.unwrap_or(defaults.interval),
                timeout: check.timeout.unwrap_or(defaults.timeout),
                rise: check.rise.unwrap_or(defaults.rise),
                fall: check.fall.unwrap_or(defaults.fall),
            },
        }
    }

    /// The service's check, with real `real`'s override merged over it when given (defaults
    /// of `global.check_defaults` not applied).
    pub(crate) fn merged_check(&self, svc: usize, real: Option<usize>) -> Check {
        let service = &self.services[svc];
        let base = service.check.clone().unwrap_or_default();
        match real.and_then(|r| service.reals[r].check.as_ref()) {
            Some(over) => over.merged_over(&base),
            None => base,
        }
    }
}
