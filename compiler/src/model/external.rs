//! External backend domain (spec §1.8): providers such as GitHub, their
//! bindings and sync policy (config), and the sync records (aggregated).

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ProviderType {
    Github,
    Gitlab,
    Gitea,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendProviderSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub provider_type: ProviderType,
    /// Provider API endpoint URL.
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Any>,
    /// App id, installation id, ...; never keys or tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_config: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingScope {
    /// Repositories synced with the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_requests: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipelines: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendBindingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub provider_ref: Ref,
    /// Secret with the provider credentials.
    pub credential_ref: SecretKeyRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<BindingScope>,
    /// Secret key holding the webhook HMAC secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_ref: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBackendSyncPolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub provider_ref: Ref,
    /// e.g. 5m, 1h.
    pub sync_interval: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_resolution: Option<ConflictResolution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<OwnershipMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_mapping_overrides: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_first: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_interval: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ProviderInterface {
    GitForge,
    IssueTracking,
    Cicd,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    pub provider_type: String,
    pub interfaces: Vec<ProviderInterface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_features: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalProviderCapabilityManifestSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub provider_ref: Ref,
    pub capabilities: Capabilities,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalWebhookDeliverySpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub event_type: String,
    pub payload: Any,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalWriteIntentSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_key: Option<ProviderInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_approval: Option<bool>,
    /// Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 3))]
    pub max_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSyncConflictSpec {
    pub organization_ref: Ref,
    pub provider_ref: Ref,
    pub resource_ref: TypedRef,
    pub conflict_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_value: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_value: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
