//! `lvs-ctl` built inside the test crate, so integration tests can run it as a process
//! (`CARGO_BIN_EXE_lvs-ctl-dev`): the daemon in the director's namespace, the CLI against it.

fn main() {
    lvs_ctl::cli::main();
}
