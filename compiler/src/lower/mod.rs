//! Lowering: from the validated [`Model`] to everything a cluster and the
//! forges need. Each pass is a pure function of the model (and "now"), in its
//! own module, testable alone:
//!
//! `crds` → `org` → `resources` → `rbac` → `workspaces` → `policy` →
//! `delivery` → `inference` → `gitops` → `forge`; `report` summarizes.
//!
//! Objects carry the folder they are written to; [`crate::layout`] turns the
//! output into files.

mod crds;
mod delivery;
pub mod forge;
mod gitops;
mod inference;
mod org;
mod policy;
mod rbac;
pub mod report;
mod resources;
mod workspaces;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::check::Model;
use crate::diagnostics::Diagnostic;

pub use forge::{Operation, Plan};

/// Inputs of a build that do not come from the config files.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// "Now" for expiry decisions (exceptions); nothing else depends on time.
    pub now: DateTime<Utc>,
    /// Overrides of `kradle.yaml` `gitops.*`.
    pub repo_url: Option<String>,
    pub target_revision: Option<String>,
    pub path: Option<String>,
}

/// Argo CD sync waves: CRDs, then namespaces, then RBAC, then resources, then policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wave {
    Crds = 0,
    Namespaces = 1,
    Rbac = 2,
    Resources = 3,
    Policies = 4,
}

pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// A Kubernetes object and the output folder it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Folder relative to the output root, e.g. `orgs/acme/rbac`.
    pub dir: String,
    pub value: Value,
}

impl Object {
    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }
    /// The identity objects are sorted and diffed by.
    pub fn identity(&self) -> (String, String, String, String) {
        (
            self.api_version().to_string(),
            self.kind().to_string(),
            self.namespace().to_string(),
            self.name().to_string(),
        )
    }
    /// File name inside its folder: `<kind>-<name>.yaml`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.yaml", self.kind().to_ascii_lowercase(), self.name())
    }
}

/// Builds an object with canonical key order: apiVersion, kind, metadata
/// (name, namespace, labels, annotations), then `body` in the given order.
pub fn object(
    api_version: &str,
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    body: Vec<(&str, Value)>,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    if !labels.is_empty() {
        metadata.insert("labels".into(), json!(labels));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), json!(annotations));
    }
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!(api_version));
    m.insert("kind".into(), json!(kind));
    m.insert("metadata".into(), Value::Object(metadata));
    for (k, v) in body {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

/// `app.kubernetes.io/managed-by: kradle`, plus the org labels when given.
pub fn base_labels(org: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(MANAGED_BY.to_string(), "kradle".to_string());
    if let Some(slug) = org {
        l.insert(crate::model::ORG_LABEL.to_string(), slug.to_string());
        l.insert(
            crate::model::NAMESPACE_LABEL.to_string(),
            crate::model::org_namespace(slug),
        );
    }
    l
}

pub fn wave_annotation(wave: Wave) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(SYNC_WAVE.to_string(), (wave as i32).to_string());
    a
}

/// Everything a build produces, before it is laid out as files.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub objects: Vec<Object>,
    pub plans: Vec<Plan>,
    /// Facts for `report.json` gathered by the passes.
    pub notes: report::Notes,
}

/// Runs every pass. Diagnostics are errors found only while lowering (for
/// example an undefined policy parameter); when there are any, nothing is written.
pub fn lower(model: &Model, options: &BuildOptions) -> (Output, Vec<Diagnostic>) {
    let mut out = Output::default();
    let mut diags = Vec::new();

    out.objects.extend(crds::lower());
    out.objects.extend(org::lower(model));
    out.objects.extend(resources::lower(model));
    out.objects.extend(rbac::lower(model));
    out.objects.extend(workspaces::lower(model));
    out.objects
        .extend(policy::lower(model, options, &mut out.notes, &mut diags));
    out.objects.extend(delivery::lower(model));
    out.objects.extend(inference::lower(model));
    let argo = gitops::lower(model, options);
    if argo.is_empty() {
        out.notes.gitops_skipped =
            Some("no repository URL: set gitops.repoURL in kradle.yaml or pass --repo-url".into());
    }
    out.objects.extend(argo);
    out.plans = forge::lower(model, &mut out.notes);

    out.objects.sort_by_key(Object::identity);
    (out, diags)
}
