//! The lvs configuration: the YAML model, its validation, and the ldirectord.cf importer.
//!
//! ```text
//! lvs.yaml ──decode──▶ text ──yaml──▶ tree (every node with its line) ──read──▶ Config
//!          ──validate──▶ Config (valid) ──resolved_check──▶ ResolvedCheck (address + CheckSpec)
//! ldirectord.cf ──import_ldirectord──▶ Import { Config, warnings }
//! ```
//!
//! Everything here but [`check_file`]'s look at the host is pure: plain functions over plain
//! data, tested without root. A file is checked whole: bytes that are not UTF-8 or YAML text,
//! unknown keys, values of the wrong kind and broken rules are all reported at once, each with
//! its line, the path of its key, the value and what is allowed:
//!
//! ```text
//! lvs.yaml:12: services[2].reals[0].weight: -1 is not allowed: a whole number from 0 to 65535
//! ```
//!
//! A value that cannot be read does not also produce the faults of the rules that would read it
//! (see `validate::Finding`); a file that is not YAML at all gives the one fault of the parser.

pub mod duration;
mod host;
mod ldirectord;
pub mod merge;
mod model;
mod read;
mod validate;
mod yaml;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use host::interface_exists;
pub use ldirectord::{Import, Warning, import_ldirectord, import_ldirectord_with};
pub use model::*;
pub use validate::{NAME_MAX, SOCKET_PATH_MAX};

/// Why a configuration could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read. The cause is part of the message (and not also a
    /// `source()`, which `{:#}` would print a second time).
    #[error("reading {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A text that is not a configuration at all, at one place (the ldirectord importer's
    /// unreadable directives).
    #[error("line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A [`Config`] that breaks rules; every fault found.
    #[error("{}", Lines(.0))]
    Invalid(Vec<Fault>),
    /// A file (or text) that does not read or breaks rules: every fault found, with its
    /// line, in line order: one `line 12: path: message` a line (the caller names the file, as
    /// the daemon's "loading config FILE: ..." does; [`Located::in_file`] gives the
    /// `file:line:` form of `lvs-ctl check`).
    #[error("{}", Lines(faults))]
    Faults {
        /// The file, when read from one.
        file: Option<PathBuf>,
        /// The faults.
        faults: Vec<Located>,
    },
}

/// Faults one per line.
struct Lines<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for Lines<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, fault) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{fault}")?;
        }
        Ok(())
    }
}

/// One broken rule: where (`services[1].reals[2].weight`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Path of the offending key, as written in the file (`global.ring_size`).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl Fault {
    /// A fault at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Fault {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A fault of a file, with its place: `line 12: services[2].reals[0].weight: -1 is not
/// allowed: a whole number from 0 to 65535`. Line 0 means unknown (a file that only libyaml's
/// leniency reads, see [`yaml`]); the line is then left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters) of the key or value concerned.
    pub column: usize,
    /// Path of the key (`services[2].reals[0].weight`); empty for a fault of the text itself
    /// (bytes that are not UTF-8, YAML syntax).
    pub path: String,
    /// What is wrong, with the value and what is allowed.
    pub message: String,
}

impl Located {
    /// The fault as `file:line: path: message`, the form of compilers and editors.
    pub fn in_file<'a>(&'a self, file: &'a Path) -> impl fmt::Display + 'a {
        struct InFile<'a>(&'a Path, &'a Located);
        impl fmt::Display for InFile<'_> {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                match self.1.line {
                    0 => write!(f, "{}: {}", self.0.display(), self.1.what()),
                    line => write!(f, "{}:{line}: {}", self.0.display(), self.1.what()),
                }
            }
        }
        InFile(file, self)
    }

    /// `path: message`, or the message alone for a fault of the text.
    pub fn what(&self) -> String {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.what()),
            line => write!(f, "line {line}: {}", self.what()),
        }
    }
}

/// Reads a configuration from YAML text and validates it.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    examine(text.as_bytes(), true).into_result(None)
}

/// Reads, parses and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    examine(&read_file(path)?, true).into_result(Some(path))
}

/// Reads YAML text into a [`Config`] without the semantic rules (faults of reading only).
pub fn parse_unvalidated(text: &str) -> Result<Config, ConfigError> {
    examine(text.as_bytes(), false).into_result(None)
}

/// What `lvs-ctl check` finds in a file.
#[derive(Debug)]
pub struct Report {
    /// The configuration, when the file has no fault.
    pub config: Option<Config>,
    /// Every fault, in line order.
    pub faults: Vec<Located>,
    /// What is right in the file but not on this host (an interface that does not exist
    /// here), in line order; faults instead with `strict`.
    pub warnings: Vec<Located>,
}

/// Checks the file at `path` as [`load`] does, and against this host: interfaces for which
/// `interface_exists` says no are warnings, or faults when `strict`. Only a file that cannot
/// be read is an error.
pub fn check_file(
    path: &Path,
    strict: bool,
    interface_exists: &dyn Fn(&str) -> bool,
) -> Result<Report, ConfigError> {
    let mut examined = examine(&read_file(path)?, true);
    let mut host = Vec::new();
    if let (Some(config), Some(tree)) = (&examined.config, &examined.tree) {
        for (i, name) in config.global.interfaces.iter().enumerate() {
            let at = format!("global.interfaces[{i}]");
            let checkable = validate::is_interface_name(name)
                && name.len() <= validate::IFNAME_MAX
                && !examined.faults.iter().any(|f| f.path == at)
                && !examined.broken.iter().any(|b| validate::is_within(&at, b));
            if checkable && !interface_exists(name) {
                host.push(locate(
                    tree,
                    Fault::new(at, format!("{} does not exist on this host", quoted(name))),
                ));
            }
        }
    }
    let mut warnings = Vec::new();
    if strict {
        examined.faults.extend(host);
        in_line_order(&mut examined.faults);
    } else {
        warnings = host;
    }
    let config = examined.config.filter(|_| examined.faults.is_empty());
    Ok(Report {
        config,
        faults: examined.faults,
        warnings,
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|error| ConfigError::Io {
        path: path.to_owned(),
        error,
    })
}

/// What was made of a file.
struct Examined {
    /// What was read (placeholders where values could not be); `None` when there is no tree.
    config: Option<Config>,
    tree: Option<yaml::Node>,
    faults: Vec<Located>,
    /// Paths that could not be read.
    broken: Vec<String>,
}

impl Examined {
    fn into_result(self, file: Option<&Path>) -> Result<Config, ConfigError> {
        match self.config {
            Some(config) if self.faults.is_empty() => Ok(config),
            _ => Err(ConfigError::Faults {
                file: file.map(Path::to_owned),
                faults: self.faults,
            }),
        }
    }
}

const EMPTY: &str = "the configuration is empty; it needs at least `global: {interfaces: [...]}`";

/// Every fault of `bytes`: encoding, YAML, reading, and (with `semantic`) the rules.
fn examine(bytes: &[u8], semantic: bool) -> Examined {
    let (text, encoding) = decode(bytes);
    let mut examined = Examined {
        config: None,
        tree: None,
        faults: Vec::new(),
        broken: Vec::new(),
    };
    let tree = yaml::read(&text).or_else(|e| yaml::read_lenient(&text).map(Some).ok_or(e));
    match tree {
        Err(e) => examined.faults.push(Located {
            line: e.mark.line,
            column: e.mark.column,
            path: String::new(),
            message: format!("not YAML (column {}): {}", e.mark.column, e.message),
        }),
        Ok(None) => examined.faults.push(text_fault(1, 1, EMPTY)),
        Ok(Some(root)) if root.is_null() => examined.faults.push(text_fault(1, 1, EMPTY)),
        Ok(Some(root)) => {
            let reading = read::read(&root);
            examined.faults = reading.faults;
            if semantic {
                for finding in validate::findings(&reading.config) {
                    if !finding.rests_on(&reading.broken) {
                        examined.faults.push(locate(&root, finding.fault));
                    }
                }
            }
            examined.config = Some(reading.config);
            examined.broken = reading.broken;
            examined.tree = Some(root);
        }
    }
    // A line with bytes that are not text has that one fault: what the parser made of the
    // replacement characters would only repeat it.
    examined
        .faults
        .retain(|f| !encoding.iter().any(|e| e.line == f.line));
    examined.faults.extend(encoding);
    in_line_order(&mut examined.faults);
    examined
}

fn in_line_order(faults: &mut Vec<Located>) {
    faults.sort_by_key(|f| (f.line, f.column));
    faults.dedup();
}

fn text_fault(line: usize, column: usize, message: impl Into<String>) -> Located {
    Located {
        line,
        column,
        path: String::new(),
        message: message.into(),
    }
}

/// Lines with bytes that are not text reported at most (then one fault counts the rest).
const MAX_ENCODING_FAULTS: usize = 20;

/// The text of `bytes`, with what YAML does not allow (bytes that are not UTF-8, control
/// characters such as NUL) replaced by U+FFFD, and one fault for each line holding some.
fn decode(bytes: &[u8]) -> (String, Vec<Located>) {
    let mut text = String::with_capacity(bytes.len());
    let mut faults: Vec<Located> = Vec::new();
    let mut more = 0usize;
    let (mut line, mut column) = (1usize, 1usize);
    let mut note = |faults: &mut Vec<Located>, line: usize, column: usize, what: String| {
        if faults.last().is_some_and(|f| f.line == line) {
            return;
        }
        if faults.len() < MAX_ENCODING_FAULTS {
            faults.push(text_fault(line, column, format!("column {column}: {what}")));
        } else {
            more += 1;
        }
    };
    let mut rest = bytes;
    loop {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                let valid = std::str::from_utf8(valid).expect("checked by from_utf8");
                (valid, Some((after, e.error_len().unwrap_or(after.len()))))
            }
        };
        for c in valid.chars() {
            if is_yaml_char(c) {
                text.push(c);
            } else {
                let what = if c == '\0' {
                    "a NUL byte is not allowed: YAML text holds no control characters".to_owned()
                } else {
                    format!(
                        "control character U+{:04X} is not allowed: YAML text holds no control \
                         characters",
                        c as u32
                    )
                };
                note(&mut faults, line, column, what);
                text.push('\u{FFFD}');
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        let Some((after, len)) = bad else { break };
        let hex: Vec<String> = after[..len].iter().map(|b| format!("0x{b:02x}")).collect();
        note(
            &mut faults,
            line,
            column,
            format!(
                "invalid UTF-8 ({}): the file must be UTF-8 text",
                hex.join(" ")
            ),
        );
        text.push('\u{FFFD}');
        column += 1;
        rest = &after[len..];
    }
    if more > 0 {
        let (line, column) = faults.last().map_or((1, 1), |f| (f.line, f.column + 1));
        faults.push(text_fault(
            line,
            column,
            format!("and {more} more lines with bytes that are not text"),
        ));
    }
    (text, faults)
}

/// Whether YAML allows `c` in its text (YAML 1.2's c-printable).
fn is_yaml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}'
    ) || c >= '\u{10000}'
}

/// The fault with the place of its path in `root`: the value's (a scalar), else the key's,
/// else the nearest enclosing node's (for a missing key).
fn locate(root: &yaml::Node, fault: Fault) -> Located {
    use yaml::Value;
    let mut node = root;
    let mut key_mark = None;
    for segment in segments(&fault.path) {
        let next = match (&segment, &node.value) {
            (Segment::Key(name), Value::Map(entries)) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == name))
                .map(|(k, v)| (Some(k.mark), v)),
            (Segment::Index(i), Value::Seq(items)) => items.get(*i).map(|v| (None, v)),
            _ => None,
        };
        let Some((key, value)) = next else { break };
        key_mark = key;
        node = value;
    }
    let mark = match (&node.value, key_mark) {
        (Value::Scalar { .. }, _) | (_, None) => node.mark,
        (_, Some(key)) => key,
    };
    Located {
        line: mark.line,
        column: mark.column,
        path: fault.path,
        message: fault.message,
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `services[0].reals[2].weight` → services, 0, reals, 2, weight.
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, indexes) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

/// `text` quoted for a message, cut when long: `"aaaa…" (1048576 bytes)`.
pub(crate) fn quoted(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.len() <= 64 {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("\"{}…\" ({} bytes)", head.escape_debug(), text.len())
    }
}

impl Config {
    /// Checks every semantic rule; [`ConfigError::Invalid`] lists all the faults.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let faults = validate::validate(self);
        if faults.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(faults))
        }
    }

    /// The configuration as YAML, fields at their default left out; [`parse`] reads it back to
    /// an equal `Config`.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("a Config always serializes: its keys are strings")
    }
}
