//! What can go wrong in the kernel, with what was being done.

use lvs_common::MAX_RING_SIZE;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("loading the XDP programs: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("{what}: {source}")]
    Program {
        what: String,
        source: aya::programs::ProgramError,
    },
    #[error("{what}: {source}")]
    Map {
        what: String,
        source: aya::maps::MapError,
    },
    #[error("nothing is loaded under {}: no director runs here (lvs-ctl daemon or lvs-ctl load starts one)", .0.display())]
    NotLoaded(PathBuf),
    #[error("map {0} is missing from the program object")]
    MissingMap(&'static str),
    #[error(
        "{} is in use by another lvs-ctl (a daemon, or `lvs-ctl load`): one controller per pin \
         directory; stop the other one first",
        .0.display()
    )]
    Locked(PathBuf),
    #[error("Maglev table of {0} slots is out of range 1..={MAX_RING_SIZE}")]
    RingSize(usize),
    #[error(
        "interface {iface} (ifindex {ifindex}) cannot be attached beside ifindex {other}: both \
         fall in slot {slot} of the director's interface table (ifindex modulo {})",
        lvs_common::IFACE_SLOTS
    )]
    IfaceSlot {
        iface: String,
        ifindex: u32,
        other: u32,
        slot: u32,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn map_err(what: impl Into<String>) -> impl FnOnce(aya::maps::MapError) -> Error {
    let what = what.into();
    move |source| Error::Map { what, source }
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
