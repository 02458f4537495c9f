//! The `services:` items and their reals.

use super::*;

/// One virtual service: a VIP, port and protocol balanced over reals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// A unique name; [`Service::display_name`] gives `<vip>:<port>/<proto>` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The virtual address (IPv4 or IPv6).
    #[serde(with = "ip_addr")]
    pub vip: IpAddr,
    /// The virtual port; 0 balances every port of the VIP.
    pub port: u16,
    /// Transport protocol.
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: Protocol,
    /// Hash on the client address only, so a client sticks to one real across connections.
    #[serde(default, skip_serializing_if = "is_false")]
    pub persistent: bool,
    /// The scheduler; only Maglev exists.
    #[serde(default, skip_serializing_if = "is_default")]
    pub scheduler: Scheduler,
    /// A failed real keeps its established flows (weight 0) rather than leaving the table.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub quiescent: bool,
    /// Real used when every real is down (forwarded by `dr`).
    #[serde(default, with = "opt_ip_addr", skip_serializing_if = "Option::is_none")]
    pub fallback: Option<IpAddr>,
    /// The service's check (type `connect` when unset or when it sets no type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    /// The real servers.
    #[serde(default)]
    pub reals: Vec<Real>,
}

impl Service {
    /// A service with every default: tcp, maglev, quiescent, no check, no reals.
    pub fn new(vip: IpAddr, port: u16) -> Self {
        Service {
            name: None,
            vip,
            port,
            protocol: Protocol::default(),
            persistent: false,
            scheduler: Scheduler::default(),
            quiescent: true,
            fallback: None,
            check: None,
            reals: Vec::new(),
        }
    }

    /// The name operators see: `name`, or `<vip>:<port>/<proto>` (`[2001:db8::1]:80/tcp`).
    pub fn display_name(&self) -> Cow<'_, str> {
        match &self.name {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(self.endpoint()),
        }
    }

    /// `<vip>:<port>/<proto>`, with IPv6 addresses in brackets.
    pub fn endpoint(&self) -> String {
        match self.vip {
            IpAddr::V4(a) => format!("{a}:{}/{}", self.port, self.protocol),
            IpAddr::V6(a) => format!("[{a}]:{}/{}", self.port, self.protocol),
        }
    }
}

/// Transport protocol of a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// The scheduler of a service. Only Maglev exists; any other name is kept so that validation
/// can report it (`services[0].scheduler: "wrr" is not supported`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Scheduler {
    /// Maglev consistent hashing (`maglev`, or ipvs' name `mh`).
    #[default]
    Maglev,
    /// A scheduler lvs does not implement; never present in a validated configuration.
    Unsupported(String),
}

impl Serialize for Scheduler {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scheduler::Maglev => s.serialize_str("maglev"),
            Scheduler::Unsupported(name) => s.serialize_str(name),
        }
    }
}

impl<'de> Deserialize<'de> for Scheduler {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name: String = parse_scalar(d, "a scheduler name")?;
        Ok(match name.as_str() {
            "maglev" | "mh" => Scheduler::Maglev,
            _ => Scheduler::Unsupported(name),
        })
    }
}

/// One real server of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Real {
    /// The real's address, of the VIP's family.
    #[serde(with = "ip_addr")]
    pub address: IpAddr,
    /// Maglev weight, `0..=65535` (0 drains the real). Kept wider than `u16` so that an
    /// out-of-range value is reported by validation with its path.
    #[serde(default = "default_weight", skip_serializing_if = "is_default_weight")]
    pub weight: u32,
    /// How packets reach the real.
    #[serde(default, skip_serializing_if = "is_default")]
    pub method: Method,
    /// Per-real check settings, merged field by field over the service's check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
}

impl Real {
    /// A `dr` real of weight 1 without its own check.
    pub fn new(address: IpAddr) -> Self {
        Real {
            address,
            weight: 1,
            method: Method::default(),
            check: None,
        }
    }
}

/// Forwarding method of a real.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Direct routing: rewrite the destination MAC (ldirectord's `gate`).
    #[default]
    Dr,
    /// IP-in-IP encapsulation.
    Ipip,
    /// Generic UDP encapsulation.
    Gue,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Method::Dr => "dr",
            Method::Ipip => "ipip",
            Method::Gue => "gue",
        })
    }
}
