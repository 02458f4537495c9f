//! The directives read, turned into a [`Config`]: global settings, tunnel sources, services and
//! fallbacks, and faults located at the ldirectord line they come from.

use super::*;

impl Parser<'_> {
    pub(super) fn build(mut self) -> Result<Import, ConfigError> {
        let mut global = Global::new(vec!["eth0".into()]);
        global.tunnel = self.tunnel.clone();
        // `autoreload = yes`: re-read the file when it changes.
        global.watch_config = self.autoreload;
        self.warn(
            0,
            "ldirectord has no equivalent of global.interfaces: set to [eth0]; set it to the \
             interfaces where the VIP traffic arrives",
        );

        // Check defaults: ldirectord brings a real back on its first good check (rise 1).
        let interval = self.checkinterval.map_or(10, |(s, _)| s);
        let interval_line = self.checkinterval.map_or(0, |(_, l)| l);
        let timeout = self.globals.checktimeout.or(self.globals.negotiatetimeout);
        let timeout = self.clamp_timeout(timeout, (5, interval_line), interval);
        global.check_defaults = CheckDefaults {
            interval: Duration::from_secs(interval),
            timeout: Duration::from_secs(timeout),
            fall: self.globals.failurecount.map_or(1, |(n, _)| n),
            rise: 1,
        };

        if let Some((dir, line)) = self.maintenancedir.clone() {
            if dir.starts_with('/') {
                global.maintenance_dir = Some(PathBuf::from(dir));
                self.warn(
                    line,
                    "maintenance files are named after the real's address (\"198.18.1.2\" or \
                     \"198.18.1.2:80\"), not its host name",
                );
            } else {
                self.warn(
                    line,
                    format!("maintenancedir {dir:?} is not an absolute path; ignored"),
                );
            }
        }

        let mut services = Vec::new();
        // Lines of each service and of each of its reals, to name them in faults.
        let mut origins = Vec::new();
        let virtuals = std::mem::take(&mut self.virtuals);
        let mut names = HashSet::new();
        let mut endpoints: HashMap<(IpAddr, u16, Protocol), usize> = HashMap::new();
        for v in &virtuals {
            let Some(mut service) = self.service(v, &global.check_defaults) else {
                continue;
            };
            let key = (service.vip, service.port, service.protocol);
            if let Some(first) = endpoints.get(&key) {
                self.lose(
                    v.line,
                    Lost::Service,
                    format!(
                        "{} is already defined on line {first}; this block is skipped",
                        service.endpoint()
                    ),
                );
                continue;
            }
            endpoints.insert(key, v.line);
            if let Some(name) = &service.name
                && !names.insert(name.clone())
            {
                let line = v.servicename.as_ref().map_or(v.line, |(_, l)| *l);
                self.warn(
                    line,
                    format!("servicename {name:?} is used twice; this service is left unnamed"),
                );
                service.name = None;
            }
            let real_lines = self.reals(v, &mut service);
            if service.reals.is_empty() {
                let why = if v.reals.is_empty() {
                    "the block has no real= line"
                } else {
                    "none of its reals is carried over"
                };
                self.lose(
                    v.line,
                    Lost::NoReal,
                    format!("service {} has no real: {why}", service.endpoint()),
                );
            }
            origins.push((v.line, real_lines));
            services.push(service);
        }
        self.report_defaults();

        let mut config = Config { global, services };
        let mut faults = self.tunnel_sources(&mut config, &origins);
        self.warnings.sort_by_key(|w| w.line);
        match config.validate() {
            Ok(()) => {}
            Err(ConfigError::Invalid(found)) => {
                // An ipip real without source is already a fault that names the flag.
                let named: Vec<String> = faults.iter().map(|(path, _)| path.clone()).collect();
                faults.extend(
                    found
                        .into_iter()
                        .filter(|f| !named.contains(&f.path))
                        .map(|f| (f.path.clone(), f)),
                );
            }
            Err(other) => return Err(other),
        }
        if faults.is_empty() {
            Ok(Import {
                config,
                warnings: self.warnings,
            })
        } else {
            Err(ConfigError::Invalid(
                faults
                    .into_iter()
                    .map(|(_, f)| locate(f, &origins))
                    .collect(),
            ))
        }
    }

    /// One warning for the file per default of ldirectord's that blocks take.
    pub(super) fn report_defaults(&mut self) {
        let lines = |lines: &[usize]| {
            let shown: Vec<String> = lines.iter().map(ToString::to_string).collect();
            let s = if lines.len() == 1 { "" } else { "s" };
            format!("the service{s} of line{s} {}", shown.join(", "))
        };
        let quiescent = std::mem::take(&mut self.defaulted.quiescent);
        if !quiescent.is_empty() {
            self.warn(
                0,
                format!(
                    "quiescent is not set for {}: imported as ldirectord's documented default, \
                     yes (a failed real gets weight 0 and keeps its connections; the ldirectord \
                     4.x program itself removes it: write quiescent=no for that)",
                    lines(&quiescent)
                ),
            );
        }
        let scheduler = std::mem::take(&mut self.defaulted.scheduler);
        if !scheduler.is_empty() {
            let how = SCHEDULERS
                .iter()
                .find(|(n, _)| *n == "wrr")
                .and_then(|(_, how)| *how)
                .expect("wrr is known");
            self.warn(
                0,
                format!(
                    "scheduler is not set for {}: ldirectord's default, wrr, is imported as \
                     weighted maglev: {}",
                    lines(&scheduler),
                    as_maglev("wrr", how)
                ),
            );
        }
    }

    /// Sets the tunnel source of each family that has `ipip` reals and that the caller did not
    /// set, as IPVS does: the address the route to the real leaves by. Returns a fault for each
    /// real left without source (`real 198.18.1.2 (line 12) is ipip: no route to it ...; give
    /// --tunnel-source-v4`), keyed by the validator's path for the same problem
    /// (`services[i].reals[j].method`), which it replaces.
    pub(super) fn tunnel_sources(
        &mut self,
        config: &mut Config,
        origins: &[(usize, Vec<usize>)],
    ) -> Vec<(String, Fault)> {
        let mut faults = Vec::new();
        for v4 in [true, false] {
            let given = config.global.tunnel.as_ref().and_then(|t| {
                if v4 {
                    t.source_v4.map(IpAddr::V4)
                } else {
                    t.source_v6.map(IpAddr::V6)
                }
            });
            let flag = if v4 {
                "--tunnel-source-v4"
            } else {
                "--tunnel-source-v6"
            };
            let ipip: Vec<(IpAddr, usize, String)> = config
                .services
                .iter()
                .enumerate()
                .flat_map(|(i, s)| {
                    s.reals
                        .iter()
                        .enumerate()
                        .filter(move |(_, r)| r.method == Method::Ipip && r.address.is_ipv4() == v4)
                        .map(move |(j, r)| (r.address, i, j))
                })
                .map(|(address, i, j)| {
                    let line = origins[i].1[j];
                    (address, line, format!("services[{i}].reals[{j}].method"))
                })
                .collect();
            if given.is_some() || ipip.is_empty() {
                continue;
            }
            let Some(resolve) = self.route_source else {
                for (address, line, path) in ipip {
                    faults.push((
                        path,
                        Fault::new(
                            format!("real {address} (line {line}) is ipip"),
                            format!("no tunnel source is given; give {flag}"),
                        ),
                    ));
                }
                continue;
            };
            let mut chosen: Option<(IpAddr, IpAddr)> = None;
            let mut unrouted = Vec::new();
            for (address, line, path) in ipip {
                let source = resolve(address).filter(|s| s.is_ipv4() == v4 && !s.is_unspecified());
                match (source, chosen) {
                    (None, _) => unrouted.push((address, line, path)),
                    (Some(source), None) => {
                        chosen = Some((source, address));
                        self.warn(
                            line,
                            format!(
                                "real {address} is ipip: tunnel source {source} taken from the \
                                 route to it on this machine, as IPVS takes the director's (run \
                                 the import on the director, or give {flag})"
                            ),
                        );
                    }
                    (Some(source), Some((first, by))) if source != first => self.warn(
                        line,
                        format!(
                            "real {address} is ipip: the route to it leaves by {source}, but lvs \
                             has one tunnel source per family: {first} (the route to {by}) is \
                             used; give {flag} to choose"
                        ),
                    ),
                    (Some(_), Some(_)) => {}
                }
            }
            for (address, line, path) in unrouted {
                match chosen {
                    Some((first, _)) => self.warn(
                        line,
                        format!(
                            "real {address} is ipip and this machine has no route to it: it \
                             gets the tunnel source {first} of the other ipip reals"
                        ),
                    ),
                    None => faults.push((
                        path,
                        Fault::new(
                            format!("real {address} (line {line}) is ipip"),
                            format!("no route to it to take a tunnel source from; give {flag}"),
                        ),
                    )),
                }
            }
            if let Some((source, _)) = chosen {
                let tunnel = config.global.tunnel.get_or_insert_with(Tunnel::default);
                match source {
                    IpAddr::V4(a) => tunnel.source_v4 = Some(a),
                    IpAddr::V6(a) => tunnel.source_v6 = Some(a),
                }
            }
        }
        faults
    }

    /// ldirectord lets a check run longer than the interval; lvs does not: the timeout is cut to
    /// the interval, with a warning on the directive's line (or `default`'s, for ldirectord's
    /// default timeout).
    pub(super) fn clamp_timeout(
        &mut self,
        timeout: Setting<u64>,
        default: (u64, usize),
        interval: u64,
    ) -> u64 {
        let (timeout, line, what) = match timeout {
            Some((t, line)) => (t, line, "check timeout"),
            None => (default.0, default.1, "ldirectord's default check timeout"),
        };
        if timeout > interval {
            self.warn(
                line,
                format!(
                    "{what} {timeout}s is longer than the check interval {interval}s; lvs \
                     needs timeout <= interval: imported as {interval}s"
                ),
            );
            interval
        } else {
            timeout
        }
    }

    /// The service of a virtual block, without its reals; `None` if it is skipped.
    pub(super) fn service(&mut self, v: &Virtual, defaults: &CheckDefaults) -> Option<Service> {
        let (vip, port) = v.endpoint?;
        let mut s = Service::new(vip, port);
        s.protocol = match v.protocol {
            Some((p, _)) => p,
            None if port == 53 => Protocol::Udp,
            None => Protocol::Tcp,
        };
        s.name = v.servicename.as_ref().map(|(n, _)| n.trim().to_owned());
        // ldirectord's default (man ldirectord: "Default: yes").
        s.quiescent = match v.settings.quiescent.or(self.globals.quiescent) {
            Some((q, _)) => q,
            None => {
                self.defaulted.quiescent.push(v.line);
                true
            }
        };

        // Scheduling: ipvs' mh and sh hash the client address only unless told to add the port.
        let flags = v.schedflags.as_ref().map_or("", |(f, _)| f.as_str());
        match &v.scheduler {
            Some((name, _)) if name == "mh" || name == "sh" => {
                s.persistent = !flags.contains(&format!("{name}-port"));
            }
            Some((name, line)) => {
                let how = SCHEDULERS
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, how)| *how)
                    .expect("read() lets known schedulers only");
                self.warn(
                    *line,
                    format!(
                        "scheduler {name} is imported as weighted maglev: {}",
                        as_maglev(name, how)
                    ),
                );
            }
            None => self.defaulted.scheduler.push(v.line),
        }
        if let Some((_, line)) = &v.schedflags
            && !matches!(&v.scheduler, Some((n, _)) if n == "mh" || n == "sh")
        {
            self.warn(
                *line,
                format!("schedflags {flags:?} do not apply to maglev; ignored"),
            );
        }
        if let Some((secs, line)) = v.persistent {
            s.persistent = true;
            self.warn(
                line,
                format!(
                    "persistent timeout {secs}s is not applicable: lvs keeps a client on one real \
                     by hashing its address (imported as persistent: true)"
                ),
            );
        }

        s.fallback = self.fallback(v, vip, port);
        s.check = self.check(v, s.protocol, port, defaults);
        Some(s)
    }

    pub(super) fn fallback(&mut self, v: &Virtual, vip: IpAddr, port: u16) -> Option<IpAddr> {
        let (text, line) = match (&v.fallback, vip) {
            (Some(f), _) => f.clone(),
            (None, IpAddr::V4(_)) => self.fallback.clone()?,
            (None, IpAddr::V6(_)) => self.fallback6.clone()?,
        };
        let mut words = text.split_whitespace();
        let spec = words.next().unwrap_or("");
        let method = words.next().unwrap_or("gate");
        let Some((host, fb_port)) = split_host_port(spec) else {
            self.lose(
                line,
                Lost::Fallback,
                format!("fallback {spec:?} is not an address; ignored"),
            );
            return None;
        };
        let Ok(addr) = host.parse::<IpAddr>() else {
            self.lose(
                line,
                Lost::Fallback,
                format!(
                    "fallback {host:?} is not an address (host names are not resolved); ignored"
                ),
            );
            return None;
        };
        if addr.is_loopback() {
            self.lose(
                line,
                Lost::Fallback,
                format!(
                    "fallback {spec} is this director itself; lvs forwards the fallback by dr to \
                     another host, so it is not imported for {}",
                    endpoint(vip, port)
                ),
            );
            return None;
        }
        if addr.is_ipv4() != vip.is_ipv4() {
            self.lose(
                line,
                Lost::Fallback,
                format!(
                    "fallback {spec} is not of the family of {}; ignored",
                    endpoint(vip, port)
                ),
            );
            return None;
        }
        if method != "gate" {
            self.warn(
                line,
                format!(
                    "{method} forwarding is not supported for the fallback; {spec} imported as dr"
                ),
            );
        }
        if let Some(p) = fb_port.and_then(port_number)
            && p != port
        {
            self.warn(
                line,
                format!("dr cannot change the port: fallback {spec} receives port {port}"),
            );
        }
        Some(addr)
    }
}

/// Rewrites a fault's path to start with the ldirectord line it comes from.
fn locate(fault: Fault, origins: &[(usize, Vec<usize>)]) -> Fault {
    let line = parse_index(&fault.path, "services[").and_then(|(svc, rest)| {
        let (virtual_line, reals) = origins.get(svc)?;
        match parse_index(rest, ".reals[") {
            Some((real, _)) => reals.get(real).copied(),
            None => Some(*virtual_line),
        }
    });
    match line {
        Some(line) => Fault {
            path: format!("line {line} ({})", fault.path),
            message: fault.message,
        },
        None => fault,
    }
}

fn parse_index<'a>(text: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = text.strip_prefix(prefix)?;
    let (n, rest) = rest.split_once(']')?;
    Some((n.parse().ok()?, rest))
}
