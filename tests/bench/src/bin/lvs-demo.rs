//! `cargo xtask demo`: the director at work in a lab of network namespaces.
//!
//! Builds a client, a director and three real servers (direct routing: the VIPs on the reals'
//! loopback, replies straight back to the client through a switch, never through the
//! director), starts an HTTP server and a UDP echo on every real, runs `lvs-ctl daemon` with a
//! built-in configuration, sends traffic through the VIPs and shows how it spreads; then stops
//! one real's web server, shows the health check taking it out and the traffic moving, and
//! brings it back. Everything is removed at the end, on an error and on Ctrl-C.
//!
//! `--fast` skips the pauses (for tests); `--requests N` sets the HTTP requests per round
//! (`lvs-demo --help`).
//! With `LVS_DEMO_AS_LVS_CTL=1` in its environment this binary is `lvs-ctl` (the demo runs
//! the daemon and the CLI that way, so it needs no other binary).

use anyhow::{Context, Result, bail};
use clap::Parser;
use lvs_ctl::api::{Health, Listing};
use lvs_tests::lab::{
    self, CLIENT_RETURN4, Lab, LabDaemon, Teardown, VIP4, VIP6,
    serve::{Served, ServiceHost, http_many, udp_ask, udp_flow},
};
use std::{
    collections::BTreeMap,
    io::Write,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

const AS_LVS_CTL: &str = "LVS_DEMO_AS_LVS_CTL";
const PREFIX: &str = "lvs-demo";
const REALS: u8 = 3;
const HTTP_PORT: u16 = 80;
const ECHO_PORT: u16 = 7;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The real whose web server the demo stops and starts again (index into `lab.reals`).
const VICTIM: usize = 1;

/// The director at work in a lab of network namespaces.
#[derive(Parser)]
#[command(
    name = "lvs-demo",
    long_about = "The director at work in a lab of network namespaces: a client, an lvs \
director and 3 real servers (direct routing: replies go straight back to the client). Runs \
lvs-ctl daemon with a built-in configuration, sends HTTP and UDP traffic through the VIPs and \
shows how it spreads, then stops one real's web server, shows the health check taking it out \
and the traffic moving, and brings it back. Needs root. Everything it makes is removed at the \
end, on an error and on Ctrl-C.",
    after_help = "Examples:\n  \
cargo xtask demo                          # with pauses, to watch\n  \
cargo xtask demo -- --fast --requests 200 # no pauses, more requests per round"
)]
struct Opts {
    /// Skip the pauses between the steps (for tests and CI).
    #[arg(long)]
    fast: bool,
    /// HTTP requests per round of traffic through the IPv4 VIP (the IPv6 round sends half),
    /// 1..=1000.
    #[arg(long, default_value_t = 60, value_name = "N", value_parser = requests)]
    requests: usize,
}

fn requests(v: &str) -> Result<usize, String> {
    let n: usize = v.parse().map_err(|_| format!("{v:?}: not a number"))?;
    if !(1..=1000).contains(&n) {
        return Err(format!("{n}: expected 1..=1000"));
    }
    Ok(n)
}

fn main() {
    if std::env::var_os(AS_LVS_CTL).is_some() {
        lvs_ctl::cli::main();
        return;
    }
    let opts = Opts::parse();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("lvs-demo: needs root (network namespaces, XDP, bpffs)");
        std::process::exit(1);
    }
    sweep_leftovers();
    let teardown = Teardown::default();
    if let Err(e) = teardown.on_ctrl_c("lvs-demo") {
        eprintln!("lvs-demo: handling Ctrl-C: {e:#}");
        std::process::exit(1);
    }
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&opts, teardown.clone())
    }));
    // Whatever happened, undo everything (a Ctrl-C handler that got there first holds the lock
    // until it is done, so this waits for it rather than exiting under it).
    teardown.run();
    match result {
        Ok(Ok(())) => {
            println!(
                "\nDone in {:.1} s; namespaces, daemon, pins and socket removed.",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(Err(e)) => {
            eprintln!("lvs-demo: {e:#}");
            eprintln!("(everything the demo made has been removed)");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("lvs-demo: failed (see the panic above); everything it made is removed");
            std::process::exit(1);
        }
    }
}

/// Removes what an earlier demo left when it was killed without a chance to clean up
/// (SIGKILL): namespaces, pins, sockets and files named `lvs-demo-PID` of a PID that is gone.
fn sweep_leftovers() {
    let dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix(&format!("{PREFIX}-")) else {
            return false;
        };
        let pid: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        // Gone, or a zombie nobody reaped yet (the state follows the command in parentheses).
        !pid.is_empty()
            && std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |st| {
                st.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z'))
            })
    };
    let entries = |dir: &str| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut swept = 0;
    for n in entries("/run/netns").iter().filter(|n| dead(n)) {
        lab::delete_netns(n);
        swept += 1;
    }
    for n in entries("/sys/fs/bpf").iter().filter(|n| dead(n)) {
        let _ = lvs_ctl::dataplane::unpin_all(&std::path::Path::new("/sys/fs/bpf").join(n));
        swept += 1;
    }
    for n in entries("/run").iter().filter(|n| dead(n)) {
        let _ = std::fs::remove_file(std::path::Path::new("/run").join(n));
        swept += 1;
    }
    let tmp = std::env::temp_dir();
    for n in entries(&tmp.to_string_lossy()).iter().filter(|n| dead(n)) {
        let _ = std::fs::remove_dir_all(tmp.join(n));
        swept += 1;
    }
    if swept > 0 {
        println!("(removed {swept} leftover(s) of an earlier demo that was killed)");
    }
}

/// Paced output: numbered steps and pauses (none with `--fast`).
struct Pace {
    fast: bool,
    step: std::cell::Cell<u32>,
}

const STEPS: u32 = 7;

impl Pace {
    fn pause(&self, secs: f64) {
        let _ = std::io::stdout().flush();
        if !self.fast {
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
    }

    fn step(&self, title: &str) {
        self.step.set(self.step.get() + 1);
        println!();
        println!("── [{}/{STEPS}] {title}", self.step.get());
        self.pause(0.6);
    }
}

struct Demo<'a> {
    pace: &'a Pace,
    lab: &'a Lab,
    daemon: &'a LabDaemon,
}

impl Demo<'_> {
    fn pause(&self, secs: f64) {
        self.pace.pause(secs);
    }

    fn step(&self, title: &str) {
        self.pace.step(title);
    }

    /// `lvs-ctl ARGS` against the daemon, shown as the operator would type it.
    fn lvs_ctl(&self, args: &[&str]) -> Result<()> {
        println!(
            "\n$ lvs-ctl --socket {} {}",
            self.daemon.socket.display(),
            args.join(" ")
        );
        let out = self.daemon.ctl(args);
        if !out.status.success() {
            bail!(
                "lvs-ctl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            println!("  {line}");
        }
        self.pause(1.0);
        Ok(())
    }

    /// `n` HTTP requests on fresh connections from the client to `vip`; answers per real.
    fn http_round(&self, vip: IpAddr, n: usize) -> Tally {
        let addr = SocketAddr::new(vip, HTTP_PORT);
        let t = Instant::now();
        let answers = self
            .lab
            .client
            .enter(|| http_many(addr, n, REQUEST_TIMEOUT));
        let took = t.elapsed();
        Tally::of(self.lab, vip, answers.into_iter().map(|a| a.ok()), took)
    }

    fn show_http(&self, vip: IpAddr, n: usize, title: &str) -> Tally {
        let tally = self.http_round(vip, n);
        println!(
            "\n{title}: {n} HTTP GETs to http://{}/, each on a new connection ({} ms)",
            SocketAddr::new(vip, HTTP_PORT),
            tally.took.as_millis()
        );
        tally.print();
        self.pause(1.5);
        tally
    }

    /// Log lines of the daemon's current run that contain `needle`.
    fn daemon_events(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(self.daemon.current_log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Waits (bounded) for the daemon to report `state` for the victim in the HTTP service;
    /// prints its log line and the time it took.
    fn wait_health(&self, since: Instant, state: Health, limit: Duration) -> Result<()> {
        let addr = self.lab.reals[VICTIM].addr4;
        let svc = format!("{VIP4}:{HTTP_PORT}/tcp");
        let needle = format!("real {addr} of {svc}: {state}");
        let before = self.daemon_events(&needle).len();
        let deadline = since + limit;
        loop {
            let events = self.daemon_events(&needle);
            // The daemon logs the verdict before it writes the tables; it answers `list` only
            // once it has (one task does both, in turn), so the listing is the sure sign.
            let listed = self
                .daemon
                .listing()
                .and_then(|l| lab::health_of(&l, &svc, addr));
            if events.len() > before && listed == Some(state) {
                let took = since.elapsed();
                println!("  daemon: {}", events[events.len() - 1].trim());
                println!(
                    "  ({:.1} s after the change; `lvs-ctl list` shows it {state})",
                    took.as_secs_f64()
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the daemon did not report {addr} {state} within {limit:?} (listing says {listed:?})\n{}",
                    self.daemon.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Where a round of requests went.
struct Tally {
    /// Answers per real name, with the real's address in the VIP's family.
    per_real: BTreeMap<String, usize>,
    addrs: BTreeMap<String, IpAddr>,
    failed: usize,
    took: Duration,
}

impl Tally {
    fn of(
        lab: &Lab,
        vip: IpAddr,
        answers: impl Iterator<Item = Option<String>>,
        took: Duration,
    ) -> Self {
        let mut per_real: BTreeMap<String, usize> =
            lab.reals.iter().map(|r| (r.name.clone(), 0)).collect();
        let addrs = lab
            .reals
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), lab.real_addr(i, vip)))
            .collect();
        let mut failed = 0;
        for a in answers {
            match a {
                Some(name) => *per_real.entry(name).or_default() += 1,
                None => failed += 1,
            }
        }
        Tally {
            per_real,
            addrs,
            failed,
            took,
        }
    }

    fn total(&self) -> usize {
        self.per_real.values().sum::<usize>() + self.failed
    }

    fn print(&self) {
        const WIDTH: usize = 40;
        let total = self.total().max(1);
        let max = self.per_real.values().copied().max().unwrap_or(0).max(1);
        println!(
            "  {:<8} {:<14} {:>8} {:>6}",
            "real", "address", "answers", "share"
        );
        for (name, &n) in &self.per_real {
            let addr = self
                .addrs
                .get(name)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let bar = "█".repeat(n * WIDTH / max);
            println!(
                "  {name:<8} {addr:<14} {n:>8} {:>5.1}%  {bar}",
                100.0 * n as f64 / total as f64
            );
        }
        if self.failed > 0 {
            println!(
                "  {:<8} {:<14} {:>8} {:>5.1}%",
                "failed",
                "",
                self.failed,
                100.0 * self.failed as f64 / total as f64
            );
        }
    }
}

fn config(lab: &Lab, d: &LabDaemon) -> String {
    let reals = |v6: bool| {
        lab.reals
            .iter()
            .map(|r| format!("      - address: {}\n", if v6 { r.addr6 } else { r.addr4 }))
            .collect::<String>()
    };
    let check = |kind: &str| {
        format!("    check: {{type: {kind}, interval: 1s, timeout: 500ms, fall: 2, rise: 2}}\n")
    };
    format!(
        "{global}services:\n\
         \x20 - name: web\n    vip: {VIP4}\n    port: {HTTP_PORT}\n    protocol: tcp\n{http}    reals:\n{r4}\
         \x20 - name: echo\n    vip: {VIP4}\n    port: {ECHO_PORT}\n    protocol: udp\n{udp}    reals:\n{r4}\
         \x20 - name: web6\n    vip: {VIP6}\n    port: {HTTP_PORT}\n    protocol: tcp\n{http}    reals:\n{r6}",
        global = d.global_yaml(lab),
        http = check("http"),
        udp = check("connect"),
        r4 = reals(false),
        r6 = reals(true),
    )
}

fn run(opts: &Opts, teardown: Teardown) -> Result<()> {
    let pid = std::process::id();
    let name = format!("{PREFIX}-{pid}");
    println!("lvs demo: an XDP layer-4 director with direct routing, in network namespaces");
    println!("(everything below runs in namespaces named {name}-*, and is removed at the end)");

    let pace = Pace {
        fast: opts.fast,
        step: Default::default(),
    };
    pace.step("Building the lab");
    let t = Instant::now();
    let lab = Lab::builder()
        .prefix(&name)
        .reals(REALS)
        .return_path(true)
        .teardown(teardown)
        .build();
    println!(
        "  {} namespaces in {:.1} s:",
        lab.namespaces().len(),
        t.elapsed().as_secs_f64()
    );
    println!();
    println!("   client 198.18.0.1 ── c0/d0 ── director (XDP lvs_director on d0)");
    for (i, r) in lab.reals.iter().enumerate() {
        println!(
            "      │                            └─ d{}/r0 ── {} {} / {}   VIPs on lo",
            i + 1,
            r.name,
            r.addr4,
            r.addr6
        );
    }
    println!("      └─ c1 {CLIENT_RETURN4} ── switch (bridge) ── rb of every real   (replies)");
    println!();
    println!(
        "  VIPs {VIP4} and {VIP6} live on the reals' loopback (arp_ignore=1, arp_announce=2);"
    );
    println!("  the client reaches them through the director, the reals answer it directly.");
    pace.pause(1.5);

    pace.step("Starting services on the reals");
    let host = ServiceHost::new().context("starting the servers' runtime")?;
    let mut web: Vec<Option<Served>> = Vec::new();
    let mut echo: Vec<Served> = Vec::new();
    for r in &lab.reals {
        web.push(Some(host.http(&r.ns, &r.name, HTTP_PORT).with_context(
            || format!("starting the web server of {}", r.name),
        )?));
        let addrs = [
            VIP4.parse::<IpAddr>().context("VIP4")?,
            VIP6.parse().context("VIP6")?,
            r.addr4,
            r.addr6,
        ];
        echo.push(
            host.udp_echo(&r.ns, &r.name, &addrs, ECHO_PORT)
                .with_context(|| format!("starting the UDP echo of {}", r.name))?,
        );
        println!(
            "  {}: HTTP on port {HTTP_PORT} (answers \"{}\"), UDP echo on port {ECHO_PORT}",
            r.name, r.name
        );
    }

    let exe = std::env::current_exe().context("finding this program")?;
    let mut daemon = LabDaemon::new(&lab, &name, &exe, &[]).env(AS_LVS_CTL, "1");
    let cfg = config(&lab, &daemon);
    daemon.write_config(&cfg);

    pace.pause(1.0);
    pace.step("Starting lvs-ctl daemon with this configuration");
    for line in cfg.lines() {
        println!("  │ {line}");
    }
    daemon.start();
    let t = Instant::now();
    let ready = daemon
        .try_wait(Duration::from_secs(20), |l: &Listing| {
            lab::all_ready(l, true)
        })
        .with_context(|| {
            format!(
                "the daemon did not get every real resolved and healthy within 20 s\n{}",
                daemon.log()
            )
        })?;
    let _ = ready;
    let demo = Demo {
        pace: &pace,
        lab: &lab,
        daemon: &daemon,
    };
    println!(
        "\n  daemon up, every real resolved and passing its check after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    demo.lvs_ctl(&["list"])?;

    demo.step("Traffic from the client to the VIPs");
    let vip4: IpAddr = VIP4.parse().context("VIP4")?;
    let vip6: IpAddr = VIP6.parse().context("VIP6")?;
    let first = demo.show_http(vip4, opts.requests, "IPv4");
    if first.failed > 0 {
        bail!("{} of {} requests failed", first.failed, opts.requests);
    }
    let v6 = demo.show_http(vip6, opts.requests / 2, "IPv6");
    if v6.failed > 0 {
        bail!("{} IPv6 requests failed", v6.failed);
    }
    // UDP: each flow (one source port) sends several datagrams; all go to one real.
    let (flows, per_flow) = (12usize, 5usize);
    let udp_addr = SocketAddr::new(vip4, ECHO_PORT);
    let t = Instant::now();
    let udp: Vec<Vec<Option<String>>> = lab.client.enter(|| {
        (0..flows)
            .map(|f| match udp_flow(udp_addr, REQUEST_TIMEOUT) {
                Ok(s) => (0..per_flow)
                    .map(|k| {
                        udp_ask(&s, &format!("flow {f} datagram {k}"))
                            .ok()
                            .flatten()
                    })
                    .collect(),
                Err(_) => vec![None; per_flow],
            })
            .collect()
    });
    let sticky = udp
        .iter()
        .filter(|f| f.iter().all(|a| a.is_some() && *a == f[0]))
        .count();
    println!(
        "\nUDP: {flows} flows to {udp_addr}, {per_flow} datagrams each ({} ms); flows answered by one real throughout: {sticky}/{flows}",
        t.elapsed().as_millis()
    );
    Tally::of(&lab, vip4, udp.iter().map(|f| f[0].clone()), t.elapsed()).print();
    if sticky != flows {
        bail!(
            "{} UDP flows were answered by more than one real or not at all",
            flows - sticky
        );
    }
    demo.pause(1.5);
    demo.lvs_ctl(&["list", "--stats", "--exact"])?;

    let victim = &lab.reals[VICTIM];
    demo.step(&format!(
        "Stopping {}'s web server: the health check takes it out",
        victim.name
    ));
    let t = Instant::now();
    if let Some(s) = web[VICTIM].take() {
        s.stop();
    }
    println!(
        "  {} stopped; http checks every 1 s, fall 2: out within about 3 s",
        victim.name
    );
    demo.wait_health(t, Health::Down, Duration::from_secs(10))?;
    let after = demo.show_http(vip4, opts.requests, "After");
    if after.per_real.get(&victim.name).copied().unwrap_or(0) > 0 || after.failed > 0 {
        bail!(
            "after {} went down: {} answers from it, {} failures",
            victim.name,
            after.per_real.get(&victim.name).copied().unwrap_or(0),
            after.failed
        );
    }
    demo.lvs_ctl(&["list"])?;

    demo.step(&format!("Starting {}'s web server again", victim.name));
    let t = Instant::now();
    web[VICTIM] = Some(
        host.http(&victim.ns, &victim.name, HTTP_PORT)
            .with_context(|| format!("restarting the web server of {}", victim.name))?,
    );
    println!(
        "  {} serving again; rise 2: back within about 3 s",
        victim.name
    );
    demo.wait_health(t, Health::Up, Duration::from_secs(10))?;
    let back = demo.show_http(vip4, opts.requests, "Back");
    if back.per_real.get(&victim.name).copied().unwrap_or(0) == 0 || back.failed > 0 {
        bail!(
            "after {} came back: no answer from it, or {} failures",
            victim.name,
            back.failed
        );
    }
    demo.lvs_ctl(&["list", "--stats", "--exact"])?;

    pace.step("Cleaning up");
    daemon.stop();
    drop(web);
    drop(echo);
    drop(host);
    println!("  daemon stopped; removing namespaces, pins, socket and files");
    drop(lab);
    Ok(())
}
