//! What a connection to `kradle serve` may take (`serve::listen`), tried
//! over raw TCP as a hostile client would: headers that never end, a
//! connection that says nothing, a body sent a byte at a time, a body too
//! big to read, a streamed body of unknown length, more connections than
//! allowed, more bodies than the budget, and a SIGTERM with a connection
//! that never finishes. Limits are short here so the tests are quick; every
//! wait is on a condition, with a deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kradle_runtime::serve::listen::{self, BodyGuard, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Long enough for any condition here on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(20);

fn limits() -> Limits {
    Limits {
        max_connections: 64,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(500),
        body_budget: 4096,
        budget_wait: Duration::from_millis(200),
        drain_timeout: Duration::from_millis(300),
    }
}

/// A route that reads its body (at most 2 KiB), and one that answers
/// without reading it, behind the body guard.
fn app(limits: &Limits) -> Router {
    async fn echo(body: Body) -> Response {
        match listen::read_body(body, 2048).await {
            Ok(bytes) => format!("read {}", bytes.len()).into_response(),
            Err(refused) => refused,
        }
    }
    let guard = BodyGuard::shared(limits).limited(2048);
    Router::new()
        .route("/echo", post(echo))
        .route("/nothing", post(|| async { StatusCode::NOT_FOUND }))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            listen::guard_body,
        ))
        .route("/", get(|| async { "ok" }))
}

/// Serves [`app`] within `limits` until the returned sender is dropped or
/// sent to; the handle ends when the server has stopped.
async fn start(
    limits: Limits,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = app(&limits);
    let server = tokio::spawn(listen::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// Reads until the server closes the connection (or resets it), within
/// the deadline; what it said.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open; it said: {}",
        String::from_utf8_lossy(&seen)
    );
    String::from_utf8_lossy(&seen).into_owned()
}

/// The status line of the first answer on `stream`.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n") {
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            seen.push(byte[0]);
        }
    })
    .await
    .expect("no answer");
    String::from_utf8_lossy(&seen).trim().to_owned()
}

#[tokio::test]
async fn headers_that_never_end_and_idle_connections_are_closed() {
    let (addr, _stop, _server) = start(limits()).await;
    // Headers begun and never finished.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: kradle\r\n")
        .await
        .unwrap();
    // A connection that never says anything.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // A kept-alive connection, idle after one answer.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: kradle\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status_line(&mut idle).await, "HTTP/1.1 200 OK");

    until_closed(&mut slow).await;
    until_closed(&mut silent).await;
    until_closed(&mut idle).await;
}

#[tokio::test]
async fn a_body_that_trickles_is_cut_off_with_408() {
    let (addr, _stop, _server) = start(limits()).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nContent-Length: 100\r\n\r\nfirst")
        .await
        .unwrap();
    // One byte now and then, never the hundred.
    let said = tokio::time::timeout(DEADLINE, async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let _ = stream.write_all(b"x").await;
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return seen,
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
    })
    .await
    .expect("the trickling body was never cut off");
    let said = String::from_utf8_lossy(&said);
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("did not arrive within"), "{said}");
}

#[tokio::test]
async fn a_body_too_big_is_refused_before_it_is_sent() {
    let (addr, _stop, _server) = start(limits()).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    // Headers only: the server must answer without waiting for the body.
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nContent-Length: 2049\r\n\r\n")
        .await
        .unwrap();
    let said = until_closed(&mut stream).await;
    assert!(said.starts_with("HTTP/1.1 413"), "{said}");

    // A streamed body of unknown length is not read at all.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .await
        .unwrap();
    let said = until_closed(&mut stream).await;
    assert!(said.starts_with("HTTP/1.1 411"), "{said}");

    // Within the limit, the body is read.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    assert_eq!(status_line(&mut stream).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_handler_that_refuses_does_not_wait_for_the_body() {
    let (addr, _stop, _server) = start(limits()).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /nothing HTTP/1.1\r\nHost: kradle\r\nContent-Length: 2000\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status_line(&mut stream).await, "HTTP/1.1 404 Not Found");
}

#[tokio::test]
async fn bodies_past_the_budget_wait_then_get_503() {
    let (addr, _stop, _server) = start(Limits {
        body_budget: 2048,
        body_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    // Holds the whole budget: 2 KiB announced, not all sent.
    let mut holder = TcpStream::connect(&addr).await.unwrap();
    holder
        .write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nContent-Length: 2048\r\n\r\npart")
        .await
        .unwrap();
    // Wait until the holder has its share: a second body is then refused.
    let refused = tokio::time::timeout(DEADLINE, async {
        loop {
            let mut other = TcpStream::connect(&addr).await.unwrap();
            other
                .write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nContent-Length: 1024\r\n\r\n")
                .await
                .unwrap();
            let said = until_closed(&mut other).await;
            if said.starts_with("HTTP/1.1 503") {
                return said;
            }
        }
    })
    .await
    .expect("a body past the budget was never refused");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 5"),
        "{refused}"
    );
    // When the holder's body is done, its share is free again.
    holder.write_all(&[b'x'; 2044]).await.unwrap();
    assert_eq!(status_line(&mut holder).await, "HTTP/1.1 200 OK");
    let mut next = TcpStream::connect(&addr).await.unwrap();
    next.write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .unwrap();
    assert_eq!(status_line(&mut next).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn past_the_connection_cap_the_next_client_is_served_when_one_closes() {
    let (addr, _stop, _server) = start(Limits {
        max_connections: 2,
        header_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let first = TcpStream::connect(&addr).await.unwrap();
    let mut second = TcpStream::connect(&addr).await.unwrap();
    // The second is served, so both slots are taken.
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: kradle\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status_line(&mut second).await, "HTTP/1.1 200 OK");
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: kradle\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), third.read(&mut byte))
            .await
            .is_err(),
        "a third connection was served past the cap of two"
    );
    drop(first);
    assert_eq!(status_line(&mut third).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn shutdown_drops_what_does_not_finish_by_the_deadline() {
    let (addr, stop, server) = start(Limits {
        body_timeout: Duration::from_secs(600),
        header_timeout: Duration::from_secs(600),
        ..limits()
    })
    .await;
    // A request whose body never comes, and an idle connection.
    let mut busy = TcpStream::connect(&addr).await.unwrap();
    busy.write_all(b"POST /echo HTTP/1.1\r\nHost: kradle\r\nContent-Length: 1000\r\n\r\nx")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: kradle\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status_line(&mut idle).await, "HTTP/1.1 200 OK");
    stop.send(()).unwrap();
    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("the server did not stop while a connection stayed open")
        .unwrap();
    until_closed(&mut idle).await;
    // Dropped: the connection task is gone with the runtime's next turn.
    until_closed(&mut busy).await;
}
