//! One probe of each check type against a loopback server: connect, HTTP(S), DNS, external,
//! ping, on and off, and the bounds every probe keeps.

use super::*;

// ---------------------------------------------------------------------------------------------
// Connect.

#[tokio::test]
async fn connect_tcp_up_on_listener_down_on_closed_port() {
    bounded(ms(5000), async {
        let l = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let (r, _) = probe_once(l.local_addr().expect("addr"), tcp_check(), ms(1000)).await;
        assert!(r.is_ok(), "{r:?}");

        let closed = closed_tcp_port().await;
        let (r, cause) = probe_once(closed, tcp_check(), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("connect {closed}: connection refused"));
    })
    .await;
}

#[tokio::test]
async fn connect_tcp_over_ipv6_loopback() {
    if !ipv6_loopback_available() {
        eprintln!("no ::1 on this machine; IPv6 case not run");
        return;
    }
    bounded(ms(5000), async {
        let l = TcpListener::bind("[::1]:0").await.expect("bind ::1");
        let addr = l.local_addr().expect("addr");
        let (r, _) = probe_once(addr, tcp_check(), ms(1000)).await;
        assert!(r.is_ok(), "{r:?}");
        drop(l);
        let (_, cause) = probe_once(addr, tcp_check(), ms(1000)).await;
        assert_eq!(cause, format!("connect {addr}: connection refused"));
    })
    .await;
}

#[tokio::test]
async fn connect_udp_up_on_bound_socket_down_on_closed_port() {
    bounded(ms(5000), async {
        let udp = CheckKind::Connect {
            proto: Protocol::Udp,
        };
        // A bound socket that never answers: silence until the timeout means up.
        let bound = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind udp");
        let started = Instant::now();
        let (r, _) = probe_once(bound.local_addr().expect("addr"), udp.clone(), ms(300)).await;
        assert!(r.is_ok(), "{r:?}");
        assert!(
            started.elapsed() >= ms(250),
            "up only after most of the timeout"
        );

        let closed = closed_udp_port().await;
        let started = Instant::now();
        let (r, cause) = probe_once(closed, udp, ms(300)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("connect udp {closed}: port unreachable"));
        assert!(
            started.elapsed() < ms(250),
            "port unreachable is reported at once"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// HTTP.

#[tokio::test]
async fn http_status_200_up_503_down() {
    bounded(ms(5000), async {
        let ok = http_server(Reply::Fixed(200, "fine")).await;
        let (r, cause) = probe_once(ok.addr, http("/health", vec![200], None), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        assert_eq!(cause, format!("http {}: status 200", ok.addr));

        let bad = http_server(Reply::Fixed(503, "busy")).await;
        let (r, cause) = probe_once(bad.addr, http("/health", vec![200], None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(
            cause,
            format!("http {}: status 503, expected 200", bad.addr)
        );

        // Empty expect_status: any 2xx.
        let (r, cause) = probe_once(bad.addr, http("/", vec![], None), ms(1000)).await;
        assert!(r.is_err());
        assert!(cause.ends_with("status 503, expected 2xx"), "{cause}");
        let (r, _) = probe_once(bad.addr, http("/", vec![200, 503], None), ms(1000)).await;
        assert!(r.is_ok());
        let seen = ok.seen.lock().expect("seen").clone();
        assert_eq!(seen[0].path, "/health");
        assert_eq!(seen[0].method, "GET");
    })
    .await;
}

#[tokio::test]
async fn http_receive_regex_match_and_mismatch() {
    bounded(ms(5000), async {
        let s = http_server(Reply::Fixed(200, "<html>status: all good</html>")).await;
        let (r, cause) = probe_once(
            s.addr,
            http("/", vec![200], Some(r"status: (all|mostly) good")),
            ms(1000),
        )
        .await;
        assert!(r.is_ok(), "{cause}");
        let (r, cause) = probe_once(s.addr, http("/", vec![200], Some("degraded")), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(
            cause,
            format!(
                "http {}: status 200, body does not match /degraded/",
                s.addr
            )
        );
    })
    .await;
}

#[tokio::test]
async fn http_head_and_virtual_host_reach_the_server() {
    bounded(ms(5000), async {
        let s = http_server(Reply::Fixed(200, "body not sent for HEAD")).await;
        let kind = CheckKind::Http {
            tls: false,
            verify_tls: true,
            method: HttpMethod::Head,
            path: "/ping?x=1".into(),
            host: Some("www.example.test".into()),
            expect_status: vec![200],
            receive: None,
        };
        let (r, cause) = probe_once(s.addr, kind, ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        // Without a host, the Host header is the target (with its non-default port).
        let (r, _) = probe_once(s.addr, http("/", vec![200], None), ms(1000)).await;
        assert!(r.is_ok());
        let seen = s.seen.lock().expect("seen").clone();
        assert_eq!(seen[0].method, "HEAD");
        assert_eq!(seen[0].path, "/ping?x=1");
        assert_eq!(seen[0].host.as_deref(), Some("www.example.test"));
        assert_eq!(seen[1].host, Some(s.addr.to_string()));
    })
    .await;
}

#[tokio::test]
async fn https_self_signed_fails_verification_passes_without() {
    bounded(ms(10_000), async {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("self-signed certificate");
        let cert = certified.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let s = serve_http(listener, Reply::Fixed(200, "secure"), Some(acceptor));
        let https = |verify_tls| CheckKind::Http {
            tls: true,
            verify_tls,
            method: HttpMethod::Get,
            path: "/".into(),
            host: Some("localhost".into()),
            expect_status: vec![200],
            receive: Some("secure".into()),
        };
        let (r, cause) = probe_once(s.addr, https(true), ms(2000)).await;
        assert!(r.is_err(), "a self-signed certificate must not verify");
        assert!(
            cause.starts_with(&format!("https {}: tls handshake: ", s.addr))
                && cause.contains("certificate"),
            "{cause}"
        );
        let (r, cause) = probe_once(s.addr, https(false), ms(2000)).await;
        assert!(r.is_ok(), "{cause}");
        assert_eq!(
            s.seen.lock().expect("seen").len(),
            1,
            "one request got through"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// DNS.

/// The test zone: `up.test. A` is 192.0.2.1, `nx.test.` does not exist, anything else has
/// no answer.
fn dns_reply(query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.add_queries(query.queries.clone());
    let name = query.queries.first()?.name().to_string();
    if name == "nx.test." {
        reply.metadata.response_code = ResponseCode::NXDomain;
    } else if name == "up.test." {
        reply.add_answer(Record::from_rdata(
            Name::from_ascii("up.test.").expect("name"),
            60,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        ));
    }
    Some(reply.to_vec().expect("encode reply"))
}

/// A DNS server for the test zone over UDP.
async fn dns_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind dns");
    let addr = sock.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if let Some(wire) = dns_reply(&buf[..n]) {
                let _ = sock.send_to(&wire, from).await;
            }
        }
    });
    (addr, task)
}

/// The same over TCP (length-prefixed messages, one per connection).
async fn dns_tcp_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((LOCALHOST, 0))
        .await
        .expect("bind dns tcp");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let Ok(len) = s.read_u16().await else {
                continue;
            };
            let mut query = vec![0u8; usize::from(len)];
            if s.read_exact(&mut query).await.is_err() {
                continue;
            }
            if let Some(wire) = dns_reply(&query) {
                let len = u16::try_from(wire.len()).expect("short reply");
                let _ = s.write_all(&[&len.to_be_bytes()[..], &wire].concat()).await;
            }
        }
    });
    (addr, task)
}

fn dns(name: &str, expect: Option<&str>) -> CheckKind {
    CheckKind::Dns {
        name: name.into(),
        qtype: QueryType::A,
        proto: Protocol::Udp,
        expect: expect.map(String::from),
    }
}

#[tokio::test]
async fn dns_expected_answer_present_absent_and_nxdomain() {
    bounded(ms(5000), async {
        let (addr, server) = dns_server().await;
        let (r, cause) = probe_once(addr, dns("up.test", Some("192.0.2.1")), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        let (r, cause) = probe_once(addr, dns("up.test", None), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");

        let (r, cause) = probe_once(addr, dns("up.test", Some("192.0.2.9")), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(
            cause,
            format!("dns {addr}: A up.test.: 192.0.2.9 not in answer (192.0.2.1)")
        );
        let (r, cause) = probe_once(addr, dns("empty.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {addr}: A empty.test.: no answer"));
        let (r, cause) = probe_once(addr, dns("nx.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {addr}: A nx.test.: rcode NXDOMAIN"));
        server.abort();

        let (tcp, tcp_server) = dns_tcp_server().await;
        let over_tcp = |name: &str, expect: Option<&str>| CheckKind::Dns {
            name: name.into(),
            qtype: QueryType::A,
            proto: Protocol::Tcp,
            expect: expect.map(String::from),
        };
        let (r, cause) = probe_once(tcp, over_tcp("up.test", Some("192.0.2.1")), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        let (r, cause) = probe_once(tcp, over_tcp("nx.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {tcp}: A nx.test.: rcode NXDOMAIN"));
        tcp_server.abort();

        // No server at all: port unreachable comes back as connection refused.
        let closed = closed_udp_port().await;
        let (r, cause) = probe_once(closed, dns("up.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {closed}: recv: connection refused"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// External.

fn external(command: &Path) -> CheckKind {
    CheckKind::External {
        command: command.to_path_buf(),
        vip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10)),
        vport: 80,
    }
}

#[tokio::test]
async fn external_exit_status_decides_and_gets_ldirectord_arguments() {
    bounded(ms(5000), async {
        let dir = TempDir::new("external");
        let args = dir.0.join("args");
        let up = dir.script(
            "up.sh",
            &format!("echo \"$@\" > '{}'\nexit 0", args.display()),
        );
        let down = dir.script("down.sh", "exit 1");
        let real: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let (r, cause) = probe_once(real, external(&up), ms(2000)).await;
        assert!(r.is_ok(), "{cause}");
        let got = std::fs::read_to_string(&args).expect("script wrote its arguments");
        assert_eq!(got.trim(), "198.18.0.10 80 127.0.0.1 8080");
        let (r, cause) = probe_once(real, external(&down), ms(2000)).await;
        assert!(r.is_err());
        assert_eq!(cause, "external 127.0.0.1:8080: exit status 1");
        let (r, cause) = probe_once(real, external(&dir.0.join("missing")), ms(2000)).await;
        assert!(r.is_err());
        assert_eq!(cause, "external 127.0.0.1:8080: spawn: not found");
    })
    .await;
}

#[tokio::test]
async fn external_hanging_script_is_killed_at_timeout_with_its_children() {
    bounded(ms(10_000), async {
        let dir = TempDir::new("hang");
        let pids = dir.0.join("pids");
        let script = dir.script(
            "hang.sh",
            &format!("sleep 1000 &\necho $$ $! > '{}'\nwait", pids.display()),
        );
        let started = Instant::now();
        let (r, cause) = probe_once(
            "127.0.0.1:80".parse().expect("addr"),
            external(&script),
            ms(500),
        )
        .await;
        let took = started.elapsed();
        assert!(matches!(r, Err(ProbeError::Timeout(_))), "{cause}");
        assert_eq!(cause, "external 127.0.0.1:80: timed out after 500ms");
        assert!(took < ms(1000), "probe ended at its timeout, took {took:?}");
        let text = std::fs::read_to_string(&pids).expect("script wrote its pids");
        let pids: Vec<i32> = text
            .split_whitespace()
            .map(|p| p.parse().expect("pid"))
            .collect();
        assert_eq!(pids.len(), 2);
        let deadline = Instant::now() + ms(3000);
        while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            tokio::time::sleep(ms(20)).await;
        }
        for p in pids {
            assert!(!alive(p), "process {p} outlived the check's timeout");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Ping, on, off.

#[tokio::test]
async fn ping_loopback_is_up() {
    bounded(ms(5000), async {
        let (r, cause) = probe_once(
            "127.0.0.1:0".parse().expect("addr"),
            CheckKind::Ping,
            ms(2000),
        )
        .await;
        assert!(r.is_ok(), "ping needs root or ping_group_range: {cause}");
        assert!(
            cause.starts_with("ping 127.0.0.1: echo reply in "),
            "{cause}"
        );
        if ipv6_loopback_available() {
            let (r, cause) =
                probe_once("[::1]:0".parse().expect("addr"), CheckKind::Ping, ms(2000)).await;
            assert!(r.is_ok(), "{cause}");
        }
    })
    .await;
}

#[tokio::test]
async fn on_is_up_off_is_down() {
    bounded(ms(2000), async {
        let addr: SocketAddr = "127.0.0.1:80".parse().expect("addr");
        let (r, _) = probe_once(addr, CheckKind::On, ms(100)).await;
        assert!(r.is_ok());
        let (r, cause) = probe_once(addr, CheckKind::Off, ms(100)).await;
        assert!(r.is_err());
        assert_eq!(cause, "off 127.0.0.1:80: check is off");
    })
    .await;
}

#[tokio::test]
async fn invalid_spec_fails_every_probe_with_the_reason() {
    bounded(ms(2000), async {
        let addr: SocketAddr = "127.0.0.1:80".parse().expect("addr");
        let (r, cause) = probe_once(addr, http("/", vec![], Some("(")), ms(100)).await;
        assert!(matches!(r, Err(ProbeError::Invalid(_))));
        assert!(
            cause.starts_with("http 127.0.0.1:80: invalid check: receive: invalid regular"),
            "{cause}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Bounds.

#[tokio::test]
async fn silent_server_fails_at_the_timeout() {
    bounded(ms(5000), async {
        let s = http_server(Reply::Silent).await;
        let started = Instant::now();
        let (r, cause) = probe_once(s.addr, http("/", vec![200], None), ms(300)).await;
        let took = started.elapsed();
        assert!(r.is_err());
        assert_eq!(cause, format!("http {}: timed out after 300ms", s.addr));
        assert!(took >= ms(300) && took < ms(600), "took {took:?}");
    })
    .await;
}

#[tokio::test]
async fn endless_body_is_read_up_to_the_limit_only() {
    bounded(ms(10_000), async {
        let written = Arc::new(AtomicUsize::new(0));
        let s = http_server(Reply::Flood(written.clone())).await;
        let started = Instant::now();
        let (r, cause) =
            probe_once(s.addr, http("/", vec![200], Some("never-there")), ms(5000)).await;
        let took = started.elapsed();
        assert!(r.is_err());
        assert!(
            cause.ends_with("body does not match /never-there/"),
            "{cause}"
        );
        assert!(
            took < ms(2000),
            "ended by the size limit, not the timeout: {took:?}"
        );
        // The probe closed the connection: the server's writes fail and it stops.
        let deadline = Instant::now() + ms(3000);
        while s.closed.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::time::sleep(ms(10)).await;
        }
        assert_eq!(
            s.closed.load(Ordering::SeqCst),
            1,
            "connection closed by the probe"
        );
        let total = written.load(Ordering::SeqCst);
        // What the server got out is the body limit plus what loopback socket buffers hold.
        assert!(total < 64 << 20, "server wrote {total} bytes");

        // Without a pattern the body is not read at all.
        let (r, cause) = probe_once(s.addr, http("/", vec![200], None), ms(5000)).await;
        assert!(r.is_ok(), "{cause}");
    })
    .await;
}
