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
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConfig {
    /// Namespace of platform-scoped resources (default `kradle-system`).
    pub platform_namespace: Option<String>,
    /// Forge of repositories not bound to an ExternalBackendProvider (default `gitea`).
    pub default_backend: Option<Backend>,
    /// Where Argo CD finds the compiled output (`kradle build`).
    pub gitops: Option<GitOpsConfig>,
    /// Kyverno integration.
    pub kyverno: Option<KyvernoConfig>,
    /// Where the forges are, for `kradle apply`.
    pub forges: Option<ForgesConfig>,
    /// The runtime (`kradle serve`) in the cluster, for the rights it needs in
    /// each org namespace.
    pub runtime: Option<RuntimeConfig>,
}

/// The runtime's identity. With `serviceAccount`, every org namespace gets
/// a RoleBinding `kradle-runtime` giving that ServiceAccount `clusterRole`
/// there (the Helm chart's `<release>-org`), so a new organization needs no
/// change to the chart.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The ServiceAccount `kradle serve` runs as (the Helm chart's: `kradle`
    /// in `kradle-system` for a release named `kradle`).
    pub service_account: Option<ServiceAccountRef>,
    /// The ClusterRole bound in each org namespace (default `kradle-org`,
    /// the chart's for a release named `kradle`).
    pub cluster_role: Option<String>,
}

/// A ServiceAccount by name and namespace.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountRef {
    /// Name of the ServiceAccount.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// The forges `kradle apply` writes to.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgesConfig {
    /// The Gitea server of repositories not bound to an ExternalBackendProvider.
    pub gitea: Option<GiteaConfig>,
    /// Removals by `kradle apply` (archiving a repository, removing a
    /// collaborator, a member, a hook, ...) wait for `kradle intents
    /// approve` instead of being sent (default false).
    pub approve_removals: Option<bool>,
}

/// The Gitea server of repositories not bound to an ExternalBackendProvider.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GiteaConfig {
    /// Base URL, e.g. `https://gitea.example.com` (the API is under `/api/v1`).
    /// `KRADLE_GITEA_HTTP_URL` and `--gitea-url` override it. The token is
    /// never written here: it comes from `KRADLE_GITEA_TOKEN`.
    pub url: Option<String>,
}

/// The repository Argo CD syncs the compiled output from.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitOpsConfig {
    /// URL of the git repository holding the compiled output.
    #[serde(rename = "repoURL")]
    pub repo_url: Option<String>,
    /// Revision Argo CD tracks (default `HEAD`).
    pub target_revision: Option<String>,
    /// Folder of the compiled output inside that repository (default `rendered`).
    pub path: Option<String>,
    /// Namespace of Argo CD (default `argocd`).
    pub namespace: Option<String>,
    /// Destination cluster (default `https://kubernetes.default.svc`).
    pub server: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KyvernoConfig {
    /// Say in `report.json` that Kyverno must be installed before the output is
    /// synced, when some organization has an `enforce` PolicyBinding (default
    /// false). Argo CD cannot apply a Kyverno Policy without Kyverno's CRDs.
    pub require_for_enforce_mode: Option<bool>,
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
