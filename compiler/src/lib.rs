//! kradle's compiler: a pure, deterministic function from a config repository
//! to diagnostics (and, in later passes, to compiled output).
//!
//! No clock, no network, no async: callers pass the files and "now".
//!
//! Pipeline: [`source`] → [`yaml`] (parse with spans) → [`model`] (typed kinds)
//! → [`check`] (schema, scoping, names, references, rules, secrets, readiness)
//! → [`render`] (human, JSON, SARIF).

pub mod check;
pub mod diagnostics;
pub mod emit;
pub mod model;
pub mod project;
pub mod render;
pub mod schemas;
pub mod source;
pub mod sshkey;
pub mod yaml;

pub use check::{Model, Options, Resource};
pub use diagnostics::{CODES, Code, Diagnostic, Severity};
pub use source::Sources;

/// The result of checking a config repository.
#[derive(Debug)]
pub struct Validation {
    pub sources: Sources,
    pub model: Model,
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn summary(&self) -> render::Summary {
        render::Summary::new(
            &self.diagnostics,
            self.sources.files.len(),
            self.model.resources.len(),
        )
    }
}

/// Checks every document of `sources`.
pub fn validate(sources: Sources, options: &Options) -> Validation {
    let (model, diagnostics) = check::check(&sources, options);
    Validation {
        sources,
        model,
        diagnostics,
    }
}
