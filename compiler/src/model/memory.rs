//! Memory domain (spec §1.7): the organization's "company brain".

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The git repository holding the organization's shared agent memory.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMemoryRepositorySpec {
    pub organization_ref: Option<Ref>,
    /// Repository storing the memory.
    pub repository_ref: Ref,
    /// Branch the memory is read from and written to.
    pub default_branch: String,
    /// e.g. flat, hierarchical.
    pub layout_profile: String,
    /// How the memory is indexed (free-form).
    pub index_policy: Option<Any>,
    /// How long memory records are kept (free-form).
    pub retention_policy: Option<Any>,
}

/// Which memory paths and kinds a repository, team, stack or trigger may
/// read.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMemorySourceSpec {
    pub organization_ref: Option<Ref>,
    /// AgentMemoryRepository this policy applies to.
    pub repository_ref: Ref,
    /// `{ kind, name }` of a Repository, Team, AgentStack or AgentTriggerRule.
    pub applies_to: TypedRef,
    /// Path patterns of the records included.
    pub include: Vec<String>,
    /// Path patterns of the records excluded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Record kinds included; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
}

/// The ontology memory records must follow: required fields, edge kinds,
/// vocabulary.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentMemoryOntologySpec {
    pub organization_ref: Option<Ref>,
    /// AgentMemoryRepository.
    pub memory_repository: Ref,
    /// Path of the ontology file in the memory repository.
    pub ontology_path: String,
}

/// Links a memory record to a kradle resource, by relationship.
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

/// The memory a run was given, pinned at dispatch: commit and digests of
/// what was selected.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMemorySnapshotSpec {
    pub organization_ref: Ref,
    pub memory_repository: Ref,
    /// Branch, tag or commit asked for.
    pub requested_ref: String,
    /// The commit it resolved to.
    pub resolved_commit: String,
    /// `sha256:` digest of the query manifest.
    pub query_manifest_digest: Option<String>,
    /// `sha256:` digest of the selected records.
    pub selected_records_digest: Option<String>,
    /// `sha256:` digest of the selected documents.
    pub selected_documents_digest: Option<String>,
    /// `sha256:` digest of the ontology.
    pub ontology_digest: Option<String>,
    /// Records in the snapshot.
    pub record_count: Option<u64>,
    /// Documents in the snapshot.
    pub document_count: Option<u64>,
}

/// A memory query a run made, and digests of its results.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMemoryQuerySpec {
    pub organization_ref: Ref,
    pub snapshot_ref: Ref,
    /// Who asked (a run or a person).
    pub requester: String,
    /// The query: parameters of the graph or grep retrieval.
    pub query: Any,
}

/// A change to the memory an agent proposes, for review.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMemoryUpdateSpec {
    pub organization_ref: Ref,
    pub memory_repository: Ref,
    pub source_run: Ref,
    /// The record changes proposed.
    pub changes: Vec<Any>,
}

/// An import of run records into the organization's memory, redacted and
/// reviewed.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentRunMemoryImportSpec {
    pub organization_ref: Ref,
    pub memory_repository: Ref,
    /// The runs imported.
    pub source: Any,
    /// What of those runs is imported.
    pub include: Any,
    /// How imported records are validated.
    pub validation_policy: Option<String>,
}
