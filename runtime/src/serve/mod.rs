//! `kradle serve`: the long-running half of the runtime (docs/serve.md).
//!
//! This part is webhook ingest: forges post deliveries, kradle verifies
//! their signature with the secret of the binding (GitHub) or subscription
//! (Gitea) they are addressed to, and commits each new one to PostgreSQL
//! with a queued job before answering 202. Nothing unverified is stored.

pub mod access;
mod agent_api;
pub mod agents;
pub mod api;
mod callback;
pub mod listen;
mod metrics;
mod openapi;
mod status;
mod table;
pub mod tls;
mod webhook;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::Value;

use crate::loops::writeback::WriteBackPolicy;
use crate::loops::{backfill, dispatch, sync as workers, writeback};
use crate::secrets::{SecretError, SecretValue, Secrets};
use crate::store::Store;

/// The trigger rules of the current config, swapped on SIGHUP.
pub use crate::loops::sync::SharedTriggers;

pub use crate::sync::ordering_key;
pub use webhook::MAX_BODY;

/// Tries a sync job gets before it is a dead letter, when the sync policy
/// says nothing (spec: `retryPolicy.maxRetries`, default 5).
pub const DEFAULT_MAX_RETRIES: u32 = 5;

pub use crate::loops::DEFAULT_BACKOFF_MS;

/// Where deliveries may be posted, and the secret that signs each.
#[derive(Debug, Default)]
pub struct Receivers {
    /// `(org, binding)` → GitHub binding.
    github: BTreeMap<(String, String), Receiver>,
    /// `(org, subscription)` → Gitea subscription.
    gitea: BTreeMap<(String, String), Receiver>,
}

#[derive(Debug)]
pub struct Receiver {
    /// `None` when the config names no secret: every delivery is refused,
    /// since none can be verified.
    secret: Option<SecretValue>,
    /// Tries of each job (the retries of the sync policy, plus the first).
    max_attempts: i32,
    /// The first retry's wait (the sync policy's `retryPolicy.backoffMs`).
    backoff_ms: u64,
}

/// Why the receivers could not be built from a config.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("{kind} `{org}/{name}`: its webhook secret is missing: {source}")]
    Secret {
        kind: &'static str,
        org: String,
        name: String,
        #[source]
        source: SecretError,
    },
}

impl Receivers {
    /// The receivers of a compiled config: each GitHub
    /// ExternalBackendBinding and each WebhookSubscription, with the secret
    /// its `webhookSecretRef` / `secretRef` names, read from `secrets`.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
        secrets: &Secrets,
    ) -> Result<Receivers, ReceiverError> {
        let objects: Vec<&Value> = objects.into_iter().collect();
        let of_kind = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);
        let secret = |kind: &'static str, o: &Value, r: &Value| -> Result<_, ReceiverError> {
            let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) else {
                return Ok(None);
            };
            let namespace = o["metadata"]["namespace"].as_str().unwrap_or_default();
            secrets
                .get(namespace, name, key)
                .map(|v| Some(v.clone()))
                .map_err(|source| ReceiverError::Secret {
                    kind,
                    org: org_of(o),
                    name: name_of(o),
                    source,
                })
        };
        let providers: BTreeMap<(String, String), &Value> = of_kind("ExternalBackendProvider")
            .map(|p| ((org_of(p), name_of(p)), &p["spec"]))
            .collect();
        let policies: BTreeMap<(String, String), &Value> = of_kind("ExternalBackendSyncPolicy")
            .map(|p| {
                let provider = p["spec"]["providerRef"].as_str().unwrap_or_default();
                ((org_of(p), provider.to_string()), &p["spec"]["retryPolicy"])
            })
            .collect();

        let mut out = Receivers::default();
        for b in of_kind("ExternalBackendBinding") {
            let provider = b["spec"]["providerRef"].as_str().unwrap_or_default();
            let key = (org_of(b), provider.to_string());
            if providers.get(&key).map(|p| &p["providerType"]) != Some(&Value::from("github")) {
                continue;
            }
            let (max_attempts, backoff_ms) =
                retry_settings(policies.get(&key).copied().unwrap_or(&Value::Null));
            let receiver = Receiver {
                secret: secret("binding", b, &b["spec"]["webhookSecretRef"])?,
                max_attempts,
                backoff_ms,
            };
            out.github.insert((org_of(b), name_of(b)), receiver);
        }
        for s in of_kind("WebhookSubscription") {
            let (max_attempts, backoff_ms) = retry_settings(&Value::Null);
            let receiver = Receiver {
                secret: secret("subscription", s, &s["spec"]["secretRef"])?,
                max_attempts,
                backoff_ms,
            };
            out.gitea.insert((org_of(s), name_of(s)), receiver);
        }
        Ok(out)
    }

    /// The Secrets (namespace, name) the receivers of `objects` name, to
    /// read from the cluster.
    pub fn secrets_wanted<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
    ) -> std::collections::BTreeSet<(String, String)> {
        let mut out = std::collections::BTreeSet::new();
        for o in objects {
            let r = match o["kind"].as_str() {
                Some("ExternalBackendBinding") => &o["spec"]["webhookSecretRef"],
                Some("WebhookSubscription") => &o["spec"]["secretRef"],
                _ => continue,
            };
            if let (Some(ns), Some(name)) =
                (o["metadata"]["namespace"].as_str(), r["name"].as_str())
            {
                out.insert((ns.to_string(), name.to_string()));
            }
        }
        out
    }

    /// How many receivers there are: (GitHub, Gitea).
    pub fn counts(&self) -> (usize, usize) {
        (self.github.len(), self.gitea.len())
    }

    fn get(&self, source: webhook::Source, org: &str, name: &str) -> Option<&Receiver> {
        let map = match source {
            webhook::Source::GitHub => &self.github,
            webhook::Source::Gitea => &self.gitea,
        };
        map.get(&(org.to_string(), name.to_string()))
    }
}

/// A sync policy's `retryPolicy` as (tries of a job, first retry's wait in
/// ms): its retries plus the first try, and its `backoffMs`.
fn retry_settings(retry: &Value) -> (i32, u64) {
    let retries = retry["maxRetries"]
        .as_u64()
        .unwrap_or(u64::from(DEFAULT_MAX_RETRIES))
        .min(100);
    let backoff = retry["backoffMs"]
        .as_u64()
        .unwrap_or(DEFAULT_BACKOFF_MS)
        .min(3_600_000);
    (i32::try_from(retries).unwrap_or(100) + 1, backoff)
}

/// The GitHub bindings to backfill: those with `syncEnabled` (the
/// default) whose sync policy has a `backfillInterval`. `owner_of` gives
/// the GitHub organization of a kradle org (from its plan).
pub fn backfill_targets<'a>(
    objects: impl IntoIterator<Item = &'a Value>,
    owner_of: impl Fn(&str) -> Option<String>,
) -> Vec<backfill::Target> {
    let objects: Vec<&Value> = objects.into_iter().collect();
    let mut out = Vec::new();
    for b in objects
        .iter()
        .filter(|o| o["kind"] == "ExternalBackendBinding")
    {
        let org = org_of(b);
        let provider = b["spec"]["providerRef"].as_str().unwrap_or_default();
        let is_github = objects.iter().any(|p| {
            p["kind"] == "ExternalBackendProvider"
                && org_of(p) == org
                && p["metadata"]["name"] == provider
                && p["spec"]["providerType"] == "github"
        });
        if !is_github || b["spec"]["syncEnabled"] == Value::Bool(false) {
            continue;
        }
        let Some(policy) = objects.iter().find(|p| {
            p["kind"] == "ExternalBackendSyncPolicy"
                && org_of(p) == org
                && p["spec"]["providerRef"] == provider
        }) else {
            continue;
        };
        let Some(interval) = policy["spec"]["backfillInterval"]
            .as_str()
            .and_then(backfill::parse_interval)
        else {
            continue;
        };
        let Some(owner) = owner_of(&org) else {
            continue;
        };
        let (max_attempts, backoff_ms) = retry_settings(&policy["spec"]["retryPolicy"]);
        out.push(backfill::Target {
            binding: name_of(b),
            owner,
            repositories: b["spec"]["scope"]["repositories"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect(),
            interval,
            max_attempts,
            backoff_ms,
            org,
        });
    }
    out
}

/// The write-back policies of the sync policies in `objects`, by (org,
/// the provider's type: `github` or `gitea`).
pub fn writeback_policies<'a>(
    objects: impl IntoIterator<Item = &'a Value>,
) -> BTreeMap<(String, String), WriteBackPolicy> {
    let objects: Vec<&Value> = objects.into_iter().collect();
    let mut out = BTreeMap::new();
    for p in objects
        .iter()
        .filter(|o| o["kind"] == "ExternalBackendSyncPolicy")
    {
        let org = org_of(p);
        let provider = &p["spec"]["providerRef"];
        let Some(backend) = objects.iter().find_map(|o| {
            (o["kind"] == "ExternalBackendProvider"
                && org_of(o) == org
                && &o["metadata"]["name"] == provider)
                .then(|| o["spec"]["providerType"].as_str())
                .flatten()
        }) else {
            continue;
        };
        let resolution = p["spec"]["conflictResolution"]
            .as_str()
            .and_then(crate::writeback::Resolution::parse)
            .unwrap_or(crate::writeback::Resolution::Manual);
        let (_, backoff_ms) = retry_settings(&p["spec"]["retryPolicy"]);
        out.insert(
            (org, backend.to_string()),
            WriteBackPolicy {
                resolution,
                external_owned: p["spec"]["ownership"] == "external-owned",
                backoff: std::time::Duration::from_millis(backoff_ms),
            },
        );
    }
    out
}

/// The organization a compiled object belongs to (its `kradle.a5c.ai/org`
/// label).
fn org_of(o: &Value) -> String {
    o["metadata"]["labels"]["kradle.a5c.ai/org"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn name_of(o: &Value) -> String {
    o["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    receivers: Arc<RwLock<Arc<Receivers>>>,
    triggers: SharedTriggers,
    deliveries: Arc<metrics::DeliveryCounts>,
    workers: Arc<workers::SyncStats>,
    writeback: Arc<writeback::Stats>,
    agent_writes: Arc<crate::loops::agent::Stats>,
    dispatch: Arc<dispatch::Stats>,
    catalog: dispatch::SharedCatalog,
    /// Turns true when the server stops: watches end.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
    api_auth: api::SharedAuth,
    /// Who may name callers in request headers (`serve::tls`).
    front_proxy: Option<Arc<tls::FrontProxy>>,
    /// `/metrics` needs an API token.
    metrics_protected: bool,
    /// What each connection may take.
    limits: listen::Limits,
}

impl AppState {
    pub fn new(store: Store, receivers: Receivers) -> AppState {
        AppState {
            store,
            receivers: Arc::new(RwLock::new(Arc::new(receivers))),
            triggers: SharedTriggers::default(),
            deliveries: Arc::default(),
            workers: Arc::default(),
            writeback: Arc::default(),
            agent_writes: Arc::default(),
            dispatch: Arc::default(),
            catalog: dispatch::SharedCatalog::default(),
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
            api_auth: None,
            front_proxy: None,
            metrics_protected: false,
            limits: listen::Limits::default(),
        }
    }

    /// Serves within `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: listen::Limits) -> AppState {
        self.limits = limits;
        self
    }

    /// `/metrics` answers API readers only (`--metrics-require-token`).
    pub fn with_protected_metrics(mut self) -> AppState {
        self.metrics_protected = true;
        self
    }

    /// Believes the callers `proxy` names in request headers, on the
    /// connections it makes (the Kubernetes API server, in front of an
    /// APIService).
    pub fn with_front_proxy(mut self, proxy: Arc<tls::FrontProxy>) -> AppState {
        self.front_proxy = Some(proxy);
        self
    }

    /// Serves the aggregated API to the callers `auth` allows (without
    /// one, every API request is refused).
    pub fn with_api(mut self, auth: Arc<dyn api::Authenticator>) -> AppState {
        self.api_auth = Some(auth);
        self
    }

    /// The counters the workers of this process keep.
    pub fn worker_stats(&self) -> Arc<workers::SyncStats> {
        self.workers.clone()
    }

    /// Turns true when the server stops.
    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// The counters the write-back worker of this process keeps.
    pub fn writeback_stats(&self) -> Arc<writeback::Stats> {
        self.writeback.clone()
    }

    /// The counters the agent-writes worker of this process keeps.
    pub fn agent_write_stats(&self) -> Arc<crate::loops::agent::Stats> {
        self.agent_writes.clone()
    }

    /// The counters the dispatch worker of this process keeps.
    pub fn dispatch_stats(&self) -> Arc<dispatch::Stats> {
        self.dispatch.clone()
    }

    /// The stacks the dispatch worker reads.
    pub fn catalog(&self) -> dispatch::SharedCatalog {
        self.catalog.clone()
    }

    /// Swaps in the stacks of a new config.
    pub fn replace_catalog(&self, catalog: crate::dispatch::catalog::Catalog) {
        if let Ok(mut c) = self.catalog.write() {
            *c = Arc::new(catalog);
        }
    }

    /// The store the handlers write to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Swaps in the receivers of a reloaded config.
    pub fn replace_receivers(&self, receivers: Receivers) {
        if let Ok(mut r) = self.receivers.write() {
            *r = Arc::new(receivers);
        }
    }

    /// The trigger rules the sync workers evaluate.
    pub fn triggers(&self) -> SharedTriggers {
        self.triggers.clone()
    }

    /// Swaps in the trigger rules of a new config.
    pub fn replace_triggers(&self, triggers: crate::dispatch::Triggers) {
        if let Ok(mut t) = self.triggers.write() {
            *t = Arc::new(triggers);
        }
    }

    fn receivers(&self) -> Arc<Receivers> {
        match self.receivers.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The largest body of a call to kradle's own API (dispatch, approvals,
/// cancel, a run's callback).
pub const MAX_CALL_BODY: usize = 1024 * 1024;

/// The HTTP routes of `kradle serve`.
pub fn router(state: AppState) -> Router {
    let guard = listen::BodyGuard::shared(&state.limits);
    // Bodies are read by the handlers once they know the caller may send
    // one (a receiver exists, a token is there); these layers bound them.
    let webhooks = Router::new()
        .route("/webhooks/github/{org}/{binding}", post(webhook::github))
        .route("/webhooks/gitea/{org}/{subscription}", post(webhook::gitea));
    let calls = Router::new()
        .route(
            "/api/orgs/{org}/agents/runs/{name}/callback",
            post(callback::callback),
        )
        .route("/api/orgs/{org}/agents/dispatch", post(agents::dispatch))
        .route(
            "/api/orgs/{org}/agents/runs/{name}/cancel",
            post(agents::cancel),
        )
        .route(
            "/api/orgs/{org}/agents/approvals/{name}/{decision}",
            post(agents::decide),
        );
    // The agent API: bodies bounded by its handlers, and by this layer.
    let agent = Router::new()
        .route(
            "/api/orgs/{org}/agents/runs/{name}/writes",
            post(agent_api::write),
        )
        .route(
            "/api/orgs/{org}/agents/runs/{name}/writes/{key}",
            get(agent_api::write_status),
        );
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi/v3", get(openapi::index))
        .route(openapi::PATH, get(openapi::group_version))
        .route("/api", get(api::core_versions))
        .route("/apis", get(api::groups))
        .route(
            &format!("/apis/{}", api::GROUP_VERSION),
            get(api::discovery),
        )
        .route(
            &format!("/apis/{}/{{plural}}", api::GROUP_VERSION),
            get(api::list_all),
        )
        .route(
            &format!(
                "/apis/{}/namespaces/{{namespace}}/{{plural}}",
                api::GROUP_VERSION
            ),
            get(api::list_namespaced),
        )
        .route(
            &format!(
                "/apis/{}/namespaces/{{namespace}}/{{plural}}/{{name}}",
                api::GROUP_VERSION
            ),
            get(api::get_one),
        )
        .merge(webhooks.layer(axum::middleware::from_fn_with_state(
            guard.limited(MAX_BODY),
            listen::guard_body,
        )))
        .merge(calls.layer(axum::middleware::from_fn_with_state(
            guard.limited(MAX_CALL_BODY),
            listen::guard_body,
        )))
        .merge(agent.layer(axum::middleware::from_fn_with_state(
            guard.limited(agent_api::MAX_WRITE_CALL),
            listen::guard_body,
        )))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            believe_front_proxy,
        ))
        .with_state(state)
}

/// Removes the headers the front proxy names callers with from every
/// request that did not come on the front proxy's own connection (a
/// verified client certificate with an allowed name): anyone else could
/// write `X-Remote-User: admin`.
async fn believe_front_proxy(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(proxy) = &state.front_proxy {
        let from_proxy = request
            .extensions()
            .get::<axum::extract::ConnectInfo<tls::Peer>>()
            .is_some_and(|peer| peer.0.front_proxy);
        if !from_proxy {
            proxy.strip(request.headers_mut());
        }
    }
    next.run(request).await
}

/// Serves `state` on `listener` (plain TCP, or a [`tls::TlsListener`])
/// within the state's connection limits until `shutdown` resolves, then
/// lets the requests in flight finish, for at most the drain deadline
/// (`serve::listen`).
pub async fn run<L>(
    listener: L,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    tls::Peer: From<L::Addr>,
{
    let stopping = state.stopping.clone();
    // Long-lived responses (watches) end when the server stops, so the
    // drain does not wait on them.
    let shutdown = async move {
        shutdown.await;
        stopping.send_replace(true);
    };
    let limits = state.limits;
    listen::serve(listener, router(state), limits, shutdown).await;
    Ok(())
}

/// Ready when the database answers and its schema is current.
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    match state.store.is_current().await {
        Ok(true) => (StatusCode::OK, "ok".into()),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is not migrated: run `kradle db migrate`".into(),
        ),
        // The detail (host, port, driver error) goes to the log only: the
        // probe is unauthenticated.
        Err(e) => {
            tracing::warn!(error = %e, "readyz: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer (the log says why)".into(),
            )
        }
    }
}
