//! The system benchmark in miniature (one round of 0.2 s per case, one CPU), so CI runs its
//! code: the lab, the live-frames generator, the sinks, lvs_director and nftables. It checks
//! that generated packets reached the real servers through lvs_director and through nftables.

use lvs_tests::require_root;
use std::process::Command;

/// The figure of a `reached CASE 1 core(s): N pps` line.
fn reached(stdout: &str, case: &str) -> f64 {
    let prefix = format!("reached {case} 1 core(s): ");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.trim_end_matches(" pps").parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stdout}"))
}

#[test]
fn generated_packets_reach_the_reals_through_lvs_and_nftables() {
    require_root();
    let out = Command::new(env!("CARGO_BIN_EXE_lvs-bench-system"))
        .arg("--smoke")
        .output()
        .expect("run lvs-bench-system --smoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lvs-bench-system --smoke failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for case in ["generator", "xdp-forward", "lvs_director", "nftables"] {
        let pps = reached(&stdout, case);
        assert!(pps > 1000.0, "{case}: only {pps} pps reached\n{stdout}");
    }
}
