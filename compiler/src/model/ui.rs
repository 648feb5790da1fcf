//! Web UI domain (spec §1.4): saved views and selectors.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineSelector {
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// A Selector reference (`name` or `{ name }`) or an inline `{ labels, query }`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum ViewSelector {
    Ref(Ref),
    Inline(InlineSelector),
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub selector: ViewSelector,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Any>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}
