//! Identity domain (spec §1.1): tenants, people, teams and agent identities.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Tenant boundary. Platform-scoped; owns the namespace `kradle-org-<slug>`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationSpec {
    /// Human-readable organization name.
    pub display_name: String,
    /// The bound Kubernetes namespace; must be `kradle-org-<slug>`.
    pub namespace_name: String,
    /// Derived from metadata.name; may be given but must then agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Who can see the organization on the forge. Default: `public` when it
    /// has a public repository (so anonymous users can see that repository),
    /// else `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<OrgVisibility>,
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
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgNamespaceBindingSpec {
    pub organization_ref: Ref,
    /// The target namespace; must be `kradle-org-<slug>`.
    pub namespace: String,
    /// Create the namespace (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub create_namespace: Option<bool>,
    /// Extra labels merged into the namespace metadata.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub display_name: String,
    pub email: String,
    /// Login handle; also the forge username when no IdentityMapping says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub email: String,
    pub role: OrgRole,
    /// RFC 3339 expiry; an invite past it is reported as expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityMappingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub user: Ref,
    /// Identity provider id (e.g. github, sso, delegated).
    pub provider: String,
    /// External subject identifier.
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_identity: Option<WorkspaceIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthProviderSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    #[serde(rename = "type")]
    pub provider_type: AuthProviderType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info_url: Option<String>,
    /// Space-separated OAuth scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentServiceAccountSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentRoleBindingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// AgentServiceAccount (default) or `{ kind: User, name }`.
    pub subject: TypedRef,
    pub role_ref: RoleRef,
    pub scope: BindingScope,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSecretGrantSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// The AgentServiceAccount given access.
    pub subject: Ref,
    pub secret_ref: ObjectKeysRef,
    pub purpose: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentConfigGrantSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// The AgentServiceAccount given access.
    pub subject: Ref,
    pub config_map_ref: ObjectKeysRef,
    pub purpose: String,
}
