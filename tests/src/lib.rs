//! Test helpers: network-namespace labs and packet fixtures.
