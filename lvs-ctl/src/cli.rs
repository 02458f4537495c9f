//! The operator's command line: the daemon, its client commands, and the offline tools.

use crate::{
    api::{self, Request, Response, ServiceRef},
    config::{self, Method},
    dataplane::{Dataplane, LoadOptions, PinLock, unpin_all},
    render::{self, ListOptions},
};
use anyhow::{Context, Result, anyhow, bail};
use aya::programs::XdpMode;
use clap::{Parser, Subcommand, ValueEnum};
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

/// Default directory of the pinned programs, links and maps.
pub use crate::config::DEFAULT_PIN_PATH as DEFAULT_PIN_DIR;

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
    /// unknown; drain, maint, inactive, fallback, no-neigh).
    #[command(
        after_help = "Examples:\n  lvs-ctl list\n  lvs-ctl list --stats --exact\n  lvs-ctl list --rate\n  lvs-ctl list -o json"
    )]
    List {
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
        #[arg(long, value_enum, default_value_t = Mode::Auto)]
        mode: Mode,
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
        #[arg(long = "gue-port", default_value = "6080")]
        gue_ports: Vec<u16>,
        #[arg(long, value_enum, default_value_t = Mode::Auto)]
        mode: Mode,
        /// Where lvs_decap's links and maps are pinned.
        #[arg(long, default_value = crate::decap::DEFAULT_DECAP_PIN_DIR)]
        decap_pin_dir: PathBuf,
    },
    /// Detach lvs_decap and remove its pins.
    Unload {
        #[arg(long, default_value = crate::decap::DEFAULT_DECAP_PIN_DIR)]
        decap_pin_dir: PathBuf,
    },
    /// lvs_decap's counters (decapsulated, passed).
    Counters {
        #[arg(long, default_value = crate::decap::DEFAULT_DECAP_PIN_DIR)]
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

/// How long a client waits for the daemon.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Parses the command line and runs it; errors are printed as `lvs-ctl: ...` with exit 1.
pub fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("lvs-ctl: {e:#}");
        std::process::exit(1);
    }
}

/// `lvs-ctl check`: every fault and warning on stderr in line order, a summary on stdout when
/// the file is valid; an error (exit status 1) when it is not.
fn check(file: &std::path::Path, strict: bool) -> Result<()> {
    let report = config::check_file(file, strict, &config::interface_exists)?;
    let mut lines: Vec<(&config::Located, bool)> = report
        .faults
        .iter()
        .map(|f| (f, false))
        .chain(report.warnings.iter().map(|w| (w, true)))
        .collect();
    lines.sort_by_key(|(f, _)| (f.line, f.column));
    for (fault, warning) in lines {
        if warning {
            let place = match fault.line {
                0 => file.display().to_string(),
                line => format!("{}:{line}", file.display()),
            };
            eprintln!(
                "{place}: warning: {} (an error with --strict)",
                fault.what()
            );
        } else {
            eprintln!("{}", fault.in_file(file));
        }
    }
    let warnings = match report.warnings.len() {
        0 => String::new(),
        1 => ", 1 warning".to_owned(),
        n => format!(", {n} warnings"),
    };
    match report.config {
        Some(c) => {
            println!(
                "{}: valid, {} service(s){warnings}",
                file.display(),
                c.services.len()
            );
            Ok(())
        }
        None => {
            let n = report.faults.len();
            bail!(
                "{}: not valid: {n} fault{}{warnings}",
                file.display(),
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

/// Sends `req` and turns a refusal into an error.
fn call(cli: &Cli, req: &Request) -> Result<Response> {
    match api::call(&cli.socket, req, CALL_TIMEOUT)? {
        Response::Error { message } => Err(anyhow!("{message}")),
        other => Ok(other),
    }
}

fn done(resp: Response) -> Result<()> {
    match resp {
        Response::Done { message } => {
            println!("{message}");
            Ok(())
        }
        other => bail!("unexpected answer from the daemon: {other:?}"),
    }
}

fn parse_dst(words: &[String]) -> Result<ServiceRef> {
    let words: Vec<&String> = words.iter().filter(|w| w.as_str() != "->").collect();
    let [dst] = words.as_slice() else {
        bail!("explain: expected SRC:PORT [->] VIP:PORT[/tcp|/udp]")
    };
    Ok(dst.parse::<ServiceRef>()?)
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Daemon { config } => {
            crate::daemon::run(config).with_context(|| format!("daemon with {}", config.display()))
        }
        Command::Check { file, strict } => check(file, *strict),
        Command::Import(Import::Ldirectord {
            file,
            output,
            allow_partial,
            tunnel_source_v4,
            tunnel_source_v6,
        }) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let tunnel = (tunnel_source_v4.is_some() || tunnel_source_v6.is_some()).then_some(
                config::Tunnel {
                    source_v4: *tunnel_source_v4,
                    source_v6: *tunnel_source_v6,
                    gue_port: lvs_common::DEFAULT_GUE_PORT,
                    vary_bits_v4: 0,
                    vary_bits_v6: 0,
                    ttl: lvs_common::DEFAULT_TUNNEL_TTL,
                },
            );
            let import = config::Import::ldirectord(&text, tunnel, &config::Import::route_source)
                .with_context(|| format!("importing {}", file.display()))?;
            for w in &import.warnings {
                eprintln!("{}: {w}", file.display());
            }
            eprintln!("{}: {}", file.display(), import.summary());
            if import.is_partial() && !allow_partial {
                bail!(
                    "{}: not everything was carried over (see above); nothing written \
                     (--allow-partial writes it anyway)",
                    file.display()
                );
            }
            let yaml = import.to_yaml();
            match output {
                Some(out) => std::fs::write(out, yaml)
                    .with_context(|| format!("writing {}", out.display()))?,
                None => print!("{yaml}"),
            }
            Ok(())
        }
        Command::Service(cmd) => {
            let req = match cmd {
                ServiceCmd::Add {
                    service,
                    persistent,
                    no_quiescent,
                    name,
                    fallback,
                } => {
                    let mut s = config::Service::new(service.vip, service.port);
                    s.protocol = service.protocol;
                    s.persistent = *persistent;
                    s.quiescent = !no_quiescent;
                    s.name = name.clone();
                    s.fallback = *fallback;
                    Request::ServiceAdd { service: s }
                }
                ServiceCmd::Edit {
                    service,
                    persistent,
                    quiescent,
                    name,
                } => Request::ServiceEdit {
                    target: *service,
                    persistent: *persistent,
                    quiescent: *quiescent,
                    name: name.clone(),
                },
                ServiceCmd::Del { service } => Request::ServiceDel { target: *service },
            };
            done(call(&cli, &req)?)
        }
        Command::Real(cmd) => {
            let req = match cmd {
                RealCmd::Add {
                    service,
                    address,
                    weight,
                    method,
                } => Request::RealAdd {
                    target: *service,
                    real: config::Real {
                        weight: *weight,
                        method: (*method).into(),
                        ..config::Real::new(*address)
                    },
                },
                RealCmd::Edit {
                    service,
                    address,
                    weight,
                    method,
                    drain,
                    undrain,
                } => Request::RealEdit {
                    target: *service,
                    address: *address,
                    weight: *weight,
                    method: method.map(Into::into),
                    drain: if *drain {
                        Some(true)
                    } else if *undrain {
                        Some(false)
                    } else {
                        None
                    },
                },
                RealCmd::Drain { service, address } | RealCmd::Undrain { service, address } => {
                    Request::RealEdit {
                        target: *service,
                        address: *address,
                        weight: None,
                        method: None,
                        drain: Some(matches!(cmd, RealCmd::Drain { .. })),
                    }
                }
                RealCmd::Del { service, address } => Request::RealDel {
                    target: *service,
                    address: *address,
                },
            };
            done(call(&cli, &req)?)
        }
        Command::List {
            stats,
            rate,
            exact,
            output,
            numeric: _,
        } => {
            let Response::List(listing) = call(&cli, &Request::List)? else {
                bail!("unexpected answer to list")
            };
            match output {
                Output::Json => println!("{}", render::json(&listing)),
                Output::Table => {
                    print!(
                        "{}",
                        render::list(
                            &listing,
                            ListOptions {
                                stats: *stats,
                                rate: *rate,
                                exact: *exact
                            }
                        )
                    )
                }
            }
            Ok(())
        }
        Command::Save { output } => {
            let Response::Yaml { text } = call(&cli, &Request::Save)? else {
                bail!("unexpected answer to save")
            };
            match output {
                Some(out) => {
                    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))
                }
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Command::Reload => done(call(&cli, &Request::Reload)?),
        Command::Explain { src, dst } => {
            let dst = parse_dst(dst)?;
            let req = Request::Explain {
                src: *src,
                dst: SocketAddr::new(dst.vip, dst.port),
                protocol: dst.protocol,
            };
            let Response::Explain(e) = call(&cli, &req)? else {
                bail!("unexpected answer to explain")
            };
            print!("{}", render::explain(&e));
            Ok(())
        }
        Command::Load {
            ifaces,
            mode,
            conn_table_size,
        } => {
            let _lock = PinLock::acquire(&cli.pin_dir)?;
            let mut opts = LoadOptions::new(&cli.pin_dir);
            opts.conn_table_size = *conn_table_size;
            let mut dp = Dataplane::load(&opts).context("loading lvs_director")?;
            for iface in ifaces {
                dp.attach_pinned(iface, mode.xdp())
                    .with_context(|| format!("attaching to {iface}"))?;
                println!(
                    "lvs_director attached to {iface} (pinned under {})",
                    cli.pin_dir.display()
                );
            }
            Ok(())
        }
        Command::Unload { force } => {
            if !cli.pin_dir.exists() {
                bail!(
                    "nothing to unload: {} does not exist",
                    cli.pin_dir.display()
                );
            }
            if PinLock::held(&cli.pin_dir)? && !force {
                bail!(
                    "{} is held by a running lvs-ctl daemon (or `lvs-ctl load`): unloading now \
                     would take the VIPs down under it, and it would put them back. Stop the \
                     daemon first (systemctl stop lvs, or SIGTERM: forwarding goes on), then \
                     unload; --force removes everything anyway",
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
            let path = cli.pin_dir.join(lvs_common::MAP_COUNTERS);
            for (reason, n) in crate::dataplane::pinned_counters(&path)
                .context("reading the director's counters (is it loaded?)")?
            {
                println!("{:<22} {n:>16}", reason.as_str());
            }
            Ok(())
        }
        Command::Decap(cmd) => decap(cmd),
    }
}

fn decap(cmd: &DecapCmd) -> Result<()> {
    use crate::decap::{Decap, interface_addresses};
    match cmd {
        DecapCmd::Load {
            iface,
            addresses,
            gue_ports,
            mode,
            decap_pin_dir,
        } => {
            let addresses = if addresses.is_empty() {
                let found = interface_addresses(iface)
                    .with_context(|| format!("reading the addresses of {iface}"))?;
                if found.is_empty() {
                    bail!("{iface} has no address: give the tunnel address with --address");
                }
                found
            } else {
                addresses.clone()
            };
            let mut d = Decap::load(decap_pin_dir).context("loading lvs_decap")?;
            d.set_addresses(&addresses)?;
            d.set_ports(gue_ports)?;
            d.attach_pinned(decap_pin_dir, iface, mode.xdp())
                .with_context(|| format!("attaching lvs_decap to {iface}"))?;
            println!(
                "lvs_decap attached to {iface} for {addresses:?}, GUE on {gue_ports:?} (pinned under {})",
                decap_pin_dir.display()
            );
            Ok(())
        }
        DecapCmd::Unload { decap_pin_dir } => {
            if !decap_pin_dir.exists() {
                bail!(
                    "nothing to unload: {} does not exist",
                    decap_pin_dir.display()
                );
            }
            unpin_all(decap_pin_dir)
                .with_context(|| format!("removing {}", decap_pin_dir.display()))?;
            println!("lvs_decap detached; removed {}", decap_pin_dir.display());
            Ok(())
        }
        DecapCmd::Counters { decap_pin_dir } => {
            let path = decap_pin_dir.join(lvs_common::MAP_DECAP_COUNTERS);
            for (reason, n) in crate::dataplane::pinned_counters(&path)
                .context("reading lvs_decap's counters (is it loaded?)")?
                .into_iter()
                .filter(|(_, n)| *n > 0)
            {
                println!("{:<22} {n:>16}", reason.as_str());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
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
