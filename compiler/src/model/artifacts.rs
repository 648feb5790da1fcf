//! Artifact domain (spec Part 11): registries, feeds, access policies (config)
//! and published versions and downloads (aggregated).

use super::common::*;
use super::identity::Permission;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StorageBackend {
    Internal,
    S3,
    Gcs,
    AzureBlob,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IntegrationMode {
    ReadOnly,
    ReadWrite,
    Mirror,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalIntegration {
    pub mode: IntegrationMode,
    /// e.g. npm, pypi, github-packages.
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<SecretKeyRef>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactRegistrySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub storage_backend: StorageBackend,
    /// Bucket, prefix, region... (credentials by reference only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_config: Option<Any>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_integration: Option<ExternalIntegration>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FeedVisibility {
    Public,
    Private,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeedRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactFeedSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// ArtifactRegistry of the organization.
    pub registry_ref: Ref,
    /// Package format (npm, pypi, maven, oci, generic, ...).
    pub format: String,
    pub visibility: FeedVisibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<FeedRetention>,
    /// Optional repository whose releases mirror the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Ref>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactAccessPolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    /// ArtifactFeed of the organization.
    pub feed_ref: Ref,
    /// `{ kind: User|Team|AgentServiceAccount, name }`; a plain name is a User.
    pub subject: TypedRef,
    pub permission: Permission,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactVersionSpec {
    pub organization_ref: Ref,
    pub feed_ref: Ref,
    pub package: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDownloadSpec {
    pub organization_ref: Ref,
    pub version_ref: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}
