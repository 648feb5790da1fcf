//! The optional project file `kradle.yaml` at the root of a config repository.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum Backend {
    #[default]
    Gitea,
    Github,
}

/// Repository-wide defaults. Every field is optional; no project file is needed.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConfig {
    /// Namespace of platform-scoped resources (default `kradle-system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_namespace: Option<String>,
    /// Forge of repositories not bound to an ExternalBackendProvider (default `gitea`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<Backend>,
}

impl ProjectConfig {
    pub fn platform_namespace(&self) -> &str {
        self.platform_namespace
            .as_deref()
            .unwrap_or(crate::model::DEFAULT_PLATFORM_NAMESPACE)
    }

    pub fn schema() -> serde_json::Value {
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        generator.into_root_schema_for::<ProjectConfig>().to_value()
    }
}
