//! Long because: the writer's whole make-before-break order (reals, tables, removals) and its
//! adoption and repair of pinned state are one invariant, kept in one place.
//!
//! The one writer of the data plane's tables: turns the wanted services and reals into map
//! entries and Maglev tables, and applies only what differs from what it wrote before.
//!
//! Order makes every step safe for packets in flight (make before break):
//! 1. reals that are new or changed are written first;
//! 2. a changed Maglev table is built into the service's idle ring slot, then the service
//!    entry switches to it in one update; the slot it left stays installed and becomes the
//!    idle one, rewritten in place next time (no wait for the kernel's grace period), but
//!    not before [`IDLE_GUARD`] has passed, so no packet that read the service entry before
//!    the switch can still be reading that table;
//! 3. only then are removed reals deactivated (their flows get rescheduled) and their
//!    indices freed; a freed index gets a new generation when it is given out again, so
//!    connection-table entries of its former owner never follow it.

use super::{Error, Maps};
use crate::maglev;
use lvs_common::{
    MAX_REALS, MAX_SERVICES, METHOD_DR, REAL_F_ACTIVE, REAL_F_ASSIGNED, Real, Service, ServiceKey,
    Stats, VipKey, addr_bytes, vip_filter_slot,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    time::{Duration, Instant},
};

/// A real server of a service as the data plane needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealSpec {
    pub addr: IpAddr,
    /// Share of new flows; 0 = drained (keeps its flows, takes no new ones).
    pub weight: u32,
    /// `lvs_common::METHOD_*`.
    pub method: u8,
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// Egress interface (0 = the interface the packet came in on).
    pub ifindex: u32,
    pub tunnel_port: u16,
    /// False: out of the table and its flows are rescheduled (removed, or down and not
    /// quiescent). True with weight 0: quiescent.
    pub active: bool,
}

impl RealSpec {
    /// A direct-routing real with the given MACs, egress on the ingress interface.
    pub fn dr(addr: IpAddr, weight: u32, dst_mac: [u8; 6], src_mac: [u8; 6]) -> Self {
        RealSpec {
            addr,
            weight,
            method: METHOD_DR,
            dst_mac,
            src_mac,
            ifindex: 0,
            tunnel_port: 0,
            active: true,
        }
    }
}

/// A virtual service as the data plane needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub key: ServiceKey,
    /// `lvs_common::SVC_F_*`.
    pub flags: u32,
    /// Maglev table size (a prime).
    pub ring_size: u32,
    pub reals: Vec<RealSpec>,
}

/// What the writer knows it has written for one service.
#[derive(Clone, Debug)]
struct Applied {
    id: u32,
    /// Live outer ring slot (id * 2 or id * 2 + 1), or None before the first table.
    ring: Option<u32>,
    flags: u32,
    ring_size: u32,
    /// The inputs of the live table: (address, weight) of every active real with a weight;
    /// None when not known (adopted from the kernel): the next apply builds the table and
    /// compares it with the live one before writing anything.
    table_inputs: Option<Vec<(IpAddr, u32)>>,
    /// Real index of each real address, with what was written there.
    reals: BTreeMap<IpAddr, (u32, Real)>,
    /// Statistics of reals that left the service (they count in the service's totals).
    retired: Stats,
    /// When the idle ring slot stopped being the live one.
    idle_since: Option<Instant>,
    /// Hash of the live table as written (None: not written by this writer yet).
    table_hash: Option<u64>,
}

/// How long a ring slot that stopped being live is left alone before it is rewritten. An XDP
/// program run lasts microseconds; this is three orders of magnitude more.
pub const IDLE_GUARD: Duration = Duration::from_millis(2);

/// What one `apply` changed, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub services_added: usize,
    pub services_removed: usize,
    pub tables_written: usize,
    pub reals_written: usize,
    pub reals_removed: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        *self == Report::default()
    }
}

/// In words, the parts that are not zero: `1 service added, 2 tables written, 3 reals written`.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            (self.services_added, "service", "added"),
            (self.services_removed, "service", "removed"),
            (self.tables_written, "Maglev table", "written"),
            (self.reals_written, "real", "written"),
            (self.reals_removed, "real", "removed"),
        ];
        let words: Vec<String> = parts
            .iter()
            .filter(|(n, ..)| *n > 0)
            .map(|(n, what, done)| format!("{n} {what}{} {done}", if *n == 1 { "" } else { "s" }))
            .collect();
        match words.is_empty() {
            true => f.write_str("nothing written"),
            false => f.write_str(&words.join(", ")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Maps(#[from] Error),
    #[error("no free service id: at most {MAX_SERVICES} services")]
    TooManyServices,
    #[error("no free real index: at most {} reals over all services", MAX_REALS - 1)]
    TooManyReals,
    #[error("Maglev table size {0} is not a prime")]
    RingSize(u32),
}

/// The writer's memory of the tables: ids, ring slots, real indices and generations.
#[derive(Debug)]
pub struct Tables {
    services: BTreeMap<ServiceKey, Applied>,
    free_ids: BTreeSet<u32>,
    free_reals: BTreeSet<u32>,
    /// Generation last given to each real index.
    generations: Vec<u32>,
    /// Services per VIP address, as written to the VIP map.
    vips: BTreeMap<IpAddr, u32>,
    /// Where [`Tables::repair`] goes on reading live tables back.
    ring_cursor: usize,
}

/// Live Maglev tables one [`Tables::repair`] reads back and compares.
const RINGS_PER_REPAIR: usize = 64;

impl Default for Tables {
    fn default() -> Self {
        Tables {
            services: BTreeMap::new(),
            free_ids: (0..MAX_SERVICES).collect(),
            free_reals: (1..MAX_REALS).collect(),
            generations: vec![0; MAX_REALS as usize],
            vips: BTreeMap::new(),
            ring_cursor: 0,
        }
    }
}

impl Tables {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the writer's memory from the maps a previous controller left pinned, so that
    /// applying the same wanted state again writes nothing and moves no flow. What cannot be
    /// read back (statistics of reals removed before the restart) starts from zero. `finish`:
    /// complete a removal the previous controller left half done (a writer does; a read-only
    /// look does not).
    pub fn adopt(dp: &mut Maps, finish: bool) -> Result<Self, ApplyError> {
        let mut t = Tables::new();
        let by_id: BTreeMap<u32, (ServiceKey, Service)> = dp
            .services()
            .into_iter()
            .map(|(k, s)| (s.id, (k, s)))
            .collect();
        for (key, svc) in by_id.values() {
            t.free_ids.remove(&svc.id);
            t.services.insert(
                *key,
                Applied {
                    id: svc.id,
                    ring: (svc.ring_size != 0).then_some(svc.ring),
                    flags: svc.flags,
                    ring_size: svc.ring_size,
                    table_inputs: None,
                    reals: BTreeMap::new(),
                    retired: Stats::default(),
                    // The previous controller may have switched slots an instant ago.
                    idle_since: Some(Instant::now()),
                    table_hash: None,
                },
            );
        }
        for index in 1..MAX_REALS {
            let entry = dp.real(index)?;
            t.generations[index as usize] = entry.generation;
            if entry.flags & REAL_F_ASSIGNED == 0 {
                continue;
            }
            if let Some(applied) = by_id
                .get(&entry.service)
                .and_then(|(key, _)| t.services.get_mut(key))
            {
                applied.reals.insert(entry.addr(), (index, entry));
                t.free_reals.remove(&index);
            } else if finish {
                // Left by a removal that did not finish: finish it, so no flow follows it.
                let mut entry = entry;
                entry.flags &= !(REAL_F_ACTIVE | REAL_F_ASSIGNED);
                dp.set_real(index, &entry)?;
            }
        }
        t.vips = dp
            .vips()
            .into_iter()
            .map(|(k, n)| (lvs_common::bytes_addr(&k.addr, k.family), n))
            .collect();
        Ok(t)
    }

    /// Statistics of a service: the sum of its reals', including reals it had before.
    pub fn service_stats(&self, dp: &Maps, key: &ServiceKey) -> Result<Stats, ApplyError> {
        let Some(applied) = self.services.get(key) else {
            return Ok(Stats::default());
        };
        let mut total = applied.retired;
        for (index, _) in applied.reals.values() {
            total.add(&dp.real_stats(*index)?);
        }
        Ok(total)
    }

    /// Real index of `addr` in service `key`.
    pub fn real_index(&self, key: &ServiceKey, addr: IpAddr) -> Option<u32> {
        self.services.get(key)?.reals.get(&addr).map(|(i, _)| *i)
    }

    /// The reals of service `key` as written: index and entry, in address order.
    pub fn reals_of(&self, key: &ServiceKey) -> Vec<(u32, Real)> {
        self.services
            .get(key)
            .map(|a| a.reals.values().copied().collect())
            .unwrap_or_default()
    }

    /// Compares the maps with what this writer wrote and puts back every difference; returns
    /// what it found (empty: the maps are as written). Entries are all compared every call,
    /// live tables [`RINGS_PER_REPAIR`] services at a time. A service, real, VIP or filter entry
    /// that someone else changed or removed is written again at once; a live Maglev table that
    /// differs from the one written is replaced make-before-break at the next
    /// [`Tables::apply`] (it is forgotten here), as are services or reals that appeared
    /// without this writer.
    pub fn repair(&mut self, dp: &mut Maps) -> Result<Vec<String>, ApplyError> {
        let mut found = Vec::new();
        let in_map: BTreeMap<ServiceKey, Service> = dp.services().into_iter().collect();
        // The live tables are read back a few services per call, in turn: reading one is a
        // pass over its slots (65537 by default).
        let n = self.services.len().max(1);
        let first = self.ring_cursor % n;
        self.ring_cursor = (first + RINGS_PER_REPAIR) % n;
        for (i, (key, applied)) in self.services.iter_mut().enumerate() {
            let Some(ring) = applied.ring else { continue };
            let want = Service {
                id: applied.id,
                ring,
                ring_size: applied.ring_size,
                flags: applied.flags,
            };
            if in_map.get(key) != Some(&want) {
                found.push(format!(
                    "service {} entry {:?}, not {want:?}",
                    key.vip(),
                    in_map.get(key)
                ));
                dp.set_service(key, &want)?;
            }
            for (addr, (index, written)) in &applied.reals {
                let now = dp.real(*index)?;
                if now != *written {
                    found.push(format!("real {addr} (index {index}) changed"));
                    dp.set_real(*index, written)?;
                }
            }
            let turn = (i + n - first) % n < RINGS_PER_REPAIR;
            if let Some(hash) = applied.table_hash.filter(|_| turn) {
                let live = dp.read_ring(ring)?;
                let same = live
                    .as_ref()
                    .and_then(|t| t.get(..applied.ring_size as usize))
                    .is_some_and(|t| table_hash(t) == hash);
                if !same {
                    found.push(format!("the Maglev table of {} changed", key.vip()));
                    applied.table_inputs = None;
                    applied.table_hash = None;
                }
            }
        }
        for key in in_map.keys().filter(|k| !self.services.contains_key(k)) {
            found.push(format!("service {} not written by this daemon", key.vip()));
            dp.remove_service(key)?;
        }
        let vips: BTreeMap<(IpAddr, u8), u32> = dp
            .vips()
            .into_iter()
            .map(|(k, n)| ((lvs_common::bytes_addr(&k.addr, k.family), k.family), n))
            .collect();
        for (vip, n) in &self.vips {
            let key = VipKey::new(*vip);
            if vips.get(&(*vip, key.family)) != Some(n) {
                found.push(format!("VIP {vip} entry changed"));
                dp.set_vip(&key, *n)?;
            }
        }
        let mut per_slot: BTreeMap<u32, u32> = BTreeMap::new();
        for vip in self.vips.keys() {
            *per_slot
                .entry(vip_filter_slot(&VipKey::new(*vip).addr))
                .or_default() += 1;
        }
        for (slot, n) in per_slot {
            if dp.vip_filter(slot)? != n {
                found.push(format!("VIP filter slot {slot} changed"));
                dp.set_vip_filter(slot, n)?;
            }
        }
        Ok(found)
    }

    /// Makes the data plane hold exactly `wanted`.
    pub fn apply(&mut self, dp: &mut Maps, wanted: &[ServiceSpec]) -> Result<Report, ApplyError> {
        let mut report = Report::default();
        let wanted_keys: BTreeSet<ServiceKey> = wanted.iter().map(|s| s.key).collect();
        for spec in wanted {
            self.apply_service(dp, spec, &mut report)?;
        }
        let gone: Vec<ServiceKey> = self
            .services
            .keys()
            .filter(|k| !wanted_keys.contains(k))
            .copied()
            .collect();
        for key in gone {
            self.remove_service(dp, &key)?;
            report.services_removed += 1;
        }
        self.write_vips(dp)?;
        Ok(report)
    }

    fn apply_service(
        &mut self,
        dp: &mut Maps,
        spec: &ServiceSpec,
        report: &mut Report,
    ) -> Result<(), ApplyError> {
        if !maglev::is_prime(spec.ring_size) {
            return Err(ApplyError::RingSize(spec.ring_size));
        }
        if !self.services.contains_key(&spec.key) {
            let id = self
                .free_ids
                .pop_first()
                .ok_or(ApplyError::TooManyServices)?;
            self.services.insert(
                spec.key,
                Applied {
                    id,
                    ring: None,
                    flags: spec.flags,
                    ring_size: spec.ring_size,
                    table_inputs: None,
                    reals: BTreeMap::new(),
                    retired: Stats::default(),
                    idle_since: None,
                    table_hash: None,
                },
            );
            report.services_added += 1;
        }
        let mut applied = self.services.remove(&spec.key).expect("inserted above");
        let result = self.update_service(dp, spec, &mut applied, report);
        self.services.insert(spec.key, applied);
        result
    }

    fn update_service(
        &mut self,
        dp: &mut Maps,
        spec: &ServiceSpec,
        applied: &mut Applied,
        report: &mut Report,
    ) -> Result<(), ApplyError> {
        // 1. New and changed reals.
        for r in &spec.reals {
            let (index, generation) = match applied.reals.get(&r.addr) {
                Some((i, written)) => (*i, written.generation),
                None => {
                    let i = self
                        .free_reals
                        .pop_first()
                        .ok_or(ApplyError::TooManyReals)?;
                    self.generations[i as usize] = self.generations[i as usize].wrapping_add(1);
                    dp.reset_real_stats(i)?;
                    (i, self.generations[i as usize])
                }
            };
            let entry = real_entry(r, generation, applied.id);
            if applied.reals.get(&r.addr).map(|(_, w)| w) != Some(&entry) {
                dp.set_real(index, &entry)?;
                applied.reals.insert(r.addr, (index, entry));
                report.reals_written += 1;
            }
        }

        // 2. The table, when its inputs changed, then the service entry.
        let mut inputs: Vec<(IpAddr, u32)> = spec
            .reals
            .iter()
            .filter(|r| r.active && r.weight > 0)
            .map(|r| (r.addr, r.weight))
            .collect();
        inputs.sort();
        let mut table_changed = applied.ring.is_none()
            || applied.table_inputs.as_ref() != Some(&inputs)
            || spec.ring_size != applied.ring_size;
        if table_changed {
            let table = build_table(&inputs, spec.ring_size, &applied.reals);
            let live_is_same = applied.table_inputs.is_none()
                && spec.ring_size == applied.ring_size
                && match applied.ring {
                    Some(r) => dp
                        .read_ring(r)?
                        .is_some_and(|live| live.get(..table.len()) == Some(table.as_slice())),
                    None => false,
                };
            if live_is_same {
                // Adopted: the kernel already holds exactly this table.
                table_changed = false;
                applied.table_hash = Some(table_hash(&table));
            } else {
                let slot = match applied.ring {
                    Some(r) if r == applied.id * 2 => applied.id * 2 + 1,
                    _ => applied.id * 2,
                };
                if let Some(since) = applied.idle_since {
                    std::thread::sleep(IDLE_GUARD.saturating_sub(since.elapsed()));
                }
                dp.write_ring(slot, &table)?;
                if applied.ring.is_none() {
                    // A new service: install its idle slot now, so that its first change is
                    // an in-place rewrite too.
                    dp.write_ring(applied.id * 2 + 1, &table)?;
                }
                applied.ring = Some(slot);
                applied.ring_size = spec.ring_size;
                applied.table_hash = Some(table_hash(&table));
                report.tables_written += 1;
            }
            applied.table_inputs = Some(inputs);
        }
        if table_changed || spec.flags != applied.flags {
            let svc = Service {
                id: applied.id,
                ring: applied.ring.expect("written above"),
                ring_size: applied.ring_size,
                flags: spec.flags,
            };
            dp.set_service(&spec.key, &svc)?;
            applied.flags = spec.flags;
            if table_changed {
                applied.idle_since = Some(Instant::now());
            }
        }

        // 3. Reals no longer wanted.
        let keep: BTreeSet<IpAddr> = spec.reals.iter().map(|r| r.addr).collect();
        let gone: Vec<IpAddr> = applied
            .reals
            .keys()
            .filter(|a| !keep.contains(a))
            .copied()
            .collect();
        for addr in gone {
            let (index, mut entry) = applied.reals.remove(&addr).expect("listed above");
            entry.flags &= !(REAL_F_ACTIVE | REAL_F_ASSIGNED);
            dp.set_real(index, &entry)?;
            applied.retired.add(&dp.real_stats(index)?);
            self.free_reals.insert(index);
            report.reals_removed += 1;
        }
        Ok(())
    }

    fn remove_service(&mut self, dp: &mut Maps, key: &ServiceKey) -> Result<(), ApplyError> {
        let Some(applied) = self.services.remove(key) else {
            return Ok(());
        };
        dp.remove_service(key)?;
        for (_, (index, mut entry)) in applied.reals {
            entry.flags &= !(REAL_F_ACTIVE | REAL_F_ASSIGNED);
            dp.set_real(index, &entry)?;
            self.free_reals.insert(index);
        }
        dp.clear_ring(applied.id * 2)?;
        dp.clear_ring(applied.id * 2 + 1)?;
        self.free_ids.insert(applied.id);
        Ok(())
    }

    /// Keeps the VIP set (addresses with at least one service) equal to the services.
    fn write_vips(&mut self, dp: &mut Maps) -> Result<(), ApplyError> {
        let mut counts: BTreeMap<IpAddr, u32> = BTreeMap::new();
        for key in self.services.keys() {
            *counts.entry(key.vip()).or_default() += 1;
        }
        for (vip, n) in &counts {
            if self.vips.get(vip) != Some(n) {
                dp.set_vip(&VipKey::new(*vip), *n)?;
            }
        }
        for vip in self.vips.keys().filter(|v| !counts.contains_key(v)) {
            dp.set_vip(&VipKey::new(*vip), 0)?;
        }
        // The filter counts VIP addresses per slot; rewrite the slots whose count changed.
        // New VIPs are in the filter after their services (a packet that passes the filter
        // early finds no service and passes), gone ones leave it after.
        let slots = |vips: &BTreeMap<IpAddr, u32>| {
            let mut per_slot: BTreeMap<u32, u32> = BTreeMap::new();
            for vip in vips.keys() {
                *per_slot
                    .entry(vip_filter_slot(&VipKey::new(*vip).addr))
                    .or_default() += 1;
            }
            per_slot
        };
        let (old, new) = (slots(&self.vips), slots(&counts));
        for (slot, n) in &new {
            if old.get(slot) != Some(n) {
                dp.set_vip_filter(*slot, *n)?;
            }
        }
        for slot in old.keys().filter(|s| !new.contains_key(s)) {
            dp.set_vip_filter(*slot, 0)?;
        }
        self.vips = counts;
        Ok(())
    }
}

/// A hash of a Maglev table, to see later whether the live one is still what was written.
fn table_hash(table: &[u32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut h);
    h.finish()
}

/// The Maglev table of `inputs` as real indices (0 where no real).
fn build_table(
    inputs: &[(IpAddr, u32)],
    size: u32,
    reals: &BTreeMap<IpAddr, (u32, Real)>,
) -> Vec<u32> {
    let names: Vec<String> = inputs.iter().map(|(a, _)| a.to_string()).collect();
    let backends: Vec<maglev::Backend<'_>> = names
        .iter()
        .zip(inputs)
        .map(|(n, (_, w))| maglev::Backend {
            name: n.as_bytes(),
            weight: *w,
        })
        .collect();
    maglev::build(&backends, size)
        .into_iter()
        .map(|pos| {
            if pos == maglev::EMPTY {
                0
            } else {
                reals[&inputs[pos as usize].0].0
            }
        })
        .collect()
}

fn real_entry(r: &RealSpec, generation: u32, service: u32) -> Real {
    let (addr, family) = addr_bytes(r.addr);
    Real {
        addr,
        dst_mac: r.dst_mac,
        src_mac: r.src_mac,
        ifindex: r.ifindex,
        generation,
        flags: REAL_F_ASSIGNED | if r.active { REAL_F_ACTIVE } else { 0 },
        method: r.method,
        family,
        tunnel_port: r.tunnel_port.to_be_bytes(),
        service,
    }
}
