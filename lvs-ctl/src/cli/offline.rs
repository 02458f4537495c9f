//! The read-only commands (`list`, `list --connections`, `explain`) while no daemon runs:
//! answered from the maps pinned under the pin directory, as `ipvsadm -Ln` answers from the
//! kernel. What only the daemon knows (configuration names, health, drains, rates) is absent;
//! a real's weight is its share of the live Maglev table.

use crate::{
    api::{
        Health, Listing, RateView, RealView, Request, Response, ServiceRef, ServiceView, StatsView,
    },
    compile::protocol_of,
    config::Method,
    daemon,
    dataplane::{Director, ServiceState},
};
use anyhow::{Result, bail};
use lvs_common::{METHOD_GUE, METHOD_IPIP, SVC_F_HASH_SRC_ONLY};
use std::{path::Path, time::SystemTime};

/// Answers `req` from the maps pinned in `pin_dir`.
pub(super) fn answer(pin_dir: &Path, req: &Request) -> Result<Response> {
    let director = Director::inspect(pin_dir)?;
    Ok(match req {
        Request::List => Response::List(listing(&director.snapshot())),
        Request::Connections { service, real, max } => {
            Response::Connections(daemon::connections(&director, *service, *real, *max))
        }
        Request::Explain { src, dst, protocol } => {
            Response::Explain(daemon::explain(&director, *src, *dst, *protocol))
        }
        _ => bail!("only the daemon answers this request"),
    })
}

/// The listing of what the maps hold.
pub fn listing(services: &[ServiceState]) -> Listing {
    let services = services
        .iter()
        .filter_map(|s| {
            let service = ServiceRef {
                vip: s.key.vip(),
                port: s.key.port(),
                protocol: protocol_of(s.key.proto)?,
            };
            let reals = s
                .reals
                .iter()
                .map(|r| RealView {
                    address: r.real.addr(),
                    method: match r.real.method {
                        METHOD_IPIP => Method::Ipip,
                        METHOD_GUE => Method::Gue,
                        _ => Method::Dr,
                    },
                    configured_weight: r.slots,
                    weight: r.slots,
                    active: r.real.is_active(),
                    health: Health::Unknown,
                    drained: false,
                    maintenance: false,
                    fallback: false,
                    resolved: r.real.method != lvs_common::METHOD_DR || r.real.dst_mac != [0; 6],
                    stats: StatsView::of(&r.stats),
                    rate: RateView::default(),
                    check: None,
                })
                .collect();
            Some(ServiceView {
                name: None,
                service,
                persistent: s.service.flags & SVC_F_HASH_SRC_ONLY != 0,
                quiescent: true,
                ring_size: s.service.ring_size,
                stats: StatsView::of(&s.stats),
                rate: RateView::default(),
                reals,
            })
        })
        .collect();
    Listing {
        services,
        at_ms: crate::api::unix_ms(SystemTime::now()),
        repairs: Vec::new(),
    }
}
