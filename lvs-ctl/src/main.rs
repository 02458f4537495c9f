fn main() {
    lvs_ctl::cli::main();
}
