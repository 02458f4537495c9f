//! Where a direct-routing real server is on the wire: egress interface, that interface's MAC
//! and the next hop's MAC, resolved with rtnetlink in the calling thread's network namespace.
//!
//! 1. `RTM_GETROUTE` for the real's address gives the output interface and, when the real is
//!    behind a router, the gateway (the next hop; otherwise the real itself);
//! 2. `RTM_GETLINK` gives the output interface's MAC;
//! 3. the neighbour table gives the next hop's MAC, if the kernel has it in a usable state.
//!
//! A missing neighbour is never guessed: [`Hop::dst_mac`] stays `None` (the data plane then
//! counts and drops, `drop_no_neighbour`), and the daemon resolves again later. Health checks
//! send traffic to the reals and so warm the kernel's neighbour table; [`Resolver::solicit`]
//! also asks the kernel to resolve and keep resolving a next hop (a "managed" neighbour entry,
//! `NTF_EXT_MANAGED`, kernel 5.16+), best effort.

use futures_util::TryStreamExt;
use netlink_packet_route::{
    AddressFamily,
    link::LinkAttribute,
    neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourExtFlags, NeighbourState},
    route::{RouteAddress, RouteAttribute, RouteMessage},
};
use std::net::IpAddr;

/// Why a real could not be located.
#[derive(Debug, thiserror::Error)]
pub enum NeighbourError {
    /// The netlink socket could not be opened.
    #[error("opening a netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        /// What was asked.
        what: String,
        /// The error.
        #[source]
        source: rtnetlink::Error,
    },
    /// The kernel has no route with an output interface to the address.
    #[error("no route to {0}")]
    NoRoute(IpAddr),
    /// The output interface has no 6-byte MAC (not Ethernet).
    #[error("interface #{0} has no Ethernet address")]
    NoLinkAddress(u32),
}

/// The forwarding facts of one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    /// Egress interface index.
    pub ifindex: u32,
    /// MAC of the egress interface.
    pub src_mac: [u8; 6],
    /// The address whose MAC is needed: the gateway, or the real itself when on-link.
    pub next_hop: IpAddr,
    /// The next hop's MAC, when the neighbour table has it.
    pub dst_mac: Option<[u8; 6]>,
}

/// A netlink client for route, link and neighbour look-ups.
///
/// Must be created inside a tokio runtime (its connection runs as a task), in the network
/// namespace whose tables it should read.
#[derive(Clone)]
pub struct Resolver {
    handle: rtnetlink::Handle,
}

impl Resolver {
    /// Opens the netlink socket and spawns its connection task.
    pub fn new() -> Result<Self, NeighbourError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NeighbourError::Socket)?;
        tokio::spawn(conn);
        Ok(Resolver { handle })
    }

    /// Route, interface and neighbour of `addr`.
    pub async fn resolve(&self, addr: IpAddr) -> Result<Hop, NeighbourError> {
        let (ifindex, gateway) = self.route(addr).await?;
        let src_mac = self.link_mac(ifindex).await?;
        let next_hop = gateway.unwrap_or(addr);
        let dst_mac = self.neighbour(ifindex, next_hop).await?;
        Ok(Hop {
            ifindex,
            src_mac,
            next_hop,
            dst_mac,
        })
    }

    /// Asks the kernel to resolve `hop.next_hop` and keep it resolved (a managed neighbour
    /// entry). Does nothing when an entry exists already; errors are only logged at debug
    /// level: resolution also happens through the health checks' traffic.
    pub async fn solicit(&self, hop: &Hop) {
        let mut req = self.handle.neighbours().add(hop.ifindex, hop.next_hop);
        req.message_mut().header.state = NeighbourState::None;
        req.message_mut()
            .attributes
            .push(NeighbourAttribute::ExtFlags(NeighbourExtFlags::Managed));
        if let Err(e) = req.execute().await {
            log::debug!(
                "asking the kernel to resolve {} on #{}: {e}",
                hop.next_hop,
                hop.ifindex
            );
        }
    }

    async fn route(&self, addr: IpAddr) -> Result<(u32, Option<IpAddr>), NeighbourError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.header.destination_prefix_length = if addr.is_ipv4() { 32 } else { 128 };
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(addr)));
        let mut routes = self.handle.route().get(msg).execute();
        let what = || format!("looking up the route to {addr}");
        while let Some(route) =
            routes
                .try_next()
                .await
                .map_err(|source| NeighbourError::Netlink {
                    what: what(),
                    source,
                })?
        {
            let mut oif = None;
            let mut gateway = None;
            for attr in &route.attributes {
                match attr {
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    RouteAttribute::Gateway(RouteAddress::Inet(a)) => {
                        gateway = Some(IpAddr::V4(*a))
                    }
                    RouteAttribute::Gateway(RouteAddress::Inet6(a)) => {
                        gateway = Some(IpAddr::V6(*a))
                    }
                    _ => {}
                }
            }
            if let Some(oif) = oif {
                return Ok((oif, gateway));
            }
        }
        Err(NeighbourError::NoRoute(addr))
    }

    async fn link_mac(&self, ifindex: u32) -> Result<[u8; 6], NeighbourError> {
        let mut links = self.handle.link().get().match_index(ifindex).execute();
        while let Some(link) = links
            .try_next()
            .await
            .map_err(|source| NeighbourError::Netlink {
                what: format!("reading interface #{ifindex}"),
                source,
            })?
        {
            for attr in &link.attributes {
                if let LinkAttribute::Address(mac) = attr
                    && let Ok(mac) = <[u8; 6]>::try_from(mac.as_slice())
                {
                    return Ok(mac);
                }
            }
        }
        Err(NeighbourError::NoLinkAddress(ifindex))
    }

    async fn neighbour(
        &self,
        ifindex: u32,
        next_hop: IpAddr,
    ) -> Result<Option<[u8; 6]>, NeighbourError> {
        let family = if next_hop.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let mut neighbours = self
            .handle
            .neighbours()
            .get()
            .set_address_family(family)
            .execute();
        while let Some(n) =
            neighbours
                .try_next()
                .await
                .map_err(|source| NeighbourError::Netlink {
                    what: "reading the neighbour table".into(),
                    source,
                })?
        {
            if n.header.ifindex != ifindex || !usable(n.header.state) {
                continue;
            }
            let mut dst = None;
            let mut lladdr = None;
            for attr in &n.attributes {
                match attr {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                        dst = Some(IpAddr::V4(*a))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                        dst = Some(IpAddr::V6(*a))
                    }
                    NeighbourAttribute::LinkLayerAddress(mac) => {
                        lladdr = <[u8; 6]>::try_from(mac.as_slice()).ok()
                    }
                    _ => {}
                }
            }
            if dst == Some(next_hop)
                && let Some(mac) = lladdr.filter(|m| *m != [0; 6])
            {
                return Ok(Some(mac));
            }
        }
        Ok(None)
    }
}

/// States whose link-layer address the kernel itself would use (stale entries are confirmed
/// on use, so they are as good as the kernel's own choice).
fn usable(state: NeighbourState) -> bool {
    matches!(
        state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_states_the_kernel_would_send_to_are_usable() {
        assert!(usable(NeighbourState::Reachable));
        assert!(usable(NeighbourState::Stale));
        assert!(usable(NeighbourState::Permanent));
        assert!(!usable(NeighbourState::Incomplete));
        assert!(!usable(NeighbourState::Failed));
        assert!(!usable(NeighbourState::None));
    }

    #[tokio::test]
    async fn loopback_routes_to_lo() {
        // Every network namespace has lo; the route to 127.0.0.1 goes out of it (ifindex 1).
        let r = Resolver::new().expect("netlink socket");
        match r.resolve("127.0.0.1".parse().unwrap()).await {
            Ok(hop) => assert_eq!(hop.ifindex, 1),
            // lo's address is all zero, which is 6 bytes: still Ok. Anything else is a bug.
            Err(e) => panic!("{e}"),
        }
    }
}
