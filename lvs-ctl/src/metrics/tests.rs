//! The exposition of a known sample: names, labels, values and both formats.

use super::*;
use crate::health::{State, Status, Target};
use std::collections::BTreeMap;

/// `list`'s test listing (198.18.100.1:80/tcp with 198.18.1.2 up and 198.18.1.3 drained, and
/// a UDP service on IPv6 with a real down), a check, counters and a rejected reload.
fn sample() -> Sample {
    let services = crate::render::tests::sample().services;
    let service = services[0].service;
    let real = services[0].reals[0].address;
    let mut recorder = Recorder::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1000), 1024);
    recorder.map_writes.observe(0.002);
    recorder.reloaded(SystemTime::UNIX_EPOCH + Duration::from_secs(2000), false);
    Sample {
        services,
        checks: vec![Status {
            id: (service, real),
            target: Target::new(std::net::SocketAddr::new(real, 80)),
            check: "connect",
            state: State::Up,
            since: SystemTime::UNIX_EPOCH,
            last_change: String::new(),
            last_error: None,
            last_duration: Some(Duration::from_millis(5)),
            last_probe: None,
            failures: BTreeMap::from([("refused", 4)]),
        }],
        counters: vec![(Reason::Tx, 30), (Reason::ConnNew, 3)],
        conns: 3,
        recorder,
    }
}

#[test]
fn text_names_every_metric_with_its_labels() {
    let text = encode(&sample(), Format::Text);
    for line in [
        "# TYPE lvs_service_packets_total counter",
        r#"lvs_service_packets_total{service="198.18.100.1:80/tcp"} 123456909"#,
        r#"lvs_service_bytes_total{service="198.18.100.1:80/tcp"} 98765441100"#,
        r#"lvs_service_connections_total{service="198.18.100.1:80/tcp"} 4"#,
        r#"lvs_service_packets_total{service="[2001:db8:100::1]:53/udp"} 0"#,
        r#"lvs_real_packets_total{service="198.18.100.1:80/tcp",real="198.18.1.2"} 120"#,
        r#"lvs_real_bytes_total{service="198.18.100.1:80/tcp",real="198.18.1.2"} 9000"#,
        r#"lvs_real_connections_total{service="198.18.100.1:80/tcp",real="198.18.1.2"} 3"#,
        r#"lvs_real_weight{service="198.18.100.1:80/tcp",real="198.18.1.3"} 0"#,
        r#"lvs_real_configured_weight{service="198.18.100.1:80/tcp",real="198.18.1.3"} 2"#,
        r#"lvs_real_health{service="198.18.100.1:80/tcp",real="198.18.1.2",state="up"} 1"#,
        r#"lvs_real_health{service="198.18.100.1:80/tcp",real="198.18.1.2",state="down"} 0"#,
        r#"lvs_real_health{service="[2001:db8:100::1]:53/udp",real="2001:db8:1::2",state="down"} 1"#,
        r#"lvs_real_active{service="[2001:db8:100::1]:53/udp",real="2001:db8:1::2"} 0"#,
        r#"lvs_check_duration_seconds{service="198.18.100.1:80/tcp",real="198.18.1.2",check="connect"} 0.005"#,
        r#"lvs_check_failures_total{service="198.18.100.1:80/tcp",real="198.18.1.2",check="connect",cause="refused"} 4"#,
        r#"lvs_dataplane_packets_total{reason="tx"} 30"#,
        r#"lvs_dataplane_packets_total{reason="conn_new"} 3"#,
        "lvs_conntrack_entries 3",
        "lvs_conntrack_entries_limit 1024",
        "lvs_reload_last_timestamp_seconds 2000.0",
        "lvs_reload_last_success 0",
        r#"lvs_reloads_total{result="error"} 1"#,
        "lvs_map_write_duration_seconds_count 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn openmetrics_when_asked_for() {
    assert_eq!(
        Format::from_accept("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_accept("*/*"), Format::Text);
    let text = encode(&sample(), Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# UNIT lvs_service_bytes bytes"), "{text}");
}

#[tokio::test]
async fn scrapes_within_the_interval_read_one_sample() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<server::Ask>(4);
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&asked);
    tokio::spawn(async move {
        while let Some(ask) = rx.recv().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = ask.send(sample());
        }
    });
    let endpoint = server::Endpoint::new(tx);
    let text = endpoint.text(Format::Text).await.expect("a first scrape");
    let open = endpoint.text(Format::OpenMetrics).await.expect("a second");
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one sample for both");
    assert_ne!(text, open, "each in its format");
    tokio::time::sleep(MIN_INTERVAL + Duration::from_millis(100)).await;
    endpoint.text(Format::Text).await.expect("a later scrape");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "a new sample after the interval"
    );
}
