//! The data plane's one owner: nothing else in the controller loads a program or touches a
//! map.
//!
//! [`Director`] owns `lvs_director` (its program, links and maps) and is fed one value, the
//! [`Wanted`] state that `compile` makes of the configuration and the run-time state. It
//! applies the difference make-before-break ([`tables`]), and it alone reads the maps back:
//! statistics and counters for `list`, `counters` and metrics, connection entries and tables
//! for `explain` ([`explain`]), the kernel's objects for the periodic check that they are
//! still its own ([`Director::verify`]). [`Decap`] is its sibling of the same shape for
//! `lvs_decap` on real servers.
//!
//! Under them: [`maps`] (typed handles on the kernel objects), [`pins`] (the pin directory:
//! lock, pinned loads and links) and `sys` (the raw syscalls aya does not offer).

mod decap;
mod error;
mod explain;
mod maps;
mod pins;
pub(crate) mod sys;
mod tables;

pub use decap::{DECAP_OBJECT, DEFAULT_DECAP_PIN_DIR, Decap, DecapWanted, interface_addresses};
pub use error::{Error, Result};
pub(crate) use error::{io_err, map_err};
pub use explain::{Decision, Via};
pub use maps::{
    DIRECTOR_OBJECT, DIRECTOR_PROGRAM, FLOOR_OBJECT, LoadOptions, Maps, pinned_counters,
};
pub use pins::{PinLock, pinned_links, unpin_all};
pub use tables::{ApplyError, IDLE_GUARD, RealSpec, Report, ServiceSpec};

use aya::programs::{Xdp, XdpMode, xdp::XdpLinkId};
use lvs_common::{Reason, ServiceKey, Stats, TunnelConfig};
use std::{collections::BTreeSet, net::IpAddr, path::Path};
use tables::Tables;

/// Everything the director's maps and links should hold: the one input of [`Director::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Interfaces the program is attached to (through pinned links). One missing from a later
    /// `Wanted` is not detached: forwarding there goes on until `lvs-ctl unload`.
    pub interfaces: Vec<String>,
    /// How to attach where a new link is made.
    pub xdp_mode: XdpMode,
    /// The tunnel settings (source addresses, GUE port).
    pub tunnel: TunnelConfig,
    /// The services with their reals, as the data plane needs them.
    pub services: Vec<ServiceSpec>,
}

impl Default for Wanted {
    fn default() -> Self {
        Wanted {
            interfaces: Vec::new(),
            xdp_mode: XdpMode::Default,
            tunnel: TunnelConfig::default(),
            services: Vec::new(),
        }
    }
}

/// What one [`Director::apply`] changed, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The tunnel settings were rewritten.
    pub tunnel: bool,
    /// What the table writer changed.
    pub tables: Report,
    /// Interfaces attached by this apply.
    pub attached: Vec<String>,
}

impl Applied {
    /// Nothing was written.
    pub fn is_empty(&self) -> bool {
        !self.tunnel && self.tables.is_empty() && self.attached.is_empty()
    }
}

/// A service as the maps hold it ([`Director::snapshot`]).
#[derive(Clone, Debug)]
pub struct ServiceState {
    pub key: ServiceKey,
    pub service: lvs_common::Service,
    /// The sum of its reals' statistics (with those of reals it had before).
    pub stats: Stats,
    pub reals: Vec<RealState>,
}

/// A real as the maps hold it.
#[derive(Clone, Debug)]
pub struct RealState {
    pub index: u32,
    pub real: lvs_common::Real,
    /// Slots of the live Maglev table that name it.
    pub slots: u32,
    pub stats: Stats,
}

/// The one owner of `lvs_director`: its program, links and maps, and the table writer's memory.
pub struct Director {
    maps: Maps,
    tables: Tables,
    /// Interfaces this owner attached to (or took over at start).
    attached: BTreeSet<String>,
}

impl Director {
    /// Loads the program over the maps pinned in `opts.pin_dir` (made when missing) and adopts
    /// what a previous controller left there, so that applying the same [`Wanted`] again
    /// writes nothing and moves no flow. Nothing is attached yet.
    pub fn open(opts: &LoadOptions) -> std::result::Result<Self, ApplyError> {
        let mut maps = Maps::load(opts)?;
        let tables = Tables::adopt(&mut maps, true)?;
        Ok(Director {
            maps,
            tables,
            attached: BTreeSet::new(),
        })
    }

    /// Opens what a controller left pinned in `pin_dir` to read it, writing nothing (for the
    /// read-only commands while no daemon runs). [`Error::NotLoaded`] when nothing is there.
    pub fn inspect(pin_dir: &Path) -> std::result::Result<Self, ApplyError> {
        if !pin_dir.join(lvs_common::MAP_SERVICES).exists() {
            return Err(Error::NotLoaded(pin_dir.to_owned()).into());
        }
        let mut maps = Maps::load(&LoadOptions::new(pin_dir))?;
        let tables = Tables::adopt(&mut maps, false)?;
        Ok(Director {
            maps,
            tables,
            attached: BTreeSet::new(),
        })
    }

    /// Every service in the maps with its reals as written, their statistics, and how many
    /// slots of the live Maglev table each real holds (its effective weight).
    pub fn snapshot(&self) -> Vec<ServiceState> {
        let mut out: Vec<ServiceState> = self
            .maps
            .services()
            .into_iter()
            .map(|(key, service)| {
                // Slots per real index in the live table, counted in one pass.
                let mut slots: std::collections::HashMap<u32, u32> = Default::default();
                if let Some(t) = self.maps.read_ring(service.ring).ok().flatten() {
                    for &i in t.iter().take(service.ring_size as usize) {
                        *slots.entry(i).or_default() += 1;
                    }
                }
                let reals = self
                    .tables
                    .reals_of(&key)
                    .into_iter()
                    .map(|(index, real)| RealState {
                        index,
                        real,
                        slots: slots.get(&index).copied().unwrap_or(0),
                        stats: self.maps.real_stats(index).unwrap_or_default(),
                    })
                    .collect();
                ServiceState {
                    key,
                    service,
                    stats: self.service_stats(&key),
                    reals,
                }
            })
            .collect();
        out.sort_by_key(|s| (s.key.vip(), s.key.port(), s.key.proto));
        out
    }

    /// Makes the maps and links hold `want`, writing only what differs: the tunnel settings,
    /// then the tables (make before break, see [`tables`]), then links on interfaces not
    /// attached yet, so the program never runs on an interface without its tables.
    pub fn apply(&mut self, want: &Wanted) -> std::result::Result<Applied, ApplyError> {
        let mut done = Applied::default();
        if self.maps.tunnel()? != want.tunnel {
            self.maps.set_tunnel(&want.tunnel)?;
            done.tunnel = true;
        }
        done.tables = self.tables.apply(&mut self.maps, &want.services)?;
        done.attached = self.attach(&want.interfaces, want.xdp_mode)?;
        Ok(done)
    }

    /// Attaches the program to the interfaces of `interfaces` this owner has not attached to
    /// yet, through pinned links (a link pinned by an earlier controller has its program
    /// replaced atomically: no packet sees the interface without a director). The tables are
    /// left as they are (`lvs-ctl load`). Returns the interfaces attached now.
    pub fn attach(
        &mut self,
        interfaces: &[String],
        mode: XdpMode,
    ) -> std::result::Result<Vec<String>, ApplyError> {
        let mut done = Vec::new();
        for iface in interfaces {
            if !self.attached.contains(iface) {
                self.maps.attach_pinned(iface, mode)?;
                self.attached.insert(iface.clone());
                done.push(iface.clone());
            }
        }
        Ok(done)
    }

    /// Attaches the program to `iface` with a link this process holds (not pinned: it goes
    /// with [`Director::detach`] or the process), for labs and benchmarks that attach for a
    /// while.
    pub fn attach_unpinned(&mut self, iface: &str, mode: XdpMode) -> Result<XdpLinkId> {
        self.maps.attach(iface, mode)
    }

    /// Detaches a link made by [`Director::attach_unpinned`].
    pub fn detach(&mut self, link: XdpLinkId) -> Result<()> {
        self.maps.detach(link)
    }

    /// Checks that the kernel still holds what this owner put there (map pins, its program
    /// on every interface of `want`, the map contents it wrote) and puts back what someone
    /// else removed or changed; returns what it found. Maps are re-applied make-before-break.
    /// A repair that fails is logged and tried again at the next call.
    pub fn verify(&mut self, want: &Wanted) -> Vec<String> {
        let mut found = self.maps.drift(&want.interfaces);
        if !found.is_empty()
            && let Err(e) = self.maps.repair(&want.interfaces, want.xdp_mode)
        {
            log::error!("data plane: repairing pins and links: {e}");
        }
        match self.tables.repair(&mut self.maps) {
            Ok(f) => found.extend(f),
            Err(e) => log::error!("data plane: checking the maps: {e}"),
        }
        // A table the check forgot is rebuilt now.
        if !found.is_empty()
            && let Err(e) = self.apply(want)
        {
            log::error!("data plane: rewriting the maps: {e}");
        }
        found
    }

    /// Frames that arrive on interface `ifindex` are the director's when addressed to `mac`
    /// (for interfaces the program runs on without being attached by [`Director::apply`]:
    /// `BPF_PROG_TEST_RUN`).
    pub fn register_iface(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<()> {
        self.maps.set_iface(ifindex, mac)
    }

    /// Statistics of a service: the sum of its reals', including reals it had before.
    pub fn service_stats(&self, key: &ServiceKey) -> Stats {
        self.tables
            .service_stats(&self.maps, key)
            .unwrap_or_default()
    }

    /// Statistics of real `addr` of service `key` (zero when it has none).
    pub fn real_stats(&self, key: &ServiceKey, addr: IpAddr) -> Stats {
        self.tables
            .real_index(key, addr)
            .and_then(|i| self.maps.real_stats(i).ok())
            .unwrap_or_default()
    }

    /// The real index the writer gave to `addr` in service `key`.
    pub fn real_index(&self, key: &ServiceKey, addr: IpAddr) -> Option<u32> {
        self.tables.real_index(key, addr)
    }

    /// Entries in the connection table (walks it: for metrics and tests, not hot paths).
    pub fn conn_count(&self) -> usize {
        self.maps.conn_count()
    }

    /// Every verdict and reason counter, summed over the CPUs.
    pub fn counters(&self) -> Result<Vec<(Reason, u64)>> {
        self.maps.counters()
    }

    /// The program, e.g. for `BPF_PROG_TEST_RUN`.
    pub fn program(&self) -> &Xdp {
        self.maps.program()
    }

    /// Read access to every map, for tests and tools that inspect what the owner wrote.
    pub fn maps(&self) -> &Maps {
        &self.maps
    }

    /// Where the maps and links are pinned.
    pub fn pin_dir(&self) -> &Path {
        self.maps.pin_dir()
    }

    /// Every check of [`Director::apply`] on `interfaces` that writes nothing: they exist in
    /// this network namespace and no two share a slot of the interface table.
    pub fn preflight(interfaces: &[String]) -> Result<()> {
        Maps::preflight_ifaces(interfaces)
    }
}
