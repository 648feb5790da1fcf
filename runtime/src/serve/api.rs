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
use sha2::{Digest, Sha256};

use super::AppState;
use super::tls::RemoteUser;
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

/// What a request asks to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `get` or `list`.
    pub verb: &'static str,
    /// The plural (`issues`); `None` for discovery.
    pub resource: Option<String>,
    /// `None` across namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Access {
    pub(super) fn discovery() -> Access {
        Access {
            verb: "get",
            resource: None,
            namespace: None,
            name: None,
        }
    }
}

/// The future an [`Authenticator`] answers with.
pub type Verdict<'a> = std::pin::Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

/// What [`Authenticator::authorize_as`] decided about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the holder's name.
    Allowed(String),
    /// The holder is known and may not do this: 403, naming them.
    Forbidden(String),
    /// Nobody known holds the token: 401.
    Unauthenticated,
}

/// The future [`Authenticator::authorize_as`] answers with.
pub type Who<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Decision, String>> + Send + 'a>>;

/// Who may use the API.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Whether the holder of `token` may do `access`; `Err` when that
    /// cannot be decided now (the answer is then 503, not 401).
    fn authorize<'a>(&'a self, token: &'a str, access: &'a Access) -> Verdict<'a>;

    /// [`Authenticator::authorize`], saying who the holder is: the name an
    /// approval or a dispatch is recorded under, or the one a 403 names.
    fn authorize_as<'a>(&'a self, token: &'a str, access: &'a Access) -> Who<'a> {
        Box::pin(async move {
            Ok(if self.authorize(token, access).await? {
                Decision::Allowed("api-token".to_string())
            } else {
                Decision::Unauthenticated
            })
        })
    }

    /// Whether `user`, whom the front proxy (the Kubernetes API server)
    /// authenticated, may do `access`. Only an authenticator that asks the
    /// cluster can say; the others refuse.
    fn authorize_user<'a>(&'a self, user: &'a RemoteUser, access: &'a Access) -> Verdict<'a> {
        let _ = (user, access);
        Box::pin(async { Ok(false) })
    }
}

/// Whether `verb` only reads.
fn reads(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// Bearer tokens from files, one per line: `<token> [name]`
/// (`--api-token-file` to read, `--api-write-token-file` to act too:
/// dispatch, approve, deny, cancel). Only their sha256 is kept, and tokens
/// are compared by digest in constant time.
#[derive(Debug, Default)]
pub struct StaticTokens {
    /// (digest, name, may act).
    tokens: Vec<([u8; 32], String, bool)>,
}

impl StaticTokens {
    /// The read tokens of `text`: one per line, blank lines and `#`
    /// comments skipped.
    pub fn parse(text: &str) -> StaticTokens {
        let mut out = StaticTokens::default();
        out.add(text, false);
        out
    }

    /// Adds the tokens of `text`; `write`: they may act, not only read.
    pub fn add(&mut self, text: &str, write: bool) {
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut words = line.split_whitespace();
            let token = words.next().unwrap_or_default();
            let name = words.next().unwrap_or("api-token").to_string();
            self.tokens
                .push((Sha256::digest(token.as_bytes()).into(), name, write));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `token`'s line allows `access`, naming its holder.
    fn holder(&self, token: &str, access: &Access) -> Decision {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = Decision::Unauthenticated;
        for (known, name, write) in &self.tokens {
            let diff = known
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                if *write || reads(access.verb) {
                    found = Decision::Allowed(name.clone());
                } else if found == Decision::Unauthenticated {
                    // A read token asking to act.
                    found = Decision::Forbidden(name.clone());
                }
            }
        }
        found
    }
}

impl Authenticator for StaticTokens {
    /// A read token may read everything the API serves; a write token
    /// may act too.
    fn authorize<'a>(&'a self, token: &'a str, access: &'a Access) -> Verdict<'a> {
        let allowed = matches!(self.holder(token, access), Decision::Allowed(_));
        Box::pin(async move { Ok(allowed) })
    }

    fn authorize_as<'a>(&'a self, token: &'a str, access: &'a Access) -> Who<'a> {
        let holder = self.holder(token, access);
        Box::pin(async move { Ok(holder) })
    }
}

/// A Kubernetes `Status` failure.
fn status(code: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    (code, Json(status_body(code, reason, message.into()))).into_response()
}

/// A Kubernetes `Status` object of a failure.
fn status_body(code: StatusCode, reason: &str, message: String) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    })
}

/// The caller's token checked, or the failure to answer.
pub(super) async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
) -> Result<(), Response> {
    authorized_as(state, headers, access).await.map(|_| ())
}

/// The caller's token checked, and who holds it; or the failure to
/// answer.
pub(super) async fn authorized_as(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
) -> Result<String, Response> {
    let Some(auth) = state.api_auth.as_ref() else {
        return Err(status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the API is not enabled: start kradle serve with --api-token-file",
        ));
    };
    // The headers survive only on the front proxy's connections
    // (`serve::believe_front_proxy`).
    if let Some(user) = state.front_proxy.as_ref().and_then(|p| p.user(headers)) {
        return match auth.authorize_user(&user, &access).await {
            Ok(true) => Ok(user.name),
            Ok(false) => Err(status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                forbidden(&user.name, &access),
            )),
            Err(why) => Err(status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("cannot check access: {why}"),
            )),
        };
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "a bearer token is required",
        ));
    };
    match auth.authorize_as(token, &access).await {
        Ok(Decision::Allowed(who)) => Ok(who),
        // As the Kubernetes API server: 403 for a known caller RBAC
        // denies, 401 only when the token names nobody.
        Ok(Decision::Forbidden(who)) => Err(status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            forbidden(&who, &access),
        )),
        Ok(Decision::Unauthenticated) => Err(status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the token is not valid",
        )),
        Err(why) => Err(status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("cannot check the token: {why}"),
        )),
    }
}

/// The message of a 403, worded as Kubernetes words it.
fn forbidden(user: &str, access: &Access) -> String {
    let what = match &access.resource {
        Some(r) => format!("{r}.{GROUP}"),
        None => "this API".to_string(),
    };
    let scope = match &access.namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".to_string(),
    };
    format!(
        "{what} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{GROUP}\"{scope}",
        access.verb,
        access.resource.as_deref().unwrap_or("")
    )
}

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
    let org = kradle_compiler::model::org_of_namespace(&namespace)
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
        Err(why) => return status(StatusCode::BAD_REQUEST, "BadRequest", why),
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
/// resourceVersion: ADDED for an object created after the watch started,
/// MODIFIED for the rest (an object created between the given
/// resourceVersion and the start shows as MODIFIED). Objects are never
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
                let kind_of_change = if initial || o.created_at >= started {
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
    let Some(org) = kradle_compiler::model::org_of_namespace(&namespace) else {
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
            "namespace": kradle_compiler::model::org_namespace(&o.org),
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
            namespace: Some(kradle_compiler::model::org_namespace("acme")),
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
