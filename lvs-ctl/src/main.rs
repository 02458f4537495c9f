use clap::Parser;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = lvs_ctl::cli::Cli::parse();
    if let Err(e) = lvs_ctl::cli::run(cli) {
        eprintln!("lvs-ctl: {e:#}");
        std::process::exit(1);
    }
}
