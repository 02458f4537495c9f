//! The walk from the YAML tree to a [`Config`]: every key and value checked against the schema
//! and every fault collected with its place, in words (`-1 is not allowed: a whole number from 0
//! to 65535`, `unknown key; did you mean "weight"?`), not Rust types.
//!
//! A value that cannot be read is left at its default (a placeholder for a required one) and its
//! path is noted as broken, so that the semantic rules, which run on what was read, do not
//! report consequences of it (see [`super::validate::Finding`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::model::*;
use super::validate::{
    CONN_TABLE_SIZE_RANGE, FALL_RISE_RANGE, METRICS_ADDRESS, RING_SIZE_RANGE, STATUS_RANGE,
    WEIGHT_RANGE,
};
use super::yaml::{Mark, Node, Value};
use super::{Located, duration, quoted};

mod sections;
mod words;

use words::*;

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
        "socket_group",
        "watch_config",
        "maintenance_dir",
        "on_change",
        "metrics",
        "tunnel",
        "check_defaults",
        "log_level",
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
}
