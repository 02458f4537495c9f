//! A virtual block's health check: `checktype`, `service`, `request`/`receive` and the timeouts.

use super::*;

impl Parser<'_> {
    /// The service's check from checktype, service, request, receive and the timeouts.
    pub(super) fn check(
        &mut self,
        v: &Virtual,
        protocol: Protocol,
        port: u16,
        defaults: &CheckDefaults,
    ) -> Option<Check> {
        let checktype = v
            .checktype
            .as_ref()
            .map_or("negotiate", |(t, _)| t.as_str());
        let type_line = v.checktype.as_ref().map_or(v.line, |(_, l)| *l);
        let service = match &v.service {
            Some((s, _)) => s.clone(),
            None => service_of_port(port).to_owned(),
        };
        let service_line = v.service.as_ref().map_or(type_line, |(_, l)| *l);
        let negotiate = |p: &mut Parser| -> CheckType {
            match service.as_str() {
                "http" => CheckType::Http,
                "https" => {
                    p.warn(
                        service_line,
                        "ldirectord does not verify certificates: imported with verify_tls: false",
                    );
                    CheckType::Https
                }
                "dns" => CheckType::Dns,
                "none" => {
                    p.warn(
                        service_line,
                        "a negotiate check of service none always succeeds in ldirectord; \
                         imported as type on",
                    );
                    CheckType::On
                }
                other => {
                    let kind = connect_for(protocol);
                    p.warn(
                        service_line,
                        format!(
                            "negotiate checks of service {other} are not supported; imported as \
                             a {kind} check"
                        ),
                    );
                    kind
                }
            }
        };
        let (kind, uses_negotiate_timeout) = match checktype {
            "negotiate" => (negotiate(self), true),
            "connect" if protocol == Protocol::Udp => {
                self.warn(
                    type_line,
                    "ldirectord checks udp services with connect by ping; imported as type ping",
                );
                (CheckType::Ping, false)
            }
            "connect" => (CheckType::Connect, false),
            "ping" => (CheckType::Ping, false),
            "on" => (CheckType::On, false),
            "off" => (CheckType::Off, false),
            "external" => (CheckType::External, false),
            "external-perl" => {
                self.warn(
                    type_line,
                    "external-perl is run as an external command (type external)",
                );
                (CheckType::External, false)
            }
            n if n.parse::<u32>().is_ok() => {
                let kind = negotiate(self);
                self.warn(
                    type_line,
                    format!(
                        "combined checks (checktype={n}: connect, negotiate every {n}th time) are \
                         not supported; imported as the negotiate check ({kind})"
                    ),
                );
                (kind, true)
            }
            other => {
                self.warn(
                    type_line,
                    format!("unknown checktype {other:?}; imported as a connect check"),
                );
                (connect_for(protocol), false)
            }
        };

        let mut check = Check::default();
        if kind != CheckType::Connect {
            check.kind = Some(kind);
        }

        // Timing, as ldirectord resolves it per virtual service.
        let (vs, g) = (&v.settings, &self.globals);
        let (timeout, default) = if uses_negotiate_timeout {
            let t = vs.negotiatetimeout.or(vs.checktimeout);
            (t.or(g.negotiatetimeout).or(g.checktimeout), (30, type_line))
        } else {
            let t = vs.checktimeout.or(vs.negotiatetimeout);
            (t.or(g.checktimeout).or(g.negotiatetimeout), (5, type_line))
        };
        let mut interval = defaults.interval;
        if let Some((secs, line)) = v.checkinterval {
            if self.fork {
                interval = Duration::from_secs(secs);
                if interval != defaults.interval {
                    check.interval = Some(interval);
                }
            } else {
                self.warn(
                    line,
                    "ldirectord ignores a virtual service's checkinterval unless fork = yes; \
                     ignored",
                );
            }
        }
        // on and off run nothing: their timeout does not matter.
        let timeout = if matches!(kind, CheckType::On | CheckType::Off) {
            defaults.timeout.as_secs()
        } else {
            self.clamp_timeout(timeout, default, interval.as_secs())
        };
        if Duration::from_secs(timeout) != defaults.timeout {
            check.timeout = Some(Duration::from_secs(timeout));
        }
        if let Some((n, _)) = vs.failurecount
            && n != defaults.fall
        {
            check.fall = Some(n);
        }

        if let Some((p, line)) = v.checkport {
            if kind.takes("port") {
                if p != port {
                    check.port = Some(p);
                }
            } else {
                self.warn(
                    line,
                    format!("checkport is not used by a {kind} check; ignored"),
                );
            }
        }
        if let Some((cmd, line)) = &v.checkcommand {
            if kind == CheckType::External {
                check.command = Some(cmd.clone());
            } else {
                self.warn(
                    *line,
                    format!("checkcommand is not used by a {kind} check; ignored"),
                );
            }
        } else if kind == CheckType::External {
            self.warn(
                type_line,
                "checktype external without checkcommand runs /bin/true in ldirectord; imported \
                 as such",
            );
            check.command = Some("/bin/true".into());
        }
        let request = v.request.as_ref().map(|(r, l)| (r.as_str(), *l));
        let receive = v.receive.as_ref().map(|(r, l)| (r.as_str(), *l));
        self.request_receive(&mut check, kind, request, receive);
        if let Some((host, line)) = &v.virtualhost {
            if kind.takes("virtualhost") {
                check.virtualhost = Some(host.clone());
            } else {
                self.warn(
                    *line,
                    format!("virtualhost is not used by a {kind} check; ignored"),
                );
            }
        }
        if let Some((method, line)) = v.httpmethod {
            if !kind.takes("http_method") {
                self.warn(
                    line,
                    format!("httpmethod is not used by a {kind} check; ignored"),
                );
            } else if method == HttpMethod::Head {
                check.http_method = Some(method);
                if check.receive.take().is_some() {
                    self.warn(line, "a HEAD request has no body: receive is ignored");
                }
            }
        }
        if kind == CheckType::Https {
            check.verify_tls = Some(false);
        }

        (check != Check::default()).then_some(check)
    }

    /// Sets request/receive (http, https) or query/expect (dns) from ldirectord's strings.
    pub(super) fn request_receive(
        &mut self,
        check: &mut Check,
        kind: CheckType,
        request: Option<(&str, usize)>,
        receive: Option<(&str, usize)>,
    ) {
        match kind {
            CheckType::Http | CheckType::Https => {
                if let Some((req, line)) = request {
                    if req.starts_with("http://") || req.starts_with("https://") {
                        self.warn(
                            line,
                            format!(
                                "request {req:?} is a URL; lvs requests a path of the real: \
                                 ignored"
                            ),
                        );
                    } else {
                        let path = if req.starts_with('/') {
                            req.to_owned()
                        } else {
                            format!("/{req}")
                        };
                        if path != DEFAULT_HTTP_REQUEST {
                            check.request = Some(path.replace(' ', "%20"));
                        }
                    }
                }
                if let Some((re, line)) = receive
                    && !re.is_empty()
                {
                    match regex::Regex::new(re) {
                        Ok(_) => check.receive = Some(re.to_owned()),
                        Err(e) => self.warn(
                            line,
                            format!(
                                "receive {re:?} is not a regex lvs understands ({}); ignored",
                                e.to_string().lines().last().unwrap_or_default()
                            ),
                        ),
                    }
                }
            }
            CheckType::Dns => {
                match request {
                    Some((req, _)) => {
                        let name = req.trim_start_matches('/');
                        match name.parse::<IpAddr>() {
                            Ok(addr) => {
                                check.query = Some(reverse_name(addr));
                                check.query_type = Some(QueryType::Ptr);
                            }
                            Err(_) => check.query = Some(name.to_owned()),
                        }
                    }
                    None => {
                        // ldirectord would look up "" and fail; the root is a safe stand-in.
                        check.query = Some(".".into());
                        check.query_type = Some(QueryType::Ns);
                    }
                }
                if let Some((re, line)) = receive
                    && !re.is_empty()
                {
                    let text = re.replace("\\.", ".");
                    if text.contains(['\\', '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '|'])
                    {
                        self.warn(
                            line,
                            format!(
                                "receive {re:?} is a regex in ldirectord; lvs looks for it as \
                                 plain text in the answers"
                            ),
                        );
                        check.expect = Some(re.to_owned());
                    } else {
                        check.expect = Some(text);
                    }
                }
                if request.is_none()
                    && let Some((_, line)) = receive
                {
                    self.warn(
                        line,
                        "a dns check without request: lvs asks for the root NS",
                    );
                }
            }
            _ => {
                for (what, setting) in [("request", request), ("receive", receive)] {
                    if let Some((_, line)) = setting {
                        self.warn(
                            line,
                            format!("{what} is not used by a {kind} check; ignored"),
                        );
                    }
                }
            }
        }
    }
}
