//! The walk from the YAML tree to a [`Config`]: every key and value checked against the schema
//! and every fault collected with its place, in words (`-1 is not allowed: a whole number from 0
//! to 65535`, `unknown key; did you mean "weight"?`), not Rust types.
//!
//! A value that cannot be read is left at its default (a placeholder for a required one) and its
//! path is noted as broken, so that the semantic rules, which run on what was read, do not
//! report consequences of it (see [`super::validate::Finding`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::model::*;
use super::validate::{
    CONN_TABLE_SIZE_RANGE, FALL_RISE_RANGE, RING_SIZE_RANGE, STATUS_RANGE, WEIGHT_RANGE,
};
use super::yaml::{Mark, Node, Value};
use super::{Located, duration, quoted};

/// What the walk made of a document.
pub struct Reading {
    /// The configuration, with defaults or placeholders where a value could not be read.
    pub config: Config,
    /// Every fault of reading, with its place.
    pub faults: Vec<Located>,
    /// Paths whose value could not be read (or is missing).
    pub broken: Vec<String>,
}

/// Reads the document `root`.
pub fn read(root: &Node) -> Reading {
    let mut r = Reader::default();
    let config = r.config(root);
    Reading {
        config,
        faults: r.faults,
        broken: r.broken,
    }
}

/// The keys of one kind of mapping, and how to name it in messages.
struct Section {
    /// `a real`.
    name: &'static str,
    /// Where it is written: `services[].reals[]`.
    place: &'static str,
    keys: &'static [&'static str],
}

const ROOT: Section = Section {
    name: "the file",
    place: "the top level",
    keys: &["global", "services"],
};
const GLOBAL: Section = Section {
    name: "global",
    place: "global",
    keys: &[
        "interfaces",
        "xdp_mode",
        "ring_size",
        "conn_table_size",
        "pin_path",
        "socket",
        "watch_config",
        "maintenance_dir",
        "on_change",
        "tunnel",
        "check_defaults",
    ],
};
const TUNNEL: Section = Section {
    name: "global.tunnel",
    place: "global.tunnel",
    keys: &[
        "source_v4",
        "source_v6",
        "gue_port",
        "vary_bits_v4",
        "vary_bits_v6",
        "ttl",
    ],
};
const CHECK_DEFAULTS: Section = Section {
    name: "global.check_defaults",
    place: "global.check_defaults",
    keys: &["interval", "timeout", "fall", "rise"],
};
const SERVICE: Section = Section {
    name: "a service",
    place: "a service (services[])",
    keys: &[
        "name",
        "vip",
        "port",
        "protocol",
        "persistent",
        "scheduler",
        "quiescent",
        "fallback",
        "check",
        "reals",
    ],
};
const REAL: Section = Section {
    name: "a real",
    place: "a real (reals[])",
    keys: &["address", "weight", "method", "check"],
};
const CHECK: Section = Section {
    name: "a check",
    place: "a check (check:)",
    keys: &[
        "type",
        "interval",
        "timeout",
        "fall",
        "rise",
        "port",
        "request",
        "receive",
        "virtualhost",
        "http_method",
        "expect_status",
        "verify_tls",
        "query",
        "query_type",
        "expect",
        "command",
    ],
};
const SECTIONS: [&Section; 7] = [
    &ROOT,
    &GLOBAL,
    &TUNNEL,
    &CHECK_DEFAULTS,
    &SERVICE,
    &REAL,
    &CHECK,
];

/// `path.key`, or `key` at the top.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The known keys of one mapping, first occurrence of each.
struct Fields<'a> {
    path: String,
    /// Where a missing key is reported: the mapping's own key, or the list item.
    at: Mark,
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
}

impl<'a> Fields<'a> {
    fn empty(path: &str, at: Mark) -> Self {
        Fields {
            path: path.to_owned(),
            at,
            entries: Vec::new(),
        }
    }

    /// The key's node and its value, unless absent or null (null is "not set").
    fn get(&self, key: &str) -> Option<(&'a Node, &'a Node)> {
        self.entries
            .iter()
            .find(|(k, _, v)| *k == key && !v.is_null())
            .map(|&(_, k, v)| (k, v))
    }

    fn value(&self, key: &str) -> Option<&'a Node> {
        self.get(key).map(|(_, v)| v)
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

#[derive(Default)]
struct Reader {
    faults: Vec<Located>,
    broken: Vec<String>,
}

impl Reader {
    fn fault(&mut self, at: Mark, path: &str, message: impl Into<String>) {
        self.faults.push(Located {
            line: at.line,
            column: at.column,
            path: path.to_owned(),
            message: message.into(),
        });
        self.broken.push(path.to_owned());
    }

    /// A fault for a value of the wrong kind: `a list is not allowed: one of dr, ipip, gue`.
    fn refuse(&mut self, node: &Node, path: &str, allowed: &str, hint: &str) {
        let shown = match &node.tag {
            Some(tag) => format!("the tag {tag}"),
            None => shown(node),
        };
        self.fault(
            node.mark,
            path,
            format!("{shown} is not allowed: {allowed}{hint}"),
        );
    }

    /// The value of a required key; a fault at the mapping when it is absent or empty.
    fn required<'a>(&mut self, f: &Fields<'a>, key: &str, what: &str) -> Option<&'a Node> {
        if let Some(v) = f.value(key) {
            return Some(v);
        }
        let at = f
            .entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(f.at, |(_, k, _)| k.mark);
        self.fault(at, &f.path(key), format!("missing (required): {what}"));
        None
    }

    /// The keys of a mapping; unknown, repeated and non-name keys are faults.
    fn fields<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        at: Mark,
        section: &Section,
    ) -> Option<Fields<'a>> {
        let entries = match &node.value {
            Value::Map(entries) if node.tag.is_none() => entries,
            _ => {
                self.refuse(
                    node,
                    path,
                    &format!("a mapping of keys ({})", section.keys.join(", ")),
                    "",
                );
                return None;
            }
        };
        let mut fields = Fields::empty(path, at);
        let mut seen: Vec<(&str, Mark)> = Vec::new();
        for (k, v) in entries {
            let Value::Scalar { text: key, .. } = &k.value else {
                self.fault(
                    k.mark,
                    path,
                    format!(
                        "{} cannot be a key: keys are names ({})",
                        shown(k),
                        section.keys.join(", ")
                    ),
                );
                continue;
            };
            let key_path = join(path, &clip_key(key));
            if let Some((_, first)) = seen.iter().find(|(s, _)| s == key) {
                self.fault(
                    k.mark,
                    &key_path,
                    format!("given twice (first on line {}); keep one", first.line),
                );
                continue;
            }
            seen.push((key, k.mark));
            if section.keys.contains(&key.as_str()) {
                fields.entries.push((key, k, v));
            } else {
                self.fault(k.mark, &key_path, unknown_key(section, key));
            }
        }
        Some(fields)
    }

    fn scalar<'n>(&mut self, node: &'n Node, path: &str, allowed: &str) -> Option<(&'n str, bool)> {
        match &node.value {
            Value::Scalar { text, plain } if node.tag.is_none() => Some((text, *plain)),
            _ => {
                self.refuse(node, path, allowed, "");
                None
            }
        }
    }

    /// A whole number within `accept` (what the model's field holds); the message names
    /// `rule`, the range the semantic rules allow (which report values within `accept` but
    /// outside `rule` in their own words: `70000 is out of range 0..=65535`).
    fn int(
        &mut self,
        node: &Node,
        path: &str,
        accept: RangeInclusive<i64>,
        rule: RangeInclusive<i64>,
    ) -> Option<i64> {
        let allowed = format!("a whole number from {} to {}", rule.start(), rule.end());
        let (text, plain) = self.scalar(node, path, &allowed)?;
        match parse_int(text) {
            Some(n) if plain && accept.contains(&n) => Some(n),
            Some(_) if !plain => {
                self.refuse(node, path, &allowed, " (write it without quotes)");
                None
            }
            _ => {
                let hint = if text.len() > 1
                    && text.starts_with('0')
                    && text.bytes().all(|b| b.is_ascii_digit())
                {
                    " (without leading zeros)"
                } else {
                    ""
                };
                self.refuse(node, path, &allowed, hint);
                None
            }
        }
    }

    fn u8(&mut self, node: &Node, path: &str, rule: RangeInclusive<u8>) -> Option<u8> {
        let rule = i64::from(*rule.start())..=i64::from(*rule.end());
        self.int(node, path, 0..=i64::from(u8::MAX), rule)
            .map(|n| n as u8)
    }

    fn u16(&mut self, node: &Node, path: &str, rule: RangeInclusive<u16>) -> Option<u16> {
        let rule = i64::from(*rule.start())..=i64::from(*rule.end());
        self.int(node, path, 0..=i64::from(u16::MAX), rule)
            .map(|n| n as u16)
    }

    fn u32(&mut self, node: &Node, path: &str, rule: &RangeInclusive<u32>) -> Option<u32> {
        let rule = i64::from(*rule.start())..=i64::from(*rule.end());
        self.int(node, path, 0..=i64::from(u32::MAX), rule)
            .map(|n| n as u32)
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        let (text, plain) = self.scalar(node, path, "true or false")?;
        match (plain, parse_bool(text)) {
            (true, Some(b)) => Some(b),
            (false, Some(_)) => {
                self.refuse(node, path, "true or false", " (write it without quotes)");
                None
            }
            _ => {
                self.refuse(node, path, "true or false", "");
                None
            }
        }
    }

    fn text(&mut self, node: &Node, path: &str, what: &str) -> Option<String> {
        self.scalar(node, path, what).map(|(t, _)| t.to_owned())
    }

    fn path_buf(&mut self, node: &Node, path: &str) -> Option<PathBuf> {
        self.text(node, path, "an absolute path").map(PathBuf::from)
    }

    fn address<T: FromStr>(&mut self, node: &Node, path: &str, what: &str) -> Option<T> {
        let (text, _) = self.scalar(node, path, what)?;
        match text.trim().parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.fault(node.mark, path, format!("{} is not {what}", quoted(text)));
                None
            }
        }
    }

    /// One of `options` (the names shown, then aliases accepted too).
    fn choice<T: Copy>(
        &mut self,
        node: &Node,
        path: &str,
        shown_names: &[&str],
        options: &[(&str, T)],
    ) -> Option<T> {
        let allowed = format!("one of {}", shown_names.join(", "));
        let (text, _) = self.scalar(node, path, &allowed)?;
        if let Some(&(_, v)) = options.iter().find(|(name, _)| *name == text) {
            return Some(v);
        }
        let hint = match suggest(text, shown_names) {
            Some(s) => format!(" (did you mean {s}?)"),
            None => String::new(),
        };
        self.refuse(node, path, &allowed, &hint);
        None
    }

    fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let (text, plain) = self.scalar(node, path, "a duration such as \"500ms\" or \"2s\"")?;
        let result = if plain && let Some(n) = parse_int(text) {
            Err(format!(
                "{n} is not a duration: write the unit, e.g. \"{n}s\" or \"{n}ms\""
            ))
        } else if plain && let Some(x) = parse_float(text) {
            Err(format!(
                "{text} is not a duration: write the unit, e.g. \"{}ms\"",
                (x * 1000.0).round()
            ))
        } else {
            duration::parse(text)
        };
        match result {
            Ok(d) => Some(d),
            Err(message) => {
                let message = if text.len() > 64 {
                    format!(
                        "{} is not a duration; write e.g. \"500ms\" or \"2s\"",
                        quoted(text)
                    )
                } else {
                    message
                };
                self.fault(node.mark, path, message);
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, path: &str, allowed: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) if node.tag.is_none() => Some(items),
            _ => {
                self.refuse(node, path, allowed, "");
                None
            }
        }
    }

    // ---- the schema ---------------------------------------------------------------------------

    fn config(&mut self, root: &Node) -> Config {
        let mut config = Config {
            global: Global::new(Vec::new()),
            services: Vec::new(),
        };
        let Some(f) = self.fields(root, "", root.mark, &ROOT) else {
            return config;
        };
        match f.get("global") {
            Some((key, node)) => config.global = self.global(node, key.mark),
            None => {
                self.required(
                    &f,
                    "global",
                    "the global section, at least `global: {interfaces: [eth0]}`",
                );
            }
        }
        if let Some(node) = f.value("services") {
            let items = self
                .list(node, "services", "a list of services")
                .unwrap_or_default();
            config.services = items
                .iter()
                .enumerate()
                .map(|(i, item)| self.service(item, &format!("services[{i}]")))
                .collect();
        }
        config
    }

    fn global(&mut self, node: &Node, at: Mark) -> Global {
        let mut g = Global::new(Vec::new());
        let Some(f) = self.fields(node, "global", at, &GLOBAL) else {
            return g;
        };
        if let Some(node) =
            self.required(&f, "interfaces", "a list of interface names, e.g. [eth0]")
        {
            let path = f.path("interfaces");
            if let Some(items) = self.list(node, &path, "a list of interface names, e.g. [eth0]") {
                g.interfaces = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        self.text(item, &format!("{path}[{i}]"), "an interface name")
                            .unwrap_or_default()
                    })
                    .collect();
            }
        }
        if let Some(n) = f.value("xdp_mode") {
            let names = ["auto", "native", "skb"];
            let options = [
                ("auto", XdpMode::Auto),
                ("native", XdpMode::Native),
                ("skb", XdpMode::Skb),
            ];
            if let Some(m) = self.choice(n, &f.path("xdp_mode"), &names, &options) {
                g.xdp_mode = m;
            }
        }
        if let Some(n) = f.value("ring_size")
            && let Some(v) = self.u32(n, &f.path("ring_size"), &RING_SIZE_RANGE)
        {
            g.ring_size = v;
        }
        if let Some(n) = f.value("conn_table_size")
            && let Some(v) = self.u32(n, &f.path("conn_table_size"), &CONN_TABLE_SIZE_RANGE)
        {
            g.conn_table_size = v;
        }
        if let Some(n) = f.value("pin_path")
            && let Some(p) = self.path_buf(n, &f.path("pin_path"))
        {
            g.pin_path = p;
        }
        if let Some(n) = f.value("socket")
            && let Some(p) = self.path_buf(n, &f.path("socket"))
        {
            g.socket = p;
        }
        if let Some(n) = f.value("watch_config")
            && let Some(b) = self.boolean(n, &f.path("watch_config"))
        {
            g.watch_config = b;
        }
        if let Some(n) = f.value("maintenance_dir") {
            g.maintenance_dir = self.path_buf(n, &f.path("maintenance_dir"));
        }
        if let Some(n) = f.value("on_change") {
            g.on_change = self.text(n, &f.path("on_change"), "a command");
        }
        if let Some((key, n)) = f.get("tunnel") {
            g.tunnel = self.tunnel(n, key.mark);
        }
        if let Some((key, n)) = f.get("check_defaults") {
            g.check_defaults = self.check_defaults(n, key.mark);
        }
        g
    }

    fn tunnel(&mut self, node: &Node, at: Mark) -> Option<Tunnel> {
        let f = self.fields(node, "global.tunnel", at, &TUNNEL)?;
        let mut t = Tunnel::default();
        if let Some(n) = f.value("source_v4") {
            t.source_v4 = self.address::<Ipv4Addr>(n, &f.path("source_v4"), "an IPv4 address");
        }
        if let Some(n) = f.value("source_v6") {
            t.source_v6 = self.address::<Ipv6Addr>(n, &f.path("source_v6"), "an IPv6 address");
        }
        if let Some(n) = f.value("gue_port")
            && let Some(v) = self.u16(n, &f.path("gue_port"), 1..=65535)
        {
            t.gue_port = v;
        }
        if let Some(n) = f.value("vary_bits_v4")
            && let Some(v) = self.u8(n, &f.path("vary_bits_v4"), 0..=16)
        {
            t.vary_bits_v4 = v;
        }
        if let Some(n) = f.value("vary_bits_v6")
            && let Some(v) = self.u8(n, &f.path("vary_bits_v6"), 0..=32)
        {
            t.vary_bits_v6 = v;
        }
        if let Some(n) = f.value("ttl")
            && let Some(v) = self.u8(n, &f.path("ttl"), 1..=255)
        {
            t.ttl = v;
        }
        Some(t)
    }

    fn check_defaults(&mut self, node: &Node, at: Mark) -> CheckDefaults {
        let mut d = CheckDefaults::default();
        let Some(f) = self.fields(node, "global.check_defaults", at, &CHECK_DEFAULTS) else {
            return d;
        };
        if let Some(n) = f.value("interval")
            && let Some(v) = self.duration(n, &f.path("interval"))
        {
            d.interval = v;
        }
        if let Some(n) = f.value("timeout")
            && let Some(v) = self.duration(n, &f.path("timeout"))
        {
            d.timeout = v;
        }
        if let Some(n) = f.value("fall")
            && let Some(v) = self.u32(n, &f.path("fall"), &FALL_RISE_RANGE)
        {
            d.fall = v;
        }
        if let Some(n) = f.value("rise")
            && let Some(v) = self.u32(n, &f.path("rise"), &FALL_RISE_RANGE)
        {
            d.rise = v;
        }
        d
    }

    fn service(&mut self, node: &Node, path: &str) -> Service {
        let mut s = Service::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let Some(f) = self.fields(node, path, node.mark, &SERVICE) else {
            return s;
        };
        if let Some(n) = f.value("name") {
            s.name = self.text(n, &f.path("name"), "a name");
        }
        if let Some(n) = self.required(&f, "vip", "an IP address")
            && let Some(a) = self.address(n, &f.path("vip"), "an IP address")
        {
            s.vip = a;
        }
        if let Some(n) = self.required(&f, "port", "a whole number from 0 to 65535 (0: every port)")
            && let Some(p) = self.u16(n, &f.path("port"), 0..=65535)
        {
            s.port = p;
        }
        if let Some(n) = f.value("protocol") {
            let options = [("tcp", Protocol::Tcp), ("udp", Protocol::Udp)];
            if let Some(p) = self.choice(n, &f.path("protocol"), &["tcp", "udp"], &options) {
                s.protocol = p;
            }
        }
        if let Some(n) = f.value("persistent")
            && let Some(b) = self.boolean(n, &f.path("persistent"))
        {
            s.persistent = b;
        }
        if let Some(n) = f.value("scheduler")
            && let Some(name) = self.text(n, &f.path("scheduler"), "maglev")
        {
            s.scheduler = match name.as_str() {
                "maglev" | "mh" => Scheduler::Maglev,
                _ => Scheduler::Unsupported(name),
            };
        }
        if let Some(n) = f.value("quiescent")
            && let Some(b) = self.boolean(n, &f.path("quiescent"))
        {
            s.quiescent = b;
        }
        if let Some(n) = f.value("fallback") {
            s.fallback = self.address(n, &f.path("fallback"), "an IP address");
        }
        if let Some((key, n)) = f.get("check") {
            s.check = self.check(n, &f.path("check"), key.mark);
        }
        if let Some(n) = f.value("reals") {
            let reals = f.path("reals");
            let items = self.list(n, &reals, "a list of reals").unwrap_or_default();
            s.reals = items
                .iter()
                .enumerate()
                .map(|(j, item)| self.real(item, &format!("{reals}[{j}]")))
                .collect();
        }
        s
    }

    fn real(&mut self, node: &Node, path: &str) -> Real {
        let mut r = Real::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let Some(f) = self.fields(node, path, node.mark, &REAL) else {
            return r;
        };
        if let Some(n) = self.required(&f, "address", "an IP address")
            && let Some(a) = self.address(n, &f.path("address"), "an IP address")
        {
            r.address = a;
        }
        if let Some(n) = f.value("weight")
            && let Some(w) = self.u32(n, &f.path("weight"), &WEIGHT_RANGE)
        {
            r.weight = w;
        }
        if let Some(n) = f.value("method") {
            let options = [
                ("dr", Method::Dr),
                ("ipip", Method::Ipip),
                ("gue", Method::Gue),
            ];
            if let Some(m) = self.choice(n, &f.path("method"), &["dr", "ipip", "gue"], &options) {
                r.method = m;
            }
        }
        if let Some((key, n)) = f.get("check") {
            r.check = self.check(n, &f.path("check"), key.mark);
        }
        r
    }

    fn check(&mut self, node: &Node, path: &str, at: Mark) -> Option<Check> {
        let f = self.fields(node, path, at, &CHECK)?;
        let mut c = Check::default();
        if let Some(n) = f.value("type") {
            let names: Vec<&str> = CheckType::ALL.iter().map(|t| t.as_str()).collect();
            let options: Vec<(&str, CheckType)> =
                CheckType::ALL.iter().map(|&t| (t.as_str(), t)).collect();
            c.kind = self.choice(n, &f.path("type"), &names, &options);
        }
        if let Some(n) = f.value("interval") {
            c.interval = self.duration(n, &f.path("interval"));
        }
        if let Some(n) = f.value("timeout") {
            c.timeout = self.duration(n, &f.path("timeout"));
        }
        if let Some(n) = f.value("fall") {
            c.fall = self.u32(n, &f.path("fall"), &FALL_RISE_RANGE);
        }
        if let Some(n) = f.value("rise") {
            c.rise = self.u32(n, &f.path("rise"), &FALL_RISE_RANGE);
        }
        if let Some(n) = f.value("port") {
            c.port = self.u16(n, &f.path("port"), 1..=65535);
        }
        for (key, slot, what) in [
            ("request", &mut c.request, "a path such as /health"),
            ("receive", &mut c.receive, "a regex"),
            ("virtualhost", &mut c.virtualhost, "a host name"),
            ("query", &mut c.query, "a name to look up"),
            ("expect", &mut c.expect, "a text"),
            ("command", &mut c.command, "a command"),
        ] {
            if let Some(n) = f.value(key) {
                *slot = self.text(n, &f.path(key), what);
            }
        }
        if let Some(n) = f.value("http_method") {
            let options = [
                ("GET", HttpMethod::Get),
                ("get", HttpMethod::Get),
                ("HEAD", HttpMethod::Head),
                ("head", HttpMethod::Head),
            ];
            c.http_method = self.choice(n, &f.path("http_method"), &["GET", "HEAD"], &options);
        }
        if let Some(n) = f.value("expect_status") {
            let list = f.path("expect_status");
            let allowed = "a list of HTTP status codes, e.g. [200, 204]";
            if let Some(items) = self.list(n, &list, allowed) {
                let codes: Vec<u16> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(k, item)| self.u16(item, &format!("{list}[{k}]"), STATUS_RANGE))
                    .collect();
                if codes.len() == items.len() {
                    c.expect_status = Some(codes);
                } else {
                    self.broken.push(list);
                }
            }
        }
        if let Some(n) = f.value("verify_tls") {
            c.verify_tls = self.boolean(n, &f.path("verify_tls"));
        }
        if let Some(n) = f.value("query_type") {
            let names = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "PTR"];
            let types = [
                QueryType::A,
                QueryType::Aaaa,
                QueryType::Cname,
                QueryType::Mx,
                QueryType::Txt,
                QueryType::Ns,
                QueryType::Soa,
                QueryType::Ptr,
            ];
            let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
            let options: Vec<(&str, QueryType)> = names
                .iter()
                .copied()
                .zip(types)
                .chain(lower.iter().map(String::as_str).zip(types))
                .collect();
            c.query_type = self.choice(n, &f.path("query_type"), &names, &options);
        }
        Some(c)
    }
}

// ---- words for values -----------------------------------------------------------------------

/// A value as a fault shows it: numbers and booleans bare, text quoted (and cut when long),
/// collections by their kind.
fn shown(node: &Node) -> String {
    match &node.value {
        Value::Scalar { .. } if node.is_null() => "an empty value".into(),
        Value::Scalar { text, plain: true }
            if parse_int(text).is_some()
                || parse_float(text).is_some()
                || parse_bool(text).is_some() =>
        {
            text.clone()
        }
        Value::Scalar { text, .. } => quoted(text),
        Value::Seq(_) => "a list".into(),
        Value::Map(_) => "a mapping".into(),
    }
}

/// A key as put in a path: cut when long.
fn clip_key(key: &str) -> String {
    if key.len() <= 64 {
        key.to_owned()
    } else {
        let head: String = key.chars().take(40).collect();
        format!("{head}…")
    }
}

/// An integer of the YAML 1.2 core schema: decimal (no leading zeros, as serde_yaml), `0x`, `0o`.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else {
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return None;
        }
        digits.parse().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// A float of the YAML 1.2 core schema (not an integer).
fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let ok = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if ok { text.parse().ok() } else { None }
}

/// A boolean of the YAML 1.2 core schema.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// The message for an unknown key of `section`: a near key, or the section that has it.
fn unknown_key(section: &Section, key: &str) -> String {
    let keys = format!("keys of {}: {}", section.name, section.keys.join(", "));
    if let Some(near) = suggest(key, section.keys) {
        return format!("unknown key; did you mean {near}? ({keys})");
    }
    let elsewhere: Vec<&str> = SECTIONS
        .iter()
        .filter(|s| s.name != section.name && s.keys.contains(&key))
        .map(|s| s.place)
        .collect();
    if elsewhere.is_empty() {
        format!("unknown key ({keys})")
    } else {
        format!(
            "unknown key here: {key} is a key of {}, not of {}",
            elsewhere.join(" and of "),
            section.name
        )
    }
}

/// The candidate nearest to `word`, if near enough to be a slip (case, `-` for `_`, or one or
/// two letters wrong).
fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_lowercase().replace('-', "_");
    let w = norm(word);
    let limit = match w.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(&w, &norm(c)), *c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein with transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_keys_are_suggested() {
        assert_eq!(suggest("wieght", REAL.keys), Some("weight"));
        assert_eq!(suggest("Ring-Size", GLOBAL.keys), Some("ring_size"));
        assert_eq!(suggest("nativ", &["auto", "native", "skb"]), Some("native"));
        assert_eq!(suggest("xyz", REAL.keys), None);
        assert_eq!(suggest("ab", &["a"]), None);
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(parse_int("80"), Some(80));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0x50"), Some(80));
        assert_eq!(parse_int("080"), None);
        assert_eq!(parse_int("8O"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
        assert_eq!(parse_float("1.5"), Some(1.5));
        assert_eq!(parse_float("1.2.3.4"), None);
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("yes"), None);
    }
}
