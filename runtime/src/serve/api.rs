//! The aggregated API: what sync wrote, served the way the Kubernetes API
//! serves objects, so `kubectl get issues -n kradle-org-acme` works
//! through an APIService (docs/serve.md, "Aggregated API").
//!
//! Read-only: discovery, list (with `labelSelector`, `limit`, `continue`),
//! watch and get. Every request needs a bearer token.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::AppState;
use crate::store::{LabelSelector, ListQuery, StoredObject};

/// The aggregated kinds have a group of their own: an `APIService` claims a
/// whole group version, and `kradle.a5c.ai/v1alpha1` belongs to the CRDs the
/// compiler emits (docs/decisions.md, "The aggregated API's group").
pub use kradle_compiler::model::{DATA_API_VERSION as GROUP_VERSION, DATA_GROUP as GROUP, VERSION};

/// The served kinds: the aggregated kinds the store projects. Their plural
/// and singular names are the compiler's (`kradle_compiler::model::KINDS`),
/// never restated here.
const SERVED: &[&str] = &[
    "Issue",
    "PullRequest",
    "Review",
    "Pipeline",
    "Job",
    "ExternalSyncEvent",
    "ExternalSyncState",
    "ExternalWriteIntent",
    "ExternalSyncConflict",
    "AgentTriggerExecution",
    "AgentDispatchRun",
    "AgentDispatchAttempt",
    "AgentApproval",
    "AgentMemorySnapshot",
    "AgentContextBundle",
    "KradleArtifact",
    "AgentSessionTranscript",
    "ExternalWebhookDelivery",
    "ExternalObjectLink",
];

/// The served kinds as (kind, plural, singular), in the order above.
pub fn kinds() -> impl Iterator<Item = (&'static str, &'static str, String)> {
    SERVED.iter().filter_map(|name| {
        let info = kradle_compiler::model::KINDS.iter().find(|k| {
            k.kind == *name && k.storage == kradle_compiler::model::Storage::Aggregated
        })?;
        Some((info.kind, info.plural, info.kind.to_ascii_lowercase()))
    })
}

pub use super::access::{Access, Authenticator, Decision, StaticTokens, Verdict, Who};
pub(super) use super::access::{authorized, authorized_as};

pub(super) use super::status::{status, status_body};

/// `GET /apis/data.kradle.a5c.ai/v1alpha1`: an APIResourceList.
pub(super) async fn discovery(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers, Access::discovery()).await {
        return r;
    }
    let resources: Vec<Value> = kinds()
        .map(|(kind, plural, singular)| {
            json!({
                "name": plural,
                "singularName": singular,
                "namespaced": true,
                "kind": kind,
                "verbs": ["get", "list", "watch"],
                "categories": ["kradle"],
            })
        })
        .collect();
    Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": resources,
    }))
    .into_response()
}

/// `GET /api`: no core versions here (kubectl's discovery asks).
pub(super) async fn core_versions(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers, Access::discovery()).await {
        return r;
    }
    Json(json!({ "kind": "APIVersions", "versions": [], "serverAddressByClientCIDRs": [] }))
        .into_response()
}

/// `GET /apis`: an APIGroupList with kradle's group.
pub(super) async fn groups(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers, Access::discovery()).await {
        return r;
    }
    let version = json!({ "groupVersion": GROUP_VERSION, "version": VERSION });
    Json(json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [{ "name": GROUP, "versions": [version], "preferredVersion": version }],
    }))
    .into_response()
}

#[derive(Debug, serde::Deserialize, Default)]
pub(super) struct ListParams {
    #[serde(rename = "labelSelector")]
    label_selector: Option<String>,
    limit: Option<i64>,
    #[serde(rename = "continue")]
    continue_: Option<String>,
    watch: Option<String>,
    /// Where a watch starts: after this resourceVersion.
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(rename = "timeoutSeconds")]
    timeout_seconds: Option<u64>,
}

fn kind_of(plural: &str) -> Option<&'static str> {
    kinds().find(|(_, p, _)| *p == plural).map(|(k, _, _)| k)
}

/// `GET …/namespaces/{ns}/{plural}`.
pub(super) async fn list_namespaced(
    State(state): State<AppState>,
    Path((namespace, plural)): Path<(String, String)>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Response {
    // A namespace that is not an org's holds none of these objects.
    // (No org is named "", so that filter matches nothing.)
    let org = crate::names::org_of_namespace(&namespace)
        .unwrap_or_default()
        .to_string();
    list(&state, &headers, Some((namespace, org)), &plural, params).await
}

/// `GET /apis/data.kradle.a5c.ai/v1alpha1/{plural}`: across namespaces.
pub(super) async fn list_all(
    State(state): State<AppState>,
    Path(plural): Path<String>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Response {
    list(&state, &headers, None, &plural, params).await
}

async fn list(
    state: &AppState,
    headers: &HeaderMap,
    scope: Option<(String, String)>,
    plural: &str,
    params: ListParams,
) -> Response {
    let (namespace, org) = match scope {
        Some((namespace, org)) => (Some(namespace), Some(org)),
        None => (None, None),
    };
    let watching = params
        .watch
        .as_deref()
        .is_some_and(|w| w != "0" && w != "false");
    let access = Access {
        verb: if watching { "watch" } else { "list" },
        resource: Some(plural.to_string()),
        namespace,
        name: None,
    };
    if let Err(r) = authorized(state, headers, access).await {
        return r;
    }
    let Some(kind) = kind_of(plural) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({plural})"),
        );
    };
    let selector = match LabelSelector::parse(params.label_selector.as_deref().unwrap_or("")) {
        Ok(s) => s,
        Err(why) => return status(StatusCode::BAD_REQUEST, "BadRequest", why.to_string()),
    };
    if watching {
        let from = match params.resource_version.as_deref().filter(|v| !v.is_empty()) {
            None | Some("0") => None,
            Some(v) => {
                // A version this server gave: a number, and none above the
                // highest of the kind (nothing is deleted, so that only grows).
                let latest = match v.parse::<i64>() {
                    Ok(n) if n > 0 => match state.store.latest_resource_version(kind).await {
                        Ok(latest) => Some((n, latest)),
                        Err(_) => return unavailable(),
                    },
                    _ => None,
                };
                match latest {
                    Some((n, latest)) if n <= latest => Some(n),
                    _ => {
                        return status(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            format!(
                                "resourceVersion `{}` is not one this server gave",
                                v.escape_debug()
                            ),
                        );
                    }
                }
            }
        };
        let timeout = params
            .timeout_seconds
            .unwrap_or(MAX_WATCH.as_secs())
            .clamp(1, MAX_WATCH.as_secs());
        return watch(
            state,
            kind,
            ListQuery {
                org,
                selector,
                ..ListQuery::default()
            },
            from,
            std::time::Duration::from_secs(timeout),
            super::table::wants_table(headers),
        );
    }
    let after = match params.continue_.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(token) => match decode_continue(token) {
            Some(after) => after,
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the continue token is not valid",
                );
            }
        },
    };
    let query = ListQuery {
        org,
        selector,
        limit: params.limit.filter(|l| *l > 0),
        after,
        ..ListQuery::default()
    };
    let page = match state.store.list_objects(kind, &query).await {
        Ok(page) => page,
        Err(_) => return unavailable(),
    };
    let version = page
        .items
        .iter()
        .map(|o| o.resource_version)
        .max()
        .unwrap_or(0);
    let mut metadata = json!({ "resourceVersion": version.to_string() });
    if let Some(next) = page.next {
        metadata["continue"] = encode_continue(next).into();
    }
    let items: Vec<Value> = page.items.iter().map(|o| object(kind, o)).collect();
    if super::table::wants_table(headers) {
        return Json(super::table::table(&items, metadata, chrono::Utc::now())).into_response();
    }
    Json(json!({
        "kind": format!("{kind}List"),
        "apiVersion": GROUP_VERSION,
        "metadata": metadata,
        "items": items,
    }))
    .into_response()
}

/// The longest a watch lasts; clients (kubectl, informers) watch again.
const MAX_WATCH: std::time::Duration = std::time::Duration::from_secs(1800);

/// How often a watch looks for changes.
const WATCH_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// A watch (`?watch=1`): a stream of `{"type", "object"}` lines, one per
/// change, as the Kubernetes API streams them.
/// - Without `resourceVersion` (or with `0`), every current object comes
///   first as ADDED, then the changes.
/// - With one, the changes after it.
///
/// A change is found by polling every second for objects with a higher
/// resourceVersion: ADDED for an object created after the version the
/// watch started from (the given one, or the last of the first listing),
/// MODIFIED for the rest. Where kradle does not keep the version an object
/// was created at (the tables other than the synced projections), its
/// creation time is compared with the watch's start instead. Objects are never
/// deleted, so there is no DELETED. The stream ends after `timeoutSeconds`
/// (at most 30 minutes), when the server stops, or with an ERROR event
/// when the database does not answer.
fn watch(
    state: &AppState,
    kind: &'static str,
    mut query: ListQuery,
    from: Option<i64>,
    timeout: std::time::Duration,
    as_table: bool,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let store = state.store.clone();
    let mut stopping = state.stopping();
    tokio::spawn(async move {
        let started = chrono::Utc::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut initial = from.is_none();
        let mut start_version = from;
        query.newer_than = Some(from.unwrap_or(i64::MIN));
        query.limit = Some(crate::store::MAX_PAGE);
        loop {
            let page = match store.list_objects(kind, &query).await {
                Ok(page) => page,
                Err(_) => {
                    let error = json!({ "type": "ERROR", "object": status_body(
                        StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable",
                        "the database does not answer".into()) });
                    let _ = tx.send(line(&error)).await;
                    return;
                }
            };
            for o in &page.items {
                let created_after = match (o.created_version, start_version) {
                    (Some(created), Some(start)) => created > start,
                    _ => o.created_at >= started,
                };
                let kind_of_change = if initial || created_after {
                    "ADDED"
                } else {
                    "MODIFIED"
                };
                // Asked for as a Table (`kubectl get -w`): one row per event,
                // with the same columns as the list.
                let changed = object(kind, o);
                let changed = if as_table {
                    super::table::table(
                        &[changed],
                        json!({ "resourceVersion": o.resource_version.to_string() }),
                        chrono::Utc::now(),
                    )
                } else {
                    changed
                };
                let event = json!({ "type": kind_of_change, "object": changed });
                if tx.send(line(&event)).await.is_err() {
                    return; // the client went away
                }
                query.newer_than = query.newer_than.max(Some(o.resource_version));
            }
            if page.next.is_some() {
                continue;
            }
            initial = false;
            start_version = start_version.or(query.newer_than);
            tokio::select! {
                _ = tokio::time::sleep(WATCH_POLL) => {}
                _ = tokio::time::sleep_until(deadline) => return,
                _ = stopping.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

fn line(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// `GET …/namespaces/{ns}/{plural}/{name}`.
pub(super) async fn get_one(
    State(state): State<AppState>,
    Path((namespace, plural, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let access = Access {
        verb: "get",
        resource: Some(plural.clone()),
        namespace: Some(namespace.clone()),
        name: Some(name.clone()),
    };
    if let Err(r) = authorized(&state, &headers, access).await {
        return r;
    }
    let Some(kind) = kind_of(&plural) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({plural})"),
        );
    };
    let not_found = || {
        status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{plural}.{GROUP} \"{name}\" not found"),
        )
    };
    let Some(org) = crate::names::org_of_namespace(&namespace) else {
        return not_found();
    };
    let query = ListQuery {
        org: Some(org.to_string()),
        name: Some(name.clone()),
        limit: Some(1),
        ..ListQuery::default()
    };
    match state.store.list_objects(kind, &query).await {
        Ok(page) => match page.items.first() {
            Some(o) if super::table::wants_table(&headers) => Json(super::table::table(
                &[object(kind, o)],
                json!({ "resourceVersion": o.resource_version.to_string() }),
                chrono::Utc::now(),
            ))
            .into_response(),
            Some(o) => Json(object(kind, o)).into_response(),
            None => not_found(),
        },
        Err(_) => unavailable(),
    }
}

fn unavailable() -> Response {
    status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the database does not answer",
    )
}

/// A stored row as a Kubernetes object.
fn object(kind: &str, o: &StoredObject) -> Value {
    json!({
        "apiVersion": GROUP_VERSION,
        "kind": kind,
        "metadata": {
            "name": o.name,
            "namespace": crate::names::org_namespace(&o.org),
            "uid": o.uid,
            "resourceVersion": o.resource_version.to_string(),
            "creationTimestamp": o.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "labels": o.labels,
        },
        "spec": o.spec,
        "status": o.status,
    })
}

/// Continue tokens are opaque to clients: base64 of the position.
fn encode_continue(after: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{after}"))
}

fn decode_continue(token: &str) -> Option<i64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("after:")?
        .parse()
        .ok()
        .filter(|n| *n >= 0)
}

/// The authenticator state holds.
pub type SharedAuth = Option<Arc<dyn Authenticator>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_continue(&encode_continue(42)), Some(42));
        assert_eq!(decode_continue("not base64!"), None);
        assert_eq!(
            decode_continue(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("after:-1")),
            None
        );
    }

    #[tokio::test]
    async fn static_tokens_allow_only_theirs() {
        let tokens = StaticTokens::parse("# readers\nalpha\n\n beta \n");
        assert!(!tokens.is_empty());
        let access = Access::discovery();
        assert_eq!(tokens.authorize("alpha", &access).await, Ok(true));
        assert_eq!(tokens.authorize("beta", &access).await, Ok(true));
        assert_eq!(tokens.authorize("gamma", &access).await, Ok(false));
        assert_eq!(tokens.authorize("", &access).await, Ok(false));
        // A read token asking to act is known, and forbidden; an unknown
        // one is nobody.
        let mut tokens = StaticTokens::parse("reader grace\n");
        tokens.add("writer alan\n", true);
        let act = Access {
            verb: "create",
            resource: Some("agentdispatchruns".into()),
            namespace: Some(crate::names::org_namespace("acme")),
            name: None,
        };
        assert_eq!(
            tokens.authorize_as("reader", &act).await,
            Ok(Decision::Forbidden("grace".into()))
        );
        assert_eq!(
            tokens.authorize_as("writer", &act).await,
            Ok(Decision::Allowed("alan".into()))
        );
        assert_eq!(
            tokens.authorize_as("nobody", &act).await,
            Ok(Decision::Unauthenticated)
        );
    }
}

#[cfg(test)]
mod served_kinds_doc {
    /// docs/serve.md's table of served kinds is the served list: every kind
    /// once, nothing else.
    #[test]
    fn the_docs_table_lists_exactly_the_served_kinds() {
        let doc = include_str!("../../../docs/serve.md");
        let table = doc
            .split("<!-- served-kinds:start -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- served-kinds:end -->").next())
            .unwrap_or_default();
        let mut documented: Vec<(String, String)> = table
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let plural = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((cells.get(2)?.to_string(), plural.to_string()))
            })
            .collect();
        documented.sort();
        // Every served kind is an aggregated kind of the compiler's registry.
        assert_eq!(super::kinds().count(), super::SERVED.len());
        let mut served: Vec<(String, String)> = super::kinds()
            .map(|(kind, plural, _)| (kind.to_string(), plural.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
    }
}
