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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyProfileSpec {
    pub organization_ref: Option<Ref>,
    pub display_name: String,
    pub mode: PolicyMode,
    /// PolicyTemplates bound by default with the profile's mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_templates: Vec<Ref>,
    pub exception_approval_policy: Option<Any>,
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
    pub display_name: String,
    pub target_kinds: Vec<String>,
    /// Kyverno policy body (`spec` of a Policy/ClusterPolicy); parameters as `[[ params.NAME ]]`.
    pub kyverno: Any,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, TemplateParameter>,
    pub rollout_default: Option<RolloutMode>,
    pub remediation: Option<String>,
    pub severity: Option<Severity>,
    /// Emit a ClusterPolicy instead of a namespaced Policy.
    pub cluster_scoped: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyScope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyBindingSpec {
    pub organization_ref: Option<Ref>,
    /// PolicyTemplate of this organization, or a platform-wide one.
    pub template_ref: Ref,
    pub mode: PolicyMode,
    pub scope: Option<PolicyScope>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Any>,
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
    pub phase: DecisionPhase,
    pub decided_by: String,
    /// RFC 3339 time of the decision.
    pub decided_at: String,
    pub reason: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyExceptionRequestSpec {
    pub organization_ref: Option<Ref>,
    /// The PolicyBinding being excepted.
    pub policy_ref: Ref,
    pub justification: String,
    /// RFC 3339 expiry.
    pub expires_at: String,
    /// Rule names excepted (all rules when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// No decision means Pending.
    pub decision: Option<ExceptionDecision>,
}
