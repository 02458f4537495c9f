//! Reading the file directive by directive: the global and `virtual=` directives, and the ones
//! lvs has no use for.

use super::*;

/// Global directives lvs has no use for, with what to do instead.
pub(super) const IGNORED_GLOBAL: &[(&str, &str)] = &[
    ("callback", "lvs has no configuration-change callback"),
    ("logfile", "lvs logs to stderr"),
    (
        "supervised",
        "lvs runs in the foreground under its service manager",
    ),
    ("execute", "lvs runs one configuration per instance"),
    ("emailalert", "use global.on_change to send alerts"),
    ("emailalertfreq", "use global.on_change to send alerts"),
    ("emailalertstatus", "use global.on_change to send alerts"),
    ("emailalertfrom", "use global.on_change to send alerts"),
    ("smtp", "use global.on_change to send alerts"),
    (
        "fallbackcommand",
        "global.on_change is run on every real state change",
    ),
    ("cleanstop", "lvs keeps its tables when it stops"),
    ("readdquiescent", "lvs keeps quiescent reals in its tables"),
    (
        "checkcount",
        "deprecated in ldirectord; use failurecount (imported as fall)",
    ),
    (
        "connecttimeout",
        "deprecated in ldirectord in favour of negotiatetimeout",
    ),
    (
        "timeout",
        "deprecated in ldirectord in favour of checktimeout and negotiatetimeout",
    ),
];

/// The ipvs schedulers (`ipvsadm -s`), with how each picks a real where Maglev differs; `None`
/// for those Maglev stands for (mh; sh, a hash of the client address: persistent).
pub(super) const SCHEDULERS: &[(&str, Option<&str>)] = &[
    (
        "rr",
        Some("gives new connections to the reals in turn, whatever their weights"),
    ),
    (
        "wrr",
        Some("gives new connections to the reals in turn, as often as their weights say"),
    ),
    (
        "lc",
        Some("sends a new connection to the real with the fewest active connections"),
    ),
    (
        "wlc",
        Some(
            "sends a new connection to the real with the fewest active connections per unit of \
             weight",
        ),
    ),
    (
        "lblc",
        Some("keeps each destination address on one real while it is not overloaded"),
    ),
    (
        "lblcr",
        Some("keeps each destination address on a set of reals"),
    ),
    (
        "dh",
        Some("chooses the real by a hash of the destination address"),
    ),
    ("sh", None),
    (
        "sed",
        Some(
            "sends a new connection to the real of shortest expected delay ((active \
             connections + 1) / weight)",
        ),
    ),
    (
        "nq",
        Some("sends a new connection to an idle real if there is one, else as sed"),
    ),
    (
        "fo",
        Some("sends every new connection to the available real of highest weight"),
    ),
    (
        "ovf",
        Some(
            "sends new connections to the real of highest weight until its active connections \
             exceed its weight",
        ),
    ),
    ("mh", None),
    (
        "twos",
        Some("sends a new connection to the less loaded of two reals picked at random"),
    ),
];

/// What weighted Maglev does instead of the scheduler `name`, which picks reals as `how`.
pub(super) fn as_maglev(name: &str, how: &str) -> String {
    let hint = if name == "rr" {
        " (give the reals equal weights for rr's even spread)"
    } else {
        ""
    };
    format!(
        "{name} {how}; maglev spreads connections by a hash of the flow, in proportion to the \
         weights{hint}"
    )
}

/// Directives of a virtual block lvs has no use for.
pub(super) const IGNORED_VIRTUAL: &[(&str, &str)] = &[
    ("login", "the checks of lvs do not log in"),
    ("passwd", "the checks of lvs do not log in"),
    ("database", "lvs has no SQL check"),
    ("secret", "lvs has no RADIUS check"),
    ("load", "lvs has no load check"),
    ("ops", "lvs has no one-packet scheduling"),
    ("emailalert", "use global.on_change to send alerts"),
    ("emailalertfreq", "use global.on_change to send alerts"),
    ("emailalertstatus", "use global.on_change to send alerts"),
    ("smtp", "use global.on_change to send alerts"),
    (
        "fallbackcommand",
        "global.on_change is run on every real state change",
    ),
    ("monitorfile", "lvs logs check results itself"),
    ("cleanstop", "lvs keeps its tables when it stops"),
    (
        "comment",
        "lvs has no comment field (keep it as a YAML comment)",
    ),
    (
        "checkcount",
        "deprecated in ldirectord; use failurecount (imported as fall)",
    ),
    (
        "connecttimeout",
        "deprecated in ldirectord in favour of negotiatetimeout",
    ),
];

impl Parser<'_> {
    pub(super) fn warn(&mut self, line: usize, message: impl Into<String>) {
        self.push(line, None, message.into());
    }

    /// A warning that something is not carried over.
    pub(super) fn lose(&mut self, line: usize, what: Lost, message: impl Into<String>) {
        self.push(line, Some(what), message.into());
    }

    pub(super) fn push(&mut self, line: usize, lost: Option<Lost>, message: String) {
        if !self
            .warnings
            .iter()
            .any(|w| w.line == line && w.message == message)
        {
            self.warnings.push(Warning {
                line,
                message,
                lost,
            });
        }
    }

    pub(super) fn read(&mut self, text: &str) -> Result<(), ConfigError> {
        let mut in_block = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = strip_comment(raw);
            if content.trim().is_empty() {
                continue;
            }
            let indented = content.starts_with([' ', '\t']);
            if !indented {
                in_block = false;
            }
            let Some((key, value)) = split_directive(content.trim()) else {
                self.warn(
                    line,
                    format!(
                        "{:?} is not a `key = value` directive; ignored",
                        content.trim()
                    ),
                );
                continue;
            };
            if indented {
                if in_block {
                    self.virtual_directive(line, &key, value)?;
                } else {
                    self.warn(
                        line,
                        format!("indented `{key}` outside a virtual block; ignored"),
                    );
                }
                continue;
            }
            match key.as_str() {
                "virtual" | "virtual6" => {
                    let endpoint = self.virtual_endpoint(line, &key, value);
                    self.virtuals.push(Virtual::new(line, endpoint));
                    in_block = true;
                }
                _ => self.global_directive(line, &key, value)?,
            }
        }
        Ok(())
    }

    pub(super) fn global_directive(
        &mut self,
        line: usize,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        match key {
            "checktimeout" => self.globals.checktimeout = Some((seconds(line, key, value)?, line)),
            "negotiatetimeout" => {
                self.globals.negotiatetimeout = Some((seconds(line, key, value)?, line))
            }
            "checkinterval" => self.checkinterval = Some((seconds(line, key, value)?, line)),
            "failurecount" => self.globals.failurecount = Some((count(line, key, value)?, line)),
            "quiescent" => self.globals.quiescent = Some((yes_no(line, key, value)?, line)),
            "fork" => self.fork = yes_no(line, key, value)?,
            "autoreload" => self.autoreload = yes_no(line, key, value)?,
            "maintenancedir" => self.maintenancedir = Some((unquote(value).to_owned(), line)),
            "fallback" => self.fallback = Some((value.to_owned(), line)),
            "fallback6" => self.fallback6 = Some((value.to_owned(), line)),
            _ => match IGNORED_GLOBAL.iter().find(|(k, _)| *k == key) {
                Some((_, why)) => {
                    self.warn(line, format!("{key} has no equivalent: {why}; ignored"))
                }
                None => self.warn(line, format!("unknown directive `{key}`; ignored")),
            },
        }
        Ok(())
    }

    /// The address and port of `virtual=` / `virtual6=`, or `None` (with a warning) for a
    /// block that cannot be imported.
    pub(super) fn virtual_endpoint(
        &mut self,
        line: usize,
        key: &str,
        value: &str,
    ) -> Option<(IpAddr, u16)> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            self.lose(
                line,
                Lost::Service,
                format!(
                    "firewall-mark service {value} is not supported (lvs balances addresses and \
                     ports); the block is skipped"
                ),
            );
            return None;
        }
        let parsed = split_host_port(value).and_then(|(host, port)| {
            let addr = host.parse::<IpAddr>().ok()?;
            Some((addr, port?))
        });
        let Some((addr, port)) = parsed else {
            self.lose(
                line,
                Lost::Service,
                format!(
                    "{key} {value:?} is not an address and port (host names are not resolved); \
                     the block is skipped"
                ),
            );
            return None;
        };
        let Some(port) = port_number(port) else {
            self.lose(
                line,
                Lost::Service,
                format!("{key}: unknown port {port:?}; the block is skipped"),
            );
            return None;
        };
        match (key, addr) {
            ("virtual", IpAddr::V6(_)) => self.warn(
                line,
                "an IPv6 service should be written virtual6= in ldirectord",
            ),
            ("virtual6", IpAddr::V4(_)) => self.warn(
                line,
                "an IPv4 service should be written virtual= in ldirectord",
            ),
            _ => {}
        }
        Some((addr, port))
    }

    pub(super) fn virtual_directive(
        &mut self,
        line: usize,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let v = self.virtuals.last_mut().expect("in a block");
        let set = |v: &str| Some((unquote(v).to_owned(), line));
        match key {
            "real" | "real6" => v.reals.push((value.to_owned(), line)),
            "fallback" | "fallback6" => v.fallback = set(value),
            "checktype" => v.checktype = set(value),
            "service" => v.service = set(&value.to_ascii_lowercase()),
            "request" => v.request = set(value),
            "receive" => v.receive = set(value),
            "virtualhost" => v.virtualhost = set(value),
            "checkcommand" => v.checkcommand = set(value),
            "servicename" => v.servicename = set(value),
            "scheduler" => {
                let name = unquote(value);
                if !SCHEDULERS.iter().any(|(n, _)| *n == name) {
                    let known: Vec<&str> = SCHEDULERS.iter().map(|(n, _)| *n).collect();
                    return Err(syntax(
                        line,
                        format!("unknown scheduler {name:?} (ipvs has {})", known.join(", ")),
                    ));
                }
                v.scheduler = set(value);
            }
            "schedflags" => v.schedflags = set(value),
            "checkport" => {
                let port = value
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| syntax(line, format!("checkport {value:?} is not a port")))?;
                v.checkport = Some((port, line));
            }
            "httpmethod" => {
                let method = match value.trim().to_ascii_uppercase().as_str() {
                    "GET" => HttpMethod::Get,
                    "HEAD" => HttpMethod::Head,
                    _ => {
                        return Err(syntax(
                            line,
                            format!("httpmethod {value:?} is not GET or HEAD"),
                        ));
                    }
                };
                v.httpmethod = Some((method, line));
            }
            "protocol" => match value.trim() {
                "tcp" => v.protocol = Some((Protocol::Tcp, line)),
                "udp" => v.protocol = Some((Protocol::Udp, line)),
                "fwm" => {
                    if v.endpoint.take().is_some() {
                        self.lose(
                            line,
                            Lost::Service,
                            "protocol fwm (firewall marks) is not supported; the block is skipped",
                        );
                    }
                }
                other => {
                    return Err(syntax(
                        line,
                        format!("protocol {other:?} is not tcp, udp or fwm"),
                    ));
                }
            },
            "persistent" => v.persistent = Some((seconds(line, key, value)?, line)),
            "netmask" => self.warn(
                line,
                format!(
                    "netmask {} is not supported: persistence hashes the whole client address; \
                     ignored",
                    value.trim()
                ),
            ),
            "checktimeout" => v.settings.checktimeout = Some((seconds(line, key, value)?, line)),
            "negotiatetimeout" => {
                v.settings.negotiatetimeout = Some((seconds(line, key, value)?, line))
            }
            "failurecount" => v.settings.failurecount = Some((count(line, key, value)?, line)),
            "quiescent" => v.settings.quiescent = Some((yes_no(line, key, value)?, line)),
            "checkinterval" => v.checkinterval = Some((seconds(line, key, value)?, line)),
            _ => match IGNORED_VIRTUAL.iter().find(|(k, _)| *k == key) {
                Some((_, why)) => {
                    self.warn(line, format!("{key} has no equivalent: {why}; ignored"))
                }
                None => self.warn(line, format!("unknown directive `{key}`; ignored")),
            },
        }
        Ok(())
    }
}
