//! `lvs_decap` on a real server in tunnel mode: loading, attaching (pinned, like the
//! director) and its two small maps (the host's tunnel addresses and GUE ports).

use crate::dataplane::{Error, Result, attach_pinned, io_err, map_err};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray},
    programs::{Xdp, XdpMode},
};
use lvs_common::{MAP_DECAP_ADDRS, MAP_DECAP_COUNTERS, MAP_DECAP_PORTS, Reason, VipKey};
use std::{fs, net::IpAddr, path::Path};

/// The decapsulator, built by `build.rs` from `lvs-ebpf/src/decap.rs`.
pub static DECAP_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lvs-decap"));

/// Default pin directory of the decapsulator.
pub const DEFAULT_DECAP_PIN_DIR: &str = "/sys/fs/bpf/lvs-decap";

pub struct Decap {
    ebpf: Ebpf,
    addrs: HashMap<MapData, VipKey, u32>,
    ports: HashMap<MapData, [u8; 2], u32>,
    counters: PerCpuArray<MapData, u64>,
}

impl Decap {
    /// Loads `lvs_decap`, its maps pinned under `pin_dir` (adopted when present).
    pub fn load(pin_dir: &Path) -> Result<Self> {
        crate::sys::ensure_bpffs(pin_dir)
            .map_err(io_err(format!("preparing {}", pin_dir.display())))?;
        fs::create_dir_all(pin_dir).map_err(io_err(format!("creating {}", pin_dir.display())))?;
        let paths: Vec<(&str, std::path::PathBuf)> =
            [MAP_DECAP_ADDRS, MAP_DECAP_PORTS, MAP_DECAP_COUNTERS]
                .iter()
                .map(|m| (*m, pin_dir.join(m)))
                .collect();
        let mut loader = EbpfLoader::new();
        for (name, path) in &paths {
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader.load(DECAP_OBJECT)?;
        let program: &mut Xdp = ebpf
            .program_mut("lvs_decap")
            .ok_or(Error::MissingMap("lvs_decap"))?
            .try_into()
            .map_err(|source| Error::Program {
                what: "lvs_decap is not an XDP program".into(),
                source,
            })?;
        program.load().map_err(|source| Error::Program {
            what: "verifying lvs_decap".into(),
            source,
        })?;
        let mut take = |name: &'static str| ebpf.take_map(name).ok_or(Error::MissingMap(name));
        let addrs = HashMap::try_from(take(MAP_DECAP_ADDRS)?)
            .map_err(map_err("opening the decap addresses"))?;
        let ports = HashMap::try_from(take(MAP_DECAP_PORTS)?)
            .map_err(map_err("opening the decap ports"))?;
        let counters = PerCpuArray::try_from(take(MAP_DECAP_COUNTERS)?)
            .map_err(map_err("opening the decap counters"))?;
        Ok(Decap {
            ebpf,
            addrs,
            ports,
            counters,
        })
    }

    pub fn program(&self) -> &Xdp {
        self.ebpf
            .program("lvs_decap")
            .and_then(|p| <&Xdp>::try_from(p).ok())
            .expect("checked at load")
    }

    /// Attaches to `iface` through a link pinned under `pin_dir` (see `Dataplane::attach_pinned`).
    pub fn attach_pinned(&mut self, pin_dir: &Path, iface: &str, mode: XdpMode) -> Result<()> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut("lvs_decap")
            .and_then(|p| p.try_into().ok())
            .expect("checked at load");
        attach_pinned(program, pin_dir, iface, mode)
    }

    /// The host addresses tunnelled packets are decapsulated for (replaces the set).
    pub fn set_addresses(&mut self, addrs: &[IpAddr]) -> Result<()> {
        let keep: Vec<VipKey> = addrs.iter().map(|a| VipKey::new(*a)).collect();
        let old: Vec<VipKey> = self.addrs.keys().filter_map(|k| k.ok()).collect();
        for k in &keep {
            self.addrs
                .insert(k, 1, 0)
                .map_err(map_err("writing a decap address"))?;
        }
        for k in old.iter().filter(|k| !keep.contains(k)) {
            let _ = self.addrs.remove(k);
        }
        Ok(())
    }

    /// The UDP ports that carry GUE (replaces the set).
    pub fn set_ports(&mut self, ports: &[u16]) -> Result<()> {
        let keep: Vec<[u8; 2]> = ports.iter().map(|p| p.to_be_bytes()).collect();
        let old: Vec<[u8; 2]> = self.ports.keys().filter_map(|k| k.ok()).collect();
        for k in &keep {
            self.ports
                .insert(k, 1, 0)
                .map_err(map_err("writing a GUE port"))?;
        }
        for k in old.iter().filter(|k| !keep.contains(k)) {
            let _ = self.ports.remove(k);
        }
        Ok(())
    }

    /// One counter, summed over the CPUs.
    pub fn counter(&self, reason: Reason) -> Result<u64> {
        let values = self
            .counters
            .get(&(reason as u32), 0)
            .map_err(map_err("reading counters"))?;
        Ok(values.iter().sum())
    }

    /// Every counter that moved.
    pub fn counters(&self) -> Result<Vec<(Reason, u64)>> {
        let mut out = Vec::new();
        for &r in Reason::ALL {
            let n = self.counter(r)?;
            if n > 0 {
                out.push((r, n));
            }
        }
        Ok(out)
    }
}

/// The addresses configured on `iface` (IPv4 and IPv6), read with getifaddrs(3).
pub fn interface_addresses(iface: &str) -> std::io::Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: a node of the list getifaddrs returned; its strings and addresses live until
        // freeifaddrs.
        unsafe {
            let ifa = &*cur;
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name).to_string_lossy();
            if name == iface && !ifa.ifa_addr.is_null() {
                match (*ifa.ifa_addr).sa_family as i32 {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: the list from getifaddrs above.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}
