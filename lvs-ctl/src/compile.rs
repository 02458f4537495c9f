//! The one conversion: configuration + run-time state -> what the data plane and the health
//! engine get.

use crate::{
    api::{Health, RateView, RealView, ServiceRef, ServiceView, StatsView},
    config::{self, Config, Method},
    dataplane::{RealSpec, ServiceSpec, Wanted},
    health::{CheckSpec, Target},
    neighbour::Hop,
};
use aya::programs::XdpMode;
use lvs_common::{
    METHOD_DR, METHOD_GUE, METHOD_IPIP, PROTO_TCP, PROTO_UDP, SVC_F_HASH_SRC_ONLY, ServiceKey,
    TunnelConfig,
};
use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

/// A real of a service, as health checks, drains and maintenance know it.
pub type RealKey = (ServiceRef, IpAddr);

/// The data plane's key of a service.
pub fn service_key(s: &ServiceRef) -> ServiceKey {
    ServiceKey::new(s.vip, s.port, protocol_number(s.protocol))
}

/// `lvs_common::PROTO_*` of a protocol.
pub fn protocol_number(p: config::Protocol) -> u8 {
    match p {
        config::Protocol::Tcp => PROTO_TCP,
        config::Protocol::Udp => PROTO_UDP,
    }
}

/// The data plane's form of the tunnel settings.
pub fn tunnel(t: &config::Tunnel) -> TunnelConfig {
    let mask = |bits: u8| {
        if bits == 0 {
            0u32
        } else {
            u32::MAX >> (32 - bits as u32)
        }
    };
    let mut cfg = TunnelConfig {
        ttl: t.ttl,
        ..Default::default()
    };
    if let Some(a) = t.source_v4 {
        cfg.source4 = a.octets();
        cfg.vary4 = mask(t.vary_bits_v4.min(16)).to_be_bytes();
    }
    if let Some(a) = t.source_v6 {
        cfg.source6 = a.octets();
        cfg.vary6 = mask(t.vary_bits_v6.min(32)).to_be_bytes();
    }
    cfg
}

/// How the program is attached, in aya's words.
pub fn xdp_mode(m: config::XdpMode) -> XdpMode {
    match m {
        config::XdpMode::Auto => XdpMode::Default,
        config::XdpMode::Native => XdpMode::Driver,
        config::XdpMode::Skb => XdpMode::Skb,
    }
}

/// The protocol of a `lvs_common::PROTO_*` number, if it is one a service can have.
pub fn protocol_of(n: u8) -> Option<config::Protocol> {
    match n {
        PROTO_TCP => Some(config::Protocol::Tcp),
        PROTO_UDP => Some(config::Protocol::Udp),
        _ => None,
    }
}

/// The desired state in the form each of its consumers takes.
#[derive(Clone, Debug)]
pub struct Desired {
    /// What the data plane's owner applies.
    pub dataplane: Wanted,
    /// What `list` shows of every service (counters left at zero), in configuration order,
    /// the same as `dataplane.services`.
    pub services: Vec<ServiceView>,
    /// The health checks, keyed by service and real.
    pub checks: Vec<(RealKey, Target, CheckSpec)>,
}

impl Desired {
    /// The fallback reals that take the new flows of services no real can take.
    pub fn fallbacks(&self) -> BTreeSet<RealKey> {
        self.services
            .iter()
            .flat_map(|v| {
                v.reals
                    .iter()
                    .filter(|r| r.fallback)
                    .map(|r| (v.service, r.address))
            })
            .collect()
    }
}

/// Compiles the configuration (the file with the run-time edits) and the run-time state
/// (health verdicts, drains, maintenance, neighbours) into the desired state. Pure: the same
/// inputs give the same [`Desired`] on every director.
pub fn compile(cfg: &Config, rt: &RunState) -> Desired {
    let (specs, services): (Vec<_>, Vec<_>) =
        plan(cfg, rt).into_iter().map(|p| (p.spec, p.view)).unzip();
    let g = &cfg.global;
    Desired {
        dataplane: Wanted {
            interfaces: g.interfaces.clone(),
            xdp_mode: xdp_mode(g.xdp_mode),
            tunnel: g.tunnel.as_ref().map(tunnel).unwrap_or_default(),
            services: specs,
        },
        services,
        checks: checks(cfg),
    }
}

/// Everything besides the configuration that decides what the data plane holds.
#[derive(Clone, Debug, Default)]
pub struct RunState {
    /// Check verdicts; a real without one is [`Health::Unknown`], treated as up.
    pub health: HashMap<RealKey, bool>,
    /// Drained through the CLI: weight 0 whatever is configured.
    pub drained: BTreeSet<RealKey>,
    /// In maintenance (a file in `global.maintenance_dir`): weight 0.
    pub maintenance: BTreeSet<RealKey>,
    /// Where each real address is on the wire (missing: the route is not known yet).
    pub hops: HashMap<IpAddr, Hop>,
}

/// One service as [`plan`] wants it.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The service.
    pub service: ServiceRef,
    /// What the writer gets.
    pub spec: ServiceSpec,
    /// What `list` shows (counters left at zero).
    pub view: ServiceView,
}

/// The data plane's form of the desired state, with the view `list` shows.
///
/// Per real: down and quiescent → weight 0 (keeps its flows); down and not quiescent →
/// inactive (out of the table, its flows rescheduled); drained or in maintenance → weight 0.
/// When no real of a service can take new flows, its `fallback` real (direct routing, weight 1)
/// is added. A direct-routing real whose neighbour is not resolved gets a zero MAC: the data
/// plane counts and drops its packets rather than guessing.
pub fn plan(cfg: &Config, rt: &RunState) -> Vec<Planned> {
    cfg.services
        .iter()
        .map(|svc| {
            let sref = ServiceRef::of(svc);
            let mut reals: Vec<(RealSpec, RealView)> = svc
                .reals
                .iter()
                .map(|r| {
                    let key = (sref, r.address);
                    let health = match rt.health.get(&key) {
                        None => Health::Unknown,
                        Some(true) => Health::Up,
                        Some(false) => Health::Down,
                    };
                    let drained = rt.drained.contains(&key);
                    let maintenance = rt.maintenance.contains(&key);
                    let down = health == Health::Down;
                    let active = !down || svc.quiescent;
                    let weight = if down || drained || maintenance {
                        0
                    } else {
                        r.weight
                    };
                    real_pair(
                        cfg,
                        r.address,
                        r.method,
                        r.weight,
                        weight,
                        active,
                        rt,
                        |v| {
                            v.health = health;
                            v.drained = drained;
                            v.maintenance = maintenance;
                        },
                    )
                })
                .collect();
            let serving = reals.iter().any(|(s, _)| s.active && s.weight > 0);
            if let Some(fb) = svc.fallback
                && !serving
                && !svc.reals.iter().any(|r| r.address == fb)
            {
                reals.push(real_pair(cfg, fb, Method::Dr, 1, 1, true, rt, |v| {
                    v.fallback = true
                }));
            }
            let spec = ServiceSpec {
                key: service_key(&sref),
                flags: if svc.persistent {
                    SVC_F_HASH_SRC_ONLY
                } else {
                    0
                },
                ring_size: cfg.global.ring_size,
                reals: reals.iter().map(|(s, _)| s.clone()).collect(),
            };
            let view = ServiceView {
                name: svc.name.clone(),
                service: sref,
                persistent: svc.persistent,
                quiescent: svc.quiescent,
                ring_size: cfg.global.ring_size,
                stats: StatsView::default(),
                rate: RateView::default(),
                reals: reals.into_iter().map(|(_, v)| v).collect(),
            };
            Planned {
                service: sref,
                spec,
                view,
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn real_pair(
    cfg: &Config,
    addr: IpAddr,
    method: Method,
    configured: u32,
    weight: u32,
    active: bool,
    rt: &RunState,
    tweak: impl FnOnce(&mut RealView),
) -> (RealSpec, RealView) {
    let hop = rt.hops.get(&addr);
    let mac = hop.and_then(|h| h.dst_mac);
    let spec = RealSpec {
        addr,
        weight,
        method: match method {
            Method::Dr => METHOD_DR,
            Method::Ipip => METHOD_IPIP,
            Method::Gue => METHOD_GUE,
        },
        dst_mac: mac.unwrap_or([0; 6]),
        src_mac: hop.map_or([0; 6], |h| h.src_mac),
        ifindex: hop.map_or(0, |h| h.ifindex),
        tunnel_port: match method {
            Method::Gue => cfg
                .global
                .tunnel
                .as_ref()
                .map_or(config::DEFAULT_GUE_PORT, |t| t.gue_port),
            _ => 0,
        },
        active,
    };
    let mut view = RealView {
        address: addr,
        method,
        configured_weight: configured,
        weight: if active { weight } else { 0 },
        active,
        health: Health::Unknown,
        drained: false,
        maintenance: false,
        fallback: false,
        resolved: mac.is_some(),
        stats: StatsView::default(),
        rate: RateView::default(),
        check: None,
    };
    tweak(&mut view);
    (spec, view)
}

/// The health checks the configuration asks for, keyed by service and real.
pub fn checks(cfg: &Config) -> Vec<(RealKey, Target, CheckSpec)> {
    let mut out = Vec::new();
    for (i, svc) in cfg.services.iter().enumerate() {
        let sref = ServiceRef::of(svc);
        for (j, real) in svc.reals.iter().enumerate() {
            let rc = cfg.resolved_check(i, j);
            out.push(((sref, real.address), Target::new(rc.addr), rc.spec));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two services on one VIP, one with a fallback, one persistent and not quiescent.
    pub(crate) fn cfg() -> Config {
        config::parse(
            "global: {interfaces: [d0]}\n\
             services:\n\
             - {vip: 198.18.100.1, port: 80, fallback: 198.18.9.9,\n\
                reals: [{address: 198.18.1.2, weight: 3}, {address: 198.18.2.2}]}\n\
             - {vip: 198.18.100.1, port: 53, protocol: udp, quiescent: false, persistent: true,\n\
                reals: [{address: 198.18.1.2}]}\n",
        )
        .expect("valid config")
    }

    pub(crate) fn sref(s: &str) -> ServiceRef {
        s.parse().unwrap()
    }

    pub(crate) fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plan_maps_health_drain_and_maintenance_to_weights() {
        let c = cfg();
        let web = sref("198.18.100.1:80/tcp");
        let dns = sref("198.18.100.1:53/udp");
        let mut rt = RunState::default();
        let hop = Hop {
            ifindex: 7,
            src_mac: [2, 0, 0, 0, 1, 1],
            next_hop: ip("198.18.1.2"),
            dst_mac: Some([2, 0, 0, 0, 1, 2]),
        };
        rt.hops.insert(ip("198.18.1.2"), hop);
        let p = plan(&c, &rt);
        assert_eq!(p.len(), 2);
        let r = &p[0].spec.reals[0];
        assert_eq!(
            (r.weight, r.active, r.ifindex, r.dst_mac, r.src_mac),
            (3, true, 7, [2, 0, 0, 0, 1, 2], [2, 0, 0, 0, 1, 1])
        );
        // Unresolved: MAC left zero, never guessed.
        assert_eq!(p[0].spec.reals[1].dst_mac, [0; 6]);
        assert!(!p[0].view.reals[1].resolved);
        assert_eq!(p[1].spec.flags, SVC_F_HASH_SRC_ONLY);

        // Down + quiescent: weight 0 but active. Down + not quiescent: inactive.
        rt.health.insert((web, ip("198.18.1.2")), false);
        rt.health.insert((dns, ip("198.18.1.2")), false);
        rt.drained.insert((web, ip("198.18.2.2")));
        let p = plan(&c, &rt);
        assert_eq!(
            (p[0].spec.reals[0].weight, p[0].spec.reals[0].active),
            (0, true)
        );
        assert_eq!(
            (p[1].spec.reals[0].weight, p[1].spec.reals[0].active),
            (0, false)
        );
        // Drained is weight 0; with every real at weight 0 the fallback serves.
        assert_eq!(p[0].spec.reals[1].weight, 0);
        assert_eq!(p[0].spec.reals.len(), 3);
        assert_eq!(
            (p[0].spec.reals[2].addr, p[0].spec.reals[2].weight),
            (ip("198.18.9.9"), 1)
        );
        assert!(p[0].view.reals[2].fallback);
        // A service without fallback gets none.
        assert_eq!(p[1].spec.reals.len(), 1);

        // Back up: the fallback leaves.
        rt.health.insert((web, ip("198.18.1.2")), true);
        let p = plan(&c, &rt);
        assert_eq!(p[0].spec.reals.len(), 2);
        rt.maintenance.insert((web, ip("198.18.1.2")));
        let p = plan(&c, &rt);
        assert_eq!(p[0].spec.reals[0].weight, 0);
        assert!(p[0].view.reals[0].maintenance);
    }

    #[test]
    fn checks_follow_the_resolved_config() {
        let c = cfg();
        let cs = checks(&c);
        assert_eq!(cs.len(), 3);
        assert_eq!(cs[0].1.addr, "198.18.1.2:80".parse().unwrap());
        assert_eq!(
            cs[0].2.kind,
            config::CheckKind::Connect {
                proto: config::Protocol::Tcp
            }
        );
        assert_eq!(
            cs[2].2.kind,
            config::CheckKind::Connect {
                proto: config::Protocol::Udp
            }
        );
        assert_eq!(cs[0].2.fall, config::DEFAULT_FALL);
    }
}
