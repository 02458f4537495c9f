//! The operator's command line: the daemon, its client commands, and the offline tools.

use crate::config::XdpMode;
use crate::{
    api::ServiceRef,
    config::{self, Method},
};
use clap::{Parser, Subcommand, ValueEnum};
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

/// Default directory of the pinned programs, links and maps.
pub use crate::config::DEFAULT_PIN_PATH as DEFAULT_PIN_DIR;

mod generate;
mod offline;
mod run;

pub use run::{main, run};

const AFTER_HELP: &str = "\
Examples:
  lvs-ctl check /etc/lvs/lvs.yaml               validate a configuration (no daemon needed)
  lvs-ctl daemon --config /etc/lvs/lvs.yaml     run the controller (attaches, pins, reconciles)
  lvs-ctl list                                  the running services, as ipvsadm -Ln
  lvs-ctl list --stats                          with counters (--rate: per second, --exact: no K/M)
  lvs-ctl list -o json                          for scripts
  lvs-ctl service add 198.18.100.1:80/tcp
  lvs-ctl real add 198.18.100.1:80/tcp 198.18.1.2 --weight 2
  lvs-ctl real edit 198.18.100.1:80/tcp 198.18.1.2 --drain     weight 0: keep flows, take no new ones
  lvs-ctl real drain 198.18.100.1:80/tcp 198.18.1.2            the same (real undrain: back)
  lvs-ctl real del 198.18.100.1:80/tcp 198.18.1.2              its flows move to the other reals
  lvs-ctl explain 198.18.0.1:40000 198.18.100.1:80/tcp         which real a flow goes to, and why
  lvs-ctl save > /etc/lvs/lvs.yaml              the running configuration as YAML
  lvs-ctl reload                                re-read the file (also: SIGHUP, or just edit it)
  lvs-ctl import ldirectord /etc/ha.d/ldirectord.cf -o lvs.yaml
  lvs-ctl unload                                detach and remove everything

Run-time changes and reloads: `service`/`real` changes apply at once and atomically, and are
kept until the next reload. A reload (SIGHUP, `lvs-ctl reload`, or the file changing) makes the
running state equal to the file, as ipvsadm-restore does: run-time changes and drains not in
the file are dropped (`lvs-ctl save` first to keep them). Services the reload does not change keep
their tables and connections. A file that does not validate is rejected and nothing changes.

The daemon's socket (--socket, default /run/lvs/lvs.sock) is root-only.";

#[derive(Parser, Debug)]
#[command(
    name = "lvs-ctl",
    version,
    about = "Control the lvs XDP layer-4 director",
    long_about = "lvs forwards packets for virtual services (VIP:port, TCP or UDP, IPv4 or IPv6) to \
real servers at XDP speed: Maglev consistent hashing with a connection table, direct routing.\n\n\
`lvs-ctl daemon` keeps the director equal to the configuration file, the changes made with \
this command, and the health of the reals. Programs, links and maps are pinned, so the \
director keeps forwarding when the daemon stops or restarts; the next daemon adopts them.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Directory on a bpffs holding the pinned links and maps (load, unload, counters).
    #[arg(long, global = true, default_value = DEFAULT_PIN_DIR, env = "LVS_PIN_DIR")]
    pub pin_dir: PathBuf,
    /// The daemon's control socket.
    #[arg(long, global = true, default_value = config::DEFAULT_SOCKET, env = "LVS_SOCKET")]
    pub socket: PathBuf,
    /// How much to log: error, warn, info, debug or trace (over RUST_LOG and the daemon's
    /// global.log_level).
    #[arg(long, global = true, value_enum)]
    pub log_level: Option<config::LogLevel>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller: load and attach the director, write the configured services, and
    /// keep them equal to the configuration + run-time changes + health.
    ///
    /// Pins under global.pin_path and listens on global.socket (the --socket and --pin-dir
    /// options are not used: the file says). Stops on SIGTERM/SIGINT leaving the director
    /// forwarding; reloads on SIGHUP.
    #[command(after_help = "Example:\n  lvs-ctl daemon --config /etc/lvs/lvs.yaml")]
    Daemon {
        /// The configuration file (see lvs.reference.yaml).
        #[arg(long, short = 'c', default_value = "/etc/lvs/lvs.yaml")]
        config: PathBuf,
    },
    /// Validate a configuration file and print every fault, each as `file:line: path: what is
    /// wrong` (no daemon needed).
    ///
    /// Interfaces that do not exist on this host are warnings (exit status 0), or faults with
    /// --strict.
    #[command(after_help = "Examples:\n  lvs-ctl check /etc/lvs/lvs.yaml\n  \
lvs-ctl check --strict /etc/lvs/lvs.yaml      on the director itself: its interfaces must exist")]
    Check {
        /// The file.
        file: PathBuf,
        /// Interfaces absent on this host are faults, not warnings.
        #[arg(long)]
        strict: bool,
    },
    /// Convert another balancer's configuration.
    #[command(subcommand)]
    Import(Import),
    /// Add, change or remove a virtual service (through the daemon).
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Add, change, drain or remove a real server of a service (through the daemon).
    #[command(subcommand)]
    Real(RealCmd),
    /// The running services and reals, in the layout of `ipvsadm -Ln`.
    ///
    /// Without options: forwarding method, weight in the table now, and state (up, down,
    /// unknown; drain, maint, inactive, fallback, no-neigh). `--connections` lists the
    /// connection table instead, like `ipvsadm -Lnc`.
    #[command(
        after_help = "Examples:\n  lvs-ctl list\n  lvs-ctl list 198.18.100.1:80/tcp --stats --exact\n  lvs-ctl list --rate --sort\n  lvs-ctl list -c 198.18.100.1:80 --real 198.18.1.2\n  lvs-ctl list -o json"
    )]
    List {
        /// Only this service: VIP:PORT[/tcp|udp] (`[2001:db8::1]:53/udp`; tcp if left out).
        service: Option<ServiceRef>,
        /// Services in address order (VIP, port, protocol) and reals in address order, rather
        /// than in the order of the configuration.
        #[arg(long)]
        sort: bool,
        /// The connection table: protocol, client, virtual address, real. Entries carry no
        /// timer or TCP state (they leave the table by LRU, not by timeout).
        #[arg(short = 'c', long, conflicts_with_all = ["stats", "rate"])]
        connections: bool,
        /// With --connections: only flows pinned to this real.
        #[arg(long, requires = "connections")]
        real: Option<IpAddr>,
        /// With --connections: list at most this many entries (0: all; a walk of a large
        /// table costs two system calls an entry).
        #[arg(long, default_value_t = 1000, requires = "connections")]
        max: u32,
        /// Counters: connections, packets, bytes.
        #[arg(long)]
        stats: bool,
        /// Rates per second over the last 2 s.
        #[arg(long, conflicts_with = "stats")]
        rate: bool,
        /// Exact numbers (no K/M/G).
        #[arg(long)]
        exact: bool,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Accepted for ipvsadm habits: addresses are always numeric.
        #[arg(short = 'n', long, hide = true)]
        numeric: bool,
    },
    /// Print the running configuration (file + run-time changes) as YAML.
    Save {
        /// Write to this file instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Re-read the configuration file and apply the difference (rejected whole if invalid).
    Reload,
    /// Which real a flow goes to and why: connection-table hit, or Maglev slot N of M.
    #[command(
        after_help = "Examples:\n  lvs-ctl explain 198.18.0.1:40000 198.18.100.1:80/tcp\n  \
lvs-ctl explain '[2001:db8::1]:5353' '->' '[2001:db8:100::1]:53/udp'"
    )]
    Explain {
        /// The client: SRC:PORT.
        src: SocketAddr,
        /// VIP:PORT[/tcp|/udp] (an optional `->` before it is ignored).
        #[arg(num_args = 1..=2, allow_hyphen_values = true)]
        dst: Vec<String>,
    },
    /// Load lvs_director and attach it to interfaces without a daemon (pinned: it stays).
    ///
    /// Maps already pinned under --pin-dir are adopted, not emptied; an interface that already
    /// has a pinned lvs link gets the new program atomically (an upgrade without a gap).
    Load {
        /// Interface to attach to; repeat for several.
        #[arg(long = "iface", short = 'i', required = true)]
        ifaces: Vec<String>,
        /// XDP attach mode: native (driver) is fast, skb works everywhere.
        #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
        mode: XdpMode,
        /// Connection-table entries (only when the table is created, not when adopted).
        #[arg(long, default_value_t = lvs_common::DEFAULT_CONNS)]
        conn_table_size: u32,
    },
    /// Detach lvs_director from every interface and remove its pinned maps and tables.
    ///
    /// Refused while a controller (`lvs-ctl daemon`, `lvs-ctl load`) holds the pin directory:
    /// stop the daemon first (it leaves forwarding on when it stops), then unload.
    #[command(after_help = "Example:\n  systemctl stop lvs && lvs-ctl unload")]
    Unload {
        /// Remove everything even though a daemon holds the pin directory. A running daemon
        /// notices within 5 s, logs it and puts its program and maps back: use this only to
        /// clear the pins of a daemon that is stuck, and stop it right after.
        #[arg(long)]
        force: bool,
    },
    /// Packet counters of the director, by verdict and reason.
    Counters,
    /// On a real server in tunnel mode: strip IPIP and GUE headers addressed to this host
    /// (the lvs_decap XDP program) and hand the inner packets to the kernel.
    #[command(subcommand)]
    Decap(DecapCmd),
    /// Write the man pages or a shell's completions (for packaging; hidden).
    #[command(subcommand, hide = true)]
    Generate(Generate),
}

#[derive(Subcommand, Debug)]
pub enum Generate {
    /// Write one man page (section 8) per command into DIR, and print their paths.
    Man { dir: PathBuf },
    /// Print SHELL's completion script for lvs-ctl.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand, Debug)]
pub enum DecapCmd {
    /// Load lvs_decap and attach it to an interface (pinned under --decap-pin-dir).
    #[command(after_help = "Example (on the real server; the VIP is on lo):\n  \
lvs-ctl decap load --iface eth0                  decapsulate for eth0's addresses, GUE on 6080\n  \
lvs-ctl decap load --iface eth0 --address 198.18.20.2 --gue-port 6080 --gue-port 7000")]
    Load {
        #[arg(long = "iface", short = 'i')]
        iface: String,
        /// Outer destination addresses to decapsulate for; repeat. Default: the interface's.
        #[arg(long = "address")]
        addresses: Vec<std::net::IpAddr>,
        /// UDP ports that carry GUE; repeat.
        #[arg(long = "gue-port", default_values_t = [lvs_common::DEFAULT_GUE_PORT])]
        gue_ports: Vec<u16>,
        #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
        mode: XdpMode,
        /// Where lvs_decap's links and maps are pinned.
        #[arg(long, default_value = crate::dataplane::DEFAULT_DECAP_PIN_DIR)]
        decap_pin_dir: PathBuf,
    },
    /// Detach lvs_decap and remove its pins.
    Unload {
        #[arg(long, default_value = crate::dataplane::DEFAULT_DECAP_PIN_DIR)]
        decap_pin_dir: PathBuf,
    },
    /// lvs_decap's counters (decapsulated, passed).
    Counters {
        #[arg(long, default_value = crate::dataplane::DEFAULT_DECAP_PIN_DIR)]
        decap_pin_dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum Import {
    /// Convert an ldirectord.cf into lvs YAML; whatever is changed, defaulted or skipped is
    /// reported on stderr with its line number.
    ///
    /// ldirectord's defaults apply where the file sets nothing (man ldirectord: quiescent yes,
    /// scheduler wrr, ...). A stderr summary says how many services and reals were converted and
    /// what was skipped. The exit status is 1, and no YAML is written, when anything was
    /// skipped (a virtual= or real= with a host name or an invalid address, a real of the other
    /// family, a fallback lvs cannot forward to, a real's connection thresholds `l:N`/`u:N`,
    /// a fwmark service) or a service is left with no real, unless --allow-partial. What
    /// ldirectord or ipvs would refuse (an unknown scheduler, a real= without gate/masq/ipip)
    /// is an error.
    #[command(after_help = "\
Examples:
  lvs-ctl import ldirectord /etc/ha.d/ldirectord.cf -o /etc/lvs/lvs.yaml
  lvs-ctl import ldirectord ldirectord.cf --allow-partial > lvs.yaml

Exit status: 0 when everything was converted (changes and defaults are only reported);
1 when something was skipped or a service has no real (0 with --allow-partial), or on error.")]
    Ldirectord {
        /// The ldirectord configuration.
        file: PathBuf,
        /// Write the YAML here instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Write the YAML (and exit 0) even when something was skipped or a service has no real.
        #[arg(long)]
        allow_partial: bool,
        /// Outer IPv4 source of the packets tunnelled to `ipip` reals. Default: as IPVS, the
        /// address of the interface the route to the first ipip real leaves by (this machine's
        /// routes: run the import on the director, or give this).
        #[arg(long)]
        tunnel_source_v4: Option<std::net::Ipv4Addr>,
        /// Outer IPv6 source of the packets tunnelled to `ipip` reals; defaults as the IPv4 one.
        #[arg(long)]
        tunnel_source_v6: Option<std::net::Ipv6Addr>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Add a service (reals are added with `real add`).
    #[command(after_help = "Example:\n  lvs-ctl service add 198.18.100.1:53/udp --persistent")]
    Add {
        /// VIP:PORT[/tcp|/udp]; port 0 balances every port of the VIP.
        service: ServiceRef,
        /// Hash on the client address only (a client sticks to one real).
        #[arg(long)]
        persistent: bool,
        /// Failed reals leave the table (their flows move) instead of getting weight 0.
        #[arg(long)]
        no_quiescent: bool,
        /// A name for logs and `list`.
        #[arg(long)]
        name: Option<String>,
        /// Real used when every real is down.
        #[arg(long)]
        fallback: Option<IpAddr>,
    },
    /// Change a service's settings.
    Edit {
        /// VIP:PORT[/tcp|/udp].
        service: ServiceRef,
        /// Hash on the client address only.
        #[arg(long)]
        persistent: Option<bool>,
        /// Failed reals get weight 0 (true) or leave the table (false).
        #[arg(long)]
        quiescent: Option<bool>,
        /// A name for logs and `list`.
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a service.
    Del {
        /// VIP:PORT[/tcp|/udp].
        service: ServiceRef,
    },
}

#[derive(Subcommand, Debug)]
pub enum RealCmd {
    /// Add a real server to a service: new flows start going to it, established ones stay.
    Add {
        /// VIP:PORT[/tcp|/udp].
        service: ServiceRef,
        /// The real's address.
        address: IpAddr,
        /// Share of new flows, 0..=65535.
        #[arg(long, short = 'w', default_value_t = 1)]
        weight: u32,
        /// Forwarding method.
        #[arg(long, short = 'm', value_enum, default_value_t = MethodArg::Dr)]
        method: MethodArg,
    },
    /// Change a real: weight, method, or drain (weight 0: keeps its flows, takes no new ones).
    Edit {
        /// VIP:PORT[/tcp|/udp].
        service: ServiceRef,
        /// The real's address.
        address: IpAddr,
        /// Share of new flows, 0..=65535.
        #[arg(long, short = 'w')]
        weight: Option<u32>,
        /// Forwarding method.
        #[arg(long, short = 'm', value_enum)]
        method: Option<MethodArg>,
        /// Weight 0 whatever is configured, until --undrain or the next reload.
        #[arg(long, conflicts_with = "undrain")]
        drain: bool,
        /// Back to the configured weight.
        #[arg(long)]
        undrain: bool,
    },
    /// Drain a real (as `edit --drain`): weight 0, it keeps its flows and takes no new ones,
    /// until `undrain` or the next reload.
    Drain {
        /// VIP:PORT[/tcp|/udp].
        service: ServiceRef,
        /// The real's address.
        address: IpAddr,
    },
    /// Undrain a real (as `edit --undrain`): back to its configured weight.
    Undrain {
        /// VIP:PORT[/tcp|/udp].
        service: ServiceRef,
        /// The real's address.
        address: IpAddr,
    },
    /// Remove a real: its flows are rescheduled onto the others.
    Del {
        /// VIP:PORT[/tcp|/udp].
        service: ServiceRef,
        /// The real's address.
        address: IpAddr,
    },
}

/// Output format of `list`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// ipvsadm-style table.
    Table,
    /// JSON.
    Json,
}

/// Forwarding method on the command line.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum MethodArg {
    /// Direct routing.
    Dr,
    /// IP-in-IP.
    Ipip,
    /// Generic UDP encapsulation.
    Gue,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Dr => Method::Dr,
            MethodArg::Ipip => Method::Ipip,
            MethodArg::Gue => Method::Gue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::run::parse_dst;
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn explain_takes_an_optional_arrow() {
        let c = Cli::try_parse_from([
            "lvs-ctl",
            "explain",
            "198.18.0.1:4000",
            "->",
            "198.18.100.1:53/udp",
        ])
        .unwrap();
        let Command::Explain { dst, .. } = c.command else {
            panic!()
        };
        assert_eq!(parse_dst(&dst).unwrap().to_string(), "198.18.100.1:53/udp");
        let c = Cli::try_parse_from([
            "lvs-ctl",
            "real",
            "edit",
            "198.18.100.1:80",
            "198.18.1.2",
            "--drain",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Command::Real(RealCmd::Edit { drain: true, .. })
        ));
    }
}
