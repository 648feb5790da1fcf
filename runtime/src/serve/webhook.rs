//! The webhook endpoints: verify, parse, record, answer.
//!
//! The order of the checks is the order of trust: an unknown receiver is
//! 404, and a receiver without a secret or a delivery without a signature
//! 401, before a byte of the body is read; then the body is read (bounded
//! in size and time, `serve::listen`) and the signature is checked over it
//! before anything of it is parsed (401 on a bad one); then the headers and
//! the body (400); then the delivery is committed (202, or 200 for one
//! already stored, 409 for the same delivery id with another body, 503 when
//! the database cannot take it so the forge retries).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::store::{NewDelivery, Recorded};
use crate::sync::ordering_key;

/// The largest body accepted (GitHub caps payloads at 25 MB).
pub const MAX_BODY: usize = 25 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    GitHub,
    Gitea,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::GitHub => "github",
            Source::Gitea => "gitea",
        }
    }

    /// Headers: (event, delivery id, signature).
    fn headers(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Source::GitHub => ("x-github-event", "x-github-delivery", "x-hub-signature-256"),
            Source::Gitea => ("x-gitea-event", "x-gitea-delivery", "x-gitea-signature"),
        }
    }
}

pub(super) async fn github(
    State(state): State<AppState>,
    Path((org, binding)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = receive(&state, Source::GitHub, &org, &binding, &headers, body).await;
    state.deliveries.count(answer.status());
    answer
}

pub(super) async fn gitea(
    State(state): State<AppState>,
    Path((org, subscription)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = receive(&state, Source::Gitea, &org, &subscription, &headers, body).await;
    state.deliveries.count(answer.status());
    answer
}

fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

async fn receive(
    state: &AppState,
    source: Source,
    org: &str,
    name: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let receivers = state.receivers();
    let Some(receiver) = receivers.get(source, org, name) else {
        return answer(StatusCode::NOT_FOUND, "no such receiver");
    };
    let (event_header, delivery_header, signature_header) = source.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };

    let Some(secret) = &receiver.secret else {
        return answer(
            StatusCode::UNAUTHORIZED,
            "this receiver has no secret configured, so no delivery can be verified",
        );
    };
    let Some(signature) = header(signature_header) else {
        return answer(
            StatusCode::UNAUTHORIZED,
            format!("missing {signature_header}"),
        );
    };
    let hex_signature = match source {
        Source::GitHub => signature.strip_prefix("sha256="),
        Source::Gitea => Some(signature),
    };
    // Only now, with a receiver and a signature to check, is the body read.
    let body = match super::listen::read_body(body, MAX_BODY).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let body = &body[..];
    if !hex_signature.is_some_and(|s| verify(secret.expose().as_bytes(), body, s)) {
        return answer(StatusCode::UNAUTHORIZED, "bad signature");
    }

    let (Some(event), Some(delivery)) = (header(event_header), header(delivery_header)) else {
        return answer(
            StatusCode::BAD_REQUEST,
            format!("{event_header} and {delivery_header} are required"),
        );
    };
    if event.is_empty() || delivery.is_empty() || delivery.len() > 200 || event.len() > 100 {
        return answer(
            StatusCode::BAD_REQUEST,
            format!("bad {event_header} or {delivery_header}"),
        );
    }
    let payload = match parse(headers, body) {
        Ok(payload) => payload,
        Err(why) => return answer(StatusCode::BAD_REQUEST, why.to_string()),
    };

    let recorded = state
        .store
        .record_delivery(&NewDelivery {
            org,
            source: source.name(),
            receiver: name,
            delivery_id: delivery,
            event,
            action: payload["action"].as_str(),
            payload: &payload,
            body_digest: hex::encode(Sha256::digest(body)),
            key: ordering_key(source.name(), org, event, &payload),
            max_attempts: receiver.max_attempts,
            backoff_ms: receiver.backoff_ms,
        })
        .await;
    match recorded {
        Ok(Recorded::New(_)) => answer(StatusCode::ACCEPTED, "accepted"),
        Ok(Recorded::Duplicate(_)) => answer(StatusCode::OK, "already received"),
        Ok(Recorded::Conflict(_)) => answer(
            StatusCode::CONFLICT,
            "this delivery id was received with another body",
        ),
        Err(_) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database cannot take deliveries now; retry",
        ),
    }
}

/// Whether `hex_signature` is the HMAC-SHA256 of `body` under `secret`,
/// compared in constant time.
fn verify(secret: &[u8], body: &[u8], hex_signature: &str) -> bool {
    let Ok(signature) = hex::decode(hex_signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Why a delivery's body is not a payload (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BadPayload {
    #[error("a form-encoded delivery needs a `payload` field")]
    NoFormPayload,
    #[error("the payload is not a JSON object")]
    NotAnObject,
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
}

/// The JSON payload: the body, or its `payload` field when form-encoded.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Value, BadPayload> {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let json: std::borrow::Cow<'_, [u8]> = if form {
        let payload = form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .ok_or(BadPayload::NoFormPayload)?;
        payload.into_bytes().into()
    } else {
        body.into()
    };
    match serde_json::from_slice::<Value>(&json) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(BadPayload::NotAnObject),
        Err(e) => Err(BadPayload::NotJson(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        // GitHub's documented example: secret "It's a Secret to Everybody",
        // body "Hello, World!".
        let expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            expected
        ));
        assert!(!verify(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            expected
        ));
        assert!(!verify(b"another secret", b"Hello, World!", expected));
        assert!(!verify(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            "zz"
        ));
        assert!(!verify(b"It's a Secret to Everybody", b"Hello, World!", ""));
    }

    #[test]
    fn comments_and_reviews_share_their_issue_or_pull_request_key() {
        let repo = json!({ "full_name": "o/r" });
        let comment = json!({ "repository": repo, "issue": { "number": 7 } });
        let review = json!({ "repository": repo, "pull_request": { "number": 7 } });
        let job = json!({ "repository": repo, "workflow_job": { "id": 1, "run_id": 9 } });
        let run = json!({ "repository": repo, "workflow_run": { "id": 9 } });
        assert_eq!(
            ordering_key("github", "acme", "issue_comment", &comment),
            ordering_key("github", "acme", "pull_request_review", &review)
        );
        assert_eq!(
            ordering_key("github", "acme", "workflow_job", &job),
            ordering_key("github", "acme", "workflow_run", &run)
        );
        assert_eq!(
            ordering_key("github", "acme", "push", &json!({ "repository": repo })),
            "github:acme:o/r"
        );
    }
}
