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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositorySpec {
    pub organization_ref: Option<Ref>,
    pub visibility: Visibility,
    /// Default branch (default `main`).
    #[schemars(extend("default" = "main"))]
    pub default_branch: Option<String>,
    pub description: Option<String>,
    /// Optional KubeVela delivery (components, traits, policies, workflow).
    pub delivery: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum KeyScope {
    Deploy,
    User,
    Automation,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SSHKeySpec {
    pub organization_ref: Option<Ref>,
    pub scope: KeyScope,
    /// Public key material, one line: `<type> <base64> [comment]`.
    pub key: String,
    /// Repository of a deploy key.
    pub repository: Option<Ref>,
    /// Default: false for user keys, true for deploy keys.
    pub read_only: Option<bool>,
    /// Owning user (user keys) or automation name.
    pub owner: Option<String>,
    /// The User owning a user key.
    pub user: Option<Ref>,
    pub revoked: Option<bool>,
    pub title: Option<String>,
    /// Derived: `sha256:` fingerprint of the key, computed by kradle; an explicit
    /// value must match the key.
    pub fingerprint: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SubjectKind {
    User,
    Team,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryPermissionSpec {
    pub organization_ref: Option<Ref>,
    pub repository: Ref,
    /// User or Team name, per subjectKind.
    pub subject: Ref,
    pub permission: Permission,
    /// `user` (default) or `team`.
    #[schemars(extend("default" = "user"))]
    pub subject_kind: Option<SubjectKind>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BranchProtectionSpec {
    pub organization_ref: Option<Ref>,
    /// Protected repository; all repositories of the org when omitted.
    pub repository: Option<Ref>,
    /// Branch pattern(s), e.g. `main`, `release/*`.
    pub refs: OneOrMany,
    /// Required approving reviews (default 1).
    #[schemars(extend("default" = 1))]
    pub required_reviews: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_checks: Vec<String>,
    /// Default false.
    #[schemars(extend("default" = false))]
    pub allow_force_push: Option<bool>,
    pub dismiss_stale_reviews: Option<bool>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefPolicySpec {
    pub organization_ref: Option<Ref>,
    pub repository: Option<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_rules: Vec<String>,
    pub force_push_policy: Option<ForcePushPolicy>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSubscriptionSpec {
    pub organization_ref: Option<Ref>,
    pub repository: Option<Ref>,
    /// Target http(s) URL.
    pub url: String,
    pub events: Vec<String>,
    /// HMAC signing secret, as a reference to a Secret key.
    pub secret_ref: Option<SecretKeyRef>,
    /// `json` (default) or `form`.
    #[schemars(extend("default" = "json"))]
    pub content_type: Option<ContentType>,
    pub active: Option<bool>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunnerPoolSpec {
    pub organization_ref: Option<Ref>,
    /// Idle runners kept warm (>= 0).
    pub warm_replicas: u32,
    /// Maximum runners (>= 1 and >= warmReplicas).
    pub max_replicas: u32,
    /// Runner image (default `ubuntu:24.04`).
    #[schemars(extend("default" = "ubuntu:24.04"))]
    pub image: Option<String>,
    pub trust_tier: Option<TrustTier>,
    pub cache: Option<CacheConfig>,
    /// `queueDepth` (default).
    #[schemars(extend("default" = "queueDepth"))]
    pub scaling_metric: Option<ScalingMetric>,
    /// Kubernetes ServiceAccount name for runners (default `kradle-runner`).
    #[schemars(extend("default" = "kradle-runner"))]
    pub service_account: Option<String>,
    pub resource_limits: Option<ResourceQuantities>,
    pub resource_requests: Option<ResourceQuantities>,
}
