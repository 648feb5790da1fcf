//! External backend domain (spec §1.8): providers such as GitHub, their
//! bindings and sync policy (config), and the sync records (aggregated).

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Secret of a binding's credentials.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialRef {
    /// Name of the Secret in the organization namespace.
    pub name: String,
    /// Key holding a token; omitted for a GitHub App.
    pub key: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ProviderType {
    Github,
    Gitlab,
    Gitea,
}

/// An external system kradle syncs with (GitHub, Gitea, GitLab): its type
/// and API endpoint.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendProviderSpec {
    pub organization_ref: Option<Ref>,
    /// The kind of system: `github`, `gitea` or `gitlab`.
    pub provider_type: ProviderType,
    /// Provider API endpoint URL.
    pub endpoint: String,
    /// Name shown for the provider.
    pub display_name: Option<String>,
    /// Provider-specific settings (free-form; never credentials).
    pub config: Option<Any>,
    /// App id, installation id, ...; never keys or tokens.
    pub auth_config: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingScope {
    /// Repositories synced with the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<Ref>,
    /// Sync issues (default true; not acted on yet: every bound repository's
    /// events are synced).
    pub issues: Option<bool>,
    /// Sync pull requests (default true; not acted on yet).
    pub pull_requests: Option<bool>,
    /// Sync CI runs and jobs (default true; not acted on yet).
    pub pipelines: Option<bool>,
}

/// Connects a provider to the organization: the credential Secret, the
/// webhook secret, and what is synced.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendBindingSpec {
    pub organization_ref: Option<Ref>,
    /// The ExternalBackendProvider bound.
    pub provider_ref: Ref,
    /// Secret with the provider credentials: with `key`, that key holds a
    /// token; without, the Secret holds a GitHub App (`appId`, `privateKey`,
    /// `installationId`).
    pub credential_ref: CredentialRef,
    /// What is synced: which repositories, and issues, pull requests and
    /// pipelines. A GitHub binding's repositories are managed on GitHub, not on
    /// the `defaultBackend`.
    pub scope: Option<BindingScope>,
    /// Secret key holding the webhook HMAC secret.
    pub webhook_secret_ref: Option<SecretKeyRef>,
    /// `false` turns the binding off: no sync, no backfill, no routing of its
    /// repositories (default true).
    pub sync_enabled: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictResolution {
    PreferExternal,
    PreferKradle,
    Manual,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OwnershipMode {
    Bidirectional,
    ExternalOwned,
    KradleOwned,
}

/// How sync with a provider behaves: interval, backfill, conflict
/// resolution, ownership, retries.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendSyncPolicySpec {
    pub organization_ref: Option<Ref>,
    pub provider_ref: Ref,
    /// e.g. 5m, 1h.
    pub sync_interval: String,
    /// Who wins when both sides changed a field: `prefer-external`,
    /// `prefer-kradle`, or `manual` (default: the write is held for a person).
    pub conflict_resolution: Option<ConflictResolution>,
    /// `bidirectional` (default); `external-owned`: kradle never writes to the
    /// provider; `kradle-owned`: kradle's values are the truth.
    pub ownership: Option<OwnershipMode>,
    /// Provider fields mapped to kradle fields (free-form; not acted on yet).
    pub field_mapping_overrides: Option<Any>,
    pub retry_policy: Option<RetryPolicy>,
    /// Poll only when no webhook delivery arrived for `syncInterval` (not acted
    /// on yet: kradle does not poll).
    pub webhook_first: Option<bool>,
    /// How often everything is re-listed from the provider (e.g. `1h`); no
    /// backfill when omitted.
    pub backfill_interval: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ProviderInterface {
    GitForge,
    IssueTracking,
    Cicd,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// The provider type the manifest describes.
    pub provider_type: String,
    /// Interfaces the provider implements.
    pub interfaces: Vec<ProviderInterface>,
    /// kradle kinds the provider can hold (e.g. `Issue`, `PullRequest`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_kinds: Vec<String>,
    /// API features of the provider (free-form).
    pub api_features: Option<Any>,
}

/// What a provider can do: its interfaces, the kinds it can hold and its
/// API features.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalProviderCapabilityManifestSpec {
    pub organization_ref: Option<Ref>,
    /// The ExternalBackendProvider described.
    pub provider_ref: Ref,
    /// What the provider can do.
    pub capabilities: Capabilities,
}

/// A webhook delivery a provider sent kradle, and how it was processed.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalWebhookDeliverySpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    /// Event name the provider sent (e.g. `issues`).
    pub event_type: String,
    /// The delivery's body, as the provider sent it.
    pub payload: Any,
    /// The provider's delivery id (`X-GitHub-Delivery`, `X-Gitea-Delivery`).
    pub delivery_id: Option<String>,
}

/// A change of one object, normalized from a provider's delivery.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSyncEventSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    /// What changed (e.g. `issue.updated`).
    pub event_kind: String,
    pub resource_ref: TypedRef,
}

/// Where the sync of one object stands: its phase and watermark.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSyncStateSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    /// Where the object's sync stands.
    pub phase: String,
}

/// A write kradle is to send to a provider, recorded before it is sent.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalWriteIntentSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    /// The write to send (e.g. `update-labels`).
    pub operation: String,
    /// The provider interface the write goes through.
    pub interface_key: Option<ProviderInterface>,
    /// What the write sends.
    pub payload: Option<Any>,
    /// The write waits for a person.
    pub requires_approval: Option<bool>,
    /// Default 3.
    #[schemars(extend("default" = 3))]
    pub max_retries: Option<u32>,
    /// Key that makes a resent write a no-op.
    pub idempotency_key: Option<String>,
}

/// A field both kradle and the provider changed, and how it was resolved.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSyncConflictSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    /// What kind of conflict it is.
    pub conflict_kind: String,
    /// The field both sides changed.
    pub field_path: Option<String>,
    /// kradle's value of the field.
    pub local_value: Option<Any>,
    /// The provider's value of the field.
    pub external_value: Option<Any>,
    /// RFC 3339 time it was found.
    pub detected_at: Option<String>,
}

/// The link between a kradle object and its counterpart on a provider: the
/// external id.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalObjectLinkSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    /// Id of the object on the provider.
    pub external_id: String,
    pub local_ref: TypedRef,
}

impl super::Model {
    /// The enabled bindings of `org` to a GitHub provider (`syncEnabled`
    /// not false), with their provider, in declaration order.
    pub fn github_bindings<'a>(
        &'a self,
        org: &'a str,
    ) -> impl Iterator<
        Item = (
            &'a super::Resource,
            &'a ExternalBackendBindingSpec,
            &'a ExternalBackendProviderSpec,
        ),
    > + 'a {
        self.all::<ExternalBackendBindingSpec>()
            .filter(move |(r, _)| r.org.as_deref() == Some(org))
            .filter_map(move |(r, b)| {
                let (_, p) =
                    self.get::<ExternalBackendProviderSpec>(Some(org), b.provider_ref.name())?;
                (p.provider_type == ProviderType::Github && b.sync_enabled != Some(false))
                    .then_some((r, b, p))
            })
    }

    /// The repositories of `org` kradle manages on GitHub: those an enabled
    /// GitHub binding scopes and, under `defaultBackend: github` with exactly
    /// one such binding, every repository no binding scopes (KR523 refuses
    /// the config when there is not exactly one). The others are on Gitea.
    pub fn github_repositories<'a>(&'a self, org: &'a str) -> std::collections::BTreeSet<&'a str> {
        let bindings: Vec<_> = self.github_bindings(org).collect();
        let mut out: std::collections::BTreeSet<&str> = bindings
            .iter()
            .flat_map(|(_, b, _)| b.scope.iter().flat_map(|s| s.repositories.iter()))
            .map(|r| r.0.as_str())
            .collect();
        if self.project.default_backend == Some(crate::project::Backend::Github)
            && bindings.len() == 1
        {
            let bound = self.bound_repositories(org);
            out.extend(
                self.names_in(Some(org), super::Kind::Repository)
                    .filter(|r| !bound.contains(r)),
            );
        }
        out
    }

    /// Every repository of `org` some binding scopes, whatever its
    /// provider: the others follow `defaultBackend`.
    pub fn bound_repositories(&self, org: &str) -> std::collections::BTreeSet<&str> {
        self.all::<ExternalBackendBindingSpec>()
            .filter(|(r, _)| r.org.as_deref() == Some(org))
            .flat_map(|(_, b)| b.scope.iter().flat_map(|s| s.repositories.iter()))
            .map(|r| r.0.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_credential_may_be_a_token_key_or_a_github_app() {
        let token: ExternalBackendBindingSpec = serde_json::from_value(serde_json::json!({
            "providerRef": "github", "credentialRef": { "name": "gh", "key": "token" }
        }))
        .unwrap();
        assert_eq!(token.credential_ref.key.as_deref(), Some("token"));
        let app: ExternalBackendBindingSpec = serde_json::from_value(serde_json::json!({
            "providerRef": "github", "credentialRef": { "name": "gh-app" }
        }))
        .unwrap();
        assert_eq!(app.credential_ref.key, None);
    }
}
