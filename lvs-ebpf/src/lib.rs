//! Empty library target: lets lvs-ctl name this crate as a build dependency, so cargo rebuilds
//! the controller (which embeds the programs) when these sources change.
#![no_std]
