//! The few BPF syscalls aya does not cover: creating the array of Maglev tables (with the
//! inner-map template aya-ebpf cannot declare), creating memory-mappable tables, and clearing
//! an outer slot. Everything else goes through aya.

use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
};

const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_OBJ_PIN: u32 = 6;
const BPF_OBJ_GET: u32 = 7;
const BPF_MAP_GET_FD_BY_ID: u32 = 14;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;

const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// Inner maps may differ in size from the template (tables of different sizes coexist).
const BPF_F_INNER_MAP: u32 = 1 << 12;
/// Userspace may mmap the array: a whole table is written with stores, not 65537 syscalls.
const BPF_F_MMAPABLE: u32 = 1 << 10;
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Element stride of a BPF array: values are rounded up to 8 bytes. A table's elements are
/// u64s holding two u32 slots each (slot 2k in the low half, 2k + 1 in the high half), so no
/// byte of the stride is wasted.
const ARRAY_STRIDE: usize = 8;

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of `struct bpf_map_info`.
#[repr(C)]
#[derive(Default)]
struct MapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
}

fn bpf<T>(cmd: u32, attr: &mut T) -> io::Result<i64> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` for `cmd`, fully initialised; the
    // kernel reads (and for some commands writes) at most size_of::<T>() bytes of it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut T,
            std::mem::size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn fd_from(ret: i64) -> OwnedFd {
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(ret as i32) }
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            b
        } else {
            b'_'
        };
    }
    out
}

/// Creates an empty memory-mappable array of `entries` u64s (two table slots each), usable as
/// an inner map.
pub fn ring_create(entries: u32) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: entries,
        map_flags: BPF_F_INNER_MAP | BPF_F_MMAPABLE,
        map_name: name16("lvs_ring"),
        ..Default::default()
    };
    bpf(BPF_MAP_CREATE, &mut attr).map(fd_from)
}

/// Creates the array of tables, typed after `template`.
pub fn map_create_outer(
    name: &str,
    max_entries: u32,
    template: BorrowedFd<'_>,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY_OF_MAPS,
        key_size: 4,
        value_size: 4,
        max_entries,
        inner_map_fd: template.as_raw_fd() as u32,
        map_name: name16(name),
        ..Default::default()
    };
    bpf(BPF_MAP_CREATE, &mut attr).map(fd_from)
}

struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; writes go through &mut self
// of the owning RingMap, reads through &self are volatile loads of u32s.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(fd: BorrowedFd<'_>, slots: usize) -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let len = (slots * ARRAY_STRIDE).div_ceil(page) * page;
        // SAFETY: a fresh shared mapping of a BPF array fd; the kernel checks len and prot.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { addr, len })
    }

    fn slot(&self, i: usize) -> *mut u64 {
        assert!(
            (i + 1) * ARRAY_STRIDE <= self.len,
            "slot {i} outside the mapping"
        );
        // SAFETY: in bounds of the mapping (asserted); 8-byte aligned.
        unsafe { (self.addr as *mut u8).add(i * ARRAY_STRIDE) as *mut u64 }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

/// One Maglev table: a memory-mappable BPF array of u32 real indices, written and read
/// through a shared mapping (a whole table is a few hundred microseconds of stores, not tens
/// of thousands of syscalls).
pub struct RingMap {
    fd: OwnedFd,
    /// u64 elements, each two slots.
    entries: u32,
    map: Mapping,
}

impl RingMap {
    /// A new, zeroed table for `slots` slots (not installed anywhere yet).
    pub fn create(slots: u32) -> io::Result<Self> {
        let entries = slots.div_ceil(2);
        let fd = ring_create(entries)?;
        let map = Mapping::new(fd.as_fd(), entries as usize)?;
        Ok(RingMap { fd, entries, map })
    }

    /// The table installed in slot `index` of the array of tables `outer`, if any.
    pub fn open(outer: BorrowedFd<'_>, index: u32) -> io::Result<Option<Self>> {
        let mut id = 0u32;
        let mut attr = ElemAttr {
            map_fd: outer.as_raw_fd() as u32,
            key: &index as *const u32 as u64,
            value: &mut id as *mut u32 as u64,
            ..Default::default()
        };
        match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        }
        #[repr(C)]
        #[derive(Default)]
        struct ById {
            id: u32,
            next_id: u32,
            open_flags: u32,
        }
        let fd = fd_from(bpf(
            BPF_MAP_GET_FD_BY_ID,
            &mut ById {
                id,
                ..Default::default()
            },
        )?);
        let info: MapInfo = obj_info(fd.as_fd())?;
        let map = Mapping::new(fd.as_fd(), info.max_entries as usize)?;
        Ok(Some(RingMap {
            fd,
            entries: info.max_entries,
            map,
        }))
    }

    /// True if a table of `slots` slots has exactly this table's size.
    pub fn fits(&self, slots: u32) -> bool {
        slots.div_ceil(2) == self.entries
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Overwrites the whole table; `self.fits(table.len())` must hold.
    pub fn write(&mut self, table: &[u32]) {
        assert!(self.fits(table.len() as u32), "table size");
        for k in 0..self.entries as usize {
            let lo = table[2 * k] as u64;
            let hi = table.get(2 * k + 1).copied().unwrap_or(0) as u64;
            // SAFETY: k < entries, inside the mapping; aligned.
            unsafe { self.map.slot(k).write_volatile(lo | hi << 32) };
        }
    }

    /// The table's slots (an even number: one more than the table when its size is odd).
    pub fn read(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(2 * self.entries as usize);
        for k in 0..self.entries as usize {
            // SAFETY: k < entries, inside the mapping; aligned.
            let pair = unsafe { self.map.slot(k).read_volatile() };
            out.push(pair as u32);
            out.push((pair >> 32) as u32);
        }
        out
    }
}

/// `map[key] = value` for maps with u32 keys and values (the outer table array takes an fd).
pub fn map_update_u32(map: BorrowedFd<'_>, key: u32, value: u32) -> io::Result<()> {
    let mut attr = ElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// Deletes `map[key]`; a missing key is not an error.
pub fn map_delete_u32(map: BorrowedFd<'_>, key: u32) -> io::Result<()> {
    let mut attr = ElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other.map(drop),
    }
}

/// The head of `struct bpf_link_info` with its XDP part.
#[repr(C)]
#[derive(Default)]
struct LinkInfo {
    link_type: u32,
    id: u32,
    prog_id: u32,
    _pad: u32,
    /// `xdp.ifindex` (0 once the link is detached).
    ifindex: u32,
    _rest: [u32; 7],
}

/// The program id and interface of the XDP link pinned at `path` (ifindex 0: detached).
pub fn xdp_link(path: &Path) -> io::Result<(u32, u32)> {
    let info: LinkInfo = obj_info(obj_get(path)?.as_fd())?;
    Ok((info.prog_id, info.ifindex))
}

/// The id of the BPF map pinned at `path`.
pub fn pinned_map_id(path: &Path) -> io::Result<u32> {
    let fd = obj_get(path)?;
    map_id(fd.as_fd())
}

/// The id of the BPF map `fd`.
pub fn map_id(fd: BorrowedFd<'_>) -> io::Result<u32> {
    obj_info::<MapInfo>(fd).map(|i| i.id)
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `T`, the head of the object's `bpf_*_info` struct.
fn obj_info<T: Default>(fd: BorrowedFd<'_>) -> io::Result<T> {
    let mut info = T::default();
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<T>() as u32,
        info: &mut info as *mut T as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

/// An exclusive `flock` on a directory, held while the returned descriptor lives (closed on
/// exec, so no child inherits it). `Ok(None)`: someone else holds it.
pub fn lock_dir(dir: &Path) -> io::Result<Option<OwnedFd>> {
    let c = cpath(dir)?;
    // SAFETY: a valid C string; the descriptor returned is ours.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = fd_from(fd as i64);
    // SAFETY: flock(2) on a descriptor we own.
    if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    Ok(Some(fd))
}

/// The ifindex and MAC address of interface `name` in this thread's network namespace.
pub fn link_address(name: &str) -> io::Result<(u32, [u8; 6])> {
    let c = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    if c.as_bytes().len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("an interface name has at most {} bytes", libc::IFNAMSIZ - 1),
        ));
    }
    // SAFETY: a valid C string.
    let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a plain socket(2) for the ioctl below; closed by OwnedFd.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = fd_from(sock as i64);
    // SAFETY: ifreq is plain data; zeroed is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(c.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills ifr_hwaddr of the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl above wrote the hardware address into the union.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (m, d) in mac.iter_mut().zip(data) {
        *m = d as u8;
    }
    Ok((ifindex, mac))
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Pins `fd` at `path` (on a bpffs).
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let c = cpath(path)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// Opens the object pinned at `path`.
pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        ..Default::default()
    };
    bpf(BPF_OBJ_GET, &mut attr).map(fd_from)
}

fn is_bpffs(path: &Path) -> io::Result<bool> {
    let c = cpath(path)?;
    // SAFETY: statfs writes into the zeroed struct we pass.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

/// Makes sure `pin_dir` can hold pins: its nearest existing ancestor must be on a bpffs. When
/// that ancestor is `/sys/fs/bpf` and nothing is mounted there yet, mounts one (as systemd
/// does at boot on most distributions).
pub fn ensure_bpffs(pin_dir: &Path) -> io::Result<()> {
    let mut existing = pin_dir;
    while !existing.exists() {
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    if is_bpffs(existing)? {
        return Ok(());
    }
    let sys_bpf = Path::new("/sys/fs/bpf");
    if existing == sys_bpf {
        let src = CString::new("bpf").expect("no NUL");
        let target = cpath(sys_bpf)?;
        // SAFETY: valid C strings; mount(2) validates the rest.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                src.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{} is not on a bpf filesystem (mount one: mount -t bpf bpf {})",
        pin_dir.display(),
        existing.display()
    )))
}
