//! Typed handles on the director's kernel objects: its program and every map. Only the
//! [`super::Director`] writes through them (tests that play a second writer load their own).
//!
//! Every map is pinned under one directory (`/sys/fs/bpf/lvs` in production), and loading
//! reuses the pins it finds: a restarted controller adopts the live maps instead of emptying
//! them. The Maglev tables live in an array of maps created here (aya-ebpf cannot declare
//! one): each service owns two outer slots, a new table is written into the idle slot through
//! `mmap` and the service switches to it with one map update, so a packet sees the old table
//! or the new one, never a mix.

use super::{
    Error, Result, io_err, map_err,
    pins::{attach_pinned, load_pinned, prepare_pin_dir, take},
    sys,
};
use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData, PerCpuArray},
    programs::{Xdp, XdpMode, xdp::XdpLinkId},
};
use lvs_common::{
    Conn, FlowKey, Iface, MAP_CONNS, MAP_COUNTERS, MAP_IFACES, MAP_REAL_STATS, MAP_REALS,
    MAP_RINGS, MAP_SERVICES, MAP_TUNNEL, MAP_VIP_FILTER, MAP_VIPS, MAX_RING_SIZE, MAX_RINGS, Real,
    Reason, Service, ServiceKey, Stats, TunnelConfig, VipKey, iface_slot,
};
use std::{
    collections::BTreeMap,
    fs,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::{Path, PathBuf},
};

/// The director's program, built by `build.rs` from `lvs-ebpf`.
pub static DIRECTOR_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lvs-ebpf"));

/// Reference programs for the benchmark (`lvs_floor`: MAC swap + XDP_TX; `lvs_null`).
pub static FLOOR_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lvs-floor"));

/// Name of the XDP program of the director.
pub const DIRECTOR_PROGRAM: &str = "lvs_director";

/// Every map of the director, pinned by these names.
const PINNED_MAPS: [&str; 10] = [
    MAP_SERVICES,
    MAP_VIPS,
    MAP_VIP_FILTER,
    MAP_RINGS,
    MAP_REALS,
    MAP_CONNS,
    MAP_REAL_STATS,
    MAP_COUNTERS,
    MAP_TUNNEL,
    MAP_IFACES,
];

/// How to load the director.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Directory (on a bpffs) where the maps are pinned and found again.
    pub pin_dir: PathBuf,
    /// Entries of the connection table (used when the table is created, not when adopted).
    pub conn_table_size: u32,
}

impl LoadOptions {
    pub fn new(pin_dir: impl Into<PathBuf>) -> Self {
        LoadOptions {
            pin_dir: pin_dir.into(),
            conn_table_size: lvs_common::DEFAULT_CONNS,
        }
    }
}

/// The loaded director and typed handles on its maps.
pub struct Maps {
    ebpf: Ebpf,
    pin_dir: PathBuf,
    services: HashMap<MapData, ServiceKey, Service>,
    vips: HashMap<MapData, VipKey, u32>,
    vip_filter: Array<MapData, u32>,
    rings: OwnedFd,
    /// Mappings of the tables installed in `rings`, by slot.
    ring_maps: BTreeMap<u32, sys::RingMap>,
    reals: Array<MapData, Real>,
    conns: HashMap<MapData, FlowKey, Conn>,
    real_stats: PerCpuArray<MapData, Stats>,
    counters: PerCpuArray<MapData, u64>,
    tunnel: Array<MapData, TunnelConfig>,
    ifaces: Array<MapData, Iface>,
    /// Every pinned map (the Maglev table array too) with its id, to see pins that went away
    /// or were replaced, and put them back.
    pins: Vec<(&'static str, OwnedFd, u32)>,
}

impl Maps {
    /// Loads `lvs_director` into the kernel (not attached yet), creating the maps or adopting
    /// the ones pinned in `opts.pin_dir`.
    pub fn load(opts: &LoadOptions) -> Result<Self> {
        prepare_pin_dir(&opts.pin_dir)?;
        let rings_path = opts.pin_dir.join(MAP_RINGS);
        let rings = match sys::obj_get(&rings_path) {
            Ok(fd) => fd,
            Err(_) => {
                let template =
                    sys::ring_create(1).map_err(io_err("creating the Maglev table template"))?;
                let outer = sys::map_create_outer(MAP_RINGS, MAX_RINGS, template.as_fd()).map_err(
                    io_err("creating the Maglev table array (BPF_MAP_TYPE_ARRAY_OF_MAPS)"),
                )?;
                sys::obj_pin(outer.as_fd(), &rings_path)
                    .map_err(io_err(format!("pinning {}", rings_path.display())))?;
                outer
            }
        };

        let mut ebpf = load_pinned(
            DIRECTOR_OBJECT,
            DIRECTOR_PROGRAM,
            &opts.pin_dir,
            &PINNED_MAPS,
            &[(MAP_CONNS, opts.conn_table_size)],
        )?;

        let mut pins = Vec::new();
        for name in PINNED_MAPS {
            let path = opts.pin_dir.join(name);
            let fd = sys::obj_get(&path).map_err(io_err(format!("opening {}", path.display())))?;
            let id =
                sys::map_id(fd.as_fd()).map_err(io_err(format!("reading {}", path.display())))?;
            pins.push((name, fd, id));
        }
        Ok(Maps {
            pins,
            services: take(&mut ebpf, MAP_SERVICES)?,
            vips: take(&mut ebpf, MAP_VIPS)?,
            vip_filter: take(&mut ebpf, MAP_VIP_FILTER)?,
            reals: take(&mut ebpf, MAP_REALS)?,
            conns: take(&mut ebpf, MAP_CONNS)?,
            real_stats: take(&mut ebpf, MAP_REAL_STATS)?,
            counters: take(&mut ebpf, MAP_COUNTERS)?,
            tunnel: take(&mut ebpf, MAP_TUNNEL)?,
            ifaces: take(&mut ebpf, MAP_IFACES)?,
            rings,
            ring_maps: BTreeMap::new(),
            pin_dir: opts.pin_dir.clone(),
            ebpf,
        })
    }

    /// The director program, e.g. for `BPF_PROG_TEST_RUN`.
    pub fn program(&self) -> &Xdp {
        self.ebpf
            .program(DIRECTOR_PROGRAM)
            .and_then(|p| <&Xdp>::try_from(p).ok())
            .expect("lvs_director was checked at load")
    }

    fn program_mut(&mut self) -> &mut Xdp {
        self.ebpf
            .program_mut(DIRECTOR_PROGRAM)
            .and_then(|p| <&mut Xdp>::try_from(p).ok())
            .expect("lvs_director was checked at load")
    }

    /// Attaches the director to `iface` (after entering the interface's MAC in the interface
    /// table: the director takes only frames addressed to it).
    pub fn attach(&mut self, iface: &str, mode: XdpMode) -> Result<XdpLinkId> {
        self.register_iface(iface)?;
        self.program_mut()
            .attach(iface, mode)
            .map_err(|source| Error::Program {
                what: format!("attaching lvs_director to {iface}"),
                source,
            })
    }

    /// Detaches the director from an interface it was attached to by [`Maps::attach`].
    pub fn detach(&mut self, link: XdpLinkId) -> Result<()> {
        self.program_mut()
            .detach(link)
            .map_err(|source| Error::Program {
                what: "detaching lvs_director".into(),
                source,
            })
    }

    /// Attaches the director to `iface` through a pinned link (`<pin_dir>/links/<iface>`), so
    /// it keeps forwarding when this process exits. When the pin exists already (a restart or
    /// an upgrade), the program on that link is replaced atomically: no packet sees the
    /// interface without a director.
    pub fn attach_pinned(&mut self, iface: &str, mode: XdpMode) -> Result<()> {
        self.register_iface(iface)?;
        let pin_dir = self.pin_dir.clone();
        attach_pinned(self.program_mut(), &pin_dir, iface, mode)
    }

    /// What is no longer as this controller left it in the kernel: a map pin removed or
    /// replaced, an interface's link gone, detached or running another program. Cheap: a few
    /// `stat`s and `BPF_OBJ_GET_INFO_BY_FD` calls. `ifaces`: the interfaces it attached to.
    pub fn drift(&self, ifaces: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (name, _, id) in &self.pins {
            let path = self.pin_dir.join(name);
            match sys::pinned_map_id(&path) {
                Ok(now) if now == *id => {}
                Ok(now) => out.push(format!(
                    "map pin {} holds map #{now}, not ours (#{id})",
                    path.display()
                )),
                Err(_) => out.push(format!("map pin {} is gone", path.display())),
            }
        }
        let ours = self.program().info().map(|i| i.id()).ok();
        for iface in ifaces {
            let path = self.pin_dir.join("links").join(iface);
            let want = sys::link_address(iface).map(|(i, _)| i).ok();
            match sys::xdp_link(&path) {
                Ok((prog, ifindex)) if Some(prog) == ours && Some(ifindex) == want => {}
                Ok((_, 0)) => out.push(format!("lvs_director was detached from {iface}")),
                Ok((prog, _)) => {
                    out.push(format!("{iface} runs program #{prog}, not lvs_director"))
                }
                Err(_) => out.push(format!("the link of {iface} ({}) is gone", path.display())),
            }
        }
        out
    }

    /// Puts back what [`Maps::drift`] finds: the maps' pins, and the program on every
    /// interface of `ifaces` (attached anew in `mode` where its link went away).
    pub fn repair(&mut self, ifaces: &[String], mode: XdpMode) -> Result<()> {
        prepare_pin_dir(&self.pin_dir)?;
        for (name, fd, id) in &self.pins {
            let path = self.pin_dir.join(name);
            match sys::pinned_map_id(&path) {
                Ok(now) if now == *id => continue,
                Ok(_) => fs::remove_file(&path).map_err(io_err(format!(
                    "removing the foreign pin {}",
                    path.display()
                )))?,
                Err(_) => {}
            }
            sys::obj_pin(fd.as_fd(), &path)
                .map_err(io_err(format!("pinning {}", path.display())))?;
        }
        let ours = self.program().info().map(|i| i.id()).ok();
        for iface in ifaces {
            let path = self.pin_dir.join("links").join(iface);
            let want = sys::link_address(iface).map(|(i, _)| i).ok();
            match sys::xdp_link(&path) {
                Ok((prog, ifindex)) if Some(prog) == ours && Some(ifindex) == want => continue,
                // A detached or foreign link cannot take our program back: make a new one.
                Ok(_) => fs::remove_file(&path).map_err(io_err(format!(
                    "removing the stale link pin {}",
                    path.display()
                )))?,
                Err(_) => {}
            }
            self.attach_pinned(iface, mode)?;
        }
        Ok(())
    }

    /// That every interface of `ifaces` exists in this network namespace and that no two
    /// share a slot of the interface table: what [`Maps::attach`] needs, checked before
    /// anything is written.
    pub fn preflight_ifaces(ifaces: &[String]) -> Result<()> {
        let mut slots: BTreeMap<u32, u32> = BTreeMap::new();
        for iface in ifaces {
            let (ifindex, _) = sys::link_address(iface)
                .map_err(io_err(format!("interface {iface} (global.interfaces)")))?;
            if let Some(other) = slots.insert(iface_slot(ifindex), ifindex)
                && other != ifindex
            {
                return Err(Error::IfaceSlot {
                    iface: iface.clone(),
                    ifindex,
                    other,
                    slot: iface_slot(ifindex),
                });
            }
        }
        Ok(())
    }

    /// Enters `iface` (of this thread's network namespace) with its MAC in the interface
    /// table.
    pub fn register_iface(&mut self, iface: &str) -> Result<()> {
        let (ifindex, mac) =
            sys::link_address(iface).map_err(io_err(format!("looking up interface {iface}")))?;
        self.enter_iface(iface, ifindex, mac)
    }

    /// Frames that come in on interface `ifindex` are the director's when addressed to `mac`.
    /// An interface whose slot another one holds is an error, never a silent replacement.
    pub fn set_iface(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<()> {
        self.enter_iface(&format!("#{ifindex}"), ifindex, mac)
    }

    fn enter_iface(&mut self, iface: &str, ifindex: u32, mac: [u8; 6]) -> Result<()> {
        let slot = iface_slot(ifindex);
        let now = self
            .ifaces
            .get(&slot, 0)
            .map_err(map_err("reading the interface table"))?;
        if now.ifindex != 0 && now.ifindex != ifindex {
            return Err(Error::IfaceSlot {
                iface: iface.to_owned(),
                ifindex,
                other: now.ifindex,
                slot,
            });
        }
        let entry = Iface {
            ifindex,
            mac,
            _pad: [0; 2],
        };
        if now != entry {
            self.ifaces
                .set(slot, entry, 0)
                .map_err(map_err("writing the interface table"))?;
        }
        Ok(())
    }

    /// The interfaces in the interface table.
    pub fn ifaces(&self) -> Vec<Iface> {
        self.ifaces
            .iter()
            .filter_map(|e| e.ok())
            .filter(|i| i.ifindex != 0)
            .collect()
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    // --- services -----------------------------------------------------------------------------

    pub fn set_service(&mut self, key: &ServiceKey, svc: &Service) -> Result<()> {
        self.services
            .insert(key, svc, 0)
            .map_err(map_err(format!("writing service {}", key_name(key))))
    }

    pub fn remove_service(&mut self, key: &ServiceKey) -> Result<()> {
        match self.services.remove(key) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(map_err(format!("removing service {}", key_name(key)))(e)),
        }
    }

    pub fn services(&self) -> Vec<(ServiceKey, Service)> {
        self.services.iter().filter_map(|r| r.ok()).collect()
    }

    pub fn set_vip(&mut self, key: &VipKey, count: u32) -> Result<()> {
        if count == 0 {
            return match self.vips.remove(key) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
                Err(e) => Err(map_err("removing a VIP")(e)),
            };
        }
        self.vips
            .insert(key, count, 0)
            .map_err(map_err("writing a VIP"))
    }

    /// Sets how many VIP addresses fall in slot `slot` of the VIP filter.
    pub fn set_vip_filter(&mut self, slot: u32, count: u32) -> Result<()> {
        self.vip_filter
            .set(slot, count, 0)
            .map_err(map_err(format!("writing VIP filter slot {slot}")))
    }

    /// How many VIP addresses slot `slot` of the VIP filter counts.
    pub fn vip_filter(&self, slot: u32) -> Result<u32> {
        self.vip_filter
            .get(&slot, 0)
            .map_err(map_err(format!("reading VIP filter slot {slot}")))
    }

    /// Every VIP address in the VIP map.
    pub fn vips(&self) -> Vec<(VipKey, u32)> {
        self.vips.iter().filter_map(|r| r.ok()).collect()
    }

    /// Sets the outer source addresses (and TTL) of tunnel forwarding.
    pub fn set_tunnel(&mut self, cfg: &TunnelConfig) -> Result<()> {
        self.tunnel
            .set(0, cfg, 0)
            .map_err(map_err("writing the tunnel settings"))
    }

    pub fn tunnel(&self) -> Result<TunnelConfig> {
        self.tunnel
            .get(&0, 0)
            .map_err(map_err("reading the tunnel settings"))
    }

    // --- Maglev tables ------------------------------------------------------------------------

    /// Writes `table` (real indices, 0 = none) into outer slot `ring`, which no service may
    /// be using (the writer flips services between their two slots).
    ///
    /// A slot that already holds a table of the same size is rewritten in place through its
    /// mapping: microseconds, and no update of the array of maps (whose every update waits for
    /// an RCU grace period, milliseconds). Otherwise a new table is installed.
    pub fn write_ring(&mut self, ring: u32, table: &[u32]) -> Result<()> {
        if table.is_empty() || table.len() > MAX_RING_SIZE as usize {
            return Err(Error::RingSize(table.len()));
        }
        let size = table.len() as u32;
        if self.ring_maps.get(&ring).is_none_or(|r| !r.fits(size)) {
            // Adopt the table a previous controller installed, if it has the right size.
            if let Some(found) = sys::RingMap::open(self.rings.as_fd(), ring)
                .map_err(io_err(format!("opening Maglev slot {ring}")))?
                .filter(|r| r.fits(size))
            {
                self.ring_maps.insert(ring, found);
            }
        }
        if let Some(live) = self.ring_maps.get_mut(&ring).filter(|r| r.fits(size)) {
            live.write(table);
            return Ok(());
        }
        let mut fresh = sys::RingMap::create(size).map_err(io_err("creating a Maglev table"))?;
        fresh.write(table);
        sys::map_update_u32(self.rings.as_fd(), ring, fresh.fd().as_raw_fd() as u32)
            .map_err(io_err(format!("installing Maglev table in slot {ring}")))?;
        self.ring_maps.insert(ring, fresh);
        Ok(())
    }

    /// Frees outer slot `ring` (its table goes when no packet uses it any more).
    pub fn clear_ring(&mut self, ring: u32) -> Result<()> {
        self.ring_maps.remove(&ring);
        sys::map_delete_u32(self.rings.as_fd(), ring)
            .map_err(io_err(format!("clearing Maglev slot {ring}")))
    }

    /// Reads back the table in outer slot `ring`, if any (an odd-sized table comes back with
    /// one extra 0 slot at the end).
    pub fn read_ring(&self, ring: u32) -> Result<Option<Vec<u32>>> {
        if let Some(r) = self.ring_maps.get(&ring) {
            return Ok(Some(r.read()));
        }
        Ok(sys::RingMap::open(self.rings.as_fd(), ring)
            .map_err(io_err(format!("reading Maglev slot {ring}")))?
            .map(|r| r.read()))
    }

    // --- reals --------------------------------------------------------------------------------

    pub fn set_real(&mut self, index: u32, real: &Real) -> Result<()> {
        self.reals
            .set(index, real, 0)
            .map_err(map_err(format!("writing real #{index}")))
    }

    pub fn real(&self, index: u32) -> Result<Real> {
        self.reals
            .get(&index, 0)
            .map_err(map_err(format!("reading real #{index}")))
    }

    // --- connection table ---------------------------------------------------------------------

    pub fn conn(&self, flow: &FlowKey) -> Option<Conn> {
        self.conns.get(flow, 0).ok()
    }

    /// The connection table's entries, walked in the map's order (for `list --connections`:
    /// a walk costs two system calls an entry).
    pub fn conn_entries(&self) -> impl Iterator<Item = (FlowKey, Conn)> + '_ {
        self.conns.iter().filter_map(|e| e.ok())
    }

    /// Number of entries in the connection table (walks it: for tests and `list`, not hot paths).
    pub fn conn_count(&self) -> usize {
        self.conns.keys().filter(|k| k.is_ok()).count()
    }

    // --- statistics ---------------------------------------------------------------------------

    pub fn real_stats(&self, index: u32) -> Result<Stats> {
        sum_stats(&self.real_stats, index)
    }

    /// Zeroes the statistics of a real index before it is given out again.
    pub fn reset_real_stats(&mut self, index: u32) -> Result<()> {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| io_err("counting CPUs")(e))?;
        let zero = aya::maps::PerCpuValues::try_from(vec![Stats::default(); cpus])
            .map_err(io_err("building per-CPU values"))?;
        self.real_stats
            .set(index, zero, 0)
            .map_err(map_err("resetting real statistics"))
    }

    /// Every counter, summed over the CPUs, in [`Reason::ALL`] order.
    pub fn counters(&self) -> Result<Vec<(Reason, u64)>> {
        sum_counters(&self.counters)
    }

    /// One counter, summed over the CPUs.
    pub fn counter(&self, reason: Reason) -> Result<u64> {
        sum_counter(&self.counters, reason)
    }
}

/// Every counter of the per-CPU counter map pinned at `path`, summed over the CPUs, without
/// loading any program (for `lvs-ctl counters`).
pub fn pinned_counters(path: &Path) -> Result<Vec<(Reason, u64)>> {
    let what = || format!("opening {}", path.display());
    let data = MapData::from_pin(path).map_err(map_err(what()))?;
    let map = aya::maps::Map::from_map_data(data).map_err(map_err(what()))?;
    let counters: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(map).map_err(map_err(what()))?;
    sum_counters(&counters)
}

/// One counter of a per-CPU counter map, summed over the CPUs.
pub(super) fn sum_counter(map: &PerCpuArray<MapData, u64>, reason: Reason) -> Result<u64> {
    let values = map
        .get(&(reason as u32), 0)
        .map_err(map_err("reading counters"))?;
    Ok(values.iter().sum())
}

/// Every counter of a per-CPU counter map, summed over the CPUs, in [`Reason::ALL`] order.
pub(super) fn sum_counters(map: &PerCpuArray<MapData, u64>) -> Result<Vec<(Reason, u64)>> {
    Reason::ALL
        .iter()
        .map(|&r| Ok((r, sum_counter(map, r)?)))
        .collect()
}

fn sum_stats(map: &PerCpuArray<MapData, Stats>, index: u32) -> Result<Stats> {
    let values = map
        .get(&index, 0)
        .map_err(map_err(format!("reading statistics #{index}")))?;
    let mut total = Stats::default();
    for v in values.iter() {
        total.add(v);
    }
    Ok(total)
}

fn key_name(key: &ServiceKey) -> String {
    let proto = match key.proto {
        lvs_common::PROTO_TCP => "tcp",
        lvs_common::PROTO_UDP => "udp",
        _ => "?",
    };
    match key.vip() {
        std::net::IpAddr::V4(a) => format!("{a}:{}/{proto}", key.port()),
        std::net::IpAddr::V6(a) => format!("[{a}]:{}/{proto}", key.port()),
    }
}
