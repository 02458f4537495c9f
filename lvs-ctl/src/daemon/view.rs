//! What `list` and `explain` show: the compiled state with the counters read back.

use crate::{
    api::{self, CheckView, Explanation, Listing, RateView, ServiceRef, StatsView},
    config::{self},
    health::{self},
};
use lvs_common::{FlowKey, Stats};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    time::{Instant, SystemTime},
};

use super::*;
use crate::compile::{protocol_number, protocol_of, service_key};
use crate::{
    api::{ConnListing, ConnView},
    dataplane::Director,
};

impl Daemon {
    pub(super) fn stats_of(&self, s: &ServiceRef, real: Option<IpAddr>) -> Stats {
        let key = service_key(s);
        match real {
            None => self.director.service_stats(&key),
            Some(a) => self.director.real_stats(&key, a),
        }
    }

    pub(super) fn sample(&mut self) {
        let now = Instant::now();
        let mut keys = Vec::new();
        for v in &self.state.services {
            keys.push((v.service, None));
            keys.extend(v.reals.iter().map(|r| (v.service, Some(r.address))));
        }
        let mut samples = HashMap::new();
        let mut rates = HashMap::new();
        for k in keys {
            let s = self.stats_of(&k.0, k.1);
            if let Some((then, prev)) = self.samples.get(&k) {
                let dt = now.duration_since(*then).as_secs_f64().max(0.001);
                let per = |a: u64, b: u64| (a.saturating_sub(b) as f64 / dt).round() as u64;
                rates.insert(
                    k,
                    RateView {
                        cps: per(s.conns, prev.conns),
                        pps: per(s.packets, prev.packets),
                        bps: per(s.bytes, prev.bytes),
                    },
                );
            }
            samples.insert(k, (now, s));
        }
        self.samples = samples;
        self.rates = rates;
    }

    pub(super) fn listing(&self) -> Listing {
        let checks: HashMap<RealKey, CheckView> = self
            .monitor
            .status()
            .into_iter()
            .map(|st| (st.id, check_view(&st)))
            .collect();
        let services = self
            .state
            .services
            .iter()
            .map(|p| {
                let mut v = p.clone();
                v.stats = StatsView::of(&self.stats_of(&p.service, None));
                v.rate = self
                    .rates
                    .get(&(p.service, None))
                    .copied()
                    .unwrap_or_default();
                for r in &mut v.reals {
                    if !r.fallback {
                        r.check = checks.get(&(p.service, r.address)).cloned();
                    }
                    r.stats = StatsView::of(&self.stats_of(&p.service, Some(r.address)));
                    r.rate = self
                        .rates
                        .get(&(p.service, Some(r.address)))
                        .copied()
                        .unwrap_or_default();
                }
                v
            })
            .collect();
        Listing {
            services,
            at_ms: api::unix_ms(SystemTime::now()),
            repairs: self
                .repairs
                .iter()
                .map(|(at, what)| api::RepairView {
                    at_ms: api::unix_ms(*at),
                    what: what.clone(),
                })
                .collect(),
        }
    }
}

/// What the data plane does with a packet of the flow, decided by its owner with the data
/// plane's own rules.
pub fn explain(
    director: &Director,
    src: SocketAddr,
    dst: SocketAddr,
    protocol: config::Protocol,
) -> Explanation {
    let flow = FlowKey::new(src, dst, protocol_number(protocol));
    let exact = ServiceRef {
        vip: dst.ip(),
        port: dst.port(),
        protocol,
    };
    // As the data plane looks services up: the exact port first, then every port.
    let candidates = [exact, ServiceRef { port: 0, ..exact }];
    let keys = candidates.map(|r| service_key(&r));
    let d = director.explain(&flow, &keys);
    Explanation {
        flow: format!("{src} -> {dst}/{protocol}"),
        service: d.service.map(|i| candidates[i]),
        real: d.real,
        via: d.via,
    }
}

/// The connection table as `list --connections` shows it: the flows of `service` (a port-0
/// service takes every port of its VIP) pinned to `real`, at most `max` (0: all).
pub fn connections(
    director: &Director,
    service: Option<ServiceRef>,
    real: Option<IpAddr>,
    max: u32,
) -> ConnListing {
    let of_service = |flow: &FlowKey| {
        service.is_none_or(|s| {
            let dst = flow.dst_addr();
            dst.ip() == s.vip
                && flow.proto == protocol_number(s.protocol)
                && (s.port == 0 || dst.port() == s.port)
        })
    };
    let (found, more) = director.connections(
        |flow, to| of_service(flow) && real.is_none_or(|want| to == Some(want)),
        max as usize,
    );
    ConnListing {
        entries: found
            .into_iter()
            .filter_map(|(flow, real)| {
                Some(ConnView {
                    protocol: protocol_of(flow.proto)?,
                    client: flow.src_addr(),
                    virtual_addr: flow.dst_addr(),
                    real,
                })
            })
            .collect(),
        more,
    }
}

/// What `list` shows of a check's [`health::Status`].
pub(super) fn check_view(st: &health::Status<RealKey>) -> CheckView {
    let check = match st.check {
        // The port means nothing to ping (and the causes say it that way).
        "ping" => format!("ping {}", st.target.addr.ip()),
        name => format!("{name} {}", st.target),
    };
    CheckView {
        check,
        state: st.state,
        since_ms: api::unix_ms(st.since),
        cause: st.last_change.clone(),
        last_error: st.last_error.clone(),
        last_probe_ms: st.last_probe.map(api::unix_ms),
        last_duration_us: st
            .last_duration
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
    }
}
