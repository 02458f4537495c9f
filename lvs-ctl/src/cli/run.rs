//! What each command does: most send one request to the daemon and render its answer.

use super::*;
use crate::{
    api::{self, Request, Response, ServiceRef},
    compile,
    config::{self},
    dataplane::{Director, LoadOptions, PinLock, unpin_all},
    render::{self, ListOptions},
};
use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use std::{net::SocketAddr, time::Duration};

/// How long a client waits for the daemon.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Parses the command line and runs it; errors are printed as `lvs-ctl: ...` with exit 1.
pub fn main() {
    let cli = Cli::parse();
    crate::logging::init(cli.log_level);
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

/// [`call`] for a read-only request: with no daemon at the socket, answered from the pinned
/// maps, with a word on stderr that the daemon is not running.
fn read(cli: &Cli, req: &Request) -> Result<Response> {
    match api::call(&cli.socket, req, CALL_TIMEOUT) {
        Err(e @ api::ClientError::Unreachable { .. }) => {
            // Nothing pinned there either: the daemon's absence is the whole story.
            if !cli.pin_dir.join(lvs_common::MAP_SERVICES).exists() {
                return Err(e.into());
            }
            eprintln!(
                "lvs-ctl: the daemon is not running ({e}); showing what the kernel holds under {} \
                 (no health, names or rates; a real's weight is its share of the Maglev table)",
                cli.pin_dir.display()
            );
            super::offline::answer(&cli.pin_dir, req)
        }
        Ok(Response::Error { message }) => Err(anyhow!("{message}")),
        other => Ok(other?),
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

pub(super) fn parse_dst(words: &[String]) -> Result<ServiceRef> {
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
            service,
            sort,
            connections: true,
            real,
            max,
            output,
            ..
        } => {
            let req = Request::Connections {
                service: *service,
                real: *real,
                max: *max,
            };
            let Response::Connections(conns) = read(&cli, &req)? else {
                bail!("unexpected answer to list --connections")
            };
            let conns = if *sort {
                render::sorted_connections(conns)
            } else {
                conns
            };
            match output {
                Output::Json => println!("{}", render::json(&conns)),
                Output::Table => print!("{}", render::connections(&conns)),
            }
            Ok(())
        }
        Command::List {
            service,
            sort,
            stats,
            rate,
            exact,
            output,
            ..
        } => {
            let Response::List(listing) = read(&cli, &Request::List)? else {
                bail!("unexpected answer to list")
            };
            let listing =
                render::select(listing, service.as_ref(), *sort).map_err(anyhow::Error::msg)?;
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
            let Response::Explain(e) = read(&cli, &req)? else {
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
            // The tables stay as they are: a daemon started later writes them.
            let mut director = Director::open(&opts).context("loading lvs_director")?;
            for iface in ifaces {
                director
                    .attach(std::slice::from_ref(iface), compile::xdp_mode(*mode))
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
            let links = crate::dataplane::pinned_links(&cli.pin_dir);
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
        Command::Generate(what) => super::generate::run(what),
    }
}

fn decap(cmd: &DecapCmd) -> Result<()> {
    use crate::dataplane::{Decap, DecapWanted, interface_addresses};
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
            let mut d = Decap::open(decap_pin_dir).context("loading lvs_decap")?;
            d.apply(&DecapWanted {
                interfaces: vec![iface.clone()],
                xdp_mode: compile::xdp_mode(*mode),
                addresses: addresses.clone(),
                ports: gue_ports.clone(),
            })
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
