//! A `check:` block as written, with the types and values its fields take.

use super::*;

/// A `check:` block, as written: every field optional, so that a real's check can override
/// just some fields of its service's check. [`Config::resolved_check`] applies the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The kind of check (`connect` when no level sets it).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckType>,
    /// Overrides `global.check_defaults.interval`.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Overrides `global.check_defaults.timeout`.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Overrides `global.check_defaults.fall`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    /// Overrides `global.check_defaults.rise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    /// Port to check (default: the service port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// http/https: the path requested, starting with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// http/https: a regex the response body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<String>,
    /// http/https: the `Host` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// http/https: the request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<HttpMethod>,
    /// http/https: the status codes that pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<Vec<u16>>,
    /// https: whether the certificate must verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    /// dns: the name (or address, for PTR) looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// dns: the record type asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<QueryType>,
    /// dns: text that one answer must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// external: the command, run as `command <vip> <vport> <rip> <rport>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Check {
    /// A check of the given type with nothing else set.
    pub fn of(kind: CheckType) -> Self {
        Check {
            kind: Some(kind),
            ..Check::default()
        }
    }

    /// This check's fields, with those it leaves unset taken from `base`; a type-specific field
    /// of `base` is not inherited when it does not apply to the merged type (a real that
    /// switches to `ping` does not inherit the service's `request`).
    pub fn merged_over(&self, base: &Check) -> Check {
        let kind = self.kind.or(base.kind).unwrap_or_default();
        let base = base.only_for(kind);
        fn pick<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
            over.as_ref().or(base.as_ref()).cloned()
        }
        Check {
            kind: pick(&self.kind, &base.kind),
            interval: pick(&self.interval, &base.interval),
            timeout: pick(&self.timeout, &base.timeout),
            fall: pick(&self.fall, &base.fall),
            rise: pick(&self.rise, &base.rise),
            port: pick(&self.port, &base.port),
            request: pick(&self.request, &base.request),
            receive: pick(&self.receive, &base.receive),
            virtualhost: pick(&self.virtualhost, &base.virtualhost),
            http_method: pick(&self.http_method, &base.http_method),
            expect_status: pick(&self.expect_status, &base.expect_status),
            verify_tls: pick(&self.verify_tls, &base.verify_tls),
            query: pick(&self.query, &base.query),
            query_type: pick(&self.query_type, &base.query_type),
            expect: pick(&self.expect, &base.expect),
            command: pick(&self.command, &base.command),
        }
    }

    /// This check without the type-specific fields that `kind` does not take.
    fn only_for(&self, kind: CheckType) -> Check {
        fn keep<T: Clone>(v: &Option<T>, yes: bool) -> Option<T> {
            if yes { v.clone() } else { None }
        }
        Check {
            kind: self.kind,
            interval: self.interval,
            timeout: self.timeout,
            fall: self.fall,
            rise: self.rise,
            port: keep(&self.port, kind.takes("port")),
            request: keep(&self.request, kind.takes("request")),
            receive: keep(&self.receive, kind.takes("receive")),
            virtualhost: keep(&self.virtualhost, kind.takes("virtualhost")),
            http_method: keep(&self.http_method, kind.takes("http_method")),
            expect_status: keep(&self.expect_status, kind.takes("expect_status")),
            verify_tls: keep(&self.verify_tls, kind.takes("verify_tls")),
            query: keep(&self.query, kind.takes("query")),
            query_type: keep(&self.query_type, kind.takes("query_type")),
            expect: keep(&self.expect, kind.takes("expect")),
            command: keep(&self.command, kind.takes("command")),
        }
    }

    /// The type this check runs: its own, or `connect`.
    pub fn effective_kind(&self) -> CheckType {
        self.kind.unwrap_or_default()
    }

    /// The names of the type-specific fields this check sets (for applicability rules).
    pub(crate) fn specific_fields(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let mut note = |present: bool, name: &'static str| {
            if present {
                set.push(name);
            }
        };
        note(self.port.is_some(), "port");
        note(self.request.is_some(), "request");
        note(self.receive.is_some(), "receive");
        note(self.virtualhost.is_some(), "virtualhost");
        note(self.http_method.is_some(), "http_method");
        note(self.expect_status.is_some(), "expect_status");
        note(self.verify_tls.is_some(), "verify_tls");
        note(self.query.is_some(), "query");
        note(self.query_type.is_some(), "query_type");
        note(self.expect.is_some(), "expect");
        note(self.command.is_some(), "command");
        set
    }
}

/// The kinds of health check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// A TCP connect (for UDP services: the port must not answer ICMP unreachable).
    #[default]
    Connect,
    /// An HTTP request (ldirectord: `negotiate` + `service=http`).
    Http,
    /// An HTTPS request.
    Https,
    /// A DNS query.
    Dns,
    /// A command whose exit status decides.
    External,
    /// ICMP echo.
    Ping,
    /// No check: the real is always up.
    On,
    /// No check: the real is always down.
    Off,
}

impl CheckType {
    /// Every type, in documentation order.
    pub const ALL: [CheckType; 8] = [
        CheckType::Connect,
        CheckType::Http,
        CheckType::Https,
        CheckType::Dns,
        CheckType::External,
        CheckType::Ping,
        CheckType::On,
        CheckType::Off,
    ];

    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Connect => "connect",
            CheckType::Http => "http",
            CheckType::Https => "https",
            CheckType::Dns => "dns",
            CheckType::External => "external",
            CheckType::Ping => "ping",
            CheckType::On => "on",
            CheckType::Off => "off",
        }
    }

    /// Whether the check talks to a port (so a port-0 service needs `check.port`).
    pub fn needs_port(self) -> bool {
        matches!(
            self,
            CheckType::Connect | CheckType::Http | CheckType::Https | CheckType::Dns
        )
    }

    /// Whether the type-specific field `field` of [`Check`] applies to this type.
    pub fn takes(self, field: &str) -> bool {
        use CheckType::*;
        match field {
            "port" => matches!(self, Connect | Http | Https | Dns | External),
            "request" | "receive" | "virtualhost" | "http_method" | "expect_status" => {
                matches!(self, Http | Https)
            }
            "verify_tls" => self == Https,
            "query" | "query_type" | "expect" => self == Dns,
            "command" => self == External,
            _ => true,
        }
    }
}

impl fmt::Display for CheckType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HTTP method of an http(s) check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpMethod {
    /// `GET`: the body is read (and matched against `receive`).
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    /// `HEAD`: only the status counts.
    #[serde(rename = "HEAD", alias = "head")]
    Head,
}

/// Record type of a dns check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum QueryType {
    #[default]
    #[serde(alias = "a")]
    A,
    #[serde(alias = "aaaa")]
    Aaaa,
    #[serde(alias = "cname")]
    Cname,
    #[serde(alias = "mx")]
    Mx,
    #[serde(alias = "txt")]
    Txt,
    #[serde(alias = "ns")]
    Ns,
    #[serde(alias = "soa")]
    Soa,
    #[serde(alias = "ptr")]
    Ptr,
}
