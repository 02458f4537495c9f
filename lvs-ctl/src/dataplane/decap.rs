//! `lvs_decap` on a real server in tunnel mode: loading, attaching (pinned, like the
//! director) and its two small maps (the host's tunnel addresses and GUE ports).

use super::{
    Result, map_err,
    maps::{sum_counter, sum_counters},
    pins::{attach_pinned, load_pinned, take},
};
use aya::{
    Ebpf,
    maps::{HashMap, MapData, PerCpuArray},
    programs::{Xdp, XdpMode},
};
use lvs_common::{MAP_DECAP_ADDRS, MAP_DECAP_COUNTERS, MAP_DECAP_PORTS, Reason, VipKey};
use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

/// The decapsulator, built by `build.rs` from `lvs-ebpf/src/decap.rs`.
pub static DECAP_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lvs-decap"));

/// Default pin directory of the decapsulator.
pub const DEFAULT_DECAP_PIN_DIR: &str = "/sys/fs/bpf/lvs-decap";

/// Everything `lvs_decap` should hold: the one input of [`Decap::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecapWanted {
    /// Interfaces it is attached to (pinned links under its pin directory).
    pub interfaces: Vec<String>,
    /// How to attach where a new link is made.
    pub xdp_mode: XdpMode,
    /// Outer destination addresses tunnelled packets are decapsulated for.
    pub addresses: Vec<IpAddr>,
    /// UDP ports that carry GUE.
    pub ports: Vec<u16>,
}

/// The one owner of `lvs_decap` on a real server: the sibling of [`super::Director`].
pub struct Decap {
    ebpf: Ebpf,
    pin_dir: PathBuf,
    addrs: HashMap<MapData, VipKey, u32>,
    ports: HashMap<MapData, [u8; 2], u32>,
    counters: PerCpuArray<MapData, u64>,
}

impl Decap {
    /// Loads `lvs_decap`, its maps pinned under `pin_dir` (adopted when present).
    pub fn open(pin_dir: &Path) -> Result<Self> {
        let maps = [MAP_DECAP_ADDRS, MAP_DECAP_PORTS, MAP_DECAP_COUNTERS];
        let mut ebpf = load_pinned(DECAP_OBJECT, "lvs_decap", pin_dir, &maps, &[])?;
        Ok(Decap {
            addrs: take(&mut ebpf, MAP_DECAP_ADDRS)?,
            ports: take(&mut ebpf, MAP_DECAP_PORTS)?,
            counters: take(&mut ebpf, MAP_DECAP_COUNTERS)?,
            ebpf,
            pin_dir: pin_dir.to_owned(),
        })
    }

    /// Makes the maps and links hold `want`: the address and port sets replaced, then the
    /// program attached (or its pinned link taken over) on every interface.
    pub fn apply(&mut self, want: &DecapWanted) -> Result<()> {
        self.set_addresses(&want.addresses)?;
        self.set_ports(&want.ports)?;
        for iface in &want.interfaces {
            self.attach_pinned(iface, want.xdp_mode)?;
        }
        Ok(())
    }

    pub fn program(&self) -> &Xdp {
        self.ebpf
            .program("lvs_decap")
            .and_then(|p| <&Xdp>::try_from(p).ok())
            .expect("checked at load")
    }

    /// Attaches to `iface` through a link pinned under the pin directory.
    fn attach_pinned(&mut self, iface: &str, mode: XdpMode) -> Result<()> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut("lvs_decap")
            .and_then(|p| p.try_into().ok())
            .expect("checked at load");
        attach_pinned(program, &self.pin_dir, iface, mode)
    }

    /// The host addresses tunnelled packets are decapsulated for (replaces the set).
    fn set_addresses(&mut self, addrs: &[IpAddr]) -> Result<()> {
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
    fn set_ports(&mut self, ports: &[u16]) -> Result<()> {
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
        sum_counter(&self.counters, reason)
    }

    /// Every counter that moved.
    pub fn counters(&self) -> Result<Vec<(Reason, u64)>> {
        Ok(sum_counters(&self.counters)?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect())
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
