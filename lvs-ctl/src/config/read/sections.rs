//! The schema: each section of the file read into its part of the [`Config`].

use super::*;

impl Reader {
    pub(super) fn config(&mut self, root: &Node) -> Config {
        let mut config = Config {
            global: Global::new(Vec::new()),
            services: Vec::new(),
        };
        let Some(f) = self.fields(root, "", root.mark, &ROOT) else {
            return config;
        };
        match f.get("global") {
            Some((key, node)) => config.global = self.global(node, key.mark),
            None => {
                self.required(
                    &f,
                    "global",
                    "the global section, at least `global: {interfaces: [eth0]}`",
                );
            }
        }
        if let Some(node) = f.value("services") {
            let items = self
                .list(node, "services", "a list of services")
                .unwrap_or_default();
            config.services = items
                .iter()
                .enumerate()
                .map(|(i, item)| self.service(item, &format!("services[{i}]")))
                .collect();
        }
        config
    }

    pub(super) fn global(&mut self, node: &Node, at: Mark) -> Global {
        let mut g = Global::new(Vec::new());
        let Some(f) = self.fields(node, "global", at, &GLOBAL) else {
            return g;
        };
        if let Some(node) =
            self.required(&f, "interfaces", "a list of interface names, e.g. [eth0]")
        {
            let path = f.path("interfaces");
            if let Some(items) = self.list(node, &path, "a list of interface names, e.g. [eth0]") {
                g.interfaces = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        self.text(item, &format!("{path}[{i}]"), "an interface name")
                            .unwrap_or_default()
                    })
                    .collect();
            }
        }
        if let Some(n) = f.value("xdp_mode") {
            let names = ["auto", "native", "skb"];
            let options = [
                ("auto", XdpMode::Auto),
                ("native", XdpMode::Native),
                ("skb", XdpMode::Skb),
            ];
            if let Some(m) = self.choice(n, &f.path("xdp_mode"), &names, &options) {
                g.xdp_mode = m;
            }
        }
        if let Some(n) = f.value("log_level") {
            let options = [
                ("error", LogLevel::Error),
                ("warn", LogLevel::Warn),
                ("info", LogLevel::Info),
                ("debug", LogLevel::Debug),
                ("trace", LogLevel::Trace),
            ];
            if let Some(l) = self.choice(n, &f.path("log_level"), &LogLevel::NAMES, &options) {
                g.log_level = l;
            }
        }
        if let Some(n) = f.value("ring_size")
            && let Some(v) = self.u32(n, &f.path("ring_size"), &RING_SIZE_RANGE)
        {
            g.ring_size = v;
        }
        if let Some(n) = f.value("conn_table_size")
            && let Some(v) = self.u32(n, &f.path("conn_table_size"), &CONN_TABLE_SIZE_RANGE)
        {
            g.conn_table_size = v;
        }
        if let Some(n) = f.value("pin_path")
            && let Some(p) = self.path_buf(n, &f.path("pin_path"))
        {
            g.pin_path = p;
        }
        if let Some(n) = f.value("socket")
            && let Some(p) = self.path_buf(n, &f.path("socket"))
        {
            g.socket = p;
        }
        if let Some(n) = f.value("watch_config")
            && let Some(b) = self.boolean(n, &f.path("watch_config"))
        {
            g.watch_config = b;
        }
        if let Some(n) = f.value("maintenance_dir") {
            g.maintenance_dir = self.path_buf(n, &f.path("maintenance_dir"));
        }
        if let Some(n) = f.value("socket_group") {
            g.socket_group = self.text(n, &f.path("socket_group"), "a group name");
        }
        if let Some(n) = f.value("on_change") {
            g.on_change = self.text(n, &f.path("on_change"), "a command");
        }
        if let Some(n) = f.value("metrics") {
            g.metrics = self.address::<SocketAddr>(n, &f.path("metrics"), METRICS_ADDRESS);
        }
        if let Some((key, n)) = f.get("tunnel") {
            g.tunnel = self.tunnel(n, key.mark);
        }
        if let Some((key, n)) = f.get("check_defaults") {
            g.check_defaults = self.check_defaults(n, key.mark);
        }
        g
    }

    pub(super) fn tunnel(&mut self, node: &Node, at: Mark) -> Option<Tunnel> {
        let f = self.fields(node, "global.tunnel", at, &TUNNEL)?;
        let mut t = Tunnel::default();
        if let Some(n) = f.value("source_v4") {
            t.source_v4 = self.address::<Ipv4Addr>(n, &f.path("source_v4"), "an IPv4 address");
        }
        if let Some(n) = f.value("source_v6") {
            t.source_v6 = self.address::<Ipv6Addr>(n, &f.path("source_v6"), "an IPv6 address");
        }
        if let Some(n) = f.value("gue_port")
            && let Some(v) = self.u16(n, &f.path("gue_port"), 1..=65535)
        {
            t.gue_port = v;
        }
        if let Some(n) = f.value("vary_bits_v4")
            && let Some(v) = self.u8(n, &f.path("vary_bits_v4"), 0..=16)
        {
            t.vary_bits_v4 = v;
        }
        if let Some(n) = f.value("vary_bits_v6")
            && let Some(v) = self.u8(n, &f.path("vary_bits_v6"), 0..=32)
        {
            t.vary_bits_v6 = v;
        }
        if let Some(n) = f.value("ttl")
            && let Some(v) = self.u8(n, &f.path("ttl"), 1..=255)
        {
            t.ttl = v;
        }
        Some(t)
    }

    pub(super) fn check_defaults(&mut self, node: &Node, at: Mark) -> CheckDefaults {
        let mut d = CheckDefaults::default();
        let Some(f) = self.fields(node, "global.check_defaults", at, &CHECK_DEFAULTS) else {
            return d;
        };
        if let Some(n) = f.value("interval")
            && let Some(v) = self.duration(n, &f.path("interval"))
        {
            d.interval = v;
        }
        if let Some(n) = f.value("timeout")
            && let Some(v) = self.duration(n, &f.path("timeout"))
        {
            d.timeout = v;
        }
        if let Some(n) = f.value("fall")
            && let Some(v) = self.u32(n, &f.path("fall"), &FALL_RISE_RANGE)
        {
            d.fall = v;
        }
        if let Some(n) = f.value("rise")
            && let Some(v) = self.u32(n, &f.path("rise"), &FALL_RISE_RANGE)
        {
            d.rise = v;
        }
        d
    }

    pub(super) fn service(&mut self, node: &Node, path: &str) -> Service {
        let mut s = Service::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let Some(f) = self.fields(node, path, node.mark, &SERVICE) else {
            return s;
        };
        if let Some(n) = f.value("name") {
            s.name = self.text(n, &f.path("name"), "a name");
        }
        if let Some(n) = self.required(&f, "vip", "an IP address")
            && let Some(a) = self.address(n, &f.path("vip"), "an IP address")
        {
            s.vip = a;
        }
        if let Some(n) = self.required(&f, "port", "a whole number from 0 to 65535 (0: every port)")
            && let Some(p) = self.u16(n, &f.path("port"), 0..=65535)
        {
            s.port = p;
        }
        if let Some(n) = f.value("protocol") {
            let options = [("tcp", Protocol::Tcp), ("udp", Protocol::Udp)];
            if let Some(p) = self.choice(n, &f.path("protocol"), &["tcp", "udp"], &options) {
                s.protocol = p;
            }
        }
        if let Some(n) = f.value("persistent")
            && let Some(b) = self.boolean(n, &f.path("persistent"))
        {
            s.persistent = b;
        }
        if let Some(n) = f.value("scheduler")
            && let Some(name) = self.text(n, &f.path("scheduler"), "maglev")
        {
            s.scheduler = match name.as_str() {
                "maglev" | "mh" => Scheduler::Maglev,
                _ => Scheduler::Unsupported(name),
            };
        }
        if let Some(n) = f.value("quiescent")
            && let Some(b) = self.boolean(n, &f.path("quiescent"))
        {
            s.quiescent = b;
        }
        if let Some(n) = f.value("fallback") {
            s.fallback = self.address(n, &f.path("fallback"), "an IP address");
        }
        if let Some((key, n)) = f.get("check") {
            s.check = self.check(n, &f.path("check"), key.mark);
        }
        if let Some(n) = f.value("reals") {
            let reals = f.path("reals");
            let items = self.list(n, &reals, "a list of reals").unwrap_or_default();
            s.reals = items
                .iter()
                .enumerate()
                .map(|(j, item)| self.real(item, &format!("{reals}[{j}]")))
                .collect();
        }
        s
    }

    pub(super) fn real(&mut self, node: &Node, path: &str) -> Real {
        let mut r = Real::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let Some(f) = self.fields(node, path, node.mark, &REAL) else {
            return r;
        };
        if let Some(n) = self.required(&f, "address", "an IP address")
            && let Some(a) = self.address(n, &f.path("address"), "an IP address")
        {
            r.address = a;
        }
        if let Some(n) = f.value("weight")
            && let Some(w) = self.u32(n, &f.path("weight"), &WEIGHT_RANGE)
        {
            r.weight = w;
        }
        if let Some(n) = f.value("method") {
            let options = [
                ("dr", Method::Dr),
                ("ipip", Method::Ipip),
                ("gue", Method::Gue),
            ];
            if let Some(m) = self.choice(n, &f.path("method"), &["dr", "ipip", "gue"], &options) {
                r.method = m;
            }
        }
        if let Some((key, n)) = f.get("check") {
            r.check = self.check(n, &f.path("check"), key.mark);
        }
        r
    }

    pub(super) fn check(&mut self, node: &Node, path: &str, at: Mark) -> Option<Check> {
        let f = self.fields(node, path, at, &CHECK)?;
        let mut c = Check::default();
        if let Some(n) = f.value("type") {
            let names: Vec<&str> = CheckType::ALL.iter().map(|t| t.as_str()).collect();
            let options: Vec<(&str, CheckType)> =
                CheckType::ALL.iter().map(|&t| (t.as_str(), t)).collect();
            c.kind = self.choice(n, &f.path("type"), &names, &options);
        }
        if let Some(n) = f.value("interval") {
            c.interval = self.duration(n, &f.path("interval"));
        }
        if let Some(n) = f.value("timeout") {
            c.timeout = self.duration(n, &f.path("timeout"));
        }
        if let Some(n) = f.value("fall") {
            c.fall = self.u32(n, &f.path("fall"), &FALL_RISE_RANGE);
        }
        if let Some(n) = f.value("rise") {
            c.rise = self.u32(n, &f.path("rise"), &FALL_RISE_RANGE);
        }
        if let Some(n) = f.value("port") {
            c.port = self.u16(n, &f.path("port"), 1..=65535);
        }
        for (key, slot, what) in [
            ("request", &mut c.request, "a path such as /health"),
            ("receive", &mut c.receive, "a regex"),
            ("virtualhost", &mut c.virtualhost, "a host name"),
            ("query", &mut c.query, "a name to look up"),
            ("expect", &mut c.expect, "a text"),
            ("command", &mut c.command, "a command"),
        ] {
            if let Some(n) = f.value(key) {
                *slot = self.text(n, &f.path(key), what);
            }
        }
        if let Some(n) = f.value("http_method") {
            let options = [
                ("GET", HttpMethod::Get),
                ("get", HttpMethod::Get),
                ("HEAD", HttpMethod::Head),
                ("head", HttpMethod::Head),
            ];
            c.http_method = self.choice(n, &f.path("http_method"), &["GET", "HEAD"], &options);
        }
        if let Some(n) = f.value("expect_status") {
            let list = f.path("expect_status");
            let allowed = "a list of HTTP status codes, e.g. [200, 204]";
            if let Some(items) = self.list(n, &list, allowed) {
                let codes: Vec<u16> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(k, item)| self.u16(item, &format!("{list}[{k}]"), STATUS_RANGE))
                    .collect();
                if codes.len() == items.len() {
                    c.expect_status = Some(codes);
                } else {
                    self.broken.push(list);
                }
            }
        }
        if let Some(n) = f.value("verify_tls") {
            c.verify_tls = self.boolean(n, &f.path("verify_tls"));
        }
        if let Some(n) = f.value("query_type") {
            let names = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "PTR"];
            let types = [
                QueryType::A,
                QueryType::Aaaa,
                QueryType::Cname,
                QueryType::Mx,
                QueryType::Txt,
                QueryType::Ns,
                QueryType::Soa,
                QueryType::Ptr,
            ];
            let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
            let options: Vec<(&str, QueryType)> = names
                .iter()
                .copied()
                .zip(types)
                .chain(lower.iter().map(String::as_str).zip(types))
                .collect();
            c.query_type = self.choice(n, &f.path("query_type"), &names, &options);
        }
        Some(c)
    }
}
