//! Lexical helpers: comments, `key = value`, quoting, tokens, host and port, numbers.

use super::*;

/// The line without a `#` comment (a `#` inside double quotes is kept).
pub(super) fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `key = value` (the key lowercased), or `None` if there is no `=`.
pub(super) fn split_directive(line: &str) -> Option<(String, &str)> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim()))
}

pub(super) fn unquote(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// `('l', "10")` for a connection threshold `l:10`, `<l:10>` (also quoted); likewise `u`.
pub(super) fn threshold(token: &str) -> Option<(char, &str)> {
    let bare = token
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(token);
    match bare.split_once(':')? {
        ("l", value) => Some(('l', value)),
        ("u", value) => Some(('u', value)),
        _ => None,
    }
}

/// Whitespace- (and comma-) separated words; double-quoted strings are one word, marked `true`.
pub(super) fn tokenize(text: &str) -> Vec<(String, bool)> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let word: String = chars.by_ref().take_while(|&c| c != '"').collect();
            tokens.push((word, true));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == ',' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push((word, false));
        }
    }
    tokens
}

/// `host:port`, `[v6]:port`, `host` or `[v6]`; the port is `None` when absent. An IPv6 address
/// without brackets is taken whole.
pub(super) fn split_host_port(spec: &str) -> Option<(&str, Option<&str>)> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    if let Some(rest) = spec.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    if spec.matches(':').count() > 1 {
        return Some((spec, None));
    }
    match spec.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((spec, None)),
    }
}

/// Well-known service names ldirectord resolves through /etc/services.
pub(super) const SERVICE_PORTS: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("nntp", 119),
    ("imap", 143),
    ("imap2", 143),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("ms-sql-s", 1433),
    ("radius", 1812),
    ("mysql", 3306),
    ("http-alt", 8080),
    ("sip", 5060),
    ("postgresql", 5432),
];

pub(super) fn port_number(port: &str) -> Option<u16> {
    port.parse().ok().or_else(|| {
        SERVICE_PORTS
            .iter()
            .find(|(name, _)| *name == port)
            .map(|(_, n)| *n)
    })
}

/// ldirectord's `ld_port_to_service`: the negotiate check of a port when `service` is unset.
pub(super) fn service_of_port(port: u16) -> &'static str {
    match port {
        21 => "ftp",
        25 => "smtp",
        53 => "dns",
        80 => "http",
        110 => "pop",
        119 => "nntp",
        143 => "imap",
        389 => "ldap",
        443 => "https",
        587 => "submission",
        636 => "ldaps",
        993 => "imaps",
        995 => "pops",
        1521 => "oracle",
        1812 => "radius",
        3128 => "http_proxy",
        3306 => "mysql",
        5060 => "sip",
        5432 => "pgsql",
        _ => "none",
    }
}

pub(super) fn connect_for(protocol: Protocol) -> CheckType {
    match protocol {
        Protocol::Tcp => CheckType::Connect,
        Protocol::Udp => CheckType::Ping,
    }
}

pub(super) fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

pub(super) fn endpoint(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

pub(super) fn seconds(line: usize, key: &str, value: &str) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|&s| s > 0 || key == "persistent")
        .ok_or_else(|| syntax(line, format!("{key} {value:?} is not a number of seconds")))
}

pub(super) fn count(line: usize, key: &str, value: &str) -> Result<u32, ConfigError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| syntax(line, format!("{key} {value:?} is not a positive number")))
}

pub(super) fn yes_no(line: usize, key: &str, value: &str) -> Result<bool, ConfigError> {
    match unquote(value) {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(syntax(
            line,
            format!("{key} must be yes or no, not {other:?}"),
        )),
    }
}

/// The name a PTR query asks for: `2.1.18.198.in-addr.arpa`, or nibbles in `ip6.arpa`.
pub(super) fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(a) => {
            let mut name = String::new();
            for byte in a.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name + "ip6.arpa"
        }
    }
}
