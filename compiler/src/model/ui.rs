//! Web UI domain (spec §1.4): saved views and selectors.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineSelector {
    /// Objects with all these labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Free-text query.
    pub query: Option<String>,
}

/// A Selector reference (`name` or `{ name }`) or an inline `{ labels, query }`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum ViewSelector {
    Ref(Ref),
    Inline(InlineSelector),
}

/// A saved view of the web console: a selector, columns and sort order.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewSpec {
    pub organization_ref: Option<Ref>,
    pub selector: ViewSelector,
    /// Column definitions of the table the web console shows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Any>,
    /// Sort order of the table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<Any>,
}

/// A reusable label and query selector, shared by Views.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectorSpec {
    pub organization_ref: Option<Ref>,
    /// Objects with all these labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Free-text query.
    pub query: Option<String>,
}
