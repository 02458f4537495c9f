//! Words for values: how a fault shows a value, YAML 1.2 core-schema scalars, and
//! "did you mean" suggestions for unknown keys.

use super::*;

/// A value as a fault shows it: numbers and booleans bare, text quoted (and cut when long),
/// collections by their kind.
pub(super) fn shown(node: &Node) -> String {
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
pub(super) fn clip_key(key: &str) -> String {
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
pub(super) fn parse_float(text: &str) -> Option<f64> {
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
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// The message for an unknown key of `section`: a near key, or the section that has it.
pub(super) fn unknown_key(section: &Section, key: &str) -> String {
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
pub(super) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
