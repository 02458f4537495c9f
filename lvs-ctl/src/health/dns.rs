//! DNS checks: one query, built and parsed with hickory-proto, over UDP (one datagram each way)
//! or TCP (one length-prefixed message each way).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::connect::connected_udp;
use super::error::ProbeError;
use super::spec::{CheckKind, Protocol, QueryType, SpecError, parse_name};

/// The record type of a configured query type.
fn record_type(qtype: QueryType) -> RecordType {
    match qtype {
        QueryType::A => RecordType::A,
        QueryType::Aaaa => RecordType::AAAA,
        QueryType::Cname => RecordType::CNAME,
        QueryType::Mx => RecordType::MX,
        QueryType::Txt => RecordType::TXT,
        QueryType::Ns => RecordType::NS,
        QueryType::Soa => RecordType::SOA,
        QueryType::Ptr => RecordType::PTR,
    }
}

/// Largest DNS message: a UDP datagram or a TCP length prefix cannot say more.
const MAX_MESSAGE: usize = u16::MAX as usize;

/// A DNS check with its query name and type parsed.
pub(crate) struct DnsCheck {
    name: Name,
    qtype: RecordType,
    proto: Protocol,
    expect: Option<String>,
}

impl DnsCheck {
    /// Prepares `kind`, which must be [`CheckKind::Dns`].
    pub(crate) fn new(kind: &CheckKind) -> Result<Self, SpecError> {
        let CheckKind::Dns {
            name,
            qtype,
            proto,
            expect,
        } = kind
        else {
            return Err(SpecError::Kind("dns"));
        };
        Ok(Self {
            name: parse_name(name)?,
            qtype: record_type(*qtype),
            proto: *proto,
            expect: expect.clone(),
        })
    }

    /// One query to `addr`.
    pub(crate) async fn probe(&self, addr: SocketAddr) -> Result<String, ProbeError> {
        let id = next_id();
        let mut query = Message::new(id, MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(self.name.clone(), self.qtype));
        let wire = query
            .to_vec()
            .map_err(|e| ProbeError::Failed(format!("encoding query: {e}")))?;
        let reply = match self.proto {
            Protocol::Udp => exchange_udp(addr, &wire, id).await?,
            Protocol::Tcp => exchange_tcp(addr, &wire).await?,
        };
        self.judge(&reply)
    }

    fn judge(&self, reply: &Message) -> Result<String, ProbeError> {
        let rcode = reply.metadata.response_code;
        if rcode != ResponseCode::NoError {
            return Err(ProbeError::Failed(format!(
                "{} {}: rcode {}",
                self.qtype,
                self.name,
                format!("{rcode:?}").to_ascii_uppercase()
            )));
        }
        let answers: Vec<_> = reply
            .answers
            .iter()
            .filter(|r| r.record_type() == self.qtype)
            .collect();
        let Some(first) = answers.first() else {
            return Err(ProbeError::Failed(format!(
                "{} {}: no answer",
                self.qtype, self.name
            )));
        };
        let Some(expect) = &self.expect else {
            return Ok(format!("{} {}: {}", self.qtype, self.name, first.data));
        };
        let wanted_ip = expect.parse::<IpAddr>().ok();
        let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
        let found = answers.iter().any(|r| match (wanted_ip, r.data.ip_addr()) {
            (Some(want), Some(got)) => want == got,
            _ => norm(&r.data.to_string()) == norm(expect),
        });
        if found {
            Ok(format!("{} {}: {expect}", self.qtype, self.name))
        } else {
            let got: Vec<String> = answers.iter().map(|r| r.data.to_string()).collect();
            Err(ProbeError::Failed(format!(
                "{} {}: {expect} not in answer ({})",
                self.qtype,
                self.name,
                got.join(", ")
            )))
        }
    }
}

/// Query ids differ from one query to the next (and between runs), so a late reply to an
/// earlier query is not taken for this one's.
fn next_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u16)
        .unwrap_or(0);
    NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919) ^ seed
}

fn decode(buf: &[u8]) -> Result<Message, ProbeError> {
    Message::from_vec(buf).map_err(|e| ProbeError::Failed(format!("malformed reply: {e}")))
}

async fn exchange_udp(addr: SocketAddr, wire: &[u8], id: u16) -> Result<Message, ProbeError> {
    let sock = connected_udp(addr).await?;
    sock.send(wire).await.map_err(ProbeError::io("send"))?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    // Datagrams with another id (late replies, strays) are skipped; the probe's timeout bounds
    // the wait.
    loop {
        let n = sock.recv(&mut buf).await.map_err(ProbeError::io("recv"))?;
        let reply = decode(&buf[..n])?;
        if reply.metadata.id == id && reply.metadata.message_type == MessageType::Response {
            return Ok(reply);
        }
    }
}

async fn exchange_tcp(addr: SocketAddr, wire: &[u8]) -> Result<Message, ProbeError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(ProbeError::io("connect"))?;
    let len = u16::try_from(wire.len())
        .map_err(|_| ProbeError::Failed("query too long for TCP".into()))?;
    let mut framed = Vec::with_capacity(2 + wire.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    stream
        .write_all(&framed)
        .await
        .map_err(ProbeError::io("send"))?;
    let len = stream.read_u16().await.map_err(ProbeError::io("recv"))?;
    let mut buf = vec![0u8; usize::from(len)];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(ProbeError::io("recv"))?;
    decode(&buf)
}
