//! The demo and the benchmarks of lvs (`src/bin/`), run in the lab of `lvs-tests`.
//!
//! What every benchmark binary writes: a markdown section for people and a JSON file for the
//! report (`target/bench/<name>.md` and `<name>.json`: a [`Section`], its figures and the same
//! markdown). The report binary (`lvs-bench-report`) reads only the JSON: it puts the sections
//! together, lists every target beside its figure, and draws the chart.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One measured figure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    /// What was measured, e.g. "established flow, IPv4 DR".
    pub name: String,
    /// Median (or the single value when there are no rounds).
    pub value: f64,
    /// "ns", "Mpps", "ms", "%", "MiB", "x floor", ...
    pub unit: String,
    /// Min and max over the rounds.
    pub spread: Option<(f64, f64)>,
    /// Rounds the median is over.
    pub rounds: Option<usize>,
    /// How it was measured, in a few words.
    pub method: String,
    /// The comparison figure's name in the same run, if any (the floor, nftables, ...).
    pub compared_to: Option<String>,
    /// The target, if an issue set one.
    pub target: Option<Target>,
}

/// A target from an issue, e.g. "≤ 2.5 x floor".
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// "<=" or ">=".
    pub op: String,
    pub value: f64,
    /// What the target is expressed in ("x floor", "ms", ...): the figure compared is the
    /// one of this unit, `value` or `ratio`.
    pub unit: String,
    /// The measured value in the target's unit (e.g. the ratio to the floor).
    pub measured: f64,
    /// Which issue set it.
    pub source: String,
}

impl Target {
    pub fn at_most(value: f64, unit: &str, measured: f64, source: &str) -> Self {
        Target {
            op: "<=".into(),
            value,
            unit: unit.into(),
            measured,
            source: source.into(),
        }
    }
    pub fn at_least(value: f64, unit: &str, measured: f64, source: &str) -> Self {
        Target {
            op: ">=".into(),
            value,
            unit: unit.into(),
            measured,
            source: source.into(),
        }
    }
    pub fn met(&self) -> bool {
        if self.op == "<=" {
            self.measured <= self.value
        } else {
            self.measured >= self.value
        }
    }
}

/// A benchmark's whole output.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Section {
    /// Short name, also the file name: "dataplane", "control", "system", ...
    pub name: String,
    /// Heading in the report.
    pub title: String,
    /// The markdown body (method, tables) as the benchmark printed it.
    pub markdown: String,
    pub figures: Vec<Figure>,
}

/// `target/bench` of the workspace (this crate is `tests/bench/`).
pub fn dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits two levels below the workspace root")
        .join("target/bench")
}

/// `lvs-ctl-dev` (the lvs-tests crate's `lvs-ctl`) beside this binary: the daemon the control
/// and memory benchmarks start. `cargo xtask bench` builds it with them.
pub fn lvs_ctl_dev() -> std::io::Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("lvs-ctl-dev");
    if !bin.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "{} is missing: build it with `cargo build --release -p lvs-tests --bin \
                 lvs-ctl-dev` (`cargo xtask bench` does)",
                bin.display()
            ),
        ));
    }
    Ok(bin)
}

impl Section {
    /// Writes `<dir>/<name>.md` and `<dir>/<name>.json`.
    pub fn write(&self) -> std::io::Result<PathBuf> {
        let dir = dir();
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{}.md", self.name)), &self.markdown)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let path = dir.join(format!("{}.json", self.name));
        std::fs::write(&path, json)?;
        Ok(path)
    }

    /// Reads every section in `dir()`.
    pub fn read_all() -> std::io::Result<Vec<Section>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir())? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path)?;
                match serde_json::from_str::<Section>(&text) {
                    Ok(s) => out.push(s),
                    Err(e) => eprintln!("skipping {}: not a section: {e}", path.display()),
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
