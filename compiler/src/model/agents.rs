//! Agent domain (spec §1.5): stacks and their capabilities (config), and the
//! runtime records of dispatch (aggregated, stored in Postgres).

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeIdentity {
    /// The AgentServiceAccount agent pods run as.
    pub service_account_ref: Ref,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunnerPolicy {
    /// RunnerPool whose image, resources and service account are the Job defaults.
    pub runner_pool_ref: Ref,
}

/// When a stack's runs wait for a person (`kradle approvals approve`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalMode {
    /// Runs start without approval.
    Never,
    /// Every run waits for approval.
    Always,
    /// A run waits for approval when the stack's identity holds secret grants
    /// (AgentSecretGrant).
    SecretAccess,
    /// Runs start without approval; delivering their work back to the forge
    /// is to wait for it (not gated yet: runs deliver nothing back).
    WriteBack,
    /// Runs start without approval; releasing is to wait for it (not gated
    /// yet).
    Release,
}

/// What a stack's runs may spend (the dispatch budget check).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackBudget {
    /// Seconds an attempt may run before Kubernetes ends it: its Job's
    /// `activeDeadlineSeconds` (default 3600).
    #[schemars(range(min = 60, max = 86400))]
    pub max_run_seconds: Option<u32>,
    /// Attempts per run, the first included (default 3).
    #[schemars(range(min = 1, max = 10))]
    pub max_attempts: Option<u32>,
    /// Runs the stack may start in any 24 hours; past that, a run is
    /// refused (`BudgetExceeded`).
    #[schemars(range(min = 1))]
    pub max_runs_per_day: Option<u32>,
}

/// The recipe of an agent; the hub of the agent capability graph (spec §4.1).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentStackSpec {
    pub organization_ref: Option<Ref>,
    /// Agent type identifier.
    pub base_agent: String,
    /// AgentAdapter of the organization.
    pub adapter: Ref,
    /// The identity agent pods run as.
    pub runtime_identity: RuntimeIdentity,
    /// AgentProviderConfig of the organization.
    pub provider: Option<Ref>,
    /// Model identifier; in each run's context bundle.
    pub model: Option<String>,
    /// Prompt fragments by name (e.g. `system`, `user`); in each run's context
    /// bundle.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompt_templates: BTreeMap<String, String>,
    /// AgentToolProfile (alias of toolPolicyRef).
    pub tool_policy: Option<Ref>,
    /// AgentToolProfile.
    pub tool_policy_ref: Option<Ref>,
    /// AgentMcpServers the agent may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_server_refs: Vec<Ref>,
    /// AgentSkills whose prompt fragments go into each run's context bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skill_refs: Vec<Ref>,
    /// AgentSubagents the agent may delegate to; their role prompts and task
    /// kinds go into each run's context bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subagent_refs: Vec<Ref>,
    /// AgentContextLabels whose prompt fragments go into each run's context
    /// bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_label_refs: Vec<Ref>,
    /// When a person must approve a run before it starts (default `never`).
    pub approval_mode: Option<ApprovalMode>,
    /// KradleWorkspacePolicy.
    pub workspace_policy: Option<Ref>,
    /// Where the Job defaults (image, resources, service account) come from.
    pub runner_policy: Option<RunnerPolicy>,
    /// Default task kind.
    pub task_kind: Option<String>,
    /// What its runs may spend.
    pub budget: Option<StackBudget>,
}

/// A child agent a stack may delegate to: its role prompt, task kinds, tools
/// and workspace scope.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSubagentSpec {
    pub organization_ref: Option<Ref>,
    /// System prompt of the subagent's role.
    pub role_prompt: String,
    /// Non-empty list of task kinds this subagent handles.
    pub task_kinds: Vec<String>,
    /// Tools the subagent may use, a subset of its stack's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_subset: Vec<String>,
    /// How much of the workspace the subagent may access.
    pub workspace_scope: Option<String>,
    /// Executions of the subagent that may run at once.
    pub max_concurrency: Option<u32>,
}

/// What an agent may do: filesystem, network and shell access, tools denied,
/// and the tools that need approval.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentToolProfileSpec {
    pub organization_ref: Option<Ref>,
    /// Filesystem access rules (free-form, given to the agent).
    pub filesystem_policy: Any,
    /// Tool name → approval requirement.
    pub approval_policy_by_tool: BTreeMap<String, String>,
    /// Network access rules (free-form, given to the agent).
    pub network_policy: Option<Any>,
    /// Shell command rules (free-form, given to the agent).
    pub shell_policy: Option<Any>,
    /// Tools or operations denied outright, as patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_list: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum McpTransport {
    Stdio,
    Http,
    Sse,
    StreamableHttp,
}

/// An MCP (Model Context Protocol) server agents may call: its transport,
/// endpoint and the Secrets and ConfigMaps it needs.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMcpServerSpec {
    pub organization_ref: Option<Ref>,
    /// How the agent talks to the server.
    pub transport: McpTransport,
    /// Access scope of the server.
    pub scope: String,
    /// HTTP endpoint of the server, also used for health checks.
    pub endpoint: Option<String>,
    /// MCP discovery URL.
    pub discovery_url: Option<String>,
    /// Kubernetes Secrets the server needs (granted through AgentSecretGrant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_refs: Vec<Ref>,
    /// ConfigMaps the server needs (granted through AgentConfigGrant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_refs: Vec<Ref>,
    /// How the server's health is checked (free-form).
    pub health_check: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SkillFormat {
    Markdown,
    Yaml,
    Json,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillRepositorySource {
    /// Repository of the organization holding the skill.
    pub repository: Ref,
    /// Path of the skill in the repository.
    pub path: String,
    /// Branch, tag or commit (default: the repository's default branch).
    pub r#ref: Option<String>,
}

/// An http(s) URL, or `{ repository, path, ref }` in a Repository of the org.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum SkillSource {
    Url(String),
    Repository(SkillRepositorySource),
}

/// A reusable procedure: prompt fragments, the tools it needs and the output
/// it promises.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSkillSpec {
    pub organization_ref: Option<Ref>,
    /// Format of the skill's source.
    pub format: SkillFormat,
    pub source_ref: SkillSource,
    /// Prompt fragments the skill contributes to each run's context bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_fragments: Vec<String>,
    /// Tools the skill needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_deps: Vec<String>,
    /// The output the skill promises, e.g. a JSON Schema (free-form).
    pub output_contract: Option<Any>,
}

/// Event sources of a trigger: the webhook events of spec §2.2, `schedule`, `manual`.
#[derive(
    Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum TriggerSource {
    Push,
    PullRequest,
    PullRequestReview,
    Issues,
    IssueComment,
    WorkflowRun,
    WorkflowJob,
    CheckSuite,
    CheckRun,
    Deployment,
    DeploymentStatus,
    Label,
    Schedule,
    Manual,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookTrigger {
    /// http(s) URL of the webhook.
    pub url: String,
    /// Event names, or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    pub repository: Option<Ref>,
    /// Only events with this `action` (e.g. `opened`, `completed`).
    pub action: Option<String>,
    /// Only runs that ended so: the `conclusion` of a `workflow_run`,
    /// `workflow_job`, `check_run` or `check_suite` (e.g. `[failure, timed_out]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conclusions: Vec<RunConclusion>,
    pub secret_ref: Option<SecretKeyRef>,
}

/// How a CI run ended, in GitHub's words (Gitea's Actions use the same).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunConclusion {
    Success,
    Failure,
    Cancelled,
    TimedOut,
    ActionRequired,
    Neutral,
    Skipped,
    Stale,
    StartupFailure,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommentTrigger {
    /// Regular expression matched against comment bodies.
    pub pattern: String,
    /// Only comments in these repositories; any repository of the organization
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<Ref>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum LabelAction {
    Labeled,
    Unlabeled,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelTrigger {
    /// Label names that match.
    pub labels: Vec<String>,
    /// `labeled` (default) or `unlabeled`.
    pub action: LabelAction,
}

/// Routes events to an AgentStack: webhook events, CI results, comments,
/// labels, schedules and manual dispatch, each match a run.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentTriggerRuleSpec {
    pub organization_ref: Option<Ref>,
    /// Event sources the rule listens to.
    pub sources: Vec<TriggerSource>,
    /// AgentStack dispatched on a match.
    pub agent_stack: Ref,
    /// Task kind of the runs it dispatches (a word, e.g. `fix`, `review`).
    pub task_kind: String,
    /// Default true.
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    /// Only events of this repository.
    pub repository: Option<Ref>,
    /// Only events whose actor (the forge login) is one of these; anyone when
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_actors: Vec<String>,
    /// 5-field cron; required by the `schedule` source.
    pub cron_expression: Option<String>,
    /// The IANA time zone `cronExpression` is read in (e.g. `Europe/Paris`);
    /// default UTC.
    pub time_zone: Option<String>,
    /// Narrows webhook events: event names, repository, action, CI conclusions.
    pub webhook_trigger: Option<WebhookTrigger>,
    /// Matches comments on issues and pull requests against a pattern.
    pub comment_trigger: Option<CommentTrigger>,
    /// Matches labels added to (or removed from) issues and pull requests.
    pub label_trigger: Option<LabelTrigger>,
    /// How long a second match of the same event detail (the same comment,
    /// label change or CI run) is recorded as `Deduplicated` instead of
    /// dispatched again: `30s`, `10m`, `1h`, `1d`; `0` turns it off.
    /// Default `10m`.
    #[schemars(extend("default" = "10m"))]
    pub dedup_window: Option<String>,
}

/// A reviewed prompt fragment stacks may add to their runs' context.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentContextLabelSpec {
    pub organization_ref: Option<Ref>,
    /// The prompt text a stack naming this label gets in its context bundle.
    pub prompt_fragment: String,
    /// Which stacks or contexts may use the label.
    pub allowed_sources: Vec<String>,
    /// Where the fragment comes from and who reviewed it (free-form).
    pub provenance: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceRetention {
    /// How long a workspace is kept after its last run (e.g. `7d`).
    pub max_age: Option<String>,
    /// Workspaces kept at most.
    pub max_count: Option<u32>,
    /// 5-field cron of the cleanup.
    pub cleanup_schedule: Option<String>,
}

/// How agent workspaces are provisioned, kept and cleaned up.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleWorkspacePolicySpec {
    pub organization_ref: Option<Ref>,
    /// Provisioning mode (e.g. on-demand, pre-warmed).
    pub mode: String,
    /// How long workspaces are kept, and how many.
    pub retention_policy: WorkspaceRetention,
    /// Trust level of the workspaces (`trusted`, `untrusted`).
    pub trust_tier: Option<String>,
    /// StorageClass of the workspace PersistentVolumeClaims (the cluster's
    /// default when omitted).
    pub storage_class_name: Option<String>,
    /// Size of a workspace PersistentVolumeClaim (a Kubernetes quantity, e.g.
    /// `10Gi`).
    pub default_capacity: Option<String>,
}

/// The bridge between kradle and an agent runtime (e.g. Claude Code): its
/// transport, capabilities and installation.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentAdapterSpec {
    pub organization_ref: Option<Ref>,
    /// Adapter identifier (e.g. `claude-code`, `openai-assistants`).
    pub adapter_type: String,
    /// How kradle talks to the agent: `http`, `stdio` or `websocket`.
    pub transport: String,
    /// Operations the adapter supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// The credentials the adapter needs (free-form; references, never values).
    pub auth_requirements: Option<Any>,
    /// How the adapter is deployed.
    pub installation_method: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// Time between checks (e.g. `30s`).
    pub interval: Option<String>,
    /// Time a check may take (e.g. `3s`).
    pub timeout: Option<String>,
    /// HTTP path checked.
    pub path: Option<String>,
}

/// The connection to an adapter instance: endpoint, protocol,
/// authentication, health check and reconnects.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentTransportBindingSpec {
    pub organization_ref: Option<Ref>,
    /// The AgentAdapter this binding connects.
    pub adapter_ref: Ref,
    /// Connection endpoint URL.
    pub endpoint: String,
    /// Protocol and version.
    pub protocol: String,
    /// Authentication (token references, never literal tokens).
    pub auth: Option<Any>,
    /// How the endpoint's health is checked.
    pub health_check: Option<HealthCheck>,
    pub reconnect_policy: Option<RetryPolicy>,
    /// TLS settings of the connection (free-form; references, never keys).
    pub tls: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per minute at most.
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute at most.
    pub tokens_per_minute: Option<u64>,
}

/// A model provider: API base URL, authentication, default model, model
/// aliases and rate limits.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentProviderConfigSpec {
    pub organization_ref: Option<Ref>,
    /// Provider identifier (anthropic, openai, kserve, ...).
    pub provider: String,
    /// Authentication method (api-key, oauth, none).
    pub auth_type: String,
    /// Base URL of the provider's API, overriding the provider's own.
    pub api_base: Option<String>,
    /// Model used when the stack names none.
    pub default_model: Option<String>,
    /// Model aliases to the provider's model ids.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_translations: BTreeMap<String, String>,
    /// What runs may send to the provider.
    pub rate_limits: Option<RateLimits>,
    /// Secret holding the API key.
    pub secret_ref: Option<SecretKeyRef>,
}

/// The connection to the agent gateway (Agent Mux).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentGatewayConfigSpec {
    pub organization_ref: Option<Ref>,
    /// URL of the agent gateway (Agent Mux).
    pub gateway_url: String,
    /// Authentication to the gateway (token references, never literal tokens).
    pub auth: Option<Any>,
    pub reconnect_policy: Option<RetryPolicy>,
    /// Feature toggles of the gateway, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, bool>,
    /// Stream events over server-sent events.
    pub sse_enabled: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowColumn {
    /// Column id, the `workflowState` of the issues in it.
    pub id: String,
    /// Column title.
    pub display_name: String,
    /// Column color (e.g. `#0e8a16`).
    pub color: Option<String>,
    /// New issues land in this column (else in the first).
    pub default: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BoardState {
    Active,
    Archived,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectSyncRef {
    /// ExternalBackendBinding used for the sync.
    pub binding_ref: Ref,
    /// Project id on the external provider.
    pub external_project: Option<String>,
}

/// A project: a board grouping issues of some repositories, the stacks that
/// work on it, and the external projects it syncs with.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleProjectSpec {
    pub organization_ref: Option<Ref>,
    /// Project name.
    pub display_name: String,
    /// Board columns, in order.
    pub workflow_columns: Option<Vec<WorkflowColumn>>,
    /// `active` (default) or `archived`.
    #[schemars(extend("default" = "active"))]
    pub board_state: Option<BoardState>,
    /// Repositories whose issues the project groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_refs: Vec<Ref>,
    /// AgentStacks that work on the project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack_refs: Vec<Ref>,
    /// External projects kept in sync (e.g. a GitHub Project).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_refs: Vec<ProjectSyncRef>,
}

// ---- aggregated (runtime) kinds ----

/// One agent run: what started it, its stack, repository and workspace, and
/// where it stands.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDispatchRunSpec {
    pub organization_ref: Ref,
    pub repository: Ref,
    /// What started the run: the event, comment or schedule.
    pub source_refs: Vec<Any>,
    pub agent_stack: Ref,
    /// Task kind of the run (e.g. `fix`).
    pub task_kind: String,
    pub context_bundle_ref: Option<Ref>,
    pub memory_snapshot_ref: Option<Ref>,
    pub workspace_ref: Option<Ref>,
    /// How the workspace is mounted in the run's Job.
    pub mount_spec: Option<Any>,
}

/// One attempt of a run (a run retries in new attempts).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDispatchAttemptSpec {
    pub organization_ref: Ref,
    pub agent_dispatch_run: Ref,
    /// Why this attempt was made (`initial`, a retry after a failure...).
    pub attempt_reason: String,
    /// The stack as it was when the attempt started.
    pub agent_stack_snapshot: Any,
    /// `sha256:` digest of the context bundle the attempt ran with.
    pub context_bundle_digest: Option<String>,
}

/// A session of an agent on the gateway, for a run.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionSpec {
    pub organization_ref: Ref,
    /// Id of the session on the agent gateway.
    pub agent_mux_session_id: String,
    pub dispatch_run: Ref,
}

/// The immutable context a run was given: prompts and fragments, addressed
/// by digest, with its sources and what was redacted.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentContextBundleSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    /// `sha256:` digest of the bundle's content.
    pub digest: String,
    /// The config objects the bundle was assembled from (`{ kind, name }`).
    pub sources: Vec<Any>,
}

/// An output of an agent run, addressed by digest.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KradleArtifactSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    /// What the artifact is (e.g. `patch`, `log`, `report`).
    pub kind: String,
    /// `sha256:` digest of the content.
    pub digest: String,
    /// How long the artifact is kept.
    pub retention_policy: Option<Any>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Media type of the content.
    pub mime_type: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalAction {
    ToolUse,
    SecretAccess,
    WriteBack,
    Release,
    Escalation,
}

/// A person's decision a run waits for: to start, to read secrets, to
/// deliver work back or to release.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovalSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    /// The action waiting for a person.
    pub action: ApprovalAction,
    /// Who or what asked for it.
    pub requested_by: String,
    /// Why approval is needed.
    pub description: Option<String>,
    /// RFC 3339 time of the request.
    pub requested_at: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerDecision {
    Dispatching,
    Dispatched,
    Skipped,
    Deduplicated,
    Failed,
}

/// The record of a trigger match: dispatched, deduplicated or refused, and
/// why.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentTriggerExecutionSpec {
    pub organization_ref: Ref,
    pub trigger_rule: Ref,
    /// Event UID `type:kind:name`.
    pub source_event: String,
    /// What kradle did with the match.
    pub decision: TriggerDecision,
}

/// What an agent needs to work, computed from its tools, MCP servers,
/// skills, models and subagents.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentCapabilityRequirementSpec {
    pub organization_ref: Ref,
    pub owner_ref: TypedRef,
    /// Roles the owner needs.
    pub required_roles: Vec<String>,
}

/// Links an issue or pull request to an agent session that worked on it.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkItemSessionLinkSpec {
    pub organization_ref: Ref,
    pub work_item_ref: TypedRef,
    pub agent_session: Ref,
}

/// Links an issue or pull request to a workspace holding work on it.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkItemWorkspaceLinkSpec {
    pub organization_ref: Ref,
    pub work_item_ref: TypedRef,
    pub workspace: Ref,
    /// `Issue` or `PullRequest`.
    pub work_item_kind: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text of the message (secrets redacted).
    pub content: String,
    /// RFC 3339 time of the message.
    pub timestamp: Option<String>,
    /// Tokens the message cost.
    pub cost_tokens: Option<u64>,
    /// Tool calls the message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<Any>,
}

/// The messages of an agent session, with the tokens each cost.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionTranscriptSpec {
    pub organization_ref: Ref,
    pub session_ref: Ref,
    /// The messages of the session, in order.
    pub messages: Vec<TranscriptMessage>,
}

/// A file attached to a session message.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionAttachmentSpec {
    pub organization_ref: Ref,
    pub session_ref: Ref,
    /// Where the attachment came from (e.g. `file`, `tool-output`).
    pub source_type: String,
    /// `sha256:` digest of the content.
    pub digest: String,
    /// Media type of the content.
    pub mime_type: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Whether secrets were removed from the content.
    pub redacted: Option<bool>,
    /// Path of the file in the workspace.
    pub original_path: Option<String>,
}
