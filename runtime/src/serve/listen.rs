//! The connections of `kradle serve`: how many, how long, and how much of
//! a body each may hold (docs/serve.md, "Connections").
//!
//! Every listener is reachable by anyone who can reach the port, before any
//! authentication, so what a connection may take is bounded here, not in
//! the handlers:
//! - at most [`Limits::max_connections`] connections are served at once;
//!   past that the listener stops accepting (the kernel's backlog holds the
//!   rest) until one closes;
//! - a request's headers must arrive within [`Limits::header_timeout`], and
//!   a kept-alive connection that sends nothing for as long is closed (one
//!   timer in hyper covers both);
//! - a request's body must arrive within [`Limits::body_timeout`]
//!   (`408`), and no body bigger than its route allows is read at all
//!   (`413` from `Content-Length`, before a byte of it);
//! - the bodies buffered at once share [`Limits::body_budget`] bytes; a
//!   request that cannot get its share within a few seconds is answered
//!   `503` with `Retry-After`, so memory stays bounded whatever the number
//!   of uploads;
//! - on SIGTERM, idle connections close at once, requests in flight get
//!   [`Limits::drain_timeout`], and then every connection is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use super::tls::Peer;

/// What a connection may take. [`Limits::default`] holds the values the
/// docs give; `kradle serve` sets `max_connections` and `drain_timeout`
/// from its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once, on each listener.
    pub max_connections: usize,
    /// Time to send a request's headers, and the longest a kept-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// Time to send a request's whole body.
    pub body_timeout: Duration,
    /// Bytes of request bodies held at once, over all connections.
    pub body_budget: usize,
    /// How long a request waits for its share of the budget.
    pub budget_wait: Duration,
    /// How long requests in flight may run after SIGTERM.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            // GitHub gives a delivery 10 s in all; 30 s is generous.
            body_timeout: Duration::from_secs(30),
            // Ten bodies of the largest size GitHub sends.
            body_budget: 10 * super::MAX_BODY,
            budget_wait: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// resolves; then closes idle connections, gives the requests in flight
/// `limits.drain_timeout`, and drops what is left.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) where
    L: Listener,
    Peer: From<L::Addr>,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        // A slot first, so a full server stops accepting instead of
        // accepting and holding more than it may.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let peer = Peer::from(addr);
        let router = router.clone();
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(|body| Body::new(Deadline::new(body, body_timeout)));
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = builder.serve_connection(TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            let _slot = slot;
            if let Err(error) = connection.await {
                tracing::debug!(remote = %peer.remote, %error, "connection ended");
            }
        });
    }
    // Stop accepting; idle connections close now, busy ones after their
    // response, and none outlives the deadline.
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline = ?limits.drain_timeout,
            open = connections.len(),
            "connections still open after the drain deadline were dropped"
        );
    }
    connections.shutdown().await;
}

/// A request body that fails once its deadline passes.
struct Deadline {
    inner: Incoming,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(inner: Incoming, timeout: Duration) -> Deadline {
        Deadline {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimedOut(this.timeout).into())));
        }
        Pin::new(&mut this.inner)
            .poll_frame(cx)
            .map_err(axum::BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a group of routes accepts as a body: at most `limit` bytes, out of
/// a budget shared by every route.
#[derive(Debug, Clone)]
pub struct BodyGuard {
    limit: usize,
    /// In KiB, so a 25 MiB body is 25,600 permits.
    budget: Arc<Semaphore>,
    wait: Duration,
}

impl BodyGuard {
    /// Guards for routes sharing `limits.body_budget`: call
    /// [`BodyGuard::limited`] for each group.
    pub fn shared(limits: &Limits) -> BodyGuard {
        let permits = (limits.body_budget / 1024).min(Semaphore::MAX_PERMITS);
        BodyGuard {
            limit: 0,
            budget: Arc::new(Semaphore::new(permits)),
            wait: limits.budget_wait,
        }
    }

    /// The same budget, for routes whose bodies may be `limit` bytes.
    pub fn limited(&self, limit: usize) -> BodyGuard {
        BodyGuard {
            limit,
            ..self.clone()
        }
    }

    /// The largest body these routes read.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Before any handler: refuses a body bigger than the route takes (413)
/// and a streamed body of unknown length (411), and holds the body's share
/// of the budget for as long as the request runs (503 when it cannot be
/// had soon).
pub async fn guard_body(
    State(guard): State<BodyGuard>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let length = match headers.get(header::CONTENT_LENGTH) {
        Some(value) => match value.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(length) => length,
            None => return refuse(StatusCode::BAD_REQUEST, "bad Content-Length"),
        },
        None if headers.contains_key(header::TRANSFER_ENCODING) => {
            return refuse(
                StatusCode::LENGTH_REQUIRED,
                "a body needs a Content-Length here",
            );
        }
        None => 0,
    };
    if length > guard.limit as u64 {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the {} bytes allowed", guard.limit),
        );
    }
    // The limit is far below u32::MAX KiB.
    let kib = u32::try_from(length.div_ceil(1024)).unwrap_or(u32::MAX);
    let _share = if kib == 0 {
        None
    } else {
        match tokio::time::timeout(guard.wait, guard.budget.clone().acquire_many_owned(kib)).await {
            Ok(Ok(permit)) => Some(permit),
            _ => {
                let mut busy = refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many request bodies are being received; retry shortly",
                );
                busy.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return busy;
            }
        }
    };
    next.run(request).await
}

/// An answer that also closes the connection: its body was not read.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (status, message.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Reads a request body of at most `limit` bytes, once the handler has
/// decided it wants it: 413 past the limit, 408 when it is too slow, 400
/// when the client broke off.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(c) = cause {
                if let Some(late) = c.downcast_ref::<BodyTimedOut>() {
                    return Err(refuse(StatusCode::REQUEST_TIMEOUT, late.to_string()));
                }
                if c.is::<http_body_util::LengthLimitError>() {
                    return Err(refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the body is larger than the {limit} bytes allowed"),
                    ));
                }
                cause = c.source();
            }
            Err(refuse(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ))
        }
    }
}
