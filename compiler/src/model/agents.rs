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
    pub runtime_identity: RuntimeIdentity,
    /// AgentProviderConfig of the organization.
    pub provider: Option<Ref>,
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompt_templates: BTreeMap<String, String>,
    /// AgentToolProfile (alias of toolPolicyRef).
    pub tool_policy: Option<Ref>,
    /// AgentToolProfile.
    pub tool_policy_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_server_refs: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skill_refs: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subagent_refs: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_label_refs: Vec<Ref>,
    /// When to require human approval.
    pub approval_mode: Option<String>,
    /// KradleWorkspacePolicy.
    pub workspace_policy: Option<Ref>,
    pub runner_policy: Option<RunnerPolicy>,
    /// Default task kind.
    pub task_kind: Option<String>,
    /// What its runs may spend.
    pub budget: Option<StackBudget>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSubagentSpec {
    pub organization_ref: Option<Ref>,
    pub role_prompt: String,
    /// Non-empty list of task kinds this subagent handles.
    pub task_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_subset: Vec<String>,
    pub workspace_scope: Option<String>,
    pub max_concurrency: Option<u32>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentToolProfileSpec {
    pub organization_ref: Option<Ref>,
    pub filesystem_policy: Any,
    /// Tool name → approval requirement.
    pub approval_policy_by_tool: BTreeMap<String, String>,
    pub network_policy: Option<Any>,
    pub shell_policy: Option<Any>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMcpServerSpec {
    pub organization_ref: Option<Ref>,
    pub transport: McpTransport,
    pub scope: String,
    pub endpoint: Option<String>,
    pub discovery_url: Option<String>,
    /// Kubernetes Secrets the server needs (granted through AgentSecretGrant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_refs: Vec<Ref>,
    /// ConfigMaps the server needs (granted through AgentConfigGrant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_refs: Vec<Ref>,
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
    pub path: String,
    pub r#ref: Option<String>,
}

/// An http(s) URL, or `{ repository, path, ref }` in a Repository of the org.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum SkillSource {
    Url(String),
    Repository(SkillRepositorySource),
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSkillSpec {
    pub organization_ref: Option<Ref>,
    pub format: SkillFormat,
    pub source_ref: SkillSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_fragments: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_deps: Vec<String>,
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
    pub labels: Vec<String>,
    pub action: LabelAction,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentTriggerRuleSpec {
    pub organization_ref: Option<Ref>,
    pub sources: Vec<TriggerSource>,
    /// AgentStack dispatched on a match.
    pub agent_stack: Ref,
    pub task_kind: String,
    /// Default true.
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    pub repository: Option<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_actors: Vec<String>,
    /// 5-field cron; required by the `schedule` source.
    pub cron_expression: Option<String>,
    /// The IANA time zone `cronExpression` is read in (e.g. `Europe/Paris`);
    /// default UTC.
    pub time_zone: Option<String>,
    pub webhook_trigger: Option<WebhookTrigger>,
    pub comment_trigger: Option<CommentTrigger>,
    pub label_trigger: Option<LabelTrigger>,
    /// How long a second match of the same event detail (the same comment,
    /// label change or CI run) is recorded as `Deduplicated` instead of
    /// dispatched again: `30s`, `10m`, `1h`, `1d`; `0` turns it off.
    /// Default `10m`.
    #[schemars(extend("default" = "10m"))]
    pub dedup_window: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentContextLabelSpec {
    pub organization_ref: Option<Ref>,
    pub prompt_fragment: String,
    pub allowed_sources: Vec<String>,
    pub provenance: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceRetention {
    pub max_age: Option<String>,
    pub max_count: Option<u32>,
    pub cleanup_schedule: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleWorkspacePolicySpec {
    pub organization_ref: Option<Ref>,
    /// Provisioning mode (e.g. on-demand, pre-warmed).
    pub mode: String,
    pub retention_policy: WorkspaceRetention,
    pub trust_tier: Option<String>,
    pub storage_class_name: Option<String>,
    pub default_capacity: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentAdapterSpec {
    pub organization_ref: Option<Ref>,
    pub adapter_type: String,
    pub transport: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    pub auth_requirements: Option<Any>,
    pub installation_method: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub path: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentTransportBindingSpec {
    pub organization_ref: Option<Ref>,
    pub adapter_ref: Ref,
    pub endpoint: String,
    pub protocol: String,
    /// Authentication (token references, never literal tokens).
    pub auth: Option<Any>,
    pub health_check: Option<HealthCheck>,
    pub reconnect_policy: Option<RetryPolicy>,
    pub tls: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimits {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentProviderConfigSpec {
    pub organization_ref: Option<Ref>,
    /// Provider identifier (anthropic, openai, kserve, ...).
    pub provider: String,
    /// Authentication method (api-key, oauth, none).
    pub auth_type: String,
    pub api_base: Option<String>,
    pub default_model: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_translations: BTreeMap<String, String>,
    pub rate_limits: Option<RateLimits>,
    /// Secret holding the API key.
    pub secret_ref: Option<SecretKeyRef>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentGatewayConfigSpec {
    pub organization_ref: Option<Ref>,
    pub gateway_url: String,
    pub auth: Option<Any>,
    pub reconnect_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, bool>,
    pub sse_enabled: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowColumn {
    pub id: String,
    pub display_name: String,
    pub color: Option<String>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleProjectSpec {
    pub organization_ref: Option<Ref>,
    pub display_name: String,
    pub workflow_columns: Option<Vec<WorkflowColumn>>,
    /// `active` (default) or `archived`.
    #[schemars(extend("default" = "active"))]
    pub board_state: Option<BoardState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_refs: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack_refs: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_refs: Vec<ProjectSyncRef>,
}

// ---- aggregated (runtime) kinds ----

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDispatchRunSpec {
    pub organization_ref: Ref,
    pub repository: Ref,
    pub source_refs: Vec<Any>,
    pub agent_stack: Ref,
    pub task_kind: String,
    pub context_bundle_ref: Option<Ref>,
    pub memory_snapshot_ref: Option<Ref>,
    pub workspace_ref: Option<Ref>,
    pub mount_spec: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDispatchAttemptSpec {
    pub organization_ref: Ref,
    pub agent_dispatch_run: Ref,
    pub attempt_reason: String,
    pub agent_stack_snapshot: Any,
    pub context_bundle_digest: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionSpec {
    pub organization_ref: Ref,
    pub agent_mux_session_id: String,
    pub dispatch_run: Ref,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentContextBundleSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    pub digest: String,
    pub sources: Vec<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KradleArtifactSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    pub kind: String,
    pub digest: String,
    pub retention_policy: Option<Any>,
    pub size: Option<u64>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovalSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    pub action: ApprovalAction,
    pub requested_by: String,
    pub description: Option<String>,
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentTriggerExecutionSpec {
    pub organization_ref: Ref,
    pub trigger_rule: Ref,
    /// Event UID `type:kind:name`.
    pub source_event: String,
    pub decision: TriggerDecision,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentCapabilityRequirementSpec {
    pub organization_ref: Ref,
    pub owner_ref: TypedRef,
    pub required_roles: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkItemSessionLinkSpec {
    pub organization_ref: Ref,
    pub work_item_ref: TypedRef,
    pub agent_session: Ref,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkItemWorkspaceLinkSpec {
    pub organization_ref: Ref,
    pub work_item_ref: TypedRef,
    pub workspace: Ref,
    pub work_item_kind: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptMessage {
    pub role: String,
    pub content: String,
    pub timestamp: Option<String>,
    pub cost_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionTranscriptSpec {
    pub organization_ref: Ref,
    pub session_ref: Ref,
    pub messages: Vec<TranscriptMessage>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionAttachmentSpec {
    pub organization_ref: Ref,
    pub session_ref: Ref,
    pub source_type: String,
    pub digest: String,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
    pub redacted: Option<bool>,
    pub original_path: Option<String>,
}
