//! What the forge fakes share: fault injection, JSON answers, and the
//! small parsers a server needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Faults to inject, each a share of requests (0.0 to 1.0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// 500 before anything is applied.
    pub error: f64,
    /// A write applied, then answered 500 (the client cannot know it landed).
    pub error_after_write: f64,
    /// 429 with `Retry-After: 0`.
    pub throttle: f64,
    /// The connection closed without an answer (after applying a write).
    pub reset: f64,
    /// A write applied, then answered 200 with a body that is not JSON (a
    /// proxy's error page).
    pub garbage: f64,
}

/// A number in [0, 1) from a xorshift state.
pub fn roll(state: &mut u64) -> f64 {
    let mut x = (*state).max(1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, json!({ "message": text }))
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn query_of(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn merge(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            t.insert(k.clone(), v.clone());
        }
    }
}

/// An SSH key's type and body, without its comment.
pub fn material(key: &Value) -> String {
    key.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a fake decided to do to one request.
#[derive(Debug, Clone, Copy)]
pub struct Injection {
    /// Apply the write, then answer 500.
    pub after_write: bool,
    /// Apply the write, then close the connection without an answer.
    pub reset: bool,
    /// Apply the write, then answer 200 with a body that is not JSON.
    pub garbage: bool,
}

impl Faults {
    /// Rolls the faults of one request: `Err` is the answer to send instead
    /// (a 429 or a 500 before anything is applied).
    pub fn roll(
        &self,
        rng: &mut u64,
        injected: &mut usize,
        write: bool,
    ) -> Result<Injection, Box<Response>> {
        if roll(rng) < self.throttle {
            *injected += 1;
            return Err(Box::new(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "0")],
                    axum::Json(json!({ "message": "slow down" })),
                )
                    .into_response(),
            ));
        }
        if roll(rng) < self.error {
            *injected += 1;
            return Err(Box::new(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "injected",
            )));
        }
        Ok(Injection {
            after_write: write && roll(rng) < self.error_after_write,
            reset: write && roll(rng) < self.reset,
            garbage: write && roll(rng) < self.garbage,
        })
    }
}

impl Injection {
    /// Whether a fault hits this applied write (to count it).
    pub fn hits(&self) -> bool {
        self.after_write || self.reset || self.garbage
    }

    /// The answer the client gets for `response`, once its write is applied.
    pub fn deliver(self, response: Response) -> Response {
        if !response.status().is_success() {
            return response;
        }
        if self.reset {
            // The write is applied; the client never hears of it.
            panic!("injected connection reset");
        }
        if self.after_write {
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "injected after the write",
            );
        }
        if self.garbage {
            return (StatusCode::OK, "<html><body>Bad gateway</body></html>").into_response();
        }
        response
    }
}

/// One page of `items`: `page` (from 1) and the page size under `size_key`
/// (default 30, at most `max`) from the query. Returns the page, its number,
/// its size and how many items there are in all.
pub fn slice_page(
    items: Vec<Value>,
    query: &BTreeMap<String, String>,
    size_key: &str,
    max: usize,
) -> (Vec<Value>, usize, usize, usize) {
    let number = |key: &str, default: usize| {
        query
            .get(key)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let size = number(size_key, 30).clamp(1, max);
    let page = number("page", 1).max(1);
    let total = items.len();
    let slice = items
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    (slice, page, size, total)
}

/// A request body as JSON (`None` when empty), or the 400 a forge answers
/// with `message`.
pub fn json_body(body: &[u8], message_text: &str) -> Result<Option<Value>, Box<Response>> {
    if body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| Box::new(message(StatusCode::BAD_REQUEST, message_text)))
}

/// Waits the latency a fake adds to every request (the simulated network,
/// not a wait for a condition).
pub async fn latency(delay: std::time::Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}
