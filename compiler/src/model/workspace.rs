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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleWorkspaceSpec {
    pub organization_ref: Option<Ref>,
    pub repository: Ref,
    pub volume_spec: VolumeSpec,
    /// Default `main`.
    #[schemars(extend("default" = "main"))]
    pub branch: Option<String>,
    /// Default `kradle-ws-<name>`.
    pub pvc_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KradleWorkspaceRuntimeSpec {
    pub organization_ref: Ref,
    pub workspace_ref: Ref,
    pub status: Any,
}
