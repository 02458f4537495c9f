//! Configuration tests: tables of good and bad files, the reference file, round trips and the
//! resolution of checks.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

mod faults;
mod files;
mod import;
mod reading;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A file with the minimal `global:` and the given `services:` items.
fn with_services(services: &str) -> String {
    format!("global:\n  interfaces: [eth0]\nservices:\n{services}")
}

/// The faults of a file that must not validate, in line order.
fn faults_of(text: &str) -> Vec<Located> {
    match parse(text) {
        Err(ConfigError::Faults { file: None, faults }) => faults,
        Ok(_) => panic!("expected faults, the configuration is valid:\n{text}"),
        Err(other) => panic!("expected faults, got {other}\n{text}"),
    }
}

fn paths(faults: &[Located]) -> Vec<&str> {
    faults.iter().map(|f| f.path.as_str()).collect()
}

/// `path: message` of each fault, without the line.
fn whats(faults: &[Located]) -> Vec<String> {
    faults.iter().map(Located::what).collect()
}
