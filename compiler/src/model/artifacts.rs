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
    /// How the registry relates to the external one.
    pub mode: IntegrationMode,
    /// e.g. npm, pypi, github-packages.
    pub provider: String,
    /// URL of the external registry.
    pub endpoint: Option<String>,
    pub credential_ref: Option<SecretKeyRef>,
}

/// Where the organization's artifacts are stored, and the external registry
/// it may mirror.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactRegistrySpec {
    pub organization_ref: Option<Ref>,
    /// Where artifacts are stored.
    pub storage_backend: StorageBackend,
    /// Bucket, prefix, region... (credentials by reference only).
    pub storage_config: Option<Any>,
    /// An external package registry the registry mirrors or proxies.
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
    /// Versions of each package kept at most.
    pub max_versions: Option<u32>,
    /// Days a version is kept at most.
    pub max_age_days: Option<u32>,
}

/// A package feed in an ArtifactRegistry: its format, visibility and
/// retention.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactFeedSpec {
    pub organization_ref: Option<Ref>,
    /// ArtifactRegistry of the organization.
    pub registry_ref: Ref,
    /// Package format (npm, pypi, maven, oci, generic, ...).
    pub format: String,
    /// Who can read the feed.
    pub visibility: FeedVisibility,
    /// Which versions are kept.
    pub retention_policy: Option<FeedRetention>,
    /// Optional repository whose releases mirror the feed.
    pub repository: Option<Ref>,
}

/// Who may read or publish to an ArtifactFeed.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactAccessPolicySpec {
    pub organization_ref: Option<Ref>,
    /// ArtifactFeed of the organization.
    pub feed_ref: Ref,
    /// `{ kind: User|Team|AgentServiceAccount, name }`; a plain name is a User.
    pub subject: TypedRef,
    /// The access level on the feed.
    pub permission: Permission,
}

/// A published version of a package in a feed, with its checksums.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactVersionSpec {
    pub organization_ref: Ref,
    pub feed_ref: Ref,
    /// Package name.
    pub package: String,
    /// Version of the package.
    pub version: String,
    /// Who published it.
    pub published_by: Option<String>,
    /// RFC 3339 time of publication.
    pub published_at: Option<String>,
    /// Checksums of the version's files, by algorithm.
    pub checksums: Option<Any>,
}

/// A download of an artifact version, for audit.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDownloadSpec {
    pub organization_ref: Ref,
    pub version_ref: Ref,
    /// Who downloaded it.
    pub downloaded_by: Option<String>,
    /// RFC 3339 time of the download.
    pub downloaded_at: Option<String>,
    /// Address of the client.
    pub ip_address: Option<String>,
    /// User agent of the client.
    pub user_agent: Option<String>,
    /// Id of the client application.
    pub client_id: Option<String>,
}
