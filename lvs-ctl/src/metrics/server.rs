//! The HTTP side of `global.metrics`: `GET /metrics` on hyper, inside the daemon's runtime.
//!
//! It never reads a map: it asks the daemon's task for a [`Sample`] over a channel (answered
//! between events, as API requests are) and keeps the text for [`MIN_INTERVAL`]; scrapes in
//! that time, or while a sample is on its way, get the kept text.

use super::{Format, MIN_INTERVAL, Sample, encode};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    header::{ACCEPT, CONTENT_TYPE, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{
    net::TcpListener,
    sync::{Mutex, mpsc, oneshot},
};

/// A scrape's request to the daemon's task: the sample goes back on the sender.
pub type Ask = oneshot::Sender<Sample>;

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the metrics address (at start, before anything is written to the kernel, so an
/// address in use fails the start). Must run inside the runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    TcpListener::from_std(l)
}

/// The text last made, in both formats, and when its sample was read.
struct Kept {
    at: Instant,
    text: Bytes,
    openmetrics: Bytes,
}

/// What every connection shares: the way to the daemon and the kept text.
pub(super) struct Endpoint {
    ask: mpsc::Sender<Ask>,
    kept: Mutex<Option<Kept>>,
}

impl Endpoint {
    pub(super) fn new(ask: mpsc::Sender<Ask>) -> Self {
        Endpoint {
            ask,
            kept: Mutex::new(None),
        }
    }

    /// The exposition in `format`: the kept text while it is younger than [`MIN_INTERVAL`],
    /// else a new sample from the daemon. `None`: the daemon is gone.
    pub(super) async fn text(&self, format: Format) -> Option<Bytes> {
        // Held while a sample is on its way: concurrent scrapes wait for the same one.
        let mut kept = self.kept.lock().await;
        if kept.as_ref().is_none_or(|k| k.at.elapsed() >= MIN_INTERVAL) {
            let (tx, rx) = oneshot::channel();
            self.ask.send(tx).await.ok()?;
            let sample = rx.await.ok()?;
            *kept = Some(Kept {
                at: Instant::now(),
                text: encode(&sample, Format::Text).into(),
                openmetrics: encode(&sample, Format::OpenMetrics).into(),
            });
        }
        let k = kept.as_ref()?;
        Some(match format {
            Format::Text => k.text.clone(),
            Format::OpenMetrics => k.openmetrics.clone(),
        })
    }

    async fn answer<B>(&self, req: Request<B>) -> Response<Full<Bytes>> {
        let reply = |status: StatusCode, body: &'static str| {
            let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
            *r.status_mut() = status;
            r
        };
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => {}
            (&Method::GET, "/") => {
                return reply(StatusCode::OK, "lvs-ctl daemon: metrics at /metrics\n");
            }
            (_, "/metrics") => return reply(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"),
            _ => return reply(StatusCode::NOT_FOUND, "not found: metrics at /metrics\n"),
        }
        let format = Format::from_accept(
            req.headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        );
        let Some(text) = self.text(format).await else {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n");
        };
        let mut r = Response::new(Full::new(text));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        r
    }
}

/// Serves `GET /metrics` on `listener` until the runtime stops, asking for samples on `ask`.
pub fn serve(listener: TcpListener, ask: mpsc::Sender<Ask>) {
    let endpoint = Arc::new(Endpoint::new(ask));
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    log::warn!("metrics: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let endpoint = Arc::clone(&endpoint);
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let endpoint = Arc::clone(&endpoint);
                    async move { Ok::<_, Infallible>(endpoint.answer(req).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), svc);
                if let Err(e) = conn.await {
                    log::debug!("metrics: a connection ended: {e}");
                }
            });
        }
    });
}
