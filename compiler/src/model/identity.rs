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

/// A person, member of an organization: their forge account, team
/// memberships and keys follow from it.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    pub organization_ref: Option<Ref>,
    /// Full name, shown on the forge.
    pub display_name: String,
    /// Primary email address.
    pub email: String,
    /// Login handle; also the forge username when no IdentityMapping says otherwise.
    pub username: Option<String>,
    /// Teams the user belongs to, as recorded on the User. Forge team membership
    /// comes from each Team's `members` and `maintainers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Ref>,
    /// Groups of the user (e.g. `kradle:platform-engineers`), carried to the
    /// cluster resource; the forge plans do not act on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Suspends the user: a disabled User keeps no team membership, collaborator
    /// access or key, and a grant naming it is a warning (KR519).
    pub disabled: Option<bool>,
    /// Platform administrator, carried to the cluster resource; the forge plans
    /// do not make the user a site administrator.
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
    /// The Repository the team is granted.
    pub repository: Ref,
    /// The access level on that repository.
    pub permission: Permission,
}

/// A group of users with maintainers and repository grants; becomes one or
/// more forge teams.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamSpec {
    pub organization_ref: Option<Ref>,
    /// Team name, used as the forge team's description.
    pub display_name: String,
    /// Users in the team; each becomes a member of the forge team(s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Ref>,
    /// Subset of members with team management rights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<Ref>,
    /// Repositories the team may access, each at one permission. On Gitea,
    /// where a team has one permission for all its repositories, each level gets
    /// its own team `<team>-<level>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_grants: Vec<RepositoryGrant>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum OrgRole {
    Admin,
    Member,
}

/// A pending invitation of a person to the organization, with the teams
/// they join on acceptance.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteSpec {
    pub organization_ref: Option<Ref>,
    /// Address of the person invited.
    pub email: String,
    /// Role the invitee gets on acceptance.
    pub role: OrgRole,
    /// RFC 3339 expiry; an invite past it is reported as expired.
    pub expires_at: Option<String>,
    /// Teams the invitee joins on acceptance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Ref>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceIdentity {
    /// Name of the workspace identity.
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryIdentity {
    /// Username on the git forge.
    pub username: String,
}

/// Links a User to a sign-in provider's subject, a workspace identity and
/// an account on the git forge.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityMappingSpec {
    pub organization_ref: Option<Ref>,
    /// The User this identity belongs to.
    pub user: Ref,
    /// Identity provider id (e.g. github, sso, delegated).
    pub provider: String,
    /// External subject identifier.
    pub subject: String,
    /// The workspace identity the user is bound to.
    pub workspace_identity: Option<WorkspaceIdentity>,
    /// The user's account on the git forge; it names the user in every forge
    /// operation (team membership, collaborators, keys).
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
    /// Kind of sign-in: GitHub OAuth, OIDC single sign-on, or delegated
    /// (identity from a trusted proxy's headers).
    #[serde(rename = "type")]
    pub provider_type: AuthProviderType,
    /// OAuth client id (the secret is configured in the environment, never here).
    pub client_id: Option<String>,
    /// OAuth authorization endpoint.
    pub authorization_url: Option<String>,
    /// OAuth token exchange endpoint.
    pub token_url: Option<String>,
    /// OIDC userinfo endpoint.
    pub user_info_url: Option<String>,
    /// Space-separated OAuth scopes.
    pub scopes: Option<String>,
    /// Whether users may sign in with this provider.
    pub enabled: Option<bool>,
}

/// The Kubernetes ServiceAccount agent pods run as.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentServiceAccountSpec {
    pub organization_ref: Option<Ref>,
    /// Derived: the organization's namespace, the only one an agent identity
    /// may live in; when given, it must be that.
    pub namespace: Option<String>,
    /// Name of the Kubernetes ServiceAccount agent pods run as.
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
    /// Name of the Role or ClusterRole.
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
    /// The Role or ClusterRole bound to the subject.
    pub role_ref: RoleRef,
    /// Must be `namespace`: the binding is a RoleBinding in the organization's
    /// namespace. An organization never gets a ClusterRoleBinding; `cluster` is
    /// refused (KR516).
    pub scope: BindingScope,
}

/// Lets an AgentServiceAccount read some keys of a Secret, for a stated
/// purpose; becomes a Role and a RoleBinding.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSecretGrantSpec {
    pub organization_ref: Option<Ref>,
    /// The AgentServiceAccount given access.
    pub subject: Ref,
    /// The Secret, and optionally the keys of it, the subject may read.
    pub secret_ref: ObjectKeysRef,
    /// Why the subject needs the Secret; shown in reviews and audit.
    pub purpose: String,
}

/// Lets an AgentServiceAccount read some keys of a ConfigMap, for a stated
/// purpose; becomes a Role and a RoleBinding.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentConfigGrantSpec {
    pub organization_ref: Option<Ref>,
    /// The AgentServiceAccount given access.
    pub subject: Ref,
    /// The ConfigMap, and optionally the keys of it, the subject may read.
    pub config_map_ref: ObjectKeysRef,
    /// Why the subject needs the ConfigMap; shown in reviews and audit.
    pub purpose: String,
}
