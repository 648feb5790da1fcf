//! Control plane (spec §1.9) and CI/CD (spec §1.10) records; all aggregated.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A pull request, as synced from the forge.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestSpec {
    pub organization_ref: Ref,
    pub repository: Ref,
    /// Title of the pull request.
    pub title: String,
    /// Branch with the changes.
    pub head: Option<String>,
    /// Branch the changes go into.
    pub base: Option<String>,
    /// Description of the pull request.
    pub body: Option<String>,
}

/// An issue, as synced from the forge, with its labels, assignees and board
/// column.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IssueSpec {
    pub organization_ref: Ref,
    /// Title of the issue.
    pub title: String,
    /// Repositories the issue belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_refs: Vec<Ref>,
    /// KradleProjects the issue is on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project_refs: Vec<Ref>,
    /// Board column of the issue (a `workflowColumns` id of its project).
    pub workflow_state: Option<String>,
    /// Labels of the issue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Logins of the people assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
}

/// A review of a pull request, as synced from the forge.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSpec {
    pub organization_ref: Ref,
    pub pull_request: Ref,
    /// The verdict of the review.
    pub state: Option<ReviewState>,
    /// Text of the review.
    pub body: Option<String>,
    /// Login of the reviewer.
    pub author: Option<String>,
}

/// A CI pipeline run, as synced from the forge.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    pub organization_ref: Ref,
    pub repository: Ref,
    /// Git ref the pipeline runs on.
    pub r#ref: String,
    /// Login of who started it.
    pub actor: Option<String>,
    /// Step names, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// `untrusted` for a pipeline from a fork.
    pub trust_tier: Option<super::repository::TrustTier>,
    /// Step a re-run starts from.
    pub resume_from: Option<String>,
}

/// A step of a CI pipeline run, as synced from the forge.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub organization_ref: Ref,
    pub pipeline: Ref,
    /// The pipeline step the job runs.
    pub step: String,
    /// Kubernetes ServiceAccount of the job's pod.
    pub service_account: Option<String>,
}

/// A delivery of a WebhookSubscription.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliverySpec {
    pub organization_ref: Ref,
    pub subscription: Ref,
    /// Event delivered (e.g. `push`).
    pub event_type: String,
    /// HMAC signature sent with the delivery (`sha256=...`).
    pub signature: String,
}
