//! Compiles the XDP programs (lvs-ebpf) with the nightly toolchain for the BPF target, so that
//! `cargo build` of the controller always embeds programs built from the same sources.
fn main() -> anyhow::Result<()> {
    let ebpf = aya_build::Package {
        name: "lvs-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../lvs-ebpf"),
        ..Default::default()
    };
    aya_build::build_ebpf([ebpf], aya_build::Toolchain::Nightly)
}
