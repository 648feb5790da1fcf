//! The agent API (docs/dispatch.md, "The agent's side"): what a run's
//! agent asks kradle to write to its forge, authenticated by the run's
//! callback token, valid for that run only and only while it has an
//! attempt. `kradle agent` calls it from the pod.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

use super::AppState;
use super::callback::{bearer, unauthorized};
use crate::agent::{Origin, parse};
use crate::loops::dispatch::token_hash;
use crate::store::{AgentWrite, Caller, Calling, NewAgentWrite, Phase, StoreError};

/// The largest body of a write: a comment or pull request body at its
/// limit, escaped, and the rest.
pub const MAX_WRITE_CALL: usize = 4 * crate::agent::MAX_BODY;

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn unavailable(error: &StoreError) -> Response {
    tracing::warn!(%error, "agent API: the store is unavailable");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is unavailable; try again".into(),
    )
}

/// The caller of a request: the run whose live attempt holds its token.
async fn caller(
    state: &AppState,
    org: &str,
    name: &str,
    headers: &HeaderMap,
) -> Result<Caller, Response> {
    let Some(token) = bearer(headers) else {
        return Err(unauthorized().into_response());
    };
    match state
        .store()
        .agent_caller(org, name, &token_hash(token))
        .await
    {
        Ok(Calling::Caller(c)) => Ok(*c),
        Ok(Calling::Unauthorized) => Err(unauthorized().into_response()),
        Ok(Calling::Ended(phase)) => Err(refuse(
            StatusCode::CONFLICT,
            format!("the run is {phase}: its token writes nothing more"),
        )),
        Err(e) => Err(unavailable(&e)),
    }
}

/// How a write is shown to its agent.
fn view(w: &AgentWrite, run: &str) -> Value {
    let mut v = json!({
        "key": w.payload["key"],
        "op": w.intent.action,
        "phase": w.intent.phase,
        "intent": format!("intent-{}", w.intent.id),
    });
    if w.intent.phase == Phase::PendingApproval {
        v["approval"] = json!(format!("{run}-{}", crate::store::WRITE_BACK));
    }
    if let Some(m) = &w.intent.last_error {
        v["message"] = json!(m);
    }
    if let Some(r) = &w.result {
        v["result"] = r.clone();
    }
    v
}

/// `POST /api/orgs/{org}/agents/runs/{name}/writes`: records a write
/// (`{"key", "op", …}`), queued, held for approval or refused as the
/// stack says. 202 when recorded, 200 when the key had been recorded
/// before (the same write, never a second one).
pub async fn write(
    State(state): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let caller = match caller(&state, &org, &name, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = match super::listen::read_body(body, MAX_WRITE_CALL).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            );
        }
    };
    let asked = match parse(&body) {
        Ok(a) => a,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why.to_string()),
    };
    let Some(origin) = caller
        .delivery
        .as_ref()
        .and_then(|(source, payload)| Origin::of(source, payload, caller.git_ref.as_deref()))
    else {
        return refuse(
            StatusCode::CONFLICT,
            "the run did not come from a forge event (it was dispatched by hand or by a schedule): there is nowhere to write back".into(),
        );
    };
    let planned = match asked.plan(
        &org,
        &name,
        origin,
        caller.approval_mode.as_deref(),
        &caller.tools,
    ) {
        Ok(p) => p,
        Err(why) => return refuse(StatusCode::CONFLICT, why.to_string()),
    };
    let op = planned.op;
    let recorded = state
        .store()
        .record_agent_write(&NewAgentWrite {
            caller: &caller,
            planned: &planned,
        })
        .await;
    match recorded {
        Ok((w, new)) => {
            if new {
                tracing::info!(run = %name, %org, op, phase = %w.intent.phase, "agent write recorded");
            }
            let status = if new {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            (status, Json(view(&w, &name))).into_response()
        }
        Err(e) => unavailable(&e),
    }
}

/// `GET /api/orgs/{org}/agents/runs/{name}/writes/{key}`: where the
/// write the agent keyed `key` is.
pub async fn write_status(
    State(state): State<AppState>,
    Path((org, name, key)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&state, &org, &name, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.store().agent_write_keyed(caller.run, &key).await {
        Ok(Some(w)) => Json(view(&w, &name)).into_response(),
        Ok(None) => refuse(
            StatusCode::NOT_FOUND,
            format!("the run has no write keyed `{}`", key.escape_debug()),
        ),
        Err(e) => unavailable(&e),
    }
}
