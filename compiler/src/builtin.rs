//! The built-in PolicyTemplate library (`templates/policies/`), compiled into
//! kradle, so any organization binds one by name without copying it
//! (docs/policies.md).
//!
//! The library is read like the config: each file is a source under
//! `<built-in>/policies/`, checked by the same passes, so a diagnostic can
//! point into it. After scoping, a built-in template stays only when the
//! config uses its name (a PolicyBinding's `templateRef` or a PolicyProfile's
//! `defaultTemplates`) and has no platform-wide template of that name: the
//! config's own wins, and an unused built-in produces nothing. An org's own
//! template of the name wins for that org, as any org template does.

use std::collections::BTreeSet;

use crate::model::Resource;
use crate::model::policy::{PolicyBindingSpec, PolicyProfileSpec};
use crate::source::Sources;

/// Where the library's files appear among the sources.
pub const PREFIX: &str = "<built-in>/";

/// The library: (name, document).
pub const POLICY_TEMPLATES: &[(&str, &str)] = &[
    (
        "disallow-latest-tag",
        include_str!("../../templates/policies/disallow-latest-tag.yaml"),
    ),
    (
        "pod-security-baseline",
        include_str!("../../templates/policies/pod-security-baseline.yaml"),
    ),
    (
        "pod-security-restricted",
        include_str!("../../templates/policies/pod-security-restricted.yaml"),
    ),
    (
        "require-labels",
        include_str!("../../templates/policies/require-labels.yaml"),
    ),
    (
        "require-requests-limits",
        include_str!("../../templates/policies/require-requests-limits.yaml"),
    ),
    (
        "restrict-image-registries",
        include_str!("../../templates/policies/restrict-image-registries.yaml"),
    ),
];

/// Whether a source path is one of the library's.
pub fn is_builtin(path: &str) -> bool {
    path.starts_with(PREFIX)
}

/// Appends the library to `sources`, after the config's own files (whose
/// ids do not move).
pub(crate) fn add(sources: &mut Sources) {
    if sources.files.iter().any(|f| is_builtin(&f.path)) {
        return;
    }
    for (name, text) in POLICY_TEMPLATES {
        sources.files.push(crate::source::SourceFile {
            path: format!("{PREFIX}policies/{name}.yaml"),
            text: Some((*text).to_string()),
            problem: None,
        });
    }
}

/// Drops the built-in templates the config does not use: a name no binding
/// or profile refers to, or only from organizations with a template of
/// that name of their own, or one the config has a platform-wide template
/// of.
pub(crate) fn keep_used(resources: &mut Vec<Resource>, sources: &Sources) {
    let builtin = |r: &Resource| is_builtin(&sources.get(r.file).path);
    // (org, template name) each binding and profile refers to.
    let mut refs: Vec<(Option<&str>, &str)> = Vec::new();
    // Templates of the config: (org, name); org `None` when platform-wide.
    let mut own: BTreeSet<(Option<&str>, &str)> = BTreeSet::new();
    for r in resources.iter().filter(|r| !builtin(r)) {
        let org = r.org.as_deref();
        if let Some(b) = r.spec_as::<PolicyBindingSpec>() {
            refs.push((org, b.template_ref.name()));
        }
        if let Some(p) = r.spec_as::<PolicyProfileSpec>() {
            refs.extend(p.default_templates.iter().map(|t| (org, t.name())));
        }
        if r.kind.kind == "PolicyTemplate" {
            own.insert((org, r.name.as_str()));
        }
    }
    let used: BTreeSet<String> = refs
        .into_iter()
        .filter(|(org, name)| !own.contains(&(*org, *name)) && !own.contains(&(None, *name)))
        .map(|(_, name)| name.to_string())
        .collect();
    resources.retain(|r| !builtin(r) || used.contains(&r.name));
}
