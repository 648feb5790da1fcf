//! What the dispatch loop needs from the compiled config: each stack, its
//! readiness (the compiler's own conditions, from `report.json`), its
//! identity, its runner defaults and its workspace policy; and the
//! permission review (docs/dispatch.md, "Permission review").
//!
//! Pure: built from the objects `kradle build` produces.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::memory::Memory;
use crate::secrets::{SecretError, SecretValue, Secrets};

/// The most a run may take, unless the stack's runner pool is given a
/// shorter deadline: Kubernetes ends the Job after it
/// (`activeDeadlineSeconds`).
pub const DEFAULT_DEADLINE_SECONDS: i32 = 3600;

/// Attempts per run (the first and two retries), as the spec's
/// `maxRetries` default of 3 counts them for pipelines.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;

/// The image of an agent Job when the stack names no runner pool with one
/// (the RunnerPool default).
pub const DEFAULT_IMAGE: &str = "ubuntu:24.04";

/// One AgentStack, ready to dispatch (or why it is not).
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub org: String,
    pub name: String,
    /// The org's namespace, where its Jobs, PVCs and Secrets live.
    pub namespace: String,
    /// The first unmet readiness condition, if any.
    pub ready: Result<(), NotReady>,
    pub approval_mode: Option<String>,
    /// The Kubernetes ServiceAccount the agent runs as.
    pub service_account: String,
    pub image: String,
    pub resources: Value,
    pub transport: String,
    pub storage_class: Option<String>,
    pub capacity: String,
    /// The Secrets the stack's identity is granted (AgentSecretGrant).
    pub secret_grants: Vec<String>,
    pub deadline_seconds: i32,
    pub max_attempts: i32,
    /// Runs it may start in 24 hours (`budget.maxRunsPerDay`).
    pub max_runs_per_day: Option<i64>,
    /// The stack's spec, frozen into each attempt.
    pub spec: Value,
    /// Its side of each run's context bundle, and where it came from.
    pub context: Value,
    pub context_sources: Vec<Value>,
    /// The model provider (its AgentProviderConfig), as the pod gets it.
    pub provider: Option<Provider>,
}

/// The stacks of a compiled config, by (org, name), and each org's
/// repositories.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    stacks: BTreeMap<(String, String), Stack>,
    repositories: BTreeMap<String, BTreeSet<String>>,
    /// Each org's Agent Mux gateway (its first AgentGatewayConfig by name).
    gateways: BTreeMap<String, Gateway>,
    /// Each org's memory repository (its first AgentMemoryRepository by name).
    memories: BTreeMap<String, Memory>,
    /// Each org's agent budget (`Organization.spec.agentBudget`).
    budgets: BTreeMap<String, OrgBudget>,
}

/// What all of an org's runs together may spend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgBudget {
    pub max_runs_per_day: Option<i64>,
    pub max_concurrent_runs: Option<i64>,
}

/// What the permission review decided (spec §3.1 phase 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    Allowed,
    Denied(String),
    /// A person must approve `action` first.
    RequiresApproval {
        action: &'static str,
        why: String,
    },
}

impl Review {
    /// The frozen review, as the run and its attempts record it.
    pub fn snapshot(&self, stack: &Stack) -> Value {
        let (outcome, detail) = match self {
            Review::Allowed => ("allowed", Value::Null),
            Review::Denied(why) => ("denied", json!(why)),
            Review::RequiresApproval { action, why } => (
                "requires-approval",
                json!({ "action": action, "reason": why }),
            ),
        };
        json!({
            "outcome": outcome,
            "detail": detail,
            "approvalMode": stack.approval_mode,
            "serviceAccount": stack.service_account,
            "secretGrants": stack.secret_grants,
            "limits": {
                "maxAttempts": stack.max_attempts,
                "deadlineSeconds": stack.deadline_seconds,
                "maxRunsPerDay": stack.max_runs_per_day,
            },
        })
    }
}

fn org_of(o: &Value) -> &str {
    o["metadata"]["labels"]["kradle.a5c.ai/org"]
        .as_str()
        .unwrap_or_default()
}

fn name_of(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

/// What a run by hand names that the config does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownName {
    /// The organization (an API answers 404).
    Org(String),
    /// A stack or repository of a known org (422), with "did you mean".
    Named(String),
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnknownName::Org(m) | UnknownName::Named(m) => f.write_str(m),
        }
    }
}

impl Catalog {
    /// The stacks among `objects`; `report` is the build's `report.json`,
    /// whose `agentStacks` carry the readiness conditions.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
        report: &Value,
    ) -> Catalog {
        let objects: Vec<&Value> = objects.into_iter().collect();
        let find = |kind: &str, org: &str, name: &str| {
            objects
                .iter()
                .copied()
                .find(|o| o["kind"] == kind && org_of(o) == org && name_of(o) == name)
        };
        let mut out = Catalog::default();
        for o in objects.iter().filter(|o| o["kind"] == "Repository") {
            out.repositories
                .entry(org_of(o).to_string())
                .or_default()
                .insert(name_of(o).to_string());
        }
        for o in objects.iter().filter(|o| o["kind"] == "Organization") {
            let budget = &o["spec"]["agentBudget"];
            let limit = |field: &str| budget[field].as_i64().filter(|v| *v > 0);
            out.budgets.insert(
                name_of(o).to_string(),
                OrgBudget {
                    max_runs_per_day: limit("maxRunsPerDay"),
                    max_concurrent_runs: limit("maxConcurrentRuns"),
                },
            );
        }
        for o in objects.iter().filter(|o| o["kind"] == "AgentGatewayConfig") {
            if let Some(g) = Gateway::from_object(o) {
                out.gateways.entry(g.org.clone()).or_insert(g);
            }
        }
        for o in objects
            .iter()
            .filter(|o| o["kind"] == "AgentMemoryRepository")
        {
            if let Some(m) = Memory::from_object(o) {
                out.memories.entry(m.org.clone()).or_insert(m);
            }
        }
        for o in objects.iter().filter(|o| o["kind"] == "AgentStack") {
            let (org, name) = (org_of(o), name_of(o));
            let spec = &o["spec"];
            let namespace = o["metadata"]["namespace"]
                .as_str()
                .map_or_else(|| crate::names::org_namespace(org), str::to_string);
            let ready = readiness(report, org, name);
            let identity = spec["runtimeIdentity"]["serviceAccountRef"]
                .as_str()
                .and_then(|sa| find("AgentServiceAccount", org, sa));
            let pool = spec["runnerPolicy"]["runnerPoolRef"]
                .as_str()
                .and_then(|p| find("RunnerPool", org, p));
            let pool_spec = pool.map(|p| &p["spec"]);
            let service_account = identity
                .and_then(|i| i["spec"]["serviceAccountName"].as_str())
                .or_else(|| pool_spec.and_then(|p| p["serviceAccount"].as_str()))
                .unwrap_or("kradle-runner")
                .to_string();
            let image = pool_spec
                .and_then(|p| p["image"].as_str())
                .unwrap_or(DEFAULT_IMAGE)
                .to_string();
            let mut resources = serde_json::Map::new();
            if let Some(p) = pool_spec {
                for (field, key) in [
                    ("resourceLimits", "limits"),
                    ("resourceRequests", "requests"),
                ] {
                    if p[field].is_object() {
                        resources.insert(key.into(), p[field].clone());
                    }
                }
            }
            let transport = spec["adapter"]
                .as_str()
                .and_then(|a| find("AgentAdapter", org, a))
                .and_then(|a| a["spec"]["transport"].as_str())
                .unwrap_or("stdio")
                .to_string();
            let policy = spec["workspacePolicy"]
                .as_str()
                .and_then(|p| find("KradleWorkspacePolicy", org, p))
                .map(|p| &p["spec"]);
            let storage_class = policy
                .and_then(|p| p["storageClassName"].as_str())
                .map(str::to_string);
            let capacity = policy
                .and_then(|p| p["defaultCapacity"].as_str())
                .unwrap_or("10Gi")
                .to_string();
            let budget = |field: &str| {
                spec["budget"][field]
                    .as_u64()
                    .and_then(|v| i32::try_from(v).ok())
                    .filter(|v| *v > 0)
            };
            let account = spec["runtimeIdentity"]["serviceAccountRef"]
                .as_str()
                .unwrap_or_default();
            let secret_grants = objects
                .iter()
                .filter(|g| {
                    g["kind"] == "AgentSecretGrant"
                        && org_of(g) == org
                        && g["spec"]["subject"].as_str() == Some(account)
                })
                .filter_map(|g| g["spec"]["secretRef"]["name"].as_str())
                .map(str::to_string)
                .collect();
            let (context, context_sources) =
                super::bundle::stack_context(spec, |kind, n| find(kind, org, n).cloned());
            out.stacks.insert(
                (org.to_string(), name.to_string()),
                Stack {
                    org: org.to_string(),
                    name: name.to_string(),
                    namespace,
                    ready,
                    approval_mode: spec["approvalMode"].as_str().map(str::to_string),
                    service_account,
                    image,
                    resources: Value::Object(resources),
                    transport,
                    storage_class,
                    capacity,
                    secret_grants,
                    deadline_seconds: budget("maxRunSeconds").unwrap_or(DEFAULT_DEADLINE_SECONDS),
                    max_attempts: budget("maxAttempts").unwrap_or(DEFAULT_MAX_ATTEMPTS),
                    max_runs_per_day: budget("maxRunsPerDay").map(i64::from),
                    spec: spec.clone(),
                    context,
                    context_sources,
                    provider: spec["provider"]
                        .as_str()
                        .and_then(|p| find("AgentProviderConfig", org, p))
                        .map(Provider::from_object),
                },
            );
        }
        out
    }

    /// Whether a run by hand names what the config has: the org, the
    /// stack and the repository; why not, with "did you mean", when not.
    pub fn check_names(
        &self,
        org: &str,
        stack: &str,
        repository: Option<&str>,
    ) -> Result<(), UnknownName> {
        if !self.has_org(org) {
            return Err(UnknownName::Org(format!(
                "organization `{}` is not in the config",
                org.escape_debug()
            )));
        }
        let unknown = |what: &str, name: &str, known: Vec<&str>| {
            let mut message = format!("{what} `{}` is not one of `{org}`'s", name.escape_debug());
            match kradle_compiler::diagnostics::did_you_mean(name, known.iter().copied()) {
                Some(close) => message.push_str(&format!("; did you mean `{close}`?")),
                None if known.is_empty() => message.push_str(&format!(" (`{org}` has none)")),
                None => message.push_str(&format!(" (known: {})", known.join(", "))),
            }
            UnknownName::Named(message)
        };
        if self.stack(org, stack).is_none() {
            return Err(unknown(
                "agentStack",
                stack,
                self.stack_names(org).collect(),
            ));
        }
        if let Some(repo) = repository {
            if !self.repositories(org).any(|r| r == repo) {
                return Err(unknown(
                    "repository",
                    repo,
                    self.repositories(org).collect(),
                ));
            }
        }
        Ok(())
    }

    pub fn stack(&self, org: &str, name: &str) -> Option<&Stack> {
        self.stacks.get(&(org.to_string(), name.to_string()))
    }

    /// Whether the config has the organization `org`.
    pub fn has_org(&self, org: &str) -> bool {
        self.budgets.contains_key(org)
    }

    /// The names of `org`'s stacks.
    pub fn stack_names<'a>(&'a self, org: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.stacks
            .keys()
            .filter(move |(o, _)| o == org)
            .map(|(_, name)| name.as_str())
    }

    /// The names of `org`'s repositories.
    pub fn repositories(&self, org: &str) -> impl Iterator<Item = &str> {
        self.repositories
            .get(org)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    /// The Agent Mux gateway of `org`, if it has one.
    pub fn gateway(&self, org: &str) -> Option<&Gateway> {
        self.gateways.get(org)
    }

    /// Where `stack`'s attempts run: the org's gateway when the stack
    /// names no runner pool (`runnerPolicy`) and the org has one;
    /// otherwise (`None`) a Kubernetes Job.
    pub fn gateway_for(&self, stack: &Stack) -> Option<&Gateway> {
        if stack.spec["runnerPolicy"].is_null() {
            self.gateway(&stack.org)
        } else {
            None
        }
    }

    /// `org`'s agent budget (no limits when it sets none).
    pub fn org_budget(&self, org: &str) -> OrgBudget {
        self.budgets.get(org).copied().unwrap_or_default()
    }

    /// The orgs with a memory repository.
    pub fn memories(&self) -> usize {
        self.memories.len()
    }

    /// The memory repository `org`'s runs are pinned to, if it has one.
    pub fn memory(&self, org: &str) -> Option<&Memory> {
        self.memories.get(org)
    }

    /// The Secrets (namespace, name) the gateways' tokens are in.
    pub fn secrets_wanted(&self) -> BTreeSet<(String, String)> {
        self.gateways
            .values()
            .filter_map(|g| g.token_ref.as_ref())
            .map(|(ns, name, _)| (ns.clone(), name.clone()))
            .collect()
    }

    /// Reads each gateway's token from `secrets`; the gateways whose token
    /// is missing are returned (their launches are refused, saying so).
    pub fn resolve_tokens(&mut self, secrets: &Secrets) -> Vec<(String, SecretError)> {
        let mut missing = Vec::new();
        for g in self.gateways.values_mut() {
            if let Some((ns, name, key)) = &g.token_ref {
                match secrets.get(ns, name, key) {
                    Ok(v) => g.token = Some(v.clone()),
                    Err(e) => missing.push((g.org.clone(), e)),
                }
            }
        }
        missing
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// The permission review of dispatching `stack` against `repository`
    /// for `actor` (docs/dispatch.md):
    /// - a repository the org does not declare is denied;
    /// - `approvalMode` `always` requires approval; `secret-access` (or
    ///   `secrets`) requires it when the identity holds secret grants;
    ///   `never`, `write-back` and `release` (gates on later actions) and
    ///   no mode allow; any other mode requires approval, to be safe.
    pub fn review(&self, stack: &Stack, repository: Option<&str>, actor: &str) -> Review {
        if let Some(repo) = repository {
            let known = self
                .repositories
                .get(&stack.org)
                .is_some_and(|r| r.contains(repo));
            if !known {
                return Review::Denied(format!(
                    "`{repo}` is not a repository of organization `{}`",
                    stack.org
                ));
            }
        }
        let action = if stack.secret_grants.is_empty() {
            "escalation"
        } else {
            "secret-access"
        };
        match stack.approval_mode.as_deref() {
            None | Some("never" | "write-back" | "release") => Review::Allowed,
            Some("always") => Review::RequiresApproval {
                action,
                why: format!(
                    "stack `{}` requires approval of every run (approvalMode: always); requested by {actor}",
                    stack.name
                ),
            },
            Some("secret-access" | "secrets") if stack.secret_grants.is_empty() => Review::Allowed,
            Some("secret-access" | "secrets") => Review::RequiresApproval {
                action,
                why: format!(
                    "stack `{}` reads secrets ({}); requested by {actor}",
                    stack.name,
                    stack.secret_grants.join(", ")
                ),
            },
            Some(other) => Review::RequiresApproval {
                action,
                why: format!(
                    "stack `{}` has approvalMode `{other}`, which kradle does not know: a person decides; requested by {actor}",
                    stack.name
                ),
            },
        }
    }
}

/// A stack's model provider, as its pods get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The AgentProviderConfig's name.
    pub name: String,
    pub api_base: Option<String>,
    /// The Secret (name, key) in the org's namespace holding the API key:
    /// the pod reads it by reference.
    pub secret: Option<(String, String)>,
}

impl Provider {
    fn from_object(o: &Value) -> Provider {
        let spec = &o["spec"];
        let r = &spec["secretRef"];
        Provider {
            name: o["metadata"]["name"].as_str().unwrap_or_default().into(),
            api_base: spec["apiBase"].as_str().map(str::to_string),
            secret: match (r["name"].as_str(), r["key"].as_str()) {
                (Some(name), Some(key)) => Some((name.into(), key.into())),
                _ => None,
            },
        }
    }
}

/// A stack's first unmet readiness condition, as the build reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{condition}: {message}")]
pub struct NotReady {
    pub condition: String,
    pub message: String,
}

/// `Ok` when the report says the stack is ready; otherwise the first
/// condition that is not True.
fn readiness(report: &Value, org: &str, name: &str) -> Result<(), NotReady> {
    let ready = |message: &str| NotReady {
        condition: "Ready".into(),
        message: message.into(),
    };
    let Some(entry) = report["agentStacks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["organization"] == org && s["name"] == name)
    else {
        return Err(ready("the build reports nothing about this stack"));
    };
    if entry["ready"] == true {
        return Ok(());
    }
    let unmet = entry["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["status"] != "True" && c["type"] != "Ready");
    Err(match unmet {
        Some(c) => NotReady {
            condition: c["type"].as_str().unwrap_or("Ready").into(),
            message: c["message"].as_str().unwrap_or_default().into(),
        },
        None => ready("the stack is not ready"),
    })
}

/// Failures in a row before a stream is given up, when the config does
/// not say (`reconnectPolicy.maxRetries`).
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// The first wait before reopening a stream (`reconnectPolicy.backoffMs`).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// An org's gateway (AgentGatewayConfig).
#[derive(Clone, PartialEq, Eq)]
pub struct Gateway {
    pub org: String,
    /// The AgentGatewayConfig's name.
    pub name: String,
    /// `gatewayUrl`, without a trailing `/`.
    pub url: String,
    /// The Secret (namespace, name, key) holding the bearer token
    /// (`auth.secretRef`), and its value once read.
    pub token_ref: Option<(String, String, String)>,
    pub token: Option<SecretValue>,
    pub max_retries: u32,
    pub backoff: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("token_ref", &self.token_ref)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// The gateway of an AgentGatewayConfig object.
    pub fn from_object(o: &Value) -> Option<Gateway> {
        let spec = &o["spec"];
        let url = spec["gatewayUrl"]
            .as_str()?
            .trim_end_matches('/')
            .to_string();
        let org = o["metadata"]["labels"]["kradle.a5c.ai/org"].as_str()?;
        let namespace = o["metadata"]["namespace"].as_str().unwrap_or_default();
        let r = &spec["auth"]["secretRef"];
        let token_ref = match (r["name"].as_str(), r["key"].as_str()) {
            (Some(name), Some(key)) => Some((namespace.to_string(), name.into(), key.into())),
            _ => None,
        };
        let policy = &spec["reconnectPolicy"];
        Some(Gateway {
            org: org.to_string(),
            name: o["metadata"]["name"].as_str().unwrap_or_default().into(),
            url,
            token_ref,
            token: None,
            max_retries: policy["maxRetries"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(DEFAULT_MAX_RETRIES),
            backoff: policy["backoffMs"]
                .as_u64()
                .map_or(DEFAULT_BACKOFF, Duration::from_millis),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects() -> Vec<Value> {
        let meta = |kind: &str, name: &str, spec: Value| {
            json!({ "kind": kind, "metadata": { "name": name, "namespace": crate::names::org_namespace("acme"),
                    "labels": { "kradle.a5c.ai/org": "acme" } }, "spec": spec })
        };
        vec![
            meta("Repository", "api", json!({})),
            meta(
                "AgentServiceAccount",
                "runner",
                json!({ "serviceAccountName": "kradle-agent" }),
            ),
            meta(
                "RunnerPool",
                "default",
                json!({ "image": "ghcr.io/acme/agent:1",
                "resourceLimits": { "cpu": "2" } }),
            ),
            meta("AgentAdapter", "cc", json!({ "transport": "stdio" })),
            meta(
                "KradleWorkspacePolicy",
                "wp",
                json!({ "storageClassName": "fast", "defaultCapacity": "5Gi" }),
            ),
            meta(
                "AgentSecretGrant",
                "g",
                json!({ "subject": "runner", "secretRef": { "name": "anthropic" } }),
            ),
            meta(
                "AgentStack",
                "fixer",
                json!({ "adapter": "cc", "approvalMode": "secret-access",
                "runtimeIdentity": { "serviceAccountRef": "runner" },
                "runnerPolicy": { "runnerPoolRef": "default" }, "workspacePolicy": "wp" }),
            ),
            meta(
                "AgentStack",
                "broken",
                json!({ "adapter": "cc", "runtimeIdentity": {} }),
            ),
        ]
    }

    fn report() -> Value {
        json!({ "agentStacks": [
            { "organization": "acme", "name": "fixer", "ready": true, "conditions": [] },
            { "organization": "acme", "name": "broken", "ready": false, "conditions": [
                { "type": "CapabilitiesResolved", "status": "True", "message": "" },
                { "type": "RuntimeIdentityReady", "status": "False", "message": "no service account" },
                { "type": "Ready", "status": "False", "message": "" } ] },
        ] })
    }

    #[test]
    fn a_stacks_provider_key_reaches_its_job_by_reference_only() {
        let meta = |kind: &str, name: &str, spec: Value| {
            json!({ "kind": kind, "metadata": { "name": name, "namespace": crate::names::org_namespace("acme"),
                    "labels": { "kradle.a5c.ai/org": "acme" } }, "spec": spec })
        };
        let mut objects = objects();
        objects.push(meta(
            "AgentProviderConfig",
            "claude",
            json!({ "provider": "anthropic", "authType": "api-key",
                    "apiBase": "https://llm.internal/v1",
                    "secretRef": { "name": "anthropic", "key": "api-key" } }),
        ));
        for o in &mut objects {
            if o["kind"] == "AgentStack" && o["metadata"]["name"] == "fixer" {
                o["spec"]["provider"] = "claude".into();
            }
        }
        let c = Catalog::from_objects(&objects, &report());
        let stack = c.stack("acme", "fixer").unwrap();
        let provider = stack.provider.as_ref().unwrap();
        assert_eq!(
            provider.secret,
            Some(("anthropic".into(), "api-key".into()))
        );
        assert_eq!(
            stack.context["provider"]["apiKeyEnv"],
            "KRADLE_PROVIDER_API_KEY"
        );
        let launch = crate::dispatch::job::launch_of(
            stack,
            "fixer-1",
            1,
            "fix",
            Some("api"),
            Some("main"),
            "pvc",
            true,
            "http://kradle",
        );
        let job = launch.job();
        let env = &job["spec"]["template"]["spec"]["containers"][0]["env"];
        let named = |name: &str| {
            env.as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            named("KRADLE_PROVIDER_API_KEY")["valueFrom"]["secretKeyRef"],
            json!({ "name": "anthropic", "key": "api-key" })
        );
        assert!(named("KRADLE_PROVIDER_API_KEY").get("value").is_none());
        assert_eq!(
            named("KRADLE_PROVIDER_API_BASE")["value"],
            "https://llm.internal/v1"
        );
        // A stack without a provider gets neither.
        let broken = c.stack("acme", "broken").unwrap();
        assert!(broken.provider.is_none());
    }

    #[test]
    fn with_kradle_s_image_the_pod_gets_the_binary_and_a_checkout_before_the_agent() {
        use crate::dispatch::job::{TOOLS_DIR, WORKSPACE_PATH, launch_of};
        let objects = objects();
        let c = Catalog::from_objects(&objects, &report());
        let stack = c.stack("acme", "fixer").unwrap();
        let mut launch = launch_of(
            stack,
            "fixer-1",
            1,
            "fix",
            Some("api"),
            Some("kradle/fix-4"),
            "pvc",
            true,
            "http://kradle",
        );
        // Without kradle's image: the agent alone, as before.
        let bare = launch.job();
        assert!(bare["spec"]["template"]["spec"]["initContainers"].is_null());
        launch.tools_image = Some("ghcr.io/a5c-ai/kradle:0.1.0".into());
        launch.clone_url = Some("https://gitea.acme.test/acme/api.git".into());
        let job = launch.job();
        let pod = &job["spec"]["template"]["spec"];
        let init = pod["initContainers"].as_array().unwrap();
        let names: Vec<&str> = init.iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(names, ["kradle-tools", "checkout"]);
        assert_eq!(init[0]["image"], "ghcr.io/a5c-ai/kradle:0.1.0");
        assert_eq!(init[0]["args"], json!(["agent", "install", TOOLS_DIR]));
        // The checkout runs kradle in the agent's image, on the workspace.
        assert_eq!(init[1]["image"], stack.image.as_str());
        assert_eq!(
            init[1]["command"],
            json!([format!("{TOOLS_DIR}/kradle"), "agent", "checkout"])
        );
        let env = init[1]["env"].as_array().unwrap();
        assert!(env.contains(&json!({ "name": "KRADLE_REF", "value": "kradle/fix-4" })));
        assert!(env.contains(
            &json!({ "name": "KRADLE_CHECKOUT_URL", "value": "https://gitea.acme.test/acme/api.git" })
        ));
        let mounts = init[1]["volumeMounts"].as_array().unwrap();
        assert!(mounts.contains(&json!({ "name": "workspace", "mountPath": WORKSPACE_PATH })));
        // The agent finds the binary where the init container put it.
        let agent = &pod["containers"][0];
        assert!(
            agent["volumeMounts"]
                .as_array()
                .unwrap()
                .contains(&json!({ "name": "kradle-bin", "mountPath": TOOLS_DIR }))
        );
        assert!(
            agent["env"]
                .as_array()
                .unwrap()
                .contains(&json!({ "name": "KRADLE_BIN", "value": format!("{TOOLS_DIR}/kradle") }))
        );
        assert!(
            pod["volumes"]
                .as_array()
                .unwrap()
                .contains(&json!({ "name": "kradle-bin", "emptyDir": {} }))
        );
        // No clone URL (a run by hand): the binary, no checkout.
        launch.clone_url = None;
        let job = launch.job();
        assert_eq!(
            job["spec"]["template"]["spec"]["initContainers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_stack_takes_its_defaults_from_its_pool_identity_and_workspace_policy() {
        let objects = objects();
        let c = Catalog::from_objects(&objects, &report());
        let s = c.stack("acme", "fixer").unwrap();
        assert_eq!(s.ready, Ok(()));
        assert_eq!(s.service_account, "kradle-agent");
        assert_eq!(s.image, "ghcr.io/acme/agent:1");
        assert_eq!(s.resources, json!({ "limits": { "cpu": "2" } }));
        assert_eq!(s.storage_class.as_deref(), Some("fast"));
        assert_eq!(s.capacity, "5Gi");
        assert_eq!(s.secret_grants, ["anthropic"]);
        let b = c.stack("acme", "broken").unwrap();
        assert_eq!(
            b.ready.as_ref().unwrap_err().to_string(),
            "RuntimeIdentityReady: no service account"
        );
        assert_eq!(b.image, DEFAULT_IMAGE);
        assert!(c.stack("acme", "nope").is_none());
    }

    #[test]
    fn the_review_denies_unknown_repositories_and_gates_secrets() {
        let objects = objects();
        let c = Catalog::from_objects(&objects, &report());
        let mut s = c.stack("acme", "fixer").unwrap().clone();
        assert!(matches!(
            c.review(&s, Some("api"), "grace"),
            Review::RequiresApproval {
                action: "secret-access",
                ..
            }
        ));
        assert_eq!(
            c.review(&s, Some("elsewhere"), "grace"),
            Review::Denied("`elsewhere` is not a repository of organization `acme`".into())
        );
        for (mode, allowed) in [
            (None, true),
            (Some("never"), true),
            (Some("write-back"), true),
            (Some("always"), false),
            (Some("sometimes"), false),
        ] {
            s.approval_mode = mode.map(str::to_string);
            assert_eq!(
                c.review(&s, None, "grace") == Review::Allowed,
                allowed,
                "{mode:?}"
            );
        }
        s.approval_mode = Some("secret-access".into());
        s.secret_grants.clear();
        assert_eq!(c.review(&s, None, "grace"), Review::Allowed);
    }
}
