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

use chrono::{DateTime, Utc};

use crate::diagnostics::Diagnostic;
use crate::source::Sources;

pub use crate::model::{Model, Resource};

pub use readiness::{
    Condition, ConditionStatus, ConditionType, Reason, is_ready, stack_conditions,
};
pub use secrets::looks_like_secret;

/// Inputs of a check that do not come from the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// "Now" for expiry decisions; never read from the clock inside the compiler.
    pub now: DateTime<Utc>,
}

/// Runs every check over `sources`.
pub fn check(sources: &Sources, options: &Options) -> (Model, Vec<Diagnostic>) {
    let mut diags = Vec::new();

    // Parse every file and read each document's apiVersion, kind and schema;
    // secret hygiene runs on the raw tree so even broken documents are scanned.
    let (project, docs) = load::load(sources, &mut diags);
    let mut model = Model {
        project,
        builtin_files: sources
            .ids()
            .filter(|id| crate::builtin::is_builtin(&sources.get(*id).path))
            .map(|id| id.0)
            .collect(),
        ..Model::default()
    };

    // Organization scoping decides each resource's org before names are indexed.
    for doc in docs {
        if let Some(resource) = scoping::assign_org(sources, doc, &model.project, &mut diags) {
            model.resources.push(resource);
        }
    }
    crate::builtin::keep_used(&mut model.resources, sources);
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
