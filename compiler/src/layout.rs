//! The output tree of `kradle build` (docs/output-layout.md) and the
//! `--stdout` stream. Everything here is deterministic: files sorted, objects
//! sorted by (apiVersion, kind, namespace, name), canonical key order, YAML
//! that reads the same under YAML 1.1 and 1.2.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::emit::to_yaml;
use crate::lower::{Output, report};
use crate::model::Model;

/// Every output file: path (relative, `/`-separated) → content.
pub fn files(model: &Model, output: &Output) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut dirs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in &output.objects {
        let name = o.file_name();
        files.insert(format!("{}/{name}", o.dir), to_yaml(&o.value));
        dirs.entry(o.dir.clone()).or_default().insert(name);
    }
    // Every folder lists its files and child folders; the root syncs the
    // platform and the organizations (Argo CD objects are applied apart).
    let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for dir in dirs.keys() {
        let mut d = dir.as_str();
        while let Some((parent, child)) = d.rsplit_once('/') {
            children
                .entry(parent.to_string())
                .or_default()
                .insert(child.to_string());
            d = parent;
        }
        children
            .entry(String::new())
            .or_default()
            .insert(d.to_string());
    }
    let mut all: BTreeSet<String> = dirs.keys().cloned().collect();
    all.extend(children.keys().cloned());
    for dir in all {
        let mut resources: Vec<String> = dirs
            .get(&dir)
            .map(|f| f.iter().cloned().collect())
            .unwrap_or_default();
        let subs = children.get(&dir).cloned().unwrap_or_default();
        if dir.is_empty() {
            resources.extend(subs.into_iter().filter(|s| s == "platform" || s == "orgs"));
        } else {
            resources.extend(subs);
        }
        let path = if dir.is_empty() {
            "kustomization.yaml".to_string()
        } else {
            format!("{dir}/kustomization.yaml")
        };
        files.insert(
            path,
            to_yaml(&json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
            })),
        );
    }
    for plan in &output.plans {
        let text = serde_json::to_string_pretty(plan).unwrap_or_default() + "\n";
        files.insert(format!("plans/{}", plan.file), text);
    }
    let rep = report::build(model, output, &files);
    files.insert(
        "report.json".into(),
        serde_json::to_string_pretty(&rep).unwrap_or_default() + "\n",
    );
    files
}

/// One YAML stream of every Kubernetes object, for an Argo CD config
/// management plugin.
pub fn stream(output: &Output) -> String {
    let mut out = String::new();
    for o in &output.objects {
        out.push_str("---\n");
        out.push_str(&to_yaml(&o.value));
    }
    out
}
