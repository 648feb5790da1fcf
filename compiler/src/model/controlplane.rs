//! Control plane (spec §1.9) and CI/CD (spec §1.10) records; all aggregated.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestSpec {
    pub organization_ref: Ref,
    pub repository: Ref,
    pub title: String,
    pub head: Option<String>,
    pub base: Option<String>,
    pub body: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IssueSpec {
    pub organization_ref: Ref,
    pub title: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_refs: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project_refs: Vec<Ref>,
    pub workflow_state: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
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

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSpec {
    pub organization_ref: Ref,
    pub pull_request: Ref,
    pub state: Option<ReviewState>,
    pub body: Option<String>,
    pub author: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    pub organization_ref: Ref,
    pub repository: Ref,
    pub r#ref: String,
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    pub trust_tier: Option<super::repository::TrustTier>,
    pub resume_from: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub organization_ref: Ref,
    pub pipeline: Ref,
    pub step: String,
    pub service_account: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliverySpec {
    pub organization_ref: Ref,
    pub subscription: Ref,
    pub event_type: String,
    pub signature: String,
}
