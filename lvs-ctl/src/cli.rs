//! The operator's command line.

use crate::dataplane::{Dataplane, LoadOptions, unpin_all};
use anyhow::{Context, Result, bail};
use aya::programs::XdpMode;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default directory of the pinned programs, links and maps.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/lvs";

#[derive(Parser, Debug)]
#[command(
    name = "lvs-ctl",
    version,
    about = "Control the lvs XDP layer-4 director",
    long_about = "lvs forwards packets for virtual services (VIP:port, TCP or UDP, IPv4 or IPv6) to \
real servers at XDP speed: Maglev consistent hashing with a connection table, direct routing.\n\n\
Programs, links and maps are pinned under --pin-dir, so the director keeps forwarding when \
lvs-ctl exits and the next run adopts what is there.",
    after_help = "Examples:\n  lvs-ctl load --iface eth0          attach the director to eth0 (maps kept if pinned)\n  \
lvs-ctl counters                     per-reason packet counters\n  lvs-ctl unload                       detach and remove everything"
)]
pub struct Cli {
    /// Directory on a bpffs holding the pinned links and maps.
    #[arg(long, global = true, default_value = DEFAULT_PIN_DIR, env = "LVS_PIN_DIR")]
    pub pin_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load lvs_director and attach it to interfaces (pinned: it stays after lvs-ctl exits).
    ///
    /// Maps already pinned under --pin-dir are adopted, not emptied; an interface that already
    /// has a pinned lvs link gets the new program atomically (an upgrade without a gap).
    Load {
        /// Interface to attach to; repeat for several.
        #[arg(long = "iface", short = 'i', required = true)]
        ifaces: Vec<String>,
        /// XDP attach mode: native (driver) is fast, skb works everywhere.
        #[arg(long, value_enum, default_value_t = Mode::Auto)]
        mode: Mode,
        /// Connection-table entries (only when the table is created, not when adopted).
        #[arg(long, default_value_t = lvs_common::DEFAULT_CONNS)]
        conn_table_size: u32,
    },
    /// Detach lvs_director from every interface and remove its pinned maps.
    Unload,
    /// Packet counters of the director, by verdict and reason.
    Counters,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Mode {
    /// Native if the driver supports it, else generic (skb).
    Auto,
    Native,
    Skb,
}

impl Mode {
    fn xdp(self) -> XdpMode {
        match self {
            Mode::Auto => XdpMode::Default,
            Mode::Native => XdpMode::Driver,
            Mode::Skb => XdpMode::Skb,
        }
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Load {
            ifaces,
            mode,
            conn_table_size,
        } => {
            let mut opts = LoadOptions::new(&cli.pin_dir);
            opts.conn_table_size = conn_table_size;
            let mut dp = Dataplane::load(&opts).context("loading lvs_director")?;
            for iface in &ifaces {
                dp.attach_pinned(iface, mode.xdp())
                    .with_context(|| format!("attaching to {iface}"))?;
                println!(
                    "lvs_director attached to {iface} (pinned under {})",
                    cli.pin_dir.display()
                );
            }
            Ok(())
        }
        Command::Unload => {
            if !cli.pin_dir.exists() {
                bail!(
                    "nothing to unload: {} does not exist",
                    cli.pin_dir.display()
                );
            }
            let links = Dataplane::pinned_links(&cli.pin_dir);
            unpin_all(&cli.pin_dir)
                .with_context(|| format!("removing {}", cli.pin_dir.display()))?;
            println!(
                "detached from {} interface(s) {:?}; removed {}",
                links.len(),
                links,
                cli.pin_dir.display()
            );
            Ok(())
        }
        Command::Counters => {
            let dp = Dataplane::load(&LoadOptions::new(&cli.pin_dir))
                .context("opening the pinned maps")?;
            for (reason, n) in dp.counters()? {
                println!("{:<22} {n:>16}", reason.as_str());
            }
            Ok(())
        }
    }
}
