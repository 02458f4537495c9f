//! Connect checks: a TCP handshake, or ldirectord's UDP probe.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};

use super::error::ProbeError;

/// Up when the TCP handshake completes; the connection is then aborted (RST, as HAProxy's
/// checks do) rather than closed: a director checking thousands of reals every second would
/// otherwise keep a socket in TIME_WAIT per probe for a minute (600,000 for 10,000 reals),
/// overflowing the kernel's TIME_WAIT table.
pub(crate) async fn tcp(addr: SocketAddr) -> Result<String, ProbeError> {
    let stream = TcpStream::connect(addr).await.map_err(ProbeError::io(""))?;
    // Zero linger: close sends RST and returns at once (it never blocks with a zero timeout).
    let _ = stream.set_zero_linger();
    drop(stream);
    Ok("connected".into())
}

/// A UDP socket bound to the wildcard address of `addr`'s family, connected to `addr`, so the
/// kernel reports an ICMP port-unreachable as `ECONNREFUSED`.
pub(crate) async fn connected_udp(addr: SocketAddr) -> Result<UdpSocket, ProbeError> {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(ProbeError::io("bind"))?;
    sock.connect(addr)
        .await
        .map_err(ProbeError::io("connect"))?;
    Ok(sock)
}

/// As ldirectord: send a datagram; an ICMP port-unreachable (`ECONNREFUSED`) means down, a
/// reply or silence for `wait` means up. Only as good as the network is at delivering ICMP.
pub(crate) async fn udp(addr: SocketAddr, wait: Duration) -> Result<String, ProbeError> {
    let sock = connected_udp(addr).await?;
    sock.send(b"\n").await.map_err(ProbeError::io(""))?;
    let mut buf = [0u8; 1];
    match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
        Err(_) => Ok("no port unreachable".into()),
        Ok(Ok(_)) => Ok("reply received".into()),
        // A reply larger than our one-byte buffer is still a reply.
        Ok(Err(e)) if e.raw_os_error() == Some(libc::EMSGSIZE) => Ok("reply received".into()),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Err(ProbeError::Failed("port unreachable".into()))
        }
        Ok(Err(e)) => Err(ProbeError::io("")(e)),
    }
}
