//! lvs-ctl: the controller of the lvs XDP director.
//!
//! Pure cores (Maglev, config, rendering) are plain functions over plain data; only
//! [`dataplane`] touches the kernel.
pub mod health;
pub mod maglev;
