//! The pin directory: one controller's lock on it, loading a program over the maps pinned in
//! it, links pinned in it (so forwarding outlives the process), and removing it all.

use super::{Error, Result, io_err, map_err, sys};
use aya::{
    Ebpf, EbpfLoader,
    programs::{
        Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        xdp::XdpLink,
    },
};
use std::{
    fs,
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};

/// One controller per pin directory: an exclusive lock on the directory, taken before anything
/// is written under it and held while the controller lives (a daemon, `lvs-ctl load`).
pub struct PinLock {
    fd: OwnedFd,
    created: bool,
}

impl PinLock {
    /// Takes the lock on `pin_dir` (made if missing, on a bpffs); [`Error::Locked`] at once
    /// when another controller holds it.
    pub fn acquire(pin_dir: &Path) -> Result<Self> {
        sys::ensure_bpffs(pin_dir).map_err(io_err(format!("preparing {}", pin_dir.display())))?;
        let created = !pin_dir.exists();
        fs::create_dir_all(pin_dir).map_err(io_err(format!("creating {}", pin_dir.display())))?;
        match sys::lock_dir(pin_dir) {
            Ok(Some(fd)) => Ok(PinLock { fd, created }),
            Ok(None) => Err(Error::Locked(pin_dir.to_owned())),
            Err(e) => Err(Error::Io {
                what: format!("locking {}", pin_dir.display()),
                source: e,
            }),
        }
    }

    /// Whether `pin_dir` is still the directory this lock holds (not removed, or removed and
    /// made again by someone: then nobody holds the new one).
    pub fn holds(&self, pin_dir: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(now) = fs::metadata(pin_dir) else {
            return false;
        };
        let Ok(ours) = self.fd.try_clone().map(fs::File::from) else {
            return false;
        };
        ours.metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == (now.dev(), now.ino()))
    }

    /// Whether the directory was made by [`PinLock::acquire`] (nothing was there before).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether a controller holds the lock on `pin_dir` now (false when it does not exist).
    pub fn held(pin_dir: &Path) -> Result<bool> {
        if !pin_dir.exists() {
            return Ok(false);
        }
        sys::lock_dir(pin_dir)
            .map(|fd| fd.is_none())
            .map_err(io_err(format!("testing the lock on {}", pin_dir.display())))
    }
}

/// Interfaces with a pinned director link.
pub fn pinned_links(pin_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(pin_dir.join("links")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

/// Removes every pin under `pin_dir` and the directory: the maps and tables go with the last
/// program that uses them.
pub fn unpin_all(pin_dir: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(pin_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Makes sure `pin_dir` exists on a bpffs.
pub(super) fn prepare_pin_dir(pin_dir: &Path) -> Result<()> {
    sys::ensure_bpffs(pin_dir).map_err(io_err(format!("preparing {}", pin_dir.display())))?;
    fs::create_dir_all(pin_dir).map_err(io_err(format!("creating {}", pin_dir.display())))
}

/// Loads `object` with each map of `maps` pinned under `pin_dir` (a pin that exists is
/// adopted, with its contents), sizes from `max_entries` for maps it creates, and verifies its
/// XDP program `program`.
pub(super) fn load_pinned(
    object: &[u8],
    program: &'static str,
    pin_dir: &Path,
    maps: &[&'static str],
    max_entries: &[(&'static str, u32)],
) -> Result<Ebpf> {
    prepare_pin_dir(pin_dir)?;
    let paths: Vec<(&str, PathBuf)> = maps.iter().map(|m| (*m, pin_dir.join(m))).collect();
    let mut loader = EbpfLoader::new();
    for (name, path) in &paths {
        loader.map_pin_path(name, path.as_path());
    }
    for (name, n) in max_entries {
        loader.map_max_entries(name, *n);
    }
    let mut ebpf = loader.load(object)?;
    let xdp: &mut Xdp = ebpf
        .program_mut(program)
        .ok_or(Error::MissingMap(program))?
        .try_into()
        .map_err(|source| Error::Program {
            what: format!("{program} is not an XDP program"),
            source,
        })?;
    xdp.load().map_err(|source| Error::Program {
        what: format!("verifying {program}"),
        source,
    })?;
    Ok(ebpf)
}

/// Takes map `name` out of `ebpf`, typed.
pub(super) fn take<M>(ebpf: &mut Ebpf, name: &'static str) -> Result<M>
where
    M: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.take_map(name).ok_or(Error::MissingMap(name))?;
    M::try_from(map).map_err(map_err(format!("opening map {name}")))
}

/// Attaches `program` to `iface` through a link pinned at `<pin_dir>/links/<iface>`; an
/// existing pin has its program replaced atomically (see [`Maps::attach_pinned`]).
pub(super) fn attach_pinned(
    program: &mut Xdp,
    pin_dir: &Path,
    iface: &str,
    mode: XdpMode,
) -> Result<()> {
    let dir = pin_dir.join("links");
    fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let path = dir.join(iface);
    let id = match PinnedLink::from_pin(&path) {
        Ok(pinned) => {
            let link = pinned
                .unpin()
                .map_err(io_err(format!("taking over {}", path.display())))?;
            let link = XdpLink::try_from(link).map_err(|e| Error::Io {
                what: format!("{} is not an XDP link", path.display()),
                source: std::io::Error::other(e.to_string()),
            })?;
            program
                .attach_to_link(link)
                .map_err(|source| Error::Program {
                    what: format!("replacing the program on {iface}"),
                    source,
                })?
        }
        Err(_) => program
            .attach(iface, mode)
            .map_err(|source| Error::Program {
                what: format!("attaching to {iface}"),
                source,
            })?,
    };
    let link = program.take_link(id).map_err(|source| Error::Program {
        what: format!("taking the link of {iface}"),
        source,
    })?;
    let link = FdLink::try_from(link).map_err(|e| Error::Io {
        what: format!("pinning the link of {iface} (the kernel has no XDP bpf_link?)"),
        source: std::io::Error::other(e.to_string()),
    })?;
    link.pin(&path).map_err(|e| Error::Io {
        what: format!("pinning {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(())
}
