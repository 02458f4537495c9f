//! `explain`: which real a packet of a flow would reach, read from the live maps with the
//! data plane's own selection rules (`lvs_common`'s [`Conn::follows`], [`Service::slot`],
//! [`Real::is_active`], the same ones `lvs-ebpf/src/select.rs` runs). Reading changes nothing:
//! a new flow is not pinned.

use super::Director;
use lvs_common::{FlowKey, SVC_F_HASH_SRC_ONLY, Service, ServiceKey, flow_hash};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[cfg(doc)]
use lvs_common::{Conn, Real};

/// How a flow was (or would be) scheduled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Via {
    /// No service for the destination: the packet is passed to the kernel untouched.
    NoService,
    /// The connection table holds the flow.
    Connection {
        /// Real index in the data plane.
        index: u32,
    },
    /// The Maglev table decides (a new flow, or one whose real left).
    Maglev {
        /// `flow_hash % size`.
        slot: u32,
        /// Table size.
        size: u32,
        /// The flow hash.
        hash: u32,
        /// Only the client address was hashed (persistent service).
        src_only: bool,
        /// Real index in the slot (0: none, the packet is dropped).
        index: u32,
        /// The connection table held the flow for a real that is gone.
        stale_connection: bool,
    },
}

/// What the data plane does with a packet of a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Which of the candidate services matched (an index into them).
    pub service: Option<usize>,
    /// The real the packet reaches; none: dropped (`drop_no_real`) or passed (no service).
    pub real: Option<IpAddr>,
    /// Why.
    pub via: Via,
}

impl Director {
    /// What the data plane does with a packet of `flow`, whose service is the first of
    /// `services` found in the maps (the exact VIP:port, then the VIP's every-port service,
    /// as the data plane looks them up).
    pub fn explain(&self, flow: &FlowKey, services: &[ServiceKey]) -> Decision {
        let live = self.maps.services();
        let found = services.iter().enumerate().find_map(|(i, key)| {
            live.iter()
                .find(|(k, _)| k == key)
                .map(|(_, svc)| (i, *svc))
        });
        let Some((tag, svc)) = found else {
            return Decision {
                service: None,
                real: None,
                via: Via::NoService,
            };
        };
        let mut stale = false;
        if let Some(conn) = self.maps.conn(flow) {
            match self.maps.real(conn.real) {
                Ok(real) if conn.follows(&real) => {
                    return Decision {
                        service: Some(tag),
                        real: Some(real.addr()),
                        via: Via::Connection { index: conn.real },
                    };
                }
                _ => stale = true,
            }
        }
        let (slot, index) = self.ring_real(&svc, flow);
        // A slot that names a real being deactivated drops the packet (`drop_no_real`) until
        // the replacement table is live: say so rather than name that real.
        let real = (index != 0)
            .then(|| self.maps.real(index).ok())
            .flatten()
            .filter(|r| r.is_active())
            .map(|r| r.addr());
        let src_only = svc.flags & SVC_F_HASH_SRC_ONLY != 0;
        Decision {
            service: Some(tag),
            real,
            via: Via::Maglev {
                slot: slot.unwrap_or(0),
                size: svc.ring_size,
                hash: flow_hash(flow, src_only),
                src_only,
                index,
                stale_connection: stale,
            },
        }
    }

    /// The entries of the connection table that `keep` accepts, each with the real it leads to
    /// (none: that real left, the flow is scheduled again at its next packet), at most `max`
    /// of them (0: all); the flag says more matched. The walk stops at the bound.
    pub fn connections(
        &self,
        keep: impl Fn(&FlowKey, Option<IpAddr>) -> bool,
        max: usize,
    ) -> (Vec<(FlowKey, Option<IpAddr>)>, bool) {
        let mut reals = std::collections::HashMap::new();
        let mut out = Vec::new();
        for (flow, conn) in self.maps.conn_entries() {
            let real = *reals
                .entry((conn.real, conn.generation))
                .or_insert_with(|| {
                    self.maps
                        .real(conn.real)
                        .ok()
                        .filter(|r| conn.follows(r))
                        .map(|r| r.addr())
                });
            if !keep(&flow, real) {
                continue;
            }
            if max != 0 && out.len() == max {
                return (out, true);
            }
            out.push((flow, real));
        }
        (out, false)
    }

    /// The slot of the live table that schedules `flow` and the real index it holds (0: none,
    /// also when the service has no table).
    fn ring_real(&self, svc: &Service, flow: &FlowKey) -> (Option<u32>, u32) {
        let Some(slot) = svc.slot(flow) else {
            return (None, 0);
        };
        let index = self
            .maps
            .read_ring(svc.ring)
            .ok()
            .flatten()
            .and_then(|t| t.get(slot as usize).copied())
            .unwrap_or(0);
        (Some(slot), index)
    }
}
