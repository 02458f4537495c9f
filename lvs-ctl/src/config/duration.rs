//! Durations written the human way (`"500ms"`, `"2s"`, `"1m 30s"`), with serde helpers.
//!
//! A bare number is refused rather than guessed at: `interval: 5` could mean seconds (as in
//! ldirectord) or milliseconds, and the error tells the user to write the unit.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

/// Formats a duration the way the configuration writes it (`"1s 500ms"`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Formats a measured duration in the same notation, cut to the millisecond (to the
/// microsecond below one): `"12ms"`, `"1s 234ms"`, `"250us"`.
pub fn format_measured(d: Duration) -> String {
    let cut = if d >= Duration::from_millis(1) {
        Duration::from_millis(d.as_millis() as u64)
    } else {
        Duration::from_micros(d.as_micros() as u64)
    };
    format(cut)
}

/// Parses a duration the way the configuration writes it, with an error naming the value.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. \"500ms\" or \"2s\""))
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as \"500ms\" or \"2s\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{v} is not a duration: write the unit, e.g. \"{v}s\" or \"{v}ms\""
        )))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{v} is not a duration: write the unit, e.g. \"{v}s\" or \"{v}ms\""
        )))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{v} is not a duration: write the unit, e.g. \"{}ms\"",
            (v * 1000.0).round()
        )))
    }
}

/// `#[serde(with = "duration")]` for a [`Duration`] field.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// `#[serde(with = "duration")]` for a [`Duration`] field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

/// `#[serde(with = "duration::option")]` for an `Option<Duration>` field (use with
/// `default`, so that a missing key is `None`).
pub mod option {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Writes `Some(d)` as the duration; `None` should be skipped by the field attribute.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads a present value as a duration (an explicit `null` is `None`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        struct Opt;
        impl<'de> serde::de::Visitor<'de> for Opt {
            type Value = Option<Duration>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"500ms\" or \"2s\"")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::deserialize(d).map(Some)
            }
        }
        d.deserialize_option(Opt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_human_durations() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(format(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(
            parse(&format(Duration::from_millis(1500))),
            Ok(Duration::from_millis(1500))
        );
    }

    #[test]
    fn measured_durations_are_cut_to_the_millisecond() {
        assert_eq!(format_measured(Duration::from_micros(12_345)), "12ms");
        assert_eq!(
            format_measured(Duration::from_micros(1_234_567)),
            "1s 234ms"
        );
        assert_eq!(format_measured(Duration::from_nanos(250_400)), "250us");
        assert_eq!(format_measured(Duration::from_secs(1)), "1s");
    }

    #[test]
    fn rejects_a_duration_without_unit_naming_the_value() {
        let err = parse("5x").unwrap_err();
        assert!(err.starts_with("\"5x\" is not a duration"), "{err}");
    }
}
