//! Identity domain (spec §1.1): tenants, people, teams and agent identities.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Tenant boundary. Platform-scoped; owns the namespace `kradle-org-<slug>`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationSpec {
    /// Human-readable organization name.
    pub display_name: String,
    /// The bound Kubernetes namespace; must be `kradle-org-<slug>`.
    pub namespace_name: String,
    /// Derived from metadata.name; may be given but must then agree.
    pub slug: Option<String>,
    /// Who can see the organization on the forge. Default: `public` when it
    /// has a public repository (so anonymous users can see that repository),
    /// else `private`.
    pub visibility: Option<OrgVisibility>,
    /// What all the organization's agent runs together may spend.
    pub agent_budget: Option<OrgAgentBudget>,
}

/// The organization-wide agent budget, checked with each stack's own.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgAgentBudget {
    /// Runs the organization's stacks may start in any 24 hours; past
    /// that, a run is refused (`BudgetExceeded`).
    #[schemars(range(min = 1))]
    pub max_runs_per_day: Option<u32>,
    /// Runs that may be Running at once; a launch past that waits for a
    /// run to end (reason `OrgConcurrencyLimit`).
    #[schemars(range(min = 1))]
    pub max_concurrent_runs: Option<u32>,
}

/// Visibility of an organization on the forge (Gitea's three levels).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum OrgVisibility {
    /// Anyone, signed in or not.
    Public,
    /// Signed-in users only.
    Limited,
    /// Members only.
    Private,
}

/// Explicit 1:1 binding of an Organization to its tenant namespace. Platform-scoped.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgNamespaceBindingSpec {
    pub organization_ref: Ref,
    /// The target namespace; must be `kradle-org-<slug>`.
    pub namespace: String,
    /// Create the namespace (default true).
    #[schemars(extend("default" = true))]
    pub create_namespace: Option<bool>,
    /// Extra labels merged into the namespace metadata.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    pub organization_ref: Option<Ref>,
    pub display_name: String,
    pub email: String,
    /// Login handle; also the forge username when no IdentityMapping says otherwise.
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    pub disabled: Option<bool>,
    pub admin: Option<bool>,
}

#[derive(
    Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub enum Permission {
    Read,
    Write,
    Admin,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryGrant {
    pub repository: Ref,
    pub permission: Permission,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamSpec {
    pub organization_ref: Option<Ref>,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Ref>,
    /// Subset of members with team management rights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_grants: Vec<RepositoryGrant>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum OrgRole {
    Admin,
    Member,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteSpec {
    pub organization_ref: Option<Ref>,
    pub email: String,
    pub role: OrgRole,
    /// RFC 3339 expiry; an invite past it is reported as expired.
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Ref>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceIdentity {
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryIdentity {
    /// Username on the git forge.
    pub username: String,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityMappingSpec {
    pub organization_ref: Option<Ref>,
    pub user: Ref,
    /// Identity provider id (e.g. github, sso, delegated).
    pub provider: String,
    /// External subject identifier.
    pub subject: String,
    pub workspace_identity: Option<WorkspaceIdentity>,
    pub repository_identity: Option<RepositoryIdentity>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AuthProviderType {
    Github,
    Oidc,
    Delegated,
}

/// Sign-in provider. The client secret is never part of the spec (environment only).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthProviderSpec {
    pub organization_ref: Option<Ref>,
    #[serde(rename = "type")]
    pub provider_type: AuthProviderType,
    pub client_id: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub user_info_url: Option<String>,
    /// Space-separated OAuth scopes.
    pub scopes: Option<String>,
    pub enabled: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentServiceAccountSpec {
    pub organization_ref: Option<Ref>,
    /// Target namespace of the ServiceAccount (the org namespace).
    pub namespace: String,
    pub service_account_name: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BindingScope {
    Namespace,
    Cluster,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleRef {
    /// `Role` or `ClusterRole`.
    pub kind: RoleKind,
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    Role,
    ClusterRole,
}

/// Projection of an agent identity to Kubernetes RBAC.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentRoleBindingSpec {
    pub organization_ref: Option<Ref>,
    /// AgentServiceAccount (default) or `{ kind: User, name }`.
    pub subject: TypedRef,
    pub role_ref: RoleRef,
    pub scope: BindingScope,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSecretGrantSpec {
    pub organization_ref: Option<Ref>,
    /// The AgentServiceAccount given access.
    pub subject: Ref,
    pub secret_ref: ObjectKeysRef,
    pub purpose: String,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentConfigGrantSpec {
    pub organization_ref: Option<Ref>,
    /// The AgentServiceAccount given access.
    pub subject: Ref,
    pub config_map_ref: ObjectKeysRef,
    pub purpose: String,
}
