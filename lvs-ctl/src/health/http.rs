//! HTTP and HTTPS checks: one HTTP/1.1 request on a fresh connection, status checked, body read
//! up to [`BODY_LIMIT`] only when it must match a regular expression.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::error::ProbeError;
use super::spec::{CheckKind, HttpMethod, SpecError, Target};

/// Most of a body that is read; a `receive` pattern is matched against this prefix, so a server
/// that streams without end costs at most this much memory.
pub const BODY_LIMIT: usize = 64 * 1024;

/// An HTTP check with its regex compiled and TLS configured.
pub(crate) struct HttpCheck {
    method: hyper::Method,
    path: String,
    host_header: String,
    expect_status: Vec<u16>,
    receive: Option<regex::bytes::Regex>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl HttpCheck {
    /// Prepares `kind` (which must be [`CheckKind::Http`]) for `target`.
    pub(crate) fn new(target: Target, kind: &CheckKind) -> Result<Self, SpecError> {
        let CheckKind::Http {
            tls,
            verify_tls,
            method,
            path,
            host,
            expect_status,
            receive,
        } = kind
        else {
            return Err(SpecError::Kind("http"));
        };
        let receive = receive
            .as_deref()
            .map(regex::bytes::Regex::new)
            .transpose()
            .map_err(|e| SpecError::Regex(e.to_string()))?;
        let default_port = if *tls { 443 } else { 80 };
        let host_header = match host {
            Some(h) => h.clone(),
            None if target.addr.port() == default_port => match target.addr {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            },
            None => target.addr.to_string(),
        };
        let tls = if *tls {
            let name = match host {
                Some(h) => server_name(h, target.addr.ip()),
                None => ServerName::IpAddress(target.addr.ip().into()),
            };
            let config = client_config(*verify_tls)?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Self {
            method: match method {
                HttpMethod::Get => hyper::Method::GET,
                HttpMethod::Head => hyper::Method::HEAD,
            },
            path: path.clone(),
            host_header,
            expect_status: expect_status.clone(),
            receive,
            tls,
        })
    }

    /// One request to `addr`.
    pub(crate) async fn probe(&self, addr: SocketAddr) -> Result<String, ProbeError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(ProbeError::io("connect"))?;
        // Health checks are small; do not wait for Nagle.
        tcp.set_nodelay(true).map_err(ProbeError::io("connect"))?;
        match &self.tls {
            None => self.exchange(tcp).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(ProbeError::io("tls handshake"))?;
                self.exchange(tls).await
            }
        }
    }

    async fn exchange<S>(&self, io: S) -> Result<String, ProbeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| ProbeError::Failed(format!("http handshake: {e}")))?;
        let request = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(HOST, self.host_header.as_str())
            .header(USER_AGENT, concat!("lvs-ctl/", env!("CARGO_PKG_VERSION")))
            .header(CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| ProbeError::Failed(format!("building request: {e}")))?;
        let exchange = async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| ProbeError::Failed(format!("request: {e}")))?;
            self.judge(response).await
        };
        tokio::pin!(exchange, conn);
        // The connection must be driven while the request runs; it is dropped (closed) as
        // soon as the answer is judged, however much the server still wants to send.
        tokio::select! {
            biased;
            r = &mut exchange => r,
            _ = &mut conn => exchange.await,
        }
    }

    async fn judge(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<String, ProbeError> {
        let status = response.status().as_u16();
        let status_ok = if self.expect_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect_status.contains(&status)
        };
        if !status_ok {
            let expected = if self.expect_status.is_empty() {
                "2xx".to_string()
            } else {
                self.expect_status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            return Err(ProbeError::Failed(format!(
                "status {status}, expected {expected}"
            )));
        }
        let Some(re) = &self.receive else {
            return Ok(format!("status {status}"));
        };
        let body = read_bounded(response.into_body(), BODY_LIMIT).await?;
        if re.is_match(&body) {
            Ok(format!("status {status}, body matches /{}/", re.as_str()))
        } else {
            Err(ProbeError::Failed(format!(
                "status {status}, body does not match /{}/",
                re.as_str()
            )))
        }
    }
}

/// Reads at most `limit` bytes of `body`; stops there without draining the rest.
async fn read_bounded(
    mut body: hyper::body::Incoming,
    limit: usize,
) -> Result<Vec<u8>, ProbeError> {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Err(ProbeError::Failed(format!("reading body: {e}"))),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let take = data.len().min(limit - buf.len());
                    buf.extend_from_slice(&data[..take]);
                }
            }
        }
    }
    Ok(buf)
}

/// The TLS server name for a `Host` value, without its port (`www.example.org:8443`); `ip`
/// when the value is not a name.
fn server_name(host: &str, ip: IpAddr) -> ServerName<'static> {
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') && port.parse::<u16>().is_ok() => h,
            _ => host,
        }
    };
    ServerName::try_from(bare.to_string()).unwrap_or(ServerName::IpAddress(ip.into()))
}

fn client_config(verify: bool) -> Result<ClientConfig, SpecError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SpecError::Tls(e.to_string()))?;
    Ok(if verify {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    })
}

/// `verify_tls: false`: any certificate is accepted, but the handshake signatures are still
/// checked, so the server must hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
