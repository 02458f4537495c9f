//! Where the reals are on the wire: next hops and MACs over netlink, kept fresh by the tick.

use std::{collections::BTreeSet, net::IpAddr, time::Duration};

use super::*;

impl Daemon {
    /// Every real address of the desired state (with fallbacks).
    pub(super) fn addresses(&self) -> BTreeSet<IpAddr> {
        let mut out = BTreeSet::new();
        for s in &self.desired.services {
            out.extend(s.reals.iter().map(|r| r.address));
            out.extend(s.fallback);
        }
        out
    }

    /// Resolves the real addresses never looked up (new reals): a change answers fast; the
    /// tick retries those still unresolved.
    pub(super) async fn resolve_new(&mut self) {
        let new: Vec<IpAddr> = self
            .addresses()
            .into_iter()
            .filter(|a| !self.rt.hops.contains_key(a))
            .collect();
        for addr in new {
            self.resolve(addr).await;
        }
    }

    /// Resolves real addresses: all of them, or (with `only_missing`) those without a MAC.
    /// Returns whether anything changed.
    pub(super) async fn resolve_all(&mut self, only_missing: bool) -> bool {
        let mut changed = false;
        let addrs = self.addresses();
        self.rt.hops.retain(|a, _| addrs.contains(a));
        for addr in addrs {
            if only_missing && self.rt.hops.get(&addr).is_some_and(|h| h.dst_mac.is_some()) {
                continue;
            }
            changed |= self.resolve(addr).await;
        }
        changed
    }

    pub(super) async fn resolve(&mut self, addr: IpAddr) -> bool {
        let result =
            tokio::time::timeout(Duration::from_secs(2), self.resolver.resolve(addr)).await;
        let hop = match result {
            Ok(Ok(hop)) => hop,
            Ok(Err(e)) => {
                if self.rt.hops.remove(&addr).is_some() || self.ticks.is_multiple_of(30) {
                    log::warn!("real {addr}: {e}; its packets are dropped until it resolves");
                }
                return false;
            }
            Err(_) => {
                log::warn!("real {addr}: route look-up timed out");
                return false;
            }
        };
        if hop.dst_mac.is_none() {
            self.resolver.solicit(&hop).await;
        }
        let old = self.rt.hops.insert(addr, hop);
        if old != Some(hop) {
            match hop.dst_mac {
                Some(m) => log::info!(
                    "real {addr}: next hop {} is {} on interface #{}",
                    hop.next_hop,
                    mac(m),
                    hop.ifindex
                ),
                None => log::warn!(
                    "real {addr}: next hop {} on interface #{} not resolved yet; its packets are dropped (drop_no_neighbour) until it is",
                    hop.next_hop,
                    hop.ifindex
                ),
            }
            return true;
        }
        false
    }
}

pub(super) fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
