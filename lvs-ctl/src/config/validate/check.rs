//! The rules of `check:` blocks: each level's own fields, what the merged check lacks, and
//! what each fault rests on.

use super::*;

impl Validator {
    /// The service's check and the reals' overrides: each level's own fields, then whether the
    /// merged checks are complete (required fields, a port to check).
    pub(super) fn checks(&mut self, config: &Config, i: usize) {
        let s = &config.services[i];
        let defaults = &config.global.check_defaults;
        let svc_path = format!("services[{i}].check");
        let svc_check = config.merged_check(i, None);

        if let Some(own) = &s.check {
            let inherited = Timing::defaults(defaults);
            self.check_level(&svc_path, own, &svc_check, &inherited);
        }

        // Missing required fields: blamed on a real's check if it chose the type, on the
        // service's otherwise (once).
        let mut svc_missing = BTreeSet::new();
        if s.reals.is_empty() {
            svc_missing.extend(missing(&svc_check, s.port));
        }
        for (j, r) in s.reals.iter().enumerate() {
            let merged = config.merged_check(i, Some(j));
            let real_path = format!("services[{i}].reals[{j}].check");
            if let Some(own) = &r.check {
                let inherited = Timing::over(&svc_check, &svc_path, defaults);
                self.check_level(&real_path, own, &merged, &inherited);
            }
            let chose_type = r.check.as_ref().is_some_and(|c| c.kind.is_some());
            for field in missing(&merged, s.port) {
                if chose_type {
                    let deps = missing_deps(i, Some(j), field);
                    self.missing_fault(&real_path, field, &merged, s.port, deps);
                } else {
                    svc_missing.insert(field);
                }
            }
        }
        for field in svc_missing {
            let mut deps = missing_deps(i, None, field);
            for j in 0..s.reals.len() {
                deps.extend(missing_deps(i, Some(j), field));
            }
            self.missing_fault(&svc_path, field, &svc_check, s.port, deps);
        }
    }

    fn missing_fault(
        &mut self,
        path: &str,
        field: &'static str,
        check: &Check,
        port: u16,
        deps: Vec<String>,
    ) {
        let kind = check.effective_kind();
        let message = if field == "port" {
            format!(
                "required: the service port is {port} (every port) and a {kind} check needs a \
                 port to check"
            )
        } else {
            format!("required for type {kind}")
        };
        self.fault_on(format!("{path}.{field}"), message, deps);
    }

    /// The fields a check block sets itself. `merged` is the block merged over what it
    /// inherits (the service's check for a real's block), `inherited` its timing.
    fn check_level(&mut self, path: &str, own: &Check, merged: &Check, inherited: &Timing) {
        let kind = merged.effective_kind();

        // Timing.
        if let Some(d) = own.interval {
            self.duration(format!("{path}.interval"), d);
        }
        if let Some(d) = own.timeout {
            self.duration(format!("{path}.timeout"), d);
        }
        let interval = own.interval.unwrap_or(inherited.interval);
        let timeout = own.timeout.unwrap_or(inherited.timeout);
        let timing_deps = vec![
            format!("{path}.interval"),
            format!("{path}.timeout"),
            format!("{}.interval", inherited.interval_from),
            format!("{}.timeout", inherited.timeout_from),
        ];
        if timeout > interval {
            if own.timeout.is_some() {
                let from = if own.interval.is_some() {
                    String::new()
                } else {
                    format!(" (from {})", inherited.interval_from)
                };
                self.fault_on(
                    format!("{path}.timeout"),
                    format!(
                        "{} is longer than the interval {}{from}",
                        fmt_duration(timeout),
                        fmt_duration(interval)
                    ),
                    timing_deps,
                );
            } else if own.interval.is_some() {
                self.fault_on(
                    format!("{path}.interval"),
                    format!(
                        "{} is shorter than the timeout {} (from {})",
                        fmt_duration(interval),
                        fmt_duration(timeout),
                        inherited.timeout_from
                    ),
                    timing_deps,
                );
            }
        }
        if let Some(n) = own.fall {
            self.range(format!("{path}.fall"), n, &FALL_RISE_RANGE);
        }
        if let Some(n) = own.rise {
            self.range(format!("{path}.rise"), n, &FALL_RISE_RANGE);
        }

        // Fields of other types.
        for field in own.specific_fields() {
            if !kind.takes(field) {
                self.fault_on(
                    format!("{path}.{field}"),
                    format!("{} (the check's type is {kind})", only_valid_for(field)),
                    type_deps(path),
                );
            }
        }

        // Values.
        if own.port == Some(0) {
            self.fault(
                format!("{path}.port"),
                "0 is not a port to check (1..=65535)",
            );
        }
        if let Some(req) = &own.request
            && (!req.starts_with('/') || req.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            self.fault(
                format!("{path}.request"),
                format!(
                    "{} is not a path: it must start with '/' and hold no blanks",
                    quoted(req)
                ),
            );
        }
        if let Some(re) = &own.receive
            && let Err(e) = regex::Regex::new(re)
        {
            self.fault(
                format!("{path}.receive"),
                format!("{} is not a valid regex: {}", quoted(re), regex_reason(&e)),
            );
        }
        if (own.receive.is_some() || own.http_method.is_some())
            && merged.http_method == Some(HttpMethod::Head)
            && merged.receive.is_some()
            && kind.takes("receive")
        {
            let mut deps = type_deps(path);
            deps.extend(check_levels(path).map(|l| format!("{l}.http_method")));
            deps.extend(check_levels(path).map(|l| format!("{l}.receive")));
            self.fault_on(
                format!("{path}.receive"),
                "a HEAD request has no body to match: drop receive or use GET",
                deps,
            );
        }
        if let Some(host) = &own.virtualhost
            && (host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            self.fault(
                format!("{path}.virtualhost"),
                format!("{} is not a host name", quoted(host)),
            );
        }
        if let Some(codes) = &own.expect_status {
            if codes.is_empty() {
                self.fault(
                    format!("{path}.expect_status"),
                    "at least one status code is needed",
                );
            }
            for (k, &code) in codes.iter().enumerate() {
                self.range(format!("{path}.expect_status[{k}]"), code, &STATUS_RANGE);
            }
        }
        for (field, value) in [
            ("query", &own.query),
            ("expect", &own.expect),
            ("command", &own.command),
        ] {
            if let Some(v) = value
                && v.trim().is_empty()
            {
                self.fault(format!("{path}.{field}"), "cannot be empty");
            }
        }
    }
}

/// The interval and timeout a check level inherits, and where they come from.
struct Timing {
    interval: Duration,
    interval_from: String,
    timeout: Duration,
    timeout_from: String,
}

impl Timing {
    fn defaults(d: &CheckDefaults) -> Self {
        Timing {
            interval: d.interval,
            interval_from: "global.check_defaults".into(),
            timeout: d.timeout,
            timeout_from: "global.check_defaults".into(),
        }
    }

    fn over(check: &Check, path: &str, d: &CheckDefaults) -> Self {
        let mut t = Timing::defaults(d);
        if let Some(i) = check.interval {
            t.interval = i;
            t.interval_from = path.to_owned();
        }
        if let Some(to) = check.timeout {
            t.timeout = to;
            t.timeout_from = path.to_owned();
        }
        t
    }
}

/// The check blocks whose fields merge into the check at `path`: a real's check
/// (`services[0].reals[1].check`) merges over its service's (`services[0].check`).
pub(super) fn check_levels(path: &str) -> impl Iterator<Item = String> {
    let service = path.split(".reals[").next().unwrap_or(path);
    let service_check = if service.ends_with(".check") {
        service.to_owned()
    } else {
        format!("{service}.check")
    };
    let own = path.to_owned();
    std::iter::once(own.clone()).chain((service_check != own).then_some(service_check))
}

/// What the type of the check at `path` rests on.
fn type_deps(path: &str) -> Vec<String> {
    check_levels(path).map(|l| format!("{l}.type")).collect()
}

/// What a "required" fault of `field` for service `i` (and real `j`) rests on: the service's
/// port, the check types, and the field itself at each level.
fn missing_deps(i: usize, j: Option<usize>, field: &str) -> Vec<String> {
    let path = match j {
        Some(j) => format!("services[{i}].reals[{j}].check"),
        None => format!("services[{i}].check"),
    };
    let mut deps = vec![format!("services[{i}].port")];
    for level in check_levels(&path) {
        deps.push(format!("{level}.type"));
        deps.push(format!("{level}.{field}"));
    }
    deps
}

/// The fields a merged check needs and lacks.
fn missing(check: &Check, service_port: u16) -> Vec<&'static str> {
    let kind = check.effective_kind();
    let mut out = Vec::new();
    if kind.needs_port() && service_port == 0 && check.port.is_none() {
        out.push("port");
    }
    if kind == CheckType::Dns && check.query.is_none() {
        out.push("query");
    }
    if kind == CheckType::External && check.command.is_none() {
        out.push("command");
    }
    out
}

fn only_valid_for(field: &str) -> String {
    let types: Vec<&str> = CheckType::ALL
        .iter()
        .filter(|t| t.takes(field))
        .map(|t| t.as_str())
        .collect();
    match types.as_slice() {
        [one] => format!("only valid for type {one}"),
        many => format!("only valid for types {}", many.join(", ")),
    }
}

/// The last line of a regex error ("unclosed group"), as the full text spans several lines.
pub(super) fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.lines().collect::<Vec<_>>().join(" "))
}
