//! `lvs-bench-report`: the last step of `cargo xtask bench`. Reads every section the
//! benchmarks wrote under `target/bench/` and writes
//!
//! - `report.md`: the machine, when each section was measured, every figure that has a target
//!   beside its target (met or not), then each section as its benchmark wrote it, with a table
//!   of its figures (method, rounds, median, spread, ratio to the comparison of the same run);
//! - `chart.svg`: one horizontal bar chart per section, medians with their spread;
//!
//! and prints the targets table. Everything comes from the sections' JSON (`<name>.json`: the
//! figures, and the markdown the benchmark printed, embedded as it is); nothing is read back
//! out of markdown. Works with whatever sections exist: a section without its JSON is named
//! as missing.

use anyhow::{Context, Result};
use clap::Parser;
use lvs_bench::{self as bench, Figure, Section};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::Path,
    time::{Duration, SystemTime},
};

/// Sections in report order; any other comes after them, by name.
const ORDER: [&str; 6] = [
    "dataplane",
    "system",
    "control",
    "health",
    "consistency",
    "memory",
];
/// A section written this long before the newest one is from an earlier run.
const STALE: Duration = Duration::from_secs(30 * 60);

/// A section as found on disk.
struct Found {
    name: String,
    section: Section,
    /// When its JSON was written.
    written: Option<SystemTime>,
}

/// Gathers the sections the benchmarks wrote under target/bench/ into a report and a chart.
#[derive(Parser)]
#[command(
    name = "lvs-bench-report",
    long_about = "The last step of `cargo xtask bench`: reads every section a benchmark wrote \
as target/bench/<name>.json (its figures and its markdown) and writes target/bench/report.md \
(the machine, when each section was measured, every figure with a target beside it, met or \
not, then each section with a table of its figures) and target/bench/chart.svg (a bar chart \
per section: medians with their spread), and prints the targets table. A section without its \
JSON is named as missing. No options; it measures nothing and needs no root.",
    after_help = "Example: rebuild the report from the sections already measured\n  \
cargo xtask bench --only report"
)]
struct Args {}

fn main() -> Result<()> {
    Args::parse();
    let dir = bench::dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let found = collect(&dir)?;
    let machine = Machine::read();

    let md = report(&found, &machine)?;
    let report_path = dir.join("report.md");
    std::fs::write(&report_path, &md)
        .with_context(|| format!("writing {}", report_path.display()))?;
    let chart_path = dir.join("chart.svg");
    std::fs::write(&chart_path, chart(&found))
        .with_context(|| format!("writing {}", chart_path.display()))?;

    print!("{}", summary(&found, &machine));
    println!(
        "report: {}\nchart:  {}",
        report_path.display(),
        chart_path.display()
    );
    Ok(())
}

// --- gathering --------------------------------------------------------------------------------

fn collect(dir: &Path) -> Result<Vec<Found>> {
    let mut by_name: BTreeMap<String, Found> = Section::read_all()
        .context("reading the sections")?
        .into_iter()
        .map(|s| {
            let found = Found {
                name: s.name.clone(),
                written: modified(&dir.join(format!("{}.json", s.name))),
                section: s,
            };
            (found.name.clone(), found)
        })
        .collect();
    let mut out: Vec<Found> = Vec::new();
    for name in ORDER {
        if let Some(f) = by_name.remove(name) {
            out.push(f);
        }
    }
    out.extend(by_name.into_values());
    Ok(out)
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).ok()?.modified().ok()
}

struct Machine {
    kernel: String,
    cpu: String,
    cpus: usize,
    memory: String,
    date: String,
}

impl Machine {
    fn read() -> Self {
        let kernel = std::process::Command::new("uname")
            .arg("-r")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |key: &str| {
            cpuinfo
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
        };
        let cpu = field("model name")
            .or_else(|| field("cpu model"))
            .or_else(|| field("Hardware"))
            .unwrap_or_else(|| "unknown".into());
        let cpus = cpuinfo
            .lines()
            .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
            .count();
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kib: f64 = m
                    .lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kib / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            kernel,
            cpu,
            cpus,
            memory,
            date: utc(SystemTime::now()),
        }
    }
}

/// `2025-01-31 12:34 UTC`.
fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

// --- the report -------------------------------------------------------------------------------

/// A number with as many digits as it deserves.
fn num(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn op(o: &str) -> &str {
    match o {
        "<=" => "≤",
        ">=" => "≥",
        other => other,
    }
}

/// One line of the targets table.
struct TargetRow {
    section: String,
    figure: String,
    measured: String,
    target: String,
    met: bool,
    source: String,
}

/// Every figure with a target.
fn targets(found: &[Found]) -> Vec<TargetRow> {
    let mut rows = Vec::new();
    for Found { section: s, .. } in found {
        for fig in &s.figures {
            let Some(t) = &fig.target else { continue };
            rows.push(TargetRow {
                section: s.name.clone(),
                figure: fig.name.clone(),
                measured: format!("{} {}", num(t.measured), t.unit),
                target: format!("{} {} {}", op(&t.op), num(t.value), t.unit),
                met: t.met(),
                source: t.source.clone(),
            });
        }
    }
    rows
}

fn status(f: &Found, newest: Option<SystemTime>) -> String {
    let mut s = format!("{} figures", f.section.figures.len());
    if let (Some(w), Some(n)) = (f.written, newest)
        && n.duration_since(w).unwrap_or_default() > STALE
    {
        s.push_str("; **from an earlier run**");
    }
    s
}

fn report(found: &[Found], m: &Machine) -> Result<String> {
    let mut md = String::new();
    writeln!(md, "# lvs benchmark report\n")?;
    writeln!(
        md,
        "Generated by `cargo xtask bench` (`lvs-bench-report`) on {}. Regenerated on every run: \
         do not edit by hand. The chart: [chart.svg](chart.svg).\n",
        m.date
    )?;
    writeln!(md, "## Machine\n")?;
    writeln!(md, "| | |\n|---|---|")?;
    writeln!(md, "| kernel | {} |", cell(&m.kernel))?;
    writeln!(md, "| CPU | {} × {} |", cell(&m.cpu), m.cpus)?;
    writeln!(md, "| memory | {} |", m.memory)?;
    writeln!(md, "| date | {} |\n", m.date)?;
    writeln!(
        md,
        "## How to read it\n\n\
         Every figure is a median over rounds, with its spread (min..max of the rounds) and the \
         number of rounds; a figure with one round is exact or a single measurement, as its \
         method says. Ratios compare like with like, measured in the same run: a path with the \
         floor measured the same way, lvs with the ceiling and with nftables on the same \
         machine. Absolute numbers depend on the machine above; the ratios travel better. \
         Targets are the ones earlier issues set, listed whether met or not.\n"
    )?;

    let newest = found.iter().filter_map(|f| f.written).max();
    writeln!(md, "## Sections\n")?;
    writeln!(md, "| section | measured | status |\n|---|---|---|")?;
    for f in found {
        writeln!(
            md,
            "| [{}](#{}) | {} | {} |",
            f.name,
            anchor(f),
            f.written.map(utc).unwrap_or_default(),
            status(f, newest)
        )?;
    }
    for name in ORDER {
        if !found.iter().any(|f| f.name == name) {
            writeln!(md, "| {name} | | **missing**: not run |")?;
        }
    }

    writeln!(md, "\n## Targets\n")?;
    let t = targets(found);
    if t.is_empty() {
        writeln!(md, "No section with a target was found.")?;
    } else {
        writeln!(
            md,
            "{} of {} targets met.\n",
            t.iter().filter(|r| r.met).count(),
            t.len()
        )?;
        writeln!(
            md,
            "| section | figure | measured | target | met | source |\n|---|---|---:|---:|:---:|---|"
        )?;
        for r in &t {
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                r.section,
                cell(&r.figure),
                cell(&r.measured),
                cell(&r.target),
                if r.met { "yes" } else { "**no**" },
                cell(&r.source)
            )?;
        }
    }
    writeln!(md, "\n![main figures](chart.svg)\n")?;

    for f in found {
        writeln!(md, "<a id=\"{}\"></a>\n", anchor(f))?;
        let body = f.section.markdown.trim();
        if !body.starts_with('#') {
            writeln!(md, "## {}\n", f.section.title)?;
        }
        writeln!(md, "{body}\n")?;
        if !f.section.figures.is_empty() {
            writeln!(md, "{}", figures_table(&f.section)?)?;
        }
    }
    for name in ORDER {
        if !found.iter().any(|f| f.name == name) {
            writeln!(
                md,
                "## {name}: missing\n\nNot run: no `{name}.json` in target/bench \
                 (`cargo xtask bench --only {name}`).\n"
            )?;
        }
    }
    Ok(md)
}

fn anchor(f: &Found) -> String {
    format!("section-{}", f.name)
}

fn figures_table(s: &Section) -> Result<String> {
    let mut md = String::new();
    writeln!(md, "Figures of `{}.json`:\n", s.name)?;
    writeln!(
        md,
        "| figure | median | spread | rounds | method | compared to | ratio |\n|---|---:|---:|---:|---|---|---:|"
    )?;
    for f in &s.figures {
        let cmp = f
            .compared_to
            .as_ref()
            .and_then(|c| s.figures.iter().find(|g| &g.name == c));
        let ratio = match cmp {
            Some(c) if c.unit == f.unit && c.value != 0.0 => format!("{}×", num(f.value / c.value)),
            _ => String::new(),
        };
        writeln!(
            md,
            "| {} | {} {} | {} | {} | {} | {} | {} |",
            cell(&f.name),
            num(f.value),
            cell(&f.unit),
            f.spread
                .map(|(lo, hi)| format!("{}..{}", num(lo), num(hi)))
                .unwrap_or_default(),
            f.rounds.map(|r| r.to_string()).unwrap_or_default(),
            cell(&f.method),
            f.compared_to.as_deref().map(cell).unwrap_or_default(),
            ratio
        )?;
    }
    Ok(md)
}

fn summary(found: &[Found], m: &Machine) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nlvs benchmark report, {}: kernel {}, {} × {}",
        m.date, m.kernel, m.cpus, m.cpu
    );
    let present: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    let missing: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|n| !present.contains(n))
        .collect();
    let _ = writeln!(out, "sections: {}", present.join(", "));
    if !missing.is_empty() {
        let _ = writeln!(out, "missing:  {}", missing.join(", "));
    }
    let t = targets(found);
    let rows: Vec<[String; 4]> = t
        .iter()
        .map(|r| {
            [
                format!("{}: {}", r.section, r.figure),
                r.measured.clone(),
                r.target.clone(),
                if r.met { "yes" } else { "NO" }.to_string(),
            ]
        })
        .collect();
    let head = ["figure", "measured", "target", "met"];
    let mut w = head.map(|h| h.chars().count());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |r: [&str; 4]| {
        format!(
            "{:<a$}  {:>b$}  {:>c$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            a = w[0],
            b = w[1],
            c = w[2]
        )
    };
    if rows.is_empty() {
        let _ = writeln!(out, "no targets found");
    } else {
        let met = t.iter().filter(|r| r.met).count();
        let _ = writeln!(out, "targets: {met} of {} met\n", t.len());
        out.push_str(&line(head));
        for r in &rows {
            out.push_str(&line([&r[0], &r[1], &r[2], &r[3]]));
        }
    }
    out
}

// --- the chart --------------------------------------------------------------------------------

const WIDTH: f64 = 1000.0;
const LABEL_W: f64 = 430.0;
const PLOT_W: f64 = 440.0;
const BAR_H: f64 = 18.0;
const BAR_GAP: f64 = 8.0;
const MAX_BARS: usize = 14;

/// One bar of the chart.
struct Bar {
    name: String,
    value: f64,
    spread: Option<(f64, f64)>,
    color: &'static str,
}

/// One bar chart: a section's figures of one unit.
struct Panel {
    title: String,
    unit: String,
    bars: Vec<Bar>,
}

const BLUE: &str = "#3a6ea5";
const GREY: &str = "#9a9a9a";
const GREEN: &str = "#2e8b57";
const RED: &str = "#c0392b";

fn color(comparison: bool, met: Option<bool>) -> &'static str {
    match (comparison, met) {
        (true, _) => GREY,
        (false, Some(true)) => GREEN,
        (false, Some(false)) => RED,
        (false, None) => BLUE,
    }
}

/// A section's panel: its figures of its most common unit (for consistency: the flows
/// moved), at most [`MAX_BARS`].
fn panel(s: &Section) -> Option<Panel> {
    let wanted: Vec<&Figure> = if s.name == "consistency" {
        s.figures
            .iter()
            .filter(|f| f.name.starts_with("flows moved"))
            .collect()
    } else {
        s.figures.iter().collect()
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &wanted {
        *counts.entry(f.unit.as_str()).or_default() += 1;
    }
    let unit = counts.iter().max_by_key(|(_, n)| **n)?.0.to_string();
    let compared: Vec<&str> = s
        .figures
        .iter()
        .filter_map(|f| f.compared_to.as_deref())
        .collect();
    let bars: Vec<Bar> = wanted
        .into_iter()
        .filter(|f| f.unit == unit && f.value.is_finite())
        .take(MAX_BARS)
        .map(|f| Bar {
            name: f.name.clone(),
            value: f.value,
            spread: f.spread,
            color: color(
                compared.contains(&f.name.as_str()),
                f.target.as_ref().map(|t| t.met()),
            ),
        })
        .collect();
    (!bars.is_empty()).then(|| Panel {
        title: s.title.clone(),
        unit,
        bars,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round axis maximum and its tick step.
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn chart(found: &[Found]) -> String {
    let panels: Vec<Panel> = found.iter().filter_map(|f| panel(&f.section)).collect();
    let mut body = String::new();
    let mut y = 40.0;
    let _ = writeln!(
        body,
        "<text x=\"20\" y=\"26\" class=\"title\">lvs benchmarks: medians, whiskers = spread \
         (min..max over rounds)</text>"
    );
    let legend = [
        (BLUE, "measured"),
        (GREY, "comparison (floor, ceiling, nftables, ...)"),
        (GREEN, "target met"),
        (RED, "target not met"),
    ];
    let mut lx = 20.0;
    for (color, text) in legend {
        let _ = writeln!(
            body,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            y,
            lx + 16.0,
            y + 10.0,
            esc(text)
        );
        lx += 40.0 + text.len() as f64 * 6.5;
    }
    y += 30.0;
    if panels.is_empty() {
        let _ = writeln!(
            body,
            "<text x=\"20\" y=\"{}\">No section with figures: run `cargo xtask bench`.</text>",
            y + 20.0
        );
        y += 40.0;
    }
    for Panel { title, unit, bars } in &panels {
        let max = bars
            .iter()
            .map(|f| f.spread.map_or(f.value, |(_, hi)| hi.max(f.value)))
            .fold(0.0, f64::max);
        let (top, step) = axis(max);
        let x0 = LABEL_W;
        let sx = |v: f64| x0 + (v.max(0.0) / top) * PLOT_W;
        let _ = writeln!(
            body,
            "<text x=\"20\" y=\"{}\" class=\"panel\">{} ({})</text>",
            y + 14.0,
            esc(title),
            esc(unit)
        );
        y += 26.0;
        let plot_top = y;
        let plot_h = bars.len() as f64 * (BAR_H + BAR_GAP);
        // Grid and ticks.
        let mut v = 0.0;
        while v <= top + step / 2.0 {
            let x = sx(v);
            let _ = writeln!(
                body,
                "<line x1=\"{x:.1}\" y1=\"{plot_top}\" x2=\"{x:.1}\" y2=\"{:.1}\" class=\"grid\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" class=\"tick\">{}</text>",
                plot_top + plot_h,
                plot_top + plot_h + 14.0,
                num(v)
            );
            v += step;
        }
        for f in bars {
            let color = f.color;
            let mut label = f.name.clone();
            if label.chars().count() > 66 {
                label = label.chars().take(64).collect::<String>() + "…";
            }
            let _ = writeln!(
                body,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{}</text>",
                x0 - 8.0,
                y + BAR_H - 5.0,
                esc(&label)
            );
            let w = sx(f.value) - x0;
            let _ = writeln!(
                body,
                "<rect x=\"{x0}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR_H}\" fill=\"{color}\"><title>{}: {} {}</title></rect>",
                esc(&f.name),
                num(f.value),
                esc(unit)
            );
            let mut end = sx(f.value);
            if let Some((lo, hi)) = f.spread {
                let (a, b, m) = (sx(lo), sx(hi), y + BAR_H / 2.0);
                let _ = writeln!(
                    body,
                    "<path d=\"M{a:.1},{m:.1}H{b:.1}M{a:.1},{:.1}V{:.1}M{b:.1},{:.1}V{:.1}\" class=\"whisker\"/>",
                    m - 5.0,
                    m + 5.0,
                    m - 5.0,
                    m + 5.0
                );
                end = end.max(b);
            }
            let _ = writeln!(
                body,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{}</text>",
                end + 6.0,
                y + BAR_H - 5.0,
                esc(&num(f.value))
            );
            y += BAR_H + BAR_GAP;
        }
        let _ = writeln!(
            body,
            "<line x1=\"{x0}\" y1=\"{plot_top}\" x2=\"{x0}\" y2=\"{:.1}\" class=\"axis\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"unit\">{}</text>",
            plot_top + plot_h,
            x0 + PLOT_W / 2.0,
            plot_top + plot_h + 30.0,
            esc(unit)
        );
        y += 50.0;
    }
    let height = y;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <style>\
         .title{{font-size:16px;font-weight:bold}} .panel{{font-size:14px;font-weight:bold}} \
         .label{{text-anchor:end}} .tick{{text-anchor:middle;fill:#555;font-size:10px}} \
         .unit{{text-anchor:middle;fill:#333}} .value{{fill:#111}} \
         .grid{{stroke:#e4e4e4}} .axis{{stroke:#333}} .whisker{{stroke:#111;fill:none}}\
         </style>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}
