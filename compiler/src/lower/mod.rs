//! Lowering: from the validated [`Model`] to everything a cluster and the
//! forges need. Each pass is a pure function of the model (and "now"), in its
//! own module, testable alone:
//!
//! `crds` → `org` → `resources` → `rbac` → `workspaces` → `policy` →
//! `delivery` → `inference` → `gitops` → `forge`; `report` summarizes.
//!
//! Objects carry the folder they are written to; [`crate::layout`] turns the
//! output into files.

mod collisions;
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

use crate::diagnostics::Diagnostic;
use crate::model::{Model, Resource, Spec};
use crate::source::FileId;
use crate::yaml::Span;

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
    /// The config repository's `origin` remote (credentials removed): the
    /// repository URL when neither `repo_url` nor `kradle.yaml` gives one.
    pub origin_repo_url: Option<String>,
}

impl BuildOptions {
    /// "Now" = `now`, and nothing else given: no repository URL, so no Argo CD
    /// applications (what `validate` and `apply` lower with).
    pub fn at(now: DateTime<Utc>) -> BuildOptions {
        BuildOptions {
            now,
            repo_url: None,
            target_revision: None,
            path: None,
            origin_repo_url: None,
        }
    }
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

/// The config resource an object was generated from, for diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub file: FileId,
    pub span: Span,
    pub kind: &'static str,
    pub name: String,
}

impl Origin {
    pub fn of(r: &Resource) -> Option<Origin> {
        Some(Origin {
            file: r.file,
            span: r.span_of("/metadata/name"),
            kind: r.kind.kind,
            name: r.name.clone(),
        })
    }
}

/// A Kubernetes object and the output folder it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Folder relative to the output root, e.g. `orgs/acme/rbac`.
    pub dir: String,
    pub value: Value,
    /// The resource it comes from; `None` for what kradle adds itself (CRDs, Argo CD).
    pub origin: Option<Origin>,
}

/// Longest output file name, in bytes (file systems allow 255).
const MAX_FILE_NAME: usize = 160;

/// `text` if it has at most `max` bytes, else a prefix of it and a hash of
/// the whole, `max` bytes long, so distinct long names stay distinct and
/// the same name always gives the same result.
pub fn fit(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let hash = crate::lower::report::digest(text);
    let hash = &hash["sha256:".len().."sha256:".len() + 10];
    let mut cut = max.saturating_sub(hash.len() + 1);
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let prefix = text[..cut].trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

/// A Kubernetes label value (at most 63 characters) for a resource name.
pub fn label_value(name: &str) -> String {
    fit(name, 63)
}

/// A generated object name (`kradle-secret-<name>`), at most 253 characters.
pub fn object_name(name: &str) -> String {
    fit(name, 253)
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
    /// File name inside its folder: `<kind>-<name>.yaml`, shortened with a
    /// hash when the name is too long for a file system.
    pub fn file_name(&self) -> String {
        let stem = format!("{}-{}", self.kind().to_ascii_lowercase(), self.name());
        format!("{}.yaml", fit(&stem, MAX_FILE_NAME - ".yaml".len()))
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

/// An org-scoped resource with its typed spec, and what every
/// per-organization pass writes about it.
pub struct InOrg<'m> {
    pub r: &'m Resource,
    pub org: &'m str,
    pub spec: &'m Spec,
    /// `kradle-org-<org>`.
    pub ns: String,
    /// The org labels (`base_labels`).
    pub labels: BTreeMap<String, String>,
    /// `orgs/<org>/<folder>`.
    pub dir: String,
}

/// Every org-scoped resource that has a typed spec, for a pass writing into
/// `orgs/<org>/<folder>`.
pub fn in_orgs<'m>(model: &'m Model, folder: &'m str) -> impl Iterator<Item = InOrg<'m>> + 'm {
    model.resources.iter().filter_map(move |r| {
        let (Some(org), Some(spec)) = (r.org.as_deref(), &r.spec) else {
            return None;
        };
        Some(InOrg {
            r,
            org,
            spec,
            ns: crate::model::org_namespace(org),
            labels: base_labels(Some(org)),
            dir: format!("orgs/{org}/{folder}"),
        })
    })
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
            Some("no repository URL: set gitops.repoURL in kradle.yaml, pass --repo-url, or give the config repository a git remote `origin`".into());
    }
    out.objects.extend(argo);
    out.plans = forge::lower(model, &mut out.notes, &mut diags);

    out.objects.sort_by_key(Object::identity);
    collisions::check(&out.objects, &mut diags);
    (out, diags)
}

#[cfg(test)]
mod tests {
    //! Each pass on a small model built from YAML.

    use super::*;
    use crate::{Options, Sources, validate};

    const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

    fn model(docs: &str) -> Model {
        let sources = Sources::from_memory([("platform.yaml", ORG), ("orgs/acme/x.yaml", docs)]);
        let v = validate(sources, &Options { now: now() });
        assert!(!v.has_errors(), "{:#?}", v.diagnostics);
        v.model
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn options() -> BuildOptions {
        BuildOptions {
            now: now(),
            repo_url: None,
            target_revision: None,
            path: None,
            origin_repo_url: None,
        }
    }

    fn doc(kind: &str, name: &str, spec: &str) -> String {
        let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
        format!(
            "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
    }

    #[test]
    fn org_pass_respects_create_namespace_and_merges_binding_labels() {
        let m = model("");
        let objs = org::lower(&m);
        assert_eq!(objs.len(), 2, "namespace and a generated binding");
        assert_eq!(
            objs[0].value["metadata"]["labels"]["kradle.a5c.ai/org"],
            "acme"
        );

        let with_binding = format!(
            "{ORG}---\n{}",
            doc(
                "OrgNamespaceBinding",
                "acme",
                "organizationRef: acme\nnamespace: kradle-org-acme\ncreateNamespace: false"
            )
        );
        let v = validate(
            Sources::from_memory([("platform.yaml", with_binding)]),
            &Options { now: now() },
        );
        assert!(
            org::lower(&v.model).is_empty(),
            "no namespace, and the declared binding is used"
        );
    }

    #[test]
    fn rbac_pass_maps_scopes_and_grants() {
        let m = model(
            &[
                doc(
                    "AgentServiceAccount",
                    "runner",
                    "namespace: kradle-org-acme\nserviceAccountName: agent",
                ),
                doc(
                    "AgentRoleBinding",
                    "view-all",
                    "subject: runner\nroleRef: { kind: ClusterRole, name: view }\nscope: namespace",
                ),
                doc(
                    "AgentSecretGrant",
                    "db",
                    "subject: runner\nsecretRef: { name: db-creds }\npurpose: migrations",
                ),
            ]
            .concat(),
        );
        let objs = rbac::lower(&m);
        assert!(objs.iter().all(|o| o.kind() != "ClusterRoleBinding"));
        let rb = objs
            .iter()
            .find(|o| o.kind() == "RoleBinding" && o.name() == "view-all")
            .unwrap();
        assert_eq!(rb.namespace(), "kradle-org-acme");
        assert_eq!(rb.value["roleRef"]["kind"], "ClusterRole");
        assert_eq!(rb.value["subjects"][0]["name"], "agent");
        let role = objs.iter().find(|o| o.kind() == "Role").unwrap();
        assert_eq!(
            role.value["rules"][0]["resourceNames"],
            serde_json::json!(["db-creds"])
        );
        assert_eq!(role.value["rules"][0]["verbs"], serde_json::json!(["get"]));
    }

    #[test]
    fn workspace_pass_applies_the_pvc_defaults() {
        let m = model(
            &[
                doc("Repository", "api", "visibility: private"),
                doc("KradleWorkspace", "w", "repository: api\nvolumeSpec: {}"),
            ]
            .concat(),
        );
        let pvc = &workspaces::lower(&m)[0];
        assert_eq!(pvc.name(), "kradle-ws-w");
        assert_eq!(pvc.value["spec"]["storageClassName"], "standard");
        assert_eq!(
            pvc.value["spec"]["resources"]["requests"]["storage"],
            "10Gi"
        );
        assert_eq!(
            pvc.value["spec"]["accessModes"],
            serde_json::json!(["ReadWriteOnce"])
        );
    }

    #[test]
    fn policy_pass_modes_scopes_and_exceptions() {
        let template = doc(
            "PolicyTemplate",
            "t",
            "displayName: T\ntargetKinds: [Pod]\nparameters: { tag: { default: latest } }\nkyverno:\n  validationFailureAction: Audit\n  rules:\n    - name: r\n      match: { any: [{ resources: { kinds: [Pod] } }] }\n      validate: { message: \"no [[ params.tag ]]\", deny: {} }",
        );
        let m = model(&[
            template,
            doc("PolicyBinding", "on", "templateRef: t\nmode: enforce\nscope: { labels: { team: core } }\nparameters: { tag: edge }"),
            doc("PolicyBinding", "off", "templateRef: t\nmode: disabled"),
            doc("PolicyExceptionRequest", "old", "policyRef: on\njustification: j\nexpiresAt: \"2026-01-01T00:00:00Z\"\ndecision: { phase: Approved, decidedBy: g, decidedAt: \"2025-12-01T00:00:00Z\" }"),
            doc("PolicyExceptionRequest", "pending", "policyRef: on\njustification: j\nexpiresAt: \"2099-01-01T00:00:00Z\""),
        ]
        .concat());
        let mut notes = report::Notes::default();
        let mut diags = Vec::new();
        let objs = policy::lower(&m, &options(), &mut notes, &mut diags);
        assert!(diags.is_empty());
        assert_eq!(
            objs.len(),
            1,
            "disabled binding and skipped exceptions produce nothing"
        );
        let rule = &objs[0].value["spec"]["rules"][0];
        assert_eq!(rule["validate"]["failureAction"], "Enforce");
        assert_eq!(rule["validate"]["message"], "no edge");
        assert_eq!(
            rule["match"]["any"][0]["resources"]["selector"]["matchLabels"]["team"],
            "core"
        );
        assert!(
            objs[0].value["spec"]
                .get("validationFailureAction")
                .is_none()
        );
        let reasons: Vec<&str> = notes
            .skipped_exceptions
            .iter()
            .map(|s| s.reason.as_str())
            .collect();
        assert_eq!(reasons, ["expired", "pending"]);
        assert!(notes.enforce_orgs.contains("acme"));
    }

    #[test]
    fn delivery_pass_scales_runner_pools_to_warm_replicas() {
        let m = model(&doc("RunnerPool", "p", "warmReplicas: 3\nmaxReplicas: 5"));
        let app = &delivery::lower(&m)[0];
        assert_eq!(app.name(), "runner-pool-p");
        let c = &app.value["spec"]["components"][0];
        assert_eq!(c["properties"]["image"], "ubuntu:24.04");
        assert_eq!(c["traits"][0]["properties"]["replicas"], 3);
        assert_eq!(c["properties"]["env"][0]["value"], "acme");
    }

    #[test]
    fn gitops_pass_needs_a_repository_url() {
        let m = model("");
        assert!(gitops::lower(&m, &options()).is_empty());
        let with_url = BuildOptions {
            repo_url: Some("https://git.example.com/c.git".into()),
            ..options()
        };
        let objs = gitops::lower(&m, &with_url);
        let project = objs
            .iter()
            .find(|o| o.kind() == "AppProject" && o.name() == "kradle-org-acme")
            .unwrap();
        assert_eq!(
            project.value["spec"]["destinations"][0]["namespace"],
            "kradle-org-acme"
        );
        assert_eq!(
            project.value["spec"]["sourceRepos"][0],
            "https://git.example.com/c.git"
        );
        let app = objs
            .iter()
            .find(|o| o.kind() == "Application" && o.name() == "kradle-org-acme")
            .unwrap();
        assert_eq!(app.value["spec"]["source"]["path"], "rendered/orgs/acme");
        assert_eq!(app.value["spec"]["syncPolicy"]["automated"]["prune"], true);
    }
}
