//! lvs-ctl: the controller of the lvs XDP director.
//!
//! Pure cores (Maglev, config, [`compile`], rendering) are plain functions over plain data;
//! only [`dataplane`] (its owner [`dataplane::Director`], with the raw syscalls under it)
//! touches the kernel; [`daemon`] is the event loop that wires them.
pub mod api;
pub mod cli;
pub mod compile;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod health;
pub mod logging;
pub mod maglev;
pub mod metrics;
pub mod neighbour;
pub mod render;
