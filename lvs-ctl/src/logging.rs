//! Log lines of the daemon and the CLI, on stderr.
//!
//! Two formats. Human (a terminal, a file): env_logger's, with a timestamp, the level and the
//! module. Journal (systemd runs us and `JOURNAL_STREAM` names our stderr, as systemd.exec(5)
//! says to check): each line starts with the syslog priority sd-daemon(3) describes (`<3>`
//! error, `<4>` warning, `<6>` info, `<7>` debug and trace) and has no timestamp, since the
//! journal stamps every line itself.
//!
//! The level: `--log-level` if given, else `RUST_LOG` (with its per-module directives), else
//! `global.log_level` of the configuration (applied by the daemon at start and at each reload),
//! else info.

use crate::config::LogLevel;
use log::{Level, LevelFilter};
use std::{
    io::Write,
    sync::atomic::{AtomicBool, Ordering},
};

/// The level was set by `--log-level` or `RUST_LOG`: the configuration does not change it.
static FIXED: AtomicBool = AtomicBool::new(false);

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Timestamp, level, module, message.
    Human,
    /// `<N>` priority prefix, message; no timestamp.
    Journal,
}

impl Format {
    /// The format for this process: journal when `JOURNAL_STREAM` names stderr.
    pub fn detect() -> Format {
        let stream = std::env::var("JOURNAL_STREAM").ok();
        Format::choose(stream.as_deref(), stderr_id())
    }

    /// Journal when `journal_stream` (`DEVICE:INODE`, as systemd sets it) is the device and
    /// inode of stderr (`stderr`); human otherwise (stderr was redirected elsewhere).
    pub fn choose(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> Format {
        let named = journal_stream.and_then(|s| {
            let (dev, ino) = s.split_once(':')?;
            Some((dev.trim().parse().ok()?, ino.trim().parse().ok()?))
        });
        match (named, stderr) {
            (Some(n), Some(e)) if n == e => Format::Journal,
            _ => Format::Human,
        }
    }
}

/// Device and inode of stderr.
fn stderr_id() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let fd = std::os::fd::AsFd::as_fd(&std::io::stderr())
        .try_clone_to_owned()
        .ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The syslog priority of a level (sd-daemon(3): `SD_ERR` 3, `SD_WARNING` 4, `SD_INFO` 6,
/// `SD_DEBUG` 7).
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One record in the journal format: every line of `message` carries the prefix (the journal
/// takes each line as an entry of its own); a library's lines also name the library's module.
pub fn journal_record(level: Level, target: &str, message: &str) -> String {
    let prefix = match target.split("::").next() {
        Some("lvs_ctl") | None => format!("<{}>", priority(level)),
        Some(_) => format!("<{}>{target}: ", priority(level)),
    };
    let mut out = String::new();
    for line in message.lines() {
        out.push_str(&prefix);
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        out = format!("{prefix}\n");
    }
    out
}

/// Installs the logger on stderr; `flag` is `--log-level`.
pub fn init(flag: Option<LogLevel>) {
    let mut builder = env_logger::Builder::new();
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let fixed = match (flag, rust_log) {
        (Some(level), _) => {
            builder.filter_level(level.filter());
            true
        }
        (None, Some(spec)) => {
            builder.parse_filters(&spec);
            true
        }
        // Everything passes the logger; the maximum level (set below, then by the
        // configuration) decides.
        (None, None) => {
            builder.filter_level(LevelFilter::Trace);
            false
        }
    };
    if Format::detect() == Format::Journal {
        builder.format(|buf, record| {
            let text = journal_record(record.level(), record.target(), &record.args().to_string());
            buf.write_all(text.as_bytes())
        });
    }
    builder.init();
    if !fixed {
        log::set_max_level(LogLevel::default().filter());
    }
    FIXED.store(fixed, Ordering::Relaxed);
}

/// Applies the configuration's `global.log_level`, unless `--log-level` or `RUST_LOG` set it.
pub fn configure(level: LogLevel) {
    if !FIXED.load(Ordering::Relaxed) {
        log::set_max_level(level.filter());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_gets_its_sd_daemon_priority() {
        let cases = [
            (Level::Error, "<3>"),
            (Level::Warn, "<4>"),
            (Level::Info, "<6>"),
            (Level::Debug, "<7>"),
            (Level::Trace, "<7>"),
        ];
        for (level, prefix) in cases {
            assert_eq!(
                journal_record(level, "lvs_ctl::daemon", "real 198.18.1.2 of svc down"),
                format!("{prefix}real 198.18.1.2 of svc down\n"),
                "{level}"
            );
        }
    }

    #[test]
    fn journal_lines_have_no_timestamp_and_every_line_its_prefix() {
        let text = journal_record(
            Level::Error,
            "lvs_ctl::daemon::reload",
            "reload rejected:\nline 3: global.xdp_mode: bad",
        );
        assert_eq!(
            text,
            "<3>reload rejected:\n<3>line 3: global.xdp_mode: bad\n"
        );
        for line in text.lines() {
            let after = &line[3..];
            assert!(
                !after.starts_with('[') && !after.chars().take(4).all(|c| c.is_ascii_digit()),
                "no timestamp: {line}"
            );
        }
        assert_eq!(
            journal_record(Level::Warn, "aya::programs", "detached"),
            "<4>aya::programs: detached\n",
            "a library's line names its module"
        );
    }

    #[test]
    fn journal_format_only_when_journal_stream_names_stderr() {
        assert_eq!(
            Format::choose(Some("8:1234"), Some((8, 1234))),
            Format::Journal
        );
        assert_eq!(
            Format::choose(Some("8:1234"), Some((8, 999))),
            Format::Human,
            "stderr redirected elsewhere"
        );
        assert_eq!(Format::choose(None, Some((8, 1234))), Format::Human);
        assert_eq!(
            Format::choose(Some("garbage"), Some((8, 1234))),
            Format::Human
        );
    }
}
