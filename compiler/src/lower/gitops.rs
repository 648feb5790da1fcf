//! gitops: Argo CD objects that sync the compiled output.
//!
//! An AppProject per organization whose destinations allow only that org's
//! namespace and whose source is the config repository; a platform project
//! for CRDs, namespaces and the other cluster-scoped objects; an Application
//! per organization and one for the platform, with automated prune and
//! selfHeal and CreateNamespace=true; and a root app-of-apps (in
//! `bootstrap/`, applied once by hand) that syncs the `argocd/` folder.
//! Objects inside each folder carry sync waves (CRDs, namespaces, RBAC,
//! resources, policies); the platform Application syncs before the orgs'.

use serde_json::{Value, json};

use crate::model::Model;
use crate::model::org_namespace;

use super::{BuildOptions, Object, SYNC_WAVE, base_labels, object};

pub const ARGO: &str = "argoproj.io/v1alpha1";
pub const DEFAULT_SERVER: &str = "https://kubernetes.default.svc";

pub struct Settings {
    pub repo_url: String,
    pub target_revision: String,
    pub path: String,
    pub namespace: String,
    pub server: String,
}

/// Flags over `kradle.yaml` over the `origin` remote; `None` when no
/// repository URL is known.
pub fn settings(model: &Model, options: &BuildOptions) -> Option<Settings> {
    let g = model.project.gitops.clone().unwrap_or_default();
    Some(Settings {
        repo_url: options
            .repo_url
            .clone()
            .or(g.repo_url)
            .or_else(|| options.origin_repo_url.clone())?,
        target_revision: options
            .target_revision
            .clone()
            .or(g.target_revision)
            .unwrap_or_else(|| "HEAD".into()),
        path: options
            .path
            .clone()
            .or(g.path)
            .unwrap_or_else(|| "rendered".into())
            .trim_matches('/')
            .to_string(),
        namespace: g.namespace.unwrap_or_else(|| "argocd".into()),
        server: g.server.unwrap_or_else(|| DEFAULT_SERVER.into()),
    })
}

fn join(base: &str, sub: &str) -> String {
    if base.is_empty() || base == "." {
        sub.to_string()
    } else {
        format!("{base}/{sub}")
    }
}

fn sync_policy() -> Value {
    json!({
        "automated": { "prune": true, "selfHeal": true },
        "syncOptions": ["CreateNamespace=true"],
    })
}

fn app(
    s: &Settings,
    name: &str,
    project: &str,
    path: &str,
    namespace: &str,
    wave: i32,
    org: Option<&str>,
) -> Object {
    let mut labels = base_labels(org);
    labels.insert("app.kubernetes.io/part-of".into(), "kradle".into());
    labels.insert("kradle.a5c.ai/gitops-engine".into(), "argocd".into());
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(SYNC_WAVE.to_string(), wave.to_string());
    Object {
        origin: None,
        dir: "argocd".into(),
        value: object(
            ARGO,
            "Application",
            name,
            Some(&s.namespace),
            &labels,
            &annotations,
            vec![(
                "spec",
                json!({
                    "project": project,
                    "source": { "repoURL": s.repo_url, "targetRevision": s.target_revision, "path": path },
                    "destination": { "server": s.server, "namespace": namespace },
                    "syncPolicy": sync_policy(),
                }),
            )],
        ),
    }
}

fn project(
    s: &Settings,
    name: &str,
    description: String,
    destinations: Vec<String>,
    cluster: Value,
    org: Option<&str>,
) -> Object {
    let mut labels = base_labels(org);
    labels.insert("app.kubernetes.io/part-of".into(), "kradle".into());
    let dest: Vec<Value> = destinations
        .iter()
        .map(|ns| json!({ "server": s.server, "namespace": ns }))
        .collect();
    Object {
        origin: None,
        dir: "argocd".into(),
        value: object(
            ARGO,
            "AppProject",
            name,
            Some(&s.namespace),
            &labels,
            &Default::default(),
            vec![(
                "spec",
                json!({
                    "description": description,
                    "sourceRepos": [s.repo_url],
                    "destinations": dest,
                    "clusterResourceWhitelist": cluster,
                    "namespaceResourceWhitelist": [{ "group": "*", "kind": "*" }],
                }),
            )],
        ),
    }
}

pub fn lower(model: &Model, options: &BuildOptions) -> Vec<Object> {
    let Some(s) = settings(model, options) else {
        return Vec::new();
    };
    let platform_ns = model.project.platform_namespace().to_string();
    let mut out = vec![
        project(
            &s,
            "kradle-platform",
            "kradle platform: CRDs, organization namespaces, platform resources, cluster-scoped RBAC and policies".into(),
            vec![platform_ns.clone()],
            json!([
                { "group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition" },
                { "group": "", "kind": "Namespace" },
                { "group": "rbac.authorization.k8s.io", "kind": "ClusterRoleBinding" },
                { "group": "kyverno.io", "kind": "ClusterPolicy" },
            ]),
            None,
        ),
        app(&s, "kradle-platform", "kradle-platform", &join(&s.path, "platform"), &platform_ns, 0, None),
    ];
    for (slug, _) in model.organizations() {
        let ns = org_namespace(&slug);
        // The project and application of an organization are named as its namespace.
        let name = ns.clone();
        out.push(project(
            &s,
            &name,
            format!("kradle organization {slug}: only namespace {ns}"),
            vec![ns.clone()],
            json!([]),
            Some(&slug),
        ));
        out.push(app(
            &s,
            &name,
            &name,
            &join(&s.path, &format!("orgs/{slug}")),
            &ns,
            1,
            Some(&slug),
        ));
    }
    let mut root = app(
        &s,
        "kradle-root",
        "default",
        &join(&s.path, "argocd"),
        &s.namespace,
        0,
        None,
    );
    root.dir = "bootstrap".into();
    out.push(root);
    out
}
