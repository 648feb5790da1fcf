//! Memory domain (spec §1.7): the organization's "company brain".

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMemoryRepositorySpec {
    pub organization_ref: Option<Ref>,
    /// Repository storing the memory.
    pub repository_ref: Ref,
    pub default_branch: String,
    /// e.g. flat, hierarchical.
    pub layout_profile: String,
    pub index_policy: Option<Any>,
    pub retention_policy: Option<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMemorySourceSpec {
    pub organization_ref: Option<Ref>,
    /// AgentMemoryRepository this policy applies to.
    pub repository_ref: Ref,
    /// `{ kind, name }` of a Repository, Team, AgentStack or AgentTriggerRule.
    pub applies_to: TypedRef,
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMemoryOntologySpec {
    pub organization_ref: Option<Ref>,
    /// AgentMemoryRepository.
    pub memory_repository: Ref,
    pub ontology_path: String,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMemoryAssociationSpec {
    pub organization_ref: Option<Ref>,
    /// Path or id of a memory record.
    pub memory_ref: String,
    /// `{ kind, name }` of a kradle config resource of the organization.
    pub target_ref: TypedRef,
    /// e.g. documents, implements, relates-to.
    pub relationship: String,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMemorySnapshotSpec {
    pub organization_ref: Ref,
    pub memory_repository: Ref,
    pub requested_ref: String,
    pub resolved_commit: String,
    pub query_manifest_digest: Option<String>,
    pub selected_records_digest: Option<String>,
    pub selected_documents_digest: Option<String>,
    pub ontology_digest: Option<String>,
    pub record_count: Option<u64>,
    pub document_count: Option<u64>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMemoryQuerySpec {
    pub organization_ref: Ref,
    pub snapshot_ref: Ref,
    pub requester: String,
    pub query: Any,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMemoryUpdateSpec {
    pub organization_ref: Ref,
    pub memory_repository: Ref,
    pub source_run: Ref,
    pub changes: Vec<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentRunMemoryImportSpec {
    pub organization_ref: Ref,
    pub memory_repository: Ref,
    pub source: Any,
    pub include: Any,
    pub validation_policy: Option<String>,
}
