//! The agent's callback (docs/dispatch.md, "The callback contract"): an
//! attempt's result, authenticated by the run's callback token, recorded
//! as the dispatch worker's transition would be.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse as _;
use serde_json::{Value, json};

use super::AppState;
use crate::dispatch::outcome::outcome_of;
use crate::dispatch::run::Phase;
use crate::loops::dispatch::token_hash;
use crate::store::{AfterFailure, Called};

fn bad(message: String) -> (StatusCode, Json<Value>) {
    (StatusCode::BAD_REQUEST, Json(json!({ "message": message })))
}

/// `POST /api/orgs/{org}/agents/runs/{name}/callback`: the agent's
/// result, with `Authorization: Bearer <token>` (the token of the run's
/// current attempt). 401 for a wrong token or an unknown run alike.
pub async fn callback(
    State(state): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> axum::response::Response {
    let Some(token) = bearer(&headers) else {
        return unauthorized().into_response();
    };
    // The body is read only from a caller that holds a token.
    let body = match super::listen::read_body(body, super::MAX_CALL_BODY).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    record_callback(&state, &org, &name, token, &body)
        .await
        .into_response()
}

/// The bearer token of a request, if it has one.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// 401: the same for a wrong token and an unknown run.
pub(super) fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "message": "a valid run token is required" })),
    )
}

async fn record_callback(
    state: &AppState,
    org: &str,
    name: &str,
    token: &str,
    body: &[u8],
) -> (StatusCode, Json<Value>) {
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(format!("the body is not JSON: {e}")),
    };
    let outcome = match outcome_of(&body) {
        Ok(o) => o,
        Err(why) => return bad(why.to_string()),
    };
    match state
        .store()
        .callback(org, name, &token_hash(token), &outcome)
        .await
    {
        Ok(Called::Succeeded) => {
            state.dispatch.succeeded.fetch_add(1, Ordering::Relaxed);
            tracing::info!(run = %name, %org, "run succeeded");
            (StatusCode::OK, Json(json!({ "phase": Phase::Succeeded })))
        }
        Ok(Called::Failed(after)) => {
            state
                .dispatch
                .attempts_failed
                .fetch_add(1, Ordering::Relaxed);
            let phase = match after {
                AfterFailure::Retrying(_) => Phase::Pending,
                _ => Phase::Failed,
            };
            tracing::warn!(run = %name, %org, "the agent reported a failure");
            (StatusCode::OK, Json(json!({ "phase": phase })))
        }
        Ok(Called::Unauthorized) => unauthorized(),
        Ok(Called::NotRunning(phase)) => (
            StatusCode::CONFLICT,
            Json(
                json!({ "message": format!("the run is {phase}: it is not waiting for a result") }),
            ),
        ),
        Err(error) => {
            tracing::warn!(%error, "callback not recorded");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "message": "the store is unavailable; try again" })),
            )
        }
    }
}
