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

/// The recipe of an agent; the hub of the agent capability graph (spec §4.1).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentStackSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// Agent type identifier.
    pub base_agent: String,
    /// AgentAdapter of the organization.
    pub adapter: Ref,
    pub runtime_identity: RuntimeIdentity,
    /// AgentProviderConfig of the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompt_templates: BTreeMap<String, String>,
    /// AgentToolProfile (alias of toolPolicyRef).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_policy: Option<Ref>,
    /// AgentToolProfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_mode: Option<String>,
    /// KradleWorkspacePolicy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_policy: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_policy: Option<RunnerPolicy>,
    /// Default task kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kind: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSubagentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub role_prompt: String,
    /// Non-empty list of task kinds this subagent handles.
    pub task_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_subset: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentToolProfileSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub filesystem_policy: Any,
    /// Tool name → approval requirement.
    pub approval_policy_by_tool: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMcpServerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub transport: McpTransport,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// Kubernetes Secrets the server needs (granted through AgentSecretGrant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_refs: Vec<Ref>,
    /// ConfigMaps the server needs (granted through AgentConfigGrant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_refs: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SkillFormat {
    Markdown,
    Yaml,
    Json,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillRepositorySource {
    /// Repository of the organization holding the skill.
    pub repository: Ref,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<String>,
}

/// An http(s) URL, or `{ repository, path, ref }` in a Repository of the org.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum SkillSource {
    Url(String),
    Repository(SkillRepositorySource),
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSkillSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub format: SkillFormat,
    pub source_ref: SkillSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_fragments: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_deps: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookTrigger {
    /// http(s) URL of the webhook.
    pub url: String,
    /// Event names, or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentTriggerRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub sources: Vec<TriggerSource>,
    /// AgentStack dispatched on a match.
    pub agent_stack: Ref,
    pub task_kind: String,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_actors: Vec<String>,
    /// 5-field cron; required by the `schedule` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_trigger: Option<WebhookTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_trigger: Option<CommentTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_trigger: Option<LabelTrigger>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentContextLabelSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub prompt_fragment: String,
    pub allowed_sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_schedule: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleWorkspacePolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// Provisioning mode (e.g. on-demand, pre-warmed).
    pub mode: String,
    pub retention_policy: WorkspaceRetention,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_capacity: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentAdapterSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub adapter_type: String,
    pub transport: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_requirements: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_method: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentTransportBindingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub adapter_ref: Ref,
    pub endpoint: String,
    pub protocol: String,
    /// Authentication (token references, never literal tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentProviderConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// Provider identifier (anthropic, openai, kserve, ...).
    pub provider: String,
    /// Authentication method (api-key, oauth, none).
    pub auth_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_translations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimits>,
    /// Secret holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentGatewayConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub gateway_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_enabled: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowColumn {
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BoardState {
    Active,
    Archived,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectSyncRef {
    /// ExternalBackendBinding used for the sync.
    pub binding_ref: Ref,
    /// Project id on the external provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_project: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleProjectSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_columns: Option<Vec<WorkflowColumn>>,
    /// `active` (default) or `archived`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDispatchRunSpec {
    pub organization_ref: Ref,
    pub repository: Ref,
    pub source_refs: Vec<Any>,
    pub agent_stack: Ref,
    pub task_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_bundle_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_snapshot_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_spec: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDispatchAttemptSpec {
    pub organization_ref: Ref,
    pub agent_dispatch_run: Ref,
    pub attempt_reason: String,
    pub agent_stack_snapshot: Any,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KradleArtifactSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    pub kind: String,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovalSpec {
    pub organization_ref: Ref,
    pub dispatch_run: Ref,
    pub action: ApprovalAction,
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkItemWorkspaceLinkSpec {
    pub organization_ref: Ref,
    pub work_item_ref: TypedRef,
    pub workspace: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_item_kind: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptMessage {
    pub role: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionAttachmentSpec {
    pub organization_ref: Ref,
    pub session_ref: Ref,
    pub source_type: String,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_path: Option<String>,
}
