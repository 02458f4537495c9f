//! End to end in network namespaces: frames sent by a client's kernel to the VIP cross
//! `lvs_director` (native XDP on the director's veth) and arrive in the chosen real server's
//! namespace with the MACs rewritten, where the real's own kernel delivers them to a socket
//! bound to the VIP.

use aya::programs::XdpMode;
use lvs_common::{PROTO_UDP, Reason, ServiceKey};
use lvs_ctl::dataplane::{Director, LoadOptions, RealSpec, ServiceSpec, Wanted};
use lvs_tests::{PinDir, lab::*, require_root};
use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    time::Duration,
};

fn datagrams_reach_the_chosen_real(tag: &str, vip: IpAddr, client: IpAddr) {
    require_root();
    let lab = Lab::new(tag, 2);
    let pins = PinDir::new(tag);
    let mut director = lab.director.enter(|| {
        let mut director = Director::open(&LoadOptions::new(&pins.0)).expect("load lvs_director");
        director
            .attach_unpinned(lab.director_iface, XdpMode::Driver)
            .expect("attach lvs_director to d0 in native mode");
        director
    });
    let reals: Vec<RealSpec> = lab.reals.iter().map(|r| r.dr_spec(vip)).collect();
    let key = ServiceKey::new(vip, 5000, PROTO_UDP);
    director
        .apply(&Wanted {
            services: vec![ServiceSpec {
                key,
                flags: 0,
                ring_size: 65537,
                reals: reals.clone(),
            }],
            ..Wanted::default()
        })
        .expect("write the service");

    let sockets: Vec<UdpSocket> = lab
        .reals
        .iter()
        .map(|r| {
            r.ns.enter(|| {
                let s =
                    UdpSocket::bind(SocketAddr::new(vip, 5000)).expect("bind the VIP in the real");
                s.set_read_timeout(Some(Duration::from_millis(100)))
                    .expect("timeout");
                s
            })
        })
        .collect();
    let captures: Vec<Capture> = lab
        .reals
        .iter()
        .map(|r| r.ns.enter(|| Capture::open("r0")))
        .collect();

    let mut per_real = vec![0usize; lab.reals.len()];
    for i in 0..16u16 {
        let payload = format!("lvs flow {i}");
        let src = lab.client.enter(|| {
            let s = UdpSocket::bind(SocketAddr::new(client, 0)).expect("client socket");
            s.send_to(payload.as_bytes(), SocketAddr::new(vip, 5000))
                .expect("send to the VIP");
            s.local_addr().expect("local addr")
        });
        let flow = lvs_common::FlowKey::new(src, SocketAddr::new(vip, 5000), PROTO_UDP);
        let index = director
            .maps()
            .conn(&flow)
            .map(|c| c.real)
            .unwrap_or_else(|| panic!("flow {src} not in the connection table"));
        let chosen = reals
            .iter()
            .position(|r| director.real_index(&key, r.addr) == Some(index))
            .expect("connection names a lab real");
        per_real[chosen] += 1;

        let mut buf = [0u8; 256];
        let (n, from) = sockets[chosen].recv_from(&mut buf).unwrap_or_else(|e| {
            panic!(
                "flow {i} ({src}) did not reach real {} ({e}); counters: {:?}",
                chosen + 1,
                director.counters()
            )
        });
        assert_eq!(&buf[..n], payload.as_bytes());
        assert_eq!(from, src, "the real sees the client's own address and port");
        for (j, s) in sockets.iter().enumerate().filter(|(j, _)| *j != chosen) {
            assert!(
                s.recv_from(&mut buf).is_err(),
                "flow {i} also reached real {}",
                j + 1
            );
        }
        let frame = captures[chosen]
            .next_matching(Duration::from_secs(2), |f| {
                f.windows(payload.len()).any(|w| w == payload.as_bytes())
            })
            .expect("frame seen on the real's interface");
        let real = &lab.reals[chosen];
        assert_eq!(frame[0..6], real.mac, "destination MAC is the real's");
        assert_eq!(
            frame[6..12],
            real.director_mac,
            "source MAC is the director's egress interface's"
        );
    }
    assert!(
        per_real.iter().all(|&n| n > 0),
        "16 flows over 2 reals used both: {per_real:?}"
    );
    assert_eq!(
        director.maps().counter(Reason::Redirect).expect("counter"),
        16
    );
}

#[test]
fn ipv4_datagrams_to_the_vip_reach_the_chosen_real_with_macs_rewritten() {
    datagrams_reach_the_chosen_real("e4", VIP4.parse().unwrap(), CLIENT4.parse().unwrap());
}

#[test]
fn ipv6_datagrams_to_the_vip_reach_the_chosen_real_with_macs_rewritten() {
    datagrams_reach_the_chosen_real("e6", VIP6.parse().unwrap(), CLIENT6.parse().unwrap());
}
