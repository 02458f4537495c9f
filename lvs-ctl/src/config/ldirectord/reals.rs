//! The `real=` lines of a virtual block: addresses, ranges, forwarding methods and weights.

use super::*;

impl Parser<'_> {
    /// Adds the reals of `v` to `service`; returns the line of each real added.
    pub(super) fn reals(&mut self, v: &Virtual, service: &mut Service) -> Vec<usize> {
        let mut lines = Vec::new();
        // The line and the port in ipvs of each address: gate and ipip reals get the service's.
        let mut seen: HashMap<IpAddr, (usize, u16)> = HashMap::new();
        let kind = service
            .check
            .as_ref()
            .map_or(CheckType::Connect, Check::effective_kind);
        for (text, line) in &v.reals {
            let line = *line;
            let Some(real) = self.parse_real(text, line) else {
                continue;
            };
            for address in real.addresses {
                let shown = match (address, real.port) {
                    (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
                    (a, Some(p)) => format!("{a}:{p}"),
                    (a, None) => a.to_string(),
                };
                if address.is_ipv4() != service.vip.is_ipv4() {
                    self.lose(
                        line,
                        Lost::Real,
                        format!(
                            "real {shown} is not of the family of {}; skipped",
                            service.endpoint()
                        ),
                    );
                    continue;
                }
                let ipvs_port = match (real.method.as_str(), real.port) {
                    ("masq", Some(p)) if p != 0 => p,
                    _ => service.port,
                };
                if let Some(&(first, port)) = seen.get(&address) {
                    if port == ipvs_port {
                        self.warn(
                            line,
                            format!(
                                "real {shown} repeats the real of line {first} (ipvs would hold \
                                 it once too); skipped"
                            ),
                        );
                    } else {
                        self.lose(
                            line,
                            Lost::Real,
                            format!(
                                "real {shown} repeats the address of the real of line {first}: \
                                 lvs balances on addresses, not ports; skipped"
                            ),
                        );
                    }
                    continue;
                }
                let method = match real.method.as_str() {
                    "gate" => Method::Dr,
                    "ipip" => Method::Ipip,
                    _ => {
                        self.warn(
                            line,
                            format!(
                                "masq forwarding is not supported; real {shown} imported as dr"
                            ),
                        );
                        Method::Dr
                    }
                };
                if let Some(p) = real.port
                    && p != service.port
                    && p != 0
                {
                    self.warn(
                        line,
                        format!(
                            "dr and ipip cannot change the port: real {shown} receives port {}",
                            service.port
                        ),
                    );
                }
                seen.insert(address, (line, ipvs_port));
                let mut r = Real::new(address);
                r.method = method;
                r.weight = real.weight;
                if real.request.is_some() || real.receive.is_some() {
                    let mut check = Check::default();
                    let request = real.request.as_deref().map(|r| (r, line));
                    let receive = real.receive.as_deref().map(|r| (r, line));
                    self.request_receive(&mut check, kind, request, receive);
                    if check != Check::default() {
                        r.check = Some(check);
                    }
                }
                service.reals.push(r);
                lines.push(line);
            }
        }
        lines
    }

    /// One `real=` line: `ip[->ip][:port] gate|masq|ipip [weight] ["request", "receive"]
    /// ["<l:N>"] ["<u:N>"]`. `None` (with a warning) if it cannot be imported. A threshold is
    /// `l:N` or `u:N`, bare (ldirectord's program reads that) or in `<>` and quotes (its manual
    /// writes that): never a request or receive string.
    pub(super) fn parse_real(&mut self, text: &str, line: usize) -> Option<RealLine> {
        let tokens = tokenize(text);
        let Some((spec, _)) = tokens.first() else {
            self.lose(line, Lost::Real, "real without address; skipped");
            return None;
        };
        let Some((method, _)) = tokens.get(1) else {
            self.lose(
                line,
                Lost::Real,
                format!("real {spec} has no forwarding method (gate, masq or ipip); skipped"),
            );
            return None;
        };
        if !matches!(method.as_str(), "gate" | "masq" | "ipip") {
            self.lose(
                line,
                Lost::Real,
                format!(
                    "real {spec}: forwarding method {method:?} is not gate, masq or ipip; skipped"
                ),
            );
            return None;
        }
        // A range's first address has no port: split at the last "->".
        let (range, port) = match spec.rsplit_once("->") {
            Some((first, last)) => {
                let (last, port) = split_host_port(last).unwrap_or((last, None));
                (format!("{first}->{last}"), port)
            }
            None => {
                let (host, port) = split_host_port(spec).unwrap_or((spec.as_str(), None));
                (host.to_owned(), port)
            }
        };
        let port = match port {
            Some(p) => match port_number(p) {
                Some(n) => Some(n),
                None => {
                    self.lose(
                        line,
                        Lost::Real,
                        format!("real {spec}: unknown port {p:?}; skipped"),
                    );
                    return None;
                }
            },
            None => None,
        };
        let addresses = match range.split_once("->") {
            Some((first, last)) => self.range(line, spec, first, last)?,
            None => match strip_brackets(&range).parse::<IpAddr>() {
                Ok(a) => vec![a],
                Err(_) => {
                    self.lose(
                        line,
                        Lost::Real,
                        format!(
                            "real {spec} is not an address (host names are not resolved); skipped"
                        ),
                    );
                    return None;
                }
            },
        };

        let mut real = RealLine {
            addresses,
            port,
            method: method.clone(),
            weight: 1,
            request: None,
            receive: None,
        };
        let mut rest = tokens[2..].iter().peekable();
        if let Some((w, false)) = rest.peek()
            && let Ok(weight) = w.parse::<u64>()
        {
            rest.next();
            real.weight = u32::try_from(weight.min(65535)).expect("clamped");
            if weight > 65535 {
                self.warn(
                    line,
                    format!("real {spec}: weight {weight} is over 65535; imported as 65535"),
                );
            }
        }
        while let Some((token, quoted)) = rest.next() {
            if let Some((kind, value)) = threshold(token) {
                let (what, option) = match kind {
                    'l' => ("lower", "-y"),
                    _ => ("upper", "-x"),
                };
                match value.parse::<u32>() {
                    Ok(0) => self.warn(
                        line,
                        format!(
                            "real {spec}: {what} connection threshold 0 ({token}) is ipvs' \
                             default, none; nothing to carry over"
                        ),
                    ),
                    Ok(n) => self.lose(
                        line,
                        Lost::Threshold,
                        format!(
                            "real {spec}: {what} connection threshold {n} ({token}, ipvsadm \
                             {option}) is not carried over: lvs has no connection thresholds"
                        ),
                    ),
                    Err(_) => self.warn(
                        line,
                        format!(
                            "real {spec}: {token:?} is not a connection threshold (l:N or u:N); \
                             ignored"
                        ),
                    ),
                }
            } else if *quoted && real.request.is_none() {
                real.request = Some(token.clone());
                match rest.peek() {
                    Some((receive, true)) if threshold(receive).is_none() => {
                        real.receive = Some(receive.clone());
                        rest.next();
                    }
                    _ => self.warn(
                        line,
                        format!("real {spec}: a request without receive string"),
                    ),
                }
            } else {
                self.warn(
                    line,
                    format!("real {spec}: {token:?} is not understood; ignored"),
                );
            }
        }
        Some(real)
    }

    /// The addresses of an IPv4 range `first->last`.
    pub(super) fn range(
        &mut self,
        line: usize,
        spec: &str,
        first: &str,
        last: &str,
    ) -> Option<Vec<IpAddr>> {
        const MAX_RANGE: u32 = 4096;
        let (Ok(a), Ok(b)) = (first.parse::<Ipv4Addr>(), last.parse::<Ipv4Addr>()) else {
            self.lose(
                line,
                Lost::Real,
                format!(
                    "real {spec}: ranges are only of IPv4 addresses (host names are not \
                     resolved); skipped"
                ),
            );
            return None;
        };
        let (a, b) = (u32::from(a), u32::from(b));
        if a > b {
            self.lose(
                line,
                Lost::Real,
                format!("real {spec}: the range is backwards; skipped"),
            );
            return None;
        }
        if b - a >= MAX_RANGE {
            self.lose(
                line,
                Lost::Real,
                format!("real {spec}: more than {MAX_RANGE} addresses; skipped"),
            );
            return None;
        }
        Some((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect())
    }
}
