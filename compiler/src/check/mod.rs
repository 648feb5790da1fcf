//! The check phase: from source files to a typed [`Model`] plus diagnostics.
//!
//! [`check`] is the whole pipeline as one straight function; each phase lives
//! in its own module and only adds diagnostics, so one run reports every
//! problem it can find instead of stopping at the first.

mod cron;
mod disabled_users;
mod load;
mod names;
mod org_visibility;
mod policy_targets;
mod readiness;
mod references;
mod rules;
pub mod schema;
mod scoping;
mod secrets;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::diagnostics::Diagnostic;
use crate::model::{KindInfo, Metadata, Spec};
use crate::project::ProjectConfig;
use crate::source::{FileId, Sources};
use crate::yaml::Node;

pub use readiness::{Condition, stack_conditions};
pub use secrets::looks_like_secret;

/// Inputs of a check that do not come from the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// "Now" for expiry decisions; never read from the clock inside the compiler.
    pub now: DateTime<Utc>,
}

/// One config document that passed the kind lookup.
#[derive(Debug, Clone)]
pub struct Resource {
    pub file: FileId,
    pub kind: &'static KindInfo,
    pub name: String,
    /// Organization slug; `None` for platform-scoped resources.
    pub org: Option<String>,
    pub metadata: Metadata,
    /// The typed spec; `None` when the document did not match its schema.
    pub spec: Option<Spec>,
    /// The document as read, for spans.
    pub root: Node,
}

impl Resource {
    /// Span of the value at `pointer`, or of the document when absent.
    pub fn span_of(&self, pointer: &str) -> crate::yaml::Span {
        self.root
            .pointer(pointer)
            .map_or(self.root.span, |n| n.span)
    }
}

/// The validated config repository.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub project: ProjectConfig,
    pub resources: Vec<Resource>,
    /// (org, kind, name) → index in `resources` of the first declaration.
    index: HashMap<(Option<String>, &'static str, String), usize>,
}

impl Model {
    pub fn lookup(&self, org: Option<&str>, kind: &str, name: &str) -> Option<&Resource> {
        let key = (
            org.map(str::to_string),
            kind_static(kind)?,
            name.to_string(),
        );
        self.index.get(&key).map(|&i| &self.resources[i])
    }

    /// Names of `kind` declared in `org`.
    pub fn names_in<'a>(
        &'a self,
        org: Option<&'a str>,
        kind: &'a str,
    ) -> impl Iterator<Item = &'a str> {
        self.resources
            .iter()
            .filter(move |r| r.kind.kind == kind && r.org.as_deref() == org)
            .map(|r| r.name.as_str())
    }

    /// Organizations (by slug) that declare a resource of `kind` named `name`.
    pub fn orgs_with<'a>(&'a self, kind: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.resources
            .iter()
            .filter(move |r| r.kind.kind == kind && r.name == name)
            .filter_map(|r| r.org.as_deref())
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> {
        self.resources.iter().filter(move |r| r.kind.kind == kind)
    }
}

fn kind_static(kind: &str) -> Option<&'static str> {
    crate::model::kind_info(kind).map(|k| k.kind)
}

/// Runs every check over `sources`.
pub fn check(sources: &Sources, options: &Options) -> (Model, Vec<Diagnostic>) {
    let mut diags = Vec::new();

    // Parse every file and read each document's apiVersion, kind and schema;
    // secret hygiene runs on the raw tree so even broken documents are scanned.
    let (project, docs) = load::load(sources, &mut diags);
    let mut model = Model {
        project,
        ..Model::default()
    };

    // Organization scoping decides each resource's org before names are indexed.
    for doc in docs {
        if let Some(resource) = scoping::assign_org(sources, doc, &model.project, &mut diags) {
            model.resources.push(resource);
        }
    }
    names::check_names(&model, &mut diags);
    names::index_and_find_duplicates(&mut model, &mut diags);
    scoping::check_namespaces(&model, &mut diags);

    // Cross-resource checks need the index.
    references::check(&model, &mut diags);
    rules::check(&model, options, &mut diags);
    disabled_users::check(&model, &mut diags);
    org_visibility::check(&model, &mut diags);
    policy_targets::check(&model, &mut diags);
    readiness::check(&model, &mut diags);

    secrets::mask_everywhere(&mut diags);
    diags.sort_by(|a, b| {
        (a.file, a.span.map(|s| s.start), a.code, &a.message).cmp(&(
            b.file,
            b.span.map(|s| s.start),
            b.code,
            &b.message,
        ))
    });
    diags.dedup();
    (model, diags)
}
