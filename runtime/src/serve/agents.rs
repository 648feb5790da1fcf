//! The agent endpoints of `kradle serve` that act (docs/dispatch.md, "The
//! API"): dispatch a run, approve or deny an approval, cancel a run. Each
//! needs a token that may act on the resource (`--api-write-token-file`,
//! or RBAC through `--api-token-review`: `create` on `agentdispatchruns`,
//! `update` on `agentapprovals` or `agentdispatchruns`), and is recorded
//! under the token's holder.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::api::{Access, authorized_as};
use crate::dispatch::catalog::{DEFAULT_DEADLINE_SECONDS, DEFAULT_MAX_ATTEMPTS, UnknownName};
use crate::dispatch::run::Phase;
use crate::store::{Cancelled, Decided};

fn answer(code: StatusCode, reason: &str, message: String) -> Response {
    (
        code,
        Json(
            json!({ "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": if code.is_success() { "Success" } else { "Failure" },
            "message": message, "reason": reason, "code": code.as_u16() }),
        ),
    )
        .into_response()
}

fn unavailable(error: impl std::fmt::Display) -> Response {
    tracing::warn!(%error, "agent request not recorded");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the store is unavailable; try again".into(),
    )
}

fn access(verb: &'static str, resource: &str, org: &str, name: Option<&str>) -> Access {
    Access {
        verb,
        resource: Some(resource.to_string()),
        namespace: Some(crate::names::org_namespace(org)),
        name: name.map(str::to_string),
    }
}

/// The JSON body (an empty one is `{}`), or the 400 to answer.
/// The JSON body of a call, read only now that the caller is known
/// (`serve::listen` bounds it).
async fn body_of(body: axum::body::Body) -> Result<Value, Box<Response>> {
    let bytes = super::listen::read_body(body, super::MAX_CALL_BODY)
        .await
        .map_err(Box::new)?;
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Box::new(answer(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("the body is not JSON: {e}"),
        ))
    })
}

/// `POST /api/orgs/{org}/agents/dispatch`:
/// `{"agentStack", "taskKind", "repository"?, "ref"?}` → 201 and the run.
pub async fn dispatch(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let who = match authorized_as(
        &state,
        &headers,
        access("create", "agentdispatchruns", &org, None),
    )
    .await
    {
        Ok(who) => who,
        Err(r) => return r,
    };
    let body = match body_of(body).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let field = |k: &str| body[k].as_str();
    let (Some(stack), Some(task)) = (field("agentStack"), field("taskKind")) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "`agentStack` and `taskKind` are required".into(),
        );
    };
    if let Err(why) = crate::dispatch::check_manual(stack, task, field("repository"), field("ref"))
    {
        return answer(StatusCode::BAD_REQUEST, "BadRequest", why.to_string());
    }
    // What the config does not have is refused now, not failed later: an
    // org the path names, a stack or repository the body names.
    let catalog = crate::loops::current(&state.catalog());
    match catalog.check_names(&org, stack, field("repository")) {
        Ok(()) => {}
        Err(UnknownName::Org(message)) => {
            return answer(StatusCode::NOT_FOUND, "NotFound", message);
        }
        Err(UnknownName::Named(message)) => {
            return answer(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
        }
    }
    match state
        .store()
        .dispatch_manually(
            &org,
            stack,
            task,
            field("repository"),
            field("ref"),
            &who,
            DEFAULT_MAX_ATTEMPTS,
            DEFAULT_DEADLINE_SECONDS,
        )
        .await
    {
        Ok(name) => {
            tracing::info!(%org, run = %name, by = %who, "run dispatched by hand");
            (
                StatusCode::CREATED,
                Json(json!({ "apiVersion": super::api::GROUP_VERSION, "kind": "AgentDispatchRun",
                    "metadata": { "name": name, "namespace": crate::names::org_namespace(&org) },
                    "spec": { "agentStack": stack, "taskKind": task, "repository": field("repository"),
                              "ref": field("ref"), "requestedBy": who },
                    "status": { "phase": Phase::Pending } })),
            )
                .into_response()
        }
        Err(e) => unavailable(e),
    }
}

/// `POST /api/orgs/{org}/agents/approvals/{name}/{decision}` (`approve` or
/// `deny`), with `{"reason"?}`.
pub async fn decide(
    State(state): State<AppState>,
    Path((org, name, decision)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let approve = match decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return answer(StatusCode::NOT_FOUND, "NotFound", "approve or deny".into()),
    };
    let who = match authorized_as(
        &state,
        &headers,
        access("update", "agentapprovals", &org, Some(&name)),
    )
    .await
    {
        Ok(who) => who,
        Err(r) => return r,
    };
    let body = match body_of(body).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let reason: Option<String> = body["reason"]
        .as_str()
        .map(|r| r.chars().take(1024).collect());
    match state
        .store()
        .decide_approval(&org, &name, approve, &who, reason.as_deref())
        .await
    {
        Ok(Decided::Approved) => answer(StatusCode::OK, "Approved", format!("approved by {who}")),
        Ok(Decided::Denied) => answer(StatusCode::OK, "Denied", format!("denied by {who}")),
        Ok(Decided::Writes { approved, writes }) => answer(
            StatusCode::OK,
            if approved { "Approved" } else { "Denied" },
            format!(
                "{} by {who}: {writes} write(s) of the run {}",
                if approved { "approved" } else { "denied" },
                if approved { "queued" } else { "rejected" }
            ),
        ),
        Ok(Decided::NotFound) => answer(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("agentapprovals \"{name}\" not found"),
        ),
        Ok(Decided::Already(how)) => {
            answer(StatusCode::CONFLICT, "Conflict", format!("already {how}"))
        }
        Err(e) => unavailable(e),
    }
}

/// `POST /api/orgs/{org}/agents/runs/{name}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let who = match authorized_as(
        &state,
        &headers,
        access("update", "agentdispatchruns", &org, Some(&name)),
    )
    .await
    {
        Ok(who) => who,
        Err(r) => return r,
    };
    match state.store().cancel_run(&org, &name, &who).await {
        Ok(Cancelled::Cancelled) => answer(
            StatusCode::OK,
            Phase::Cancelled.as_str(),
            format!("cancelled by {who}"),
        ),
        Ok(Cancelled::NotFound) => answer(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("agentdispatchruns \"{name}\" not found"),
        ),
        Ok(Cancelled::Finished(phase)) => answer(
            StatusCode::CONFLICT,
            "Conflict",
            format!("the run is over ({phase})"),
        ),
        Err(e) => unavailable(e),
    }
}
