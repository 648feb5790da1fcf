//! Workspace domain (spec §1.6): volume-backed git workspaces.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeSpec {
    /// Default `standard`.
    #[schemars(extend("default" = "standard"))]
    pub storage_class_name: Option<String>,
    /// Default `10Gi`.
    #[schemars(extend("default" = "10Gi"))]
    pub capacity: Option<String>,
    /// Default `[ReadWriteOnce]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<AccessMode>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    ReadWriteOnce,
    ReadOnlyMany,
    ReadWriteMany,
    ReadWriteOncePod,
}

/// A git workspace on a PersistentVolumeClaim, mounted by agent Jobs.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleWorkspaceSpec {
    pub organization_ref: Option<Ref>,
    /// The repository checked out in the workspace.
    pub repository: Ref,
    /// The PersistentVolumeClaim of the workspace.
    pub volume_spec: VolumeSpec,
    /// Default `main`.
    #[schemars(extend("default" = "main"))]
    pub branch: Option<String>,
    /// Default `kradle-ws-<name>`.
    pub pvc_name: Option<String>,
    /// Work items and runs associated with the workspace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Any>,
}

/// The live state of a workspace: working directory, processes, preview
/// URL.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KradleWorkspaceRuntimeSpec {
    pub organization_ref: Ref,
    pub workspace_ref: Ref,
    /// The live state: working directory, environment, processes, preview URL.
    pub status: Any,
}
