//! Ping checks: one ICMP or ICMPv6 echo request, up on the matching echo reply.
//!
//! An unprivileged ping socket (`SOCK_DGRAM`, allowed by `net.ipv4.ping_group_range`) is tried
//! first, then a raw socket (root or `CAP_NET_RAW`). Either way the socket is connected to the
//! target, so the kernel hands us only ICMP from it; replies are matched on sequence number
//! and a per-probe payload, since a raw socket also sees other probes' replies and, on
//! loopback, our own request.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::error::ProbeError;
use crate::config::duration;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// One echo to `ip`; the caller's timeout bounds the wait for the reply.
pub(crate) async fn probe(ip: IpAddr) -> Result<String, ProbeError> {
    let (sock, raw) = open(ip).map_err(ProbeError::io("icmp socket"))?;
    sock.connect(&SockAddr::from(SocketAddr::new(ip, 0)))
        .map_err(ProbeError::io("connect"))?;
    // tokio's UdpSocket only issues send(2)/recv(2) on its descriptor, which is all an ICMP
    // socket needs; it saves registering the descriptor with the reactor by hand.
    let sock = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(sock))
        .map_err(ProbeError::io("icmp socket"))?;

    static SEQ: AtomicU16 = AtomicU16::new(1);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id());
    let payload = nonce.to_be_bytes();
    let (request_type, reply_type) = match ip {
        IpAddr::V4(_) => (ECHO_REQUEST_V4, ECHO_REPLY_V4),
        IpAddr::V6(_) => (ECHO_REQUEST_V6, ECHO_REPLY_V6),
    };
    // The identifier is the socket's port on ping sockets (the kernel sets it) and is not
    // relied on for raw ones either: sequence and payload identify our reply.
    let request = echo(request_type, (nonce >> 16) as u16, seq, &payload);

    let start = Instant::now();
    sock.send(&request).await.map_err(ProbeError::io("send"))?;
    let mut buf = [0u8; 1500];
    loop {
        let n = sock.recv(&mut buf).await.map_err(ProbeError::io("recv"))?;
        let mut packet = &buf[..n];
        // Raw IPv4 sockets deliver the IP header; skip it.
        if raw && ip.is_ipv4() {
            let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
            packet = packet.get(ihl..).unwrap_or(&[]);
        }
        if is_reply(packet, reply_type, seq, &payload) {
            return Ok(format!(
                "echo reply in {}",
                duration::format_measured(start.elapsed())
            ));
        }
    }
}

/// A non-blocking ICMP socket for `ip`'s family; `true` when it is raw.
fn open(ip: IpAddr) -> io::Result<(Socket, bool)> {
    let (domain, protocol) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let (sock, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => (s, false),
        Err(_) => (Socket::new(domain, Type::RAW, Some(protocol))?, true),
    };
    sock.set_nonblocking(true)?;
    Ok((sock, raw))
}

/// An echo message with its checksum (the kernel fills the ICMPv6 one in anyway).
fn echo(icmp_type: u8, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + payload.len());
    m.extend_from_slice(&[icmp_type, 0, 0, 0]);
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let sum = checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

fn is_reply(packet: &[u8], reply_type: u8, seq: u16, payload: &[u8]) -> bool {
    packet.len() >= 8 + payload.len()
        && packet[0] == reply_type
        && packet[6..8] == seq.to_be_bytes()
        && &packet[8..8 + payload.len()] == payload
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_checksum_verifies_to_zero() {
        let m = echo(ECHO_REQUEST_V4, 0x1234, 7, b"odd-len");
        assert_eq!(checksum(&m), 0);
        assert!(is_reply(
            &[&[ECHO_REPLY_V4, 0, 0, 0, 0x12, 0x34, 0, 7][..], b"odd-len"].concat(),
            ECHO_REPLY_V4,
            7,
            b"odd-len"
        ));
        assert!(!is_reply(&m, ECHO_REPLY_V4, 7, b"odd-len"));
    }
}
