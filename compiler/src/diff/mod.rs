//! `kradle plan`: what merging a change does, from two compiled outputs.
//!
//! Kubernetes objects are compared by identity (apiVersion, kind, namespace,
//! name) with a field-level diff for changed ones; forge operations per
//! organization plan by operation id (a different idempotency key for the same
//! id is a change). Destructive changes — removed namespaces, repositories,
//! permissions, teams, protections, keys — are listed first, and an
//! organization losing more than `max_removal` percent of its permissions is
//! flagged as dangerous, in the spirit of Peribolos' removal guards.
//!
//! Rendering: human (terraform-like), Markdown for a pull-request comment
//! (never over GitHub's 65,536 characters), and JSON (docs/plan-format.md).
//!
//! [`compute`] turns two outputs into a [`PlanDiff`]; [`render`] writes it for
//! people. The JSON form is the serialized [`PlanDiff`].

mod compute;
mod render;

pub use compute::{describe, diff};
pub use render::{COMMENT_MARKER, human, markdown};

use serde::Serialize;
use serde_json::Value;

/// GitHub's limit for a comment body.
pub const MARKDOWN_LIMIT: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path, e.g. `spec.members[1]`.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectChange {
    pub action: Action,
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Organization slug, or `null` for platform objects.
    pub organization: Option<String>,
    pub destructive: bool,
    /// For `change`: what differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationChange {
    pub action: Action,
    pub organization: String,
    pub backend: String,
    pub id: String,
    /// The forge action, e.g. `addCollaborator`.
    pub operation: String,
    /// What it means, e.g. "grant write on api to grace".
    pub description: String,
    pub method: String,
    pub path: String,
    /// Idempotency key in head (or in base for removals).
    pub idempotency_key: String,
    pub destructive: bool,
    /// For `change`: what differs in the request (its body's fields, and
    /// `path` when the request goes elsewhere).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovalGuard {
    pub organization: String,
    /// Permission grants (collaborators and team repositories) in base.
    pub permissions_before: usize,
    pub permissions_removed: usize,
    pub share_percent: f64,
    pub dangerous: bool,
}

/// A change to where kradle sends credentials, events or data: a forge
/// endpoint, a gateway, a model or tool server, a webhook's URL, or which
/// Secret a credential is read from. A pull request can make any of them,
/// so a reviewer sees them apart from the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityChange {
    pub action: Action,
    /// Organization slug, or `null` for platform objects.
    pub organization: Option<String>,
    /// The kind of the object, or `Webhook` for a forge operation.
    pub kind: String,
    pub name: String,
    /// The field (`spec.endpoint`), or the operation id.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// What it means, in a sentence.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub objects: Counts,
    pub operations: Counts,
    pub destructive: usize,
    pub dangerous: bool,
    /// Changes to where credentials, events or data go.
    pub security_relevant: usize,
    pub max_removal_percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// What was compared: a revision, or "working tree".
    pub source: String,
    pub compiled: bool,
    pub errors: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDiff {
    pub format_version: u32,
    pub base: Side,
    pub head: Side,
    pub summary: Summary,
    pub removal_guards: Vec<RemovalGuard>,
    pub objects: Vec<ObjectChange>,
    pub operations: Vec<OperationChange>,
    /// The changes among `objects` and `operations` that move where
    /// credentials, events or data go.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_changes: Vec<SecurityChange>,
    /// Declared objects head's forge plans cannot carry out, and why, that
    /// base did not already skip (`report.json`'s `skippedOperations`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_operations: Vec<crate::lower::report::SkippedOperation>,
}

impl PlanDiff {
    pub fn has_changes(&self) -> bool {
        !self.objects.is_empty() || !self.operations.is_empty()
    }
}
