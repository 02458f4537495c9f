//! Import of ldirectord.cf (placeholder).
use super::{Config, ConfigError};

/// The result of an import.
#[derive(Debug)]
pub struct Import {
    /// The configuration.
    pub config: Config,
    /// Warnings.
    pub warnings: Vec<Warning>,
}

/// A warning.
#[derive(Debug)]
pub struct Warning {
    /// Line.
    pub line: usize,
    /// Message.
    pub message: String,
}

/// Imports.
pub fn import_ldirectord(_text: &str) -> Result<Import, ConfigError> {
    todo!()
}
