//! Policy domain (spec §1.3): profiles, Kyverno templates, bindings, exceptions.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum PolicyMode {
    Audit,
    Enforce,
    Disabled,
}

/// The organization's policy posture: the templates bound by default and
/// their mode.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyProfileSpec {
    pub organization_ref: Option<Ref>,
    /// Name shown for the profile.
    pub display_name: String,
    /// Mode of the bindings the profile makes: `audit` reports violations,
    /// `enforce` refuses them, `disabled` emits no policy.
    pub mode: PolicyMode,
    /// PolicyTemplates bound by default with the profile's mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_templates: Vec<Ref>,
    /// Who approves exceptions to the profile's policies (free-form).
    pub exception_approval_policy: Option<Any>,
    /// When the profile's bindings move from audit to enforce (free-form).
    pub rollout_schedule: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RolloutMode {
    Audit,
    Enforce,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateParameter {
    /// What the parameter means.
    pub description: Option<String>,
    pub default: Option<Any>,
}

/// Curated Kyverno policy. May omit organizationRef to be platform-wide.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTemplateSpec {
    /// Owning organization; omitted for a platform-wide template any org may bind.
    pub organization_ref: Option<Ref>,
    /// Name shown for the template.
    pub display_name: String,
    /// Kubernetes kinds the policy applies to (e.g. `Pod`); also its
    /// `policies.kyverno.io/subject` annotation.
    pub target_kinds: Vec<String>,
    /// Kyverno policy body (`spec` of a Policy/ClusterPolicy); parameters as `[[ params.NAME ]]`.
    pub kyverno: Any,
    /// Parameters a binding may set, by name, each with an optional default;
    /// a parameter with no default must be set by every binding (KR517).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, TemplateParameter>,
    /// The mode the template is meant to be rolled out in first.
    pub rollout_default: Option<RolloutMode>,
    /// How to fix a violation; the policy's `policies.kyverno.io/description`.
    pub remediation: Option<String>,
    /// The policy's `policies.kyverno.io/severity`.
    pub severity: Option<Severity>,
    /// Emit a ClusterPolicy instead of a namespaced Policy.
    pub cluster_scoped: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyScope {
    /// Only objects labelled `kradle.a5c.ai/repository` with one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<Ref>,
    /// Only objects labelled `kradle.a5c.ai/environment` with one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// Only objects with all these labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// Binds a PolicyTemplate to the organization, in audit or enforce mode,
/// narrowed to repositories, environments or labels; becomes a Kyverno
/// policy.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyBindingSpec {
    pub organization_ref: Option<Ref>,
    /// PolicyTemplate of this organization, or a platform-wide one.
    pub template_ref: Ref,
    /// `audit` reports violations, `enforce` refuses them, `disabled` emits
    /// no policy.
    pub mode: PolicyMode,
    /// Narrows every rule's match; the whole organization namespace when omitted.
    pub scope: Option<PolicyScope>,
    /// Values of the template's parameters, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Any>,
    /// PolicyExceptionRequests that concern this binding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Ref>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionPhase {
    Approved,
    Denied,
    Revoked,
}

/// The reviewed decision; in GitOps the merge of this change is the approval.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExceptionDecision {
    /// `approved` makes the exception a Kyverno PolicyException until it
    /// expires; `denied` or `revoked` does not.
    pub phase: DecisionPhase,
    /// Who decided.
    pub decided_by: String,
    /// RFC 3339 time of the decision.
    pub decided_at: String,
    /// Why.
    pub reason: Option<String>,
}

/// A reviewed, time-limited exception to a PolicyBinding; approved, it
/// becomes a Kyverno PolicyException until it expires.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyExceptionRequestSpec {
    pub organization_ref: Option<Ref>,
    /// The PolicyBinding being excepted.
    pub policy_ref: Ref,
    /// Why the exception is needed.
    pub justification: String,
    /// RFC 3339 expiry.
    pub expires_at: String,
    /// Rule names excepted (all rules when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// No decision means Pending.
    pub decision: Option<ExceptionDecision>,
}
