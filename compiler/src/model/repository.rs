//! Repository domain (spec §1.2): repositories, keys, permissions, protections,
//! ref policies, webhook subscriptions and runner pools.

use super::common::*;
use super::identity::Permission;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Visibility {
    Public,
    Internal,
    Private,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositorySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub visibility: Visibility,
    /// Default branch (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "main"))]
    pub default_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Optional KubeVela delivery (components, traits, policies, workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum KeyScope {
    Deploy,
    User,
    Automation,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SSHKeySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub scope: KeyScope,
    /// Public key material, one line: `<type> <base64> [comment]`.
    pub key: String,
    /// Repository of a deploy key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Ref>,
    /// Default: false for user keys, true for deploy keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Owning user (user keys) or automation name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The User owning a user key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Derived: `sha256:` fingerprint of the key, computed by kradle; an explicit
    /// value must match the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SubjectKind {
    User,
    Team,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryPermissionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub repository: Ref,
    /// User or Team name, per subjectKind.
    pub subject: Ref,
    pub permission: Permission,
    /// `user` (default) or `team`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "user"))]
    pub subject_kind: Option<SubjectKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
}

/// One or several branch patterns.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BranchProtectionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// Protected repository; all repositories of the org when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Ref>,
    /// Branch pattern(s), e.g. `main`, `release/*`.
    pub refs: OneOrMany,
    /// Required approving reviews (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1))]
    pub required_reviews: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_checks: Vec<String>,
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub allow_force_push: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismiss_stale_reviews: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_admins: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ForcePushPolicy {
    Deny,
    Allow,
    AllowWithReview,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SigningPolicy {
    Required,
    Optional,
    Disabled,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefPolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_push_policy: Option<ForcePushPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_policy: Option<SigningPolicy>,
    /// Custom pre-receive hook configurations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hook_gates: Vec<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ContentType {
    Json,
    Form,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSubscriptionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Ref>,
    /// Target http(s) URL.
    pub url: String,
    pub events: Vec<String>,
    /// HMAC signing secret, as a reference to a Secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    /// `json` (default) or `form`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "json"))]
    pub content_type: Option<ContentType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum TrustTier {
    Trusted,
    Untrusted,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(rename = "type")]
    pub cache_type: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ScalingMetric {
    QueueDepth,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunnerPoolSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// Idle runners kept warm (>= 0).
    pub warm_replicas: u32,
    /// Maximum runners (>= 1 and >= warmReplicas).
    pub max_replicas: u32,
    /// Runner image (default `ubuntu:24.04`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ubuntu:24.04"))]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_tier: Option<TrustTier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheConfig>,
    /// `queueDepth` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "queueDepth"))]
    pub scaling_metric: Option<ScalingMetric>,
    /// Kubernetes ServiceAccount name for runners (default `kradle-runner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "kradle-runner"))]
    pub service_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<ResourceQuantities>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_requests: Option<ResourceQuantities>,
}
