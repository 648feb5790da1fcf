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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalIntegration {
    pub mode: IntegrationMode,
    /// e.g. npm, pypi, github-packages.
    pub provider: String,
    pub endpoint: Option<String>,
    pub credential_ref: Option<SecretKeyRef>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactRegistrySpec {
    pub organization_ref: Option<Ref>,
    pub storage_backend: StorageBackend,
    /// Bucket, prefix, region... (credentials by reference only).
    pub storage_config: Option<Any>,
    pub external_integration: Option<ExternalIntegration>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FeedVisibility {
    Public,
    Private,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeedRetention {
    pub max_versions: Option<u32>,
    pub max_age_days: Option<u32>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactFeedSpec {
    pub organization_ref: Option<Ref>,
    /// ArtifactRegistry of the organization.
    pub registry_ref: Ref,
    /// Package format (npm, pypi, maven, oci, generic, ...).
    pub format: String,
    pub visibility: FeedVisibility,
    pub retention_policy: Option<FeedRetention>,
    /// Optional repository whose releases mirror the feed.
    pub repository: Option<Ref>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactAccessPolicySpec {
    pub organization_ref: Option<Ref>,
    /// ArtifactFeed of the organization.
    pub feed_ref: Ref,
    /// `{ kind: User|Team|AgentServiceAccount, name }`; a plain name is a User.
    pub subject: TypedRef,
    pub permission: Permission,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactVersionSpec {
    pub organization_ref: Ref,
    pub feed_ref: Ref,
    pub package: String,
    pub version: String,
    pub published_by: Option<String>,
    pub published_at: Option<String>,
    pub checksums: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDownloadSpec {
    pub organization_ref: Ref,
    pub version_ref: Ref,
    pub downloaded_by: Option<String>,
    pub downloaded_at: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub client_id: Option<String>,
}
