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

/// A git repository on the organization's forge: its visibility, default
/// branch and description.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositorySpec {
    pub organization_ref: Option<Ref>,
    /// Who can see the repository: `public`, `internal` (signed-in users of
    /// the forge) or `private`. A public repository makes its organization public
    /// unless the organization sets its visibility.
    pub visibility: Visibility,
    /// Default branch (default `main`).
    #[schemars(extend("default" = "main"))]
    pub default_branch: Option<String>,
    /// Short description, set on the forge repository.
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

/// An SSH key: a deploy key of a repository, or a key of a User or an
/// automation.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SSHKeySpec {
    pub organization_ref: Option<Ref>,
    /// `deploy` (a key of one repository), `user` (a key of one User) or
    /// `automation` (a key owned by an automation).
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
    /// A revoked key is removed from the forge and kept in the config as a record.
    pub revoked: Option<bool>,
    /// Title of the key on the forge (default: the resource name).
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

/// A user's or team's access to a repository (a collaborator or a team grant
/// on the forge).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryPermissionSpec {
    pub organization_ref: Option<Ref>,
    /// The Repository the subject gets access to.
    pub repository: Ref,
    /// User or Team name, per subjectKind.
    pub subject: Ref,
    /// The access level granted.
    pub permission: Permission,
    /// `user` (default) or `team`.
    #[schemars(extend("default" = "user"))]
    pub subject_kind: Option<SubjectKind>,
    /// A revoked permission is removed from the forge and kept in the config as
    /// a record.
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

/// Rules on branches of a repository: required reviews, status checks,
/// force pushes.
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
    /// Status check contexts that must pass before merging (e.g. `ci/build`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_checks: Vec<String>,
    /// Default false.
    #[schemars(extend("default" = false))]
    pub allow_force_push: Option<bool>,
    /// Dismiss approvals when new commits are pushed (default false).
    pub dismiss_stale_reviews: Option<bool>,
    /// Apply the rules to administrators too (default false).
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

/// Rules on refs: denied ref patterns, force pushes, signed commits, hook
/// gates.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefPolicySpec {
    pub organization_ref: Option<Ref>,
    /// The repository it governs; all repositories of the organization when omitted.
    pub repository: Option<Ref>,
    /// Ref patterns no one may update (e.g. `refs/heads/main`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_rules: Vec<String>,
    /// Whether force pushes are denied, allowed, or allowed after review.
    pub force_push_policy: Option<ForcePushPolicy>,
    /// `required` makes the forge require signed commits on the branches a
    /// BranchProtection covers (a repository without one is reported in
    /// `report.json`).
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

/// An outbound webhook of the forge: where events of a repository or of the
/// organization are sent, signed with a Secret.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSubscriptionSpec {
    pub organization_ref: Option<Ref>,
    /// The repository whose events are sent; the organization's when omitted.
    pub repository: Option<Ref>,
    /// Target http(s) URL.
    pub url: String,
    /// Event types sent (e.g. `push`, `pull_request`, `issues`).
    pub events: Vec<String>,
    /// HMAC signing secret, as a reference to a Secret key.
    pub secret_ref: Option<SecretKeyRef>,
    /// `json` (default) or `form`.
    #[schemars(extend("default" = "json"))]
    pub content_type: Option<ContentType>,
    /// Whether the forge delivers events (default true).
    pub active: Option<bool>,
    /// How redeliveries are retried.
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
    /// Kind of cache, e.g. `object-storage`.
    #[serde(rename = "type")]
    pub cache_type: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ScalingMetric {
    QueueDepth,
}

/// A pool of CI runners: how many are kept warm and at most, their image,
/// resources and trust tier.
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
    /// `trusted` (the organization's own code) or `untrusted` (pipelines from
    /// forks); a pipeline runs on a pool of its own tier.
    pub trust_tier: Option<TrustTier>,
    /// Build cache shared by the pool's runners.
    pub cache: Option<CacheConfig>,
    /// `queueDepth` (default).
    #[schemars(extend("default" = "queueDepth"))]
    pub scaling_metric: Option<ScalingMetric>,
    /// Kubernetes ServiceAccount name for runners (default `kradle-runner`).
    #[schemars(extend("default" = "kradle-runner"))]
    pub service_account: Option<String>,
    /// Pod resource limits of each runner.
    pub resource_limits: Option<ResourceQuantities>,
    /// Pod resource requests of each runner.
    pub resource_requests: Option<ResourceQuantities>,
}
