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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendProviderSpec {
    pub organization_ref: Option<Ref>,
    pub provider_type: ProviderType,
    /// Provider API endpoint URL.
    pub endpoint: String,
    pub display_name: Option<String>,
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
    pub issues: Option<bool>,
    pub pull_requests: Option<bool>,
    pub pipelines: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendBindingSpec {
    pub organization_ref: Option<Ref>,
    pub provider_ref: Ref,
    /// Secret with the provider credentials: with `key`, that key holds a
    /// token; without, the Secret holds a GitHub App (`appId`, `privateKey`,
    /// `installationId`).
    pub credential_ref: CredentialRef,
    pub scope: Option<BindingScope>,
    /// Secret key holding the webhook HMAC secret.
    pub webhook_secret_ref: Option<SecretKeyRef>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendSyncPolicySpec {
    pub organization_ref: Option<Ref>,
    pub provider_ref: Ref,
    /// e.g. 5m, 1h.
    pub sync_interval: String,
    pub conflict_resolution: Option<ConflictResolution>,
    pub ownership: Option<OwnershipMode>,
    pub field_mapping_overrides: Option<Any>,
    pub retry_policy: Option<RetryPolicy>,
    pub webhook_first: Option<bool>,
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
    pub provider_type: String,
    pub interfaces: Vec<ProviderInterface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_kinds: Vec<String>,
    pub api_features: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalProviderCapabilityManifestSpec {
    pub organization_ref: Option<Ref>,
    pub provider_ref: Ref,
    pub capabilities: Capabilities,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalWebhookDeliverySpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub event_type: String,
    pub payload: Any,
    pub delivery_id: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSyncEventSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub event_kind: String,
    pub resource_ref: TypedRef,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSyncStateSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    pub phase: String,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalWriteIntentSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    pub operation: String,
    pub interface_key: Option<ProviderInterface>,
    pub payload: Option<Any>,
    pub requires_approval: Option<bool>,
    /// Default 3.
    #[schemars(extend("default" = 3))]
    pub max_retries: Option<u32>,
    pub idempotency_key: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSyncConflictSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    pub conflict_kind: String,
    pub field_path: Option<String>,
    pub local_value: Option<Any>,
    pub external_value: Option<Any>,
    pub detected_at: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalObjectLinkSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
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
