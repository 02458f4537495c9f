//! `global.metrics` of a running daemon: known UDP traffic through lvs_director in a namespace
//! lab, then `GET /metrics` on the director's loopback. The text must pass `promtool check
//! metrics` (Debian package `prometheus`, installed by `cargo xtask bootstrap`; missing, the
//! test fails) and its counters must have moved by what was sent.

mod common;

use common::*;
use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The metrics address, on the loopback of the test's own director namespace.
const METRICS: &str = "127.0.0.1:9474";
const REALS: [&str; 2] = ["198.18.1.2", "198.18.2.2"];

/// One `GET /metrics` from inside the director's namespace: the body of a 200 answer.
fn scrape(d: &TestLab) -> Result<String, String> {
    d.lab.director.enter(|| {
        let mut s = TcpStream::connect_timeout(&METRICS.parse().expect("address"), TIMEOUT)
            .map_err(|e| format!("connecting to {METRICS}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: lvs\r\nConnection: close\r\n\r\n")
            .map_err(|e| format!("sending the request: {e}"))?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .map_err(|e| format!("reading the answer: {e}"))?;
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no end of headers in {answer:?}"))?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("not 200: {head}"));
        }
        if !head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4")
        {
            return Err(format!("not the text format: {head}"));
        }
        Ok(body.to_owned())
    })
}

/// Scrapes until an answer comes (the daemon may still be starting its endpoint).
fn scrape_ok(d: &TestLab) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match scrape(d) {
            Ok(text) => return text,
            Err(e) if Instant::now() > deadline => {
                panic!("scraping {METRICS}: {e}\ndaemon log:\n{}", d.daemon.log())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `promtool check metrics` accepts the text (lint included).
fn promtool_accepts(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "running promtool: {e}: install the Debian package prometheus \
                 (cargo xtask bootstrap does)"
            )
        });
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("writing to promtool");
    let out = child.wait_with_output().expect("waiting for promtool");
    assert!(
        out.status.success(),
        "promtool check metrics refused the exposition ({}):\n{}{}\n---\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `name{labels}` (`labels` as written, without braces; empty: none).
fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn service() -> String {
    format!("service=\"{SERVICE}\"")
}

fn real(addr: &str) -> String {
    format!("service=\"{SERVICE}\",real=\"{addr}\"")
}

/// What the scrape says of the traffic, in the order of [`expected`].
fn observed(text: &str) -> Vec<(String, Option<f64>)> {
    let mut v = vec![
        (
            "service packets".to_owned(),
            value(text, "lvs_service_packets_total", &service()),
        ),
        (
            "service connections".to_owned(),
            value(text, "lvs_service_connections_total", &service()),
        ),
    ];
    for addr in REALS {
        v.push((
            format!("real {addr} packets"),
            value(text, "lvs_real_packets_total", &real(addr)),
        ));
    }
    let reason = |r: &str| {
        value(
            text,
            "lvs_dataplane_packets_total",
            &format!("reason=\"{r}\""),
        )
    };
    v.push(("reason conn_new".to_owned(), reason("conn_new")));
    v.push((
        "reasons tx + redirect".to_owned(),
        reason("tx").zip(reason("redirect")).map(|(a, b)| a + b),
    ));
    v
}

#[test]
fn a_scrape_shows_the_traffic_sent_and_passes_promtool() {
    let mut d = TestLab::sinks_with_config("met", 2, |me| {
        let reals: Vec<String> = REALS.iter().map(|r| r.to_string()).collect();
        me.config_text(&reals, 1).replacen(
            "global:\n",
            &format!("global:\n  metrics: {METRICS}\n"),
            1,
        )
    });
    let before = scrape_ok(&d);
    promtool_accepts(&before);
    assert_eq!(
        value(&before, "lvs_service_packets_total", &service()),
        Some(0.0),
        "{before}"
    );

    // Known traffic: 16 flows, 3 datagrams each, each seen at its real.
    const FLOWS: usize = 16;
    const ROUNDS: usize = 3;
    let flows = d.flows(FLOWS);
    let mut per_real = [0u64; 2];
    for round in 0..ROUNDS {
        for r in d.where_do_they_go(&flows, &format!("round {round}")) {
            per_real[r] += 1;
        }
    }
    let sent = (FLOWS * ROUNDS) as f64;
    let mut expected = vec![
        ("service packets".to_owned(), Some(sent)),
        ("service connections".to_owned(), Some(FLOWS as f64)),
    ];
    for (i, n) in per_real.iter().enumerate() {
        expected.push((format!("real {} packets", REALS[i]), Some(*n as f64)));
    }
    expected.push(("reason conn_new".to_owned(), Some(FLOWS as f64)));
    expected.push(("reasons tx + redirect".to_owned(), Some(sent)));

    // The counters reach what was sent; scrapes are served from a copy at most a second old,
    // so poll (the machine may be loaded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape_ok(&d);
        if observed(&text) == expected {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the counters did not reach what was sent:\nseen     {:?}\nexpected {expected:?}\n{text}",
            observed(&text)
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    promtool_accepts(&text);
    for addr in REALS {
        let r = real(addr);
        assert_eq!(value(&text, "lvs_real_weight", &r), Some(1.0), "{text}");
        let up = format!("{r},state=\"up\"");
        assert_eq!(value(&text, "lvs_real_health", &up), Some(1.0), "{text}");
        let check = format!("{r},check=\"ping\"");
        assert!(
            value(&text, "lvs_check_duration_seconds", &check).is_some_and(|s| s > 0.0),
            "a ping check's last duration for {addr}:\n{text}"
        );
    }
    assert!(
        value(&text, "lvs_conntrack_entries", "").is_some_and(|n| n >= FLOWS as f64),
        "{text}"
    );
    assert_eq!(
        value(&text, "lvs_conntrack_entries_limit", ""),
        Some(65536.0),
        "{text}"
    );
    assert!(
        value(&text, "lvs_map_write_duration_seconds_count", "").is_some_and(|n| n >= 1.0),
        "{text}"
    );

    // A reload is counted, with its time and result.
    let out = d.daemon.ctl_ok(&["reload"]);
    assert!(out.contains("reloaded"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape_ok(&d);
        if value(&text, "lvs_reloads_total", "result=\"ok\"") == Some(1.0) {
            assert_eq!(value(&text, "lvs_reload_last_success", ""), Some(1.0));
            assert!(value(&text, "lvs_reload_last_timestamp_seconds", "").is_some());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reload is not counted:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    d.daemon.stop();
}
