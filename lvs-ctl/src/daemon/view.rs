//! What `list` and `explain` show: the compiled state with the counters read back.

use crate::{
    api::{self, CheckView, Explanation, Health, Listing, RateView, ServiceRef, StatsView, Via},
    config::{self},
    health::{self},
};
use lvs_common::{FlowKey, SVC_F_HASH_SRC_ONLY, Stats, flow_hash};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    time::{Instant, SystemTime},
};

use super::*;

impl Daemon {
    pub(super) fn stats_of(&self, s: &ServiceRef, real: Option<IpAddr>) -> Stats {
        let key = s.key();
        let r = match real {
            None => self.tables.service_stats(&self.dp, &key).ok(),
            Some(a) => self
                .tables
                .real_index(&key, a)
                .and_then(|i| self.dp.real_stats(i).ok()),
        };
        r.unwrap_or_default()
    }

    pub(super) fn sample(&mut self) {
        let now = Instant::now();
        let mut keys = Vec::new();
        for p in plan(&self.desired, &self.rt) {
            keys.push((p.service, None));
            keys.extend(p.view.reals.iter().map(|r| (p.service, Some(r.address))));
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
        let services = plan(&self.desired, &self.rt)
            .into_iter()
            .map(|p| {
                let mut v = p.view;
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

    pub(super) fn explain(
        &self,
        src: SocketAddr,
        dst: SocketAddr,
        protocol: config::Protocol,
    ) -> Explanation {
        let flow_name = format!("{src} -> {dst}/{protocol}");
        let proto = api::proto_number(protocol);
        let flow = FlowKey::new(src, dst, proto);
        let live = self.dp.services();
        let exact = ServiceRef {
            vip: dst.ip(),
            port: dst.port(),
            protocol,
        };
        let any_port = ServiceRef { port: 0, ..exact };
        let found = [exact, any_port].into_iter().find_map(|r| {
            let key = r.key();
            live.iter().find(|(k, _)| *k == key).map(|(_, s)| (r, *s))
        });
        let Some((sref, svc)) = found else {
            return Explanation {
                flow: flow_name,
                service: None,
                real: None,
                via: Via::NoService,
            };
        };
        let real_at = |index: u32| self.dp.real(index).ok();
        let mut stale = false;
        if let Some(conn) = self.dp.conn(&flow) {
            match real_at(conn.real) {
                Some(r) if r.is_active() && r.generation == conn.generation => {
                    return Explanation {
                        flow: flow_name,
                        service: Some(sref),
                        real: Some(r.addr()),
                        via: Via::Connection { index: conn.real },
                    };
                }
                _ => stale = true,
            }
        }
        let src_only = svc.flags & SVC_F_HASH_SRC_ONLY != 0;
        let hash = flow_hash(&flow, src_only);
        let size = svc.ring_size.max(1);
        let slot = hash % size;
        let index = self
            .dp
            .read_ring(svc.ring)
            .ok()
            .flatten()
            .and_then(|t| t.get(slot as usize).copied())
            .unwrap_or(0);
        let real = (index != 0)
            .then(|| real_at(index))
            .flatten()
            .map(|r| r.addr());
        Explanation {
            flow: flow_name,
            service: Some(sref),
            real,
            via: Via::Maglev {
                slot,
                size: svc.ring_size,
                hash,
                src_only,
                index,
                stale_connection: stale,
            },
        }
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
        state: match st.state {
            health::State::Unknown => Health::Unknown,
            health::State::Up => Health::Up,
            health::State::Down => Health::Down,
        },
        since_ms: api::unix_ms(st.since),
        cause: st.last_change.clone(),
        last_error: st.last_error.clone(),
        last_probe_ms: st.last_probe.map(api::unix_ms),
        last_duration_us: st
            .last_duration
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
    }
}
