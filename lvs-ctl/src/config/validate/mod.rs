//! The semantic rules of a configuration. [`validate`] walks the whole file and returns every
//! fault, each with the path of the key to fix.
//!
//! Each fault also names the values it rests on ([`Finding`]): when the file is read, a rule
//! whose input could not be read (and was replaced by a default) is not reported, so that one
//! typo gives one fault, not its consequences too.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use super::duration::format as fmt_duration;
use super::model::*;
use super::{Fault, quoted};
use crate::maglev::is_prime;

mod check;

/// Allowed Maglev table sizes (the value must also be prime).
pub const RING_SIZE_RANGE: RangeInclusive<u32> = 7..=1_048_573;
/// Allowed connection-table sizes.
pub const CONN_TABLE_SIZE_RANGE: RangeInclusive<u32> = 1024..=16_777_216;
/// Allowed check intervals and timeouts.
pub const CHECK_DURATION_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(3600);
/// Allowed `fall` and `rise` counts.
pub const FALL_RISE_RANGE: RangeInclusive<u32> = 1..=100;
/// Allowed real weights.
pub const WEIGHT_RANGE: RangeInclusive<u32> = 0..=65535;
/// Allowed HTTP status codes in `expect_status`.
pub const STATUS_RANGE: RangeInclusive<u16> = 100..=599;
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Longest Unix socket path: `sun_path` holds 108 bytes with the terminating NUL.
pub const SOCKET_PATH_MAX: usize = 107;
/// What `global.metrics` takes.
pub const METRICS_ADDRESS: &str =
    "an address and a port from 1 to 65535 (127.0.0.1:9474, [::1]:9474)";
/// Longest service name, in bytes (names are shown in logs and in `lvs-ctl list`).
pub const NAME_MAX: usize = 64;

/// Every fault of `config`, in file order (duplicates last).
pub fn validate(config: &Config) -> Vec<Fault> {
    findings(config).into_iter().map(|f| f.fault).collect()
}

/// A fault and the paths of the values it rests on (its own path among them).
pub struct Finding {
    /// The fault.
    pub fault: Fault,
    /// Paths of the values the rule read.
    pub deps: Vec<String>,
}

impl Finding {
    /// Whether one of the values this fault rests on is `broken` (could not be read) or lies
    /// under a broken path.
    pub fn rests_on(&self, broken: &[String]) -> bool {
        self.deps
            .iter()
            .any(|d| broken.iter().any(|b| is_within(d, b)))
    }
}

/// Whether `path` is `outer` or lies under it (`services[1].vip` within `services[1]`).
pub fn is_within(path: &str, outer: &str) -> bool {
    outer.is_empty()
        || path == outer
        || (path.starts_with(outer) && matches!(path.as_bytes()[outer.len()], b'.' | b'['))
}

/// Every fault of `config` with what it rests on.
pub fn findings(config: &Config) -> Vec<Finding> {
    let mut v = Validator::default();
    v.global(&config.global);
    for i in 0..config.services.len() {
        v.service(config, i);
    }
    v.duplicate_services(config);
    v.findings
}

#[derive(Default)]
struct Validator {
    findings: Vec<Finding>,
}

impl Validator {
    fn fault(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.fault_on(path, message, Vec::new());
    }

    /// A fault that also rests on the values at `deps`.
    fn fault_on(&mut self, path: impl Into<String>, message: impl Into<String>, deps: Vec<String>) {
        let fault = Fault::new(path, message);
        let mut deps = deps;
        deps.push(fault.path.clone());
        self.findings.push(Finding { fault, deps });
    }

    fn range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        path: impl Into<String>,
        value: T,
        range: &RangeInclusive<T>,
    ) {
        if !range.contains(&value) {
            self.fault(
                path,
                format!(
                    "{value} is out of range {}..={}",
                    range.start(),
                    range.end()
                ),
            );
        }
    }

    fn duration(&mut self, path: impl Into<String>, value: Duration) {
        if !CHECK_DURATION_RANGE.contains(&value) {
            self.fault(
                path,
                format!(
                    "{} is out of range {}..={}",
                    fmt_duration(value),
                    fmt_duration(*CHECK_DURATION_RANGE.start()),
                    fmt_duration(*CHECK_DURATION_RANGE.end())
                ),
            );
        }
    }

    fn absolute(&mut self, path: &str, value: &Path) {
        if !value.is_absolute() {
            self.fault(
                path,
                format!(
                    "{} is not an absolute path",
                    quoted(&value.display().to_string())
                ),
            );
        }
    }

    fn global(&mut self, g: &Global) {
        if g.interfaces.is_empty() {
            self.fault(
                "global.interfaces",
                "at least one interface is needed for the XDP director to attach to",
            );
        }
        let mut seen = HashMap::new();
        for (i, name) in g.interfaces.iter().enumerate() {
            let path = format!("global.interfaces[{i}]");
            if name.is_empty() {
                self.fault(path, "an interface name cannot be empty");
            } else if name.len() > IFNAME_MAX {
                self.fault(
                    path,
                    format!(
                        "{} is longer than {IFNAME_MAX} bytes, the limit of Linux",
                        quoted(name)
                    ),
                );
            } else if !is_interface_name(name) {
                self.fault(
                    path,
                    format!(
                        "{} is not a valid interface name (no '/', blanks or control characters)",
                        quoted(name)
                    ),
                );
            } else if let Some(first) = seen.insert(name.as_str(), i) {
                self.fault_on(
                    path,
                    format!(
                        "{} is listed twice (also global.interfaces[{first}])",
                        quoted(name)
                    ),
                    vec![format!("global.interfaces[{first}]")],
                );
            }
        }

        if !RING_SIZE_RANGE.contains(&g.ring_size) {
            self.range("global.ring_size", g.ring_size, &RING_SIZE_RANGE);
        } else if !is_prime(g.ring_size) {
            let (below, above) = neighbour_primes(g.ring_size);
            self.fault(
                "global.ring_size",
                format!(
                    "{} is not a prime (Maglev needs a prime table size); the nearest are {below} \
                     and {above}",
                    g.ring_size
                ),
            );
        }
        self.range(
            "global.conn_table_size",
            g.conn_table_size,
            &CONN_TABLE_SIZE_RANGE,
        );
        self.absolute("global.pin_path", &g.pin_path);
        self.absolute("global.socket", &g.socket);
        let socket_len = g.socket.as_os_str().len();
        if socket_len > SOCKET_PATH_MAX {
            self.fault(
                "global.socket",
                format!(
                    "{} is {socket_len} bytes long; a Unix socket path has at most \
                     {SOCKET_PATH_MAX} bytes (sun_path)",
                    quoted(&g.socket.display().to_string())
                ),
            );
        }
        if let Some(dir) = &g.maintenance_dir {
            self.absolute("global.maintenance_dir", dir);
        }
        if let Some(cmd) = &g.on_change
            && cmd.trim().is_empty()
        {
            self.fault("global.on_change", "the command is empty");
        }
        if let Some(a) = g.metrics
            && a.port() == 0
        {
            self.fault(
                "global.metrics",
                format!("{a}: port 0 is not allowed: {METRICS_ADDRESS}"),
            );
        }
        if let Some(t) = &g.tunnel {
            if t.gue_port == 0 {
                self.fault("global.tunnel.gue_port", "0 is not a UDP port");
            }
            self.range("global.tunnel.vary_bits_v4", t.vary_bits_v4, &(0..=16));
            self.range("global.tunnel.vary_bits_v6", t.vary_bits_v6, &(0..=32));
            self.range("global.tunnel.ttl", t.ttl, &(1..=255));
            if let Some(a) = t.source_v4
                && t.vary_bits_v4 > 0
                && t.vary_bits_v4 <= 16
                && u32::from(a) & (u32::MAX >> (32 - t.vary_bits_v4 as u32)) != 0
            {
                self.fault_on(
                    "global.tunnel.source_v4",
                    format!(
                        "{a} has bits set in the {} low bits that vary_bits_v4 varies",
                        t.vary_bits_v4
                    ),
                    vec!["global.tunnel.vary_bits_v4".into()],
                );
            }
            if let Some(a) = t.source_v4
                && (a.is_unspecified() || a.is_multicast() || a.is_broadcast())
            {
                self.fault(
                    "global.tunnel.source_v4",
                    format!("{a} cannot be a source address"),
                );
            }
            if let Some(a) = t.source_v6
                && (a.is_unspecified() || a.is_multicast())
            {
                self.fault(
                    "global.tunnel.source_v6",
                    format!("{a} cannot be a source address"),
                );
            }
        }

        let d = &g.check_defaults;
        self.duration("global.check_defaults.interval", d.interval);
        self.duration("global.check_defaults.timeout", d.timeout);
        if d.timeout > d.interval {
            self.fault_on(
                "global.check_defaults.timeout",
                format!(
                    "{} is longer than the interval {}",
                    fmt_duration(d.timeout),
                    fmt_duration(d.interval)
                ),
                vec!["global.check_defaults.interval".into()],
            );
        }
        self.range("global.check_defaults.fall", d.fall, &FALL_RISE_RANGE);
        self.range("global.check_defaults.rise", d.rise, &FALL_RISE_RANGE);
    }

    fn service(&mut self, config: &Config, i: usize) {
        let s = &config.services[i];
        let p = format!("services[{i}]");

        let vip = format!("{p}.vip");
        if let Some(name) = &s.name {
            if name.trim().is_empty() {
                self.fault(format!("{p}.name"), "a name cannot be empty");
            } else if name.len() > NAME_MAX {
                self.fault(
                    format!("{p}.name"),
                    format!(
                        "{} is {} bytes long; a name has at most {NAME_MAX}",
                        quoted(name),
                        name.len()
                    ),
                );
            } else if name.trim() != name || name.chars().any(char::is_control) {
                self.fault(
                    format!("{p}.name"),
                    format!(
                        "{}: a name cannot start or end with blanks or hold control characters",
                        quoted(name)
                    ),
                );
            }
        }
        if let Some(why) = unusable(s.vip) {
            self.fault(&vip, format!("{} {why}", s.vip));
        }
        if let Scheduler::Unsupported(name) = &s.scheduler {
            self.fault(
                format!("{p}.scheduler"),
                format!(
                    "{name:?} is not supported: lvs only schedules with maglev (also spelled mh)"
                ),
            );
        }
        if let Some(fb) = s.fallback {
            let why = family_mismatch(fb, s.vip)
                .or_else(|| not_another_host(fb).map(str::to_owned))
                .or_else(|| (fb == s.vip).then(|| IS_THE_VIP.to_owned()));
            if let Some(why) = why {
                self.fault_on(
                    format!("{p}.fallback"),
                    format!("{fb} {why}"),
                    vec![vip.clone()],
                );
            }
        }

        let tunnel = config.global.tunnel.as_ref();
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for (j, r) in s.reals.iter().enumerate() {
            let rp = format!("{p}.reals[{j}]");
            let why = family_mismatch(r.address, s.vip)
                .or_else(|| not_another_host(r.address).map(str::to_owned))
                .or_else(|| (r.address == s.vip).then(|| IS_THE_VIP.to_owned()));
            if let Some(why) = why {
                self.fault_on(
                    format!("{rp}.address"),
                    format!("{} {why}", r.address),
                    vec![vip.clone()],
                );
            } else if let Some(first) = seen.insert(r.address, j) {
                self.fault_on(
                    format!("{rp}.address"),
                    format!("{} is already {p}.reals[{first}]", r.address),
                    vec![format!("{p}.reals[{first}].address")],
                );
            }
            self.range(format!("{rp}.weight"), r.weight, &WEIGHT_RANGE);
            if r.method != Method::Dr {
                let (has_source, key) = match r.address {
                    IpAddr::V4(_) => (tunnel.and_then(|t| t.source_v4).is_some(), "source_v4"),
                    IpAddr::V6(_) => (tunnel.and_then(|t| t.source_v6).is_some(), "source_v6"),
                };
                if !has_source {
                    self.fault_on(
                        format!("{rp}.method"),
                        format!(
                            "{} needs global.tunnel.{key}, the outer source address of the \
                             tunnel",
                            r.method
                        ),
                        vec![format!("global.tunnel.{key}"), format!("{rp}.address")],
                    );
                }
            }
        }
        if s.reals.len() >= config.global.ring_size as usize {
            self.fault_on(
                format!("{p}.reals"),
                format!(
                    "{} reals do not fit a Maglev table of {} entries (global.ring_size)",
                    s.reals.len(),
                    config.global.ring_size
                ),
                vec!["global.ring_size".into()],
            );
        }

        self.checks(config, i);
    }
    fn duplicate_services(&mut self, config: &Config) {
        let mut endpoints = HashMap::new();
        let mut names = HashMap::new();
        for (i, s) in config.services.iter().enumerate() {
            if let Some(first) = endpoints.insert((s.vip, s.port, s.protocol), i) {
                let mut deps = endpoint_deps(i);
                deps.extend(endpoint_deps(first));
                self.findings.push(Finding {
                    fault: Fault::new(
                        format!("services[{i}]"),
                        format!(
                            "same vip, port and protocol as services[{first}] ({})",
                            s.endpoint()
                        ),
                    ),
                    deps,
                });
                continue;
            }
            // An explicit name may also collide with another service's default name.
            let name = s.display_name().into_owned();
            if let Some(first) = names.insert(name.clone(), i) {
                let path = if s.name.is_some() {
                    format!("services[{i}].name")
                } else {
                    format!("services[{first}].name")
                };
                let mut deps = endpoint_deps(i);
                deps.extend(endpoint_deps(first));
                deps.push(format!("services[{i}].name"));
                deps.push(format!("services[{first}].name"));
                self.fault_on(
                    path,
                    format!(
                        "{} is the name of both services[{first}] and services[{i}]",
                        quoted(&name)
                    ),
                    deps,
                );
            }
        }
    }
}
/// What a service's address and port rest on (duplicates, default names).
fn endpoint_deps(i: usize) -> Vec<String> {
    ["vip", "port", "protocol"]
        .iter()
        .map(|k| format!("services[{i}].{k}"))
        .collect()
}
fn family_mismatch(addr: IpAddr, vip: IpAddr) -> Option<String> {
    let family = |a: IpAddr| if a.is_ipv4() { "IPv4" } else { "IPv6" };
    (addr.is_ipv4() != vip.is_ipv4())
        .then(|| format!("is {} but the vip {vip} is {}", family(addr), family(vip)))
}

/// Why `addr` cannot be a real or a fallback, which must be other hosts.
fn not_another_host(addr: IpAddr) -> Option<&'static str> {
    unusable(addr).or_else(|| {
        addr.is_loopback()
            .then_some("is a loopback address: a real or fallback must be another host")
    })
}

const IS_THE_VIP: &str = "is the service's vip: a real or fallback must be another host";

/// Whether `name` can be an interface name (besides its length).
pub fn is_interface_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
}

fn unusable(addr: IpAddr) -> Option<&'static str> {
    if addr.is_unspecified() {
        Some("is the unspecified address")
    } else if addr.is_multicast() {
        Some("is a multicast address")
    } else if matches!(addr, IpAddr::V4(a) if a.is_broadcast()) {
        Some("is the broadcast address")
    } else {
        None
    }
}

/// The primes just below and just above `n`.
fn neighbour_primes(n: u32) -> (u32, u32) {
    let below = (2..n).rev().find(|&k| is_prime(k)).unwrap_or(2);
    let above = (n + 1..)
        .find(|&k| is_prime(k))
        .expect("primes are infinite");
    (below, above)
}

#[cfg(test)]
mod tests {
    use super::check::{check_levels, regex_reason};
    use super::*;

    #[test]
    fn ring_sizes_are_the_primes_the_data_plane_takes() {
        assert_eq!(neighbour_primes(65536), (65521, 65537));
        assert!(is_prime(*RING_SIZE_RANGE.end()));
        assert!(*RING_SIZE_RANGE.end() <= lvs_common::MAX_RING_SIZE);
        assert_eq!(
            neighbour_primes(lvs_common::MAX_RING_SIZE).0,
            *RING_SIZE_RANGE.end()
        );
    }

    #[test]
    fn check_levels_of_a_real_include_its_service() {
        let levels: Vec<String> = check_levels("services[2].reals[1].check").collect();
        assert_eq!(levels, ["services[2].reals[1].check", "services[2].check"]);
        let levels: Vec<String> = check_levels("services[2].check").collect();
        assert_eq!(levels, ["services[2].check"]);
        assert!(is_within("services[1].vip", "services[1]"));
        assert!(!is_within("services[10].vip", "services[1]"));
        assert!(is_within("global.interfaces[0]", "global.interfaces"));
        assert!(is_within("anything", ""));
    }

    #[test]
    fn regex_errors_are_one_line() {
        let unclosed = String::from("(unclosed");
        let e = regex::Regex::new(&unclosed).unwrap_err();
        assert_eq!(regex_reason(&e), "unclosed group");
    }
}
