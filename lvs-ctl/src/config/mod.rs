//! The lvs configuration: the YAML model, its validation, and the ldirectord.cf importer.
//!
//! ```text
//! lvs.yaml ──parse──▶ Config ──validate──▶ Config (valid) ──resolved_check──▶ ResolvedCheck
//! ldirectord.cf ──import_ldirectord──▶ Import { Config, warnings }
//! ```
//!
//! Everything here is pure: plain functions over plain data, tested without root.
//! Errors name where the problem is: `line 7 column 10: services[0].vip: "10.0.0.x" is not an IP
//! address` for what cannot be read at all, and one line per fault
//! (`services[1].reals[2].weight: 70000 is out of range 0..=65535`) for a file that reads but
//! makes no sense; all such faults are reported at once.

pub mod duration;
mod ldirectord;
mod model;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use ldirectord::{Import, Warning, import_ldirectord, import_ldirectord_with};
pub use model::*;

/// Why a configuration could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a configuration: bad YAML, an unknown key, a value of the wrong type.
    /// `message` starts with the key's path when it is known (`services[0].vip: ...`).
    #[error("line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong, with the path of the key.
        message: String,
    },
    /// The configuration reads but breaks rules; every fault found.
    #[error("{}", DisplayFaults(.0))]
    Invalid(Vec<Fault>),
}

struct DisplayFaults<'a>(&'a [Fault]);

impl fmt::Display for DisplayFaults<'_> {
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

/// Reads a configuration from YAML text and validates it.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let config = parse_unvalidated(text)?;
    config.validate()?;
    Ok(config)
}

/// Reads, parses and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&text)
}

/// Reads YAML text into a [`Config`] without the semantic rules.
pub fn parse_unvalidated(text: &str) -> Result<Config, ConfigError> {
    if text.trim().is_empty() || text.lines().all(|l| l.trim_start().starts_with('#')) {
        return Err(ConfigError::Syntax {
            line: 1,
            column: 1,
            message: "the configuration is empty; it needs at least `global: {interfaces: [...]}`"
                .into(),
        });
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(syntax_error)
}

fn syntax_error(err: serde_path_to_error::Error<serde_yaml::Error>) -> ConfigError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let (line, column) = inner.location().map_or((0, 0), |l| (l.line(), l.column()));
    // serde_yaml appends " at line L column C"; the variant carries those as fields.
    let mut message = inner.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    let message = if path == "." || path.is_empty() {
        message
    } else {
        format!("{path}: {}", strip_yaml_path(&message, &path))
    };
    ConfigError::Syntax {
        line,
        column,
        message,
    }
}

/// serde_yaml starts some messages with the part of the path it knows (`services[0]: ...`
/// for an error at `services[0].vip`); the full path replaces it.
fn strip_yaml_path<'a>(message: &'a str, full_path: &str) -> &'a str {
    match message.split_once(": ") {
        Some((head, rest))
            if full_path == head
                || full_path
                    .strip_prefix(head)
                    .is_some_and(|tail| tail.starts_with(['.', '['])) =>
        {
            rest
        }
        _ => message,
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
