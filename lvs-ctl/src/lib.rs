//! lvs-ctl: the controller of the lvs XDP director.
//!
//! Pure cores (Maglev, config, rendering) are plain functions over plain data; only
//! [`dataplane`] (and the raw syscalls of [`sys`] under it) touches the kernel.
pub mod api;
pub mod cli;
pub mod compile;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod decap;
pub mod health;
pub mod maglev;
pub mod neighbour;
pub mod render;
mod sys;
pub mod tables;
