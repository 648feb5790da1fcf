//! Web UI domain (spec §1.4): saved views and selectors.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineSelector {
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    pub query: Option<String>,
}

/// A Selector reference (`name` or `{ name }`) or an inline `{ labels, query }`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum ViewSelector {
    Ref(Ref),
    Inline(InlineSelector),
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewSpec {
    pub organization_ref: Option<Ref>,
    pub selector: ViewSelector,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Any>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<Any>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectorSpec {
    pub organization_ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    pub query: Option<String>,
}
