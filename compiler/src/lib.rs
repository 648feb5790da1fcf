//! kradle's compiler: a pure, deterministic function from a config repository
//! to diagnostics (and, in later passes, to compiled output).
//!
//! No clock, no network, no async: callers pass the files and "now".
//!
//! Pipeline: [`source`] → [`yaml`] (parse with spans) → [`model`] (typed kinds)
//! → [`check`] (schema, scoping, names, references, rules, secrets, readiness)
//! → [`render`] (human, JSON, SARIF).

pub mod builtin;
pub mod check;
pub mod diagnostics;
pub mod diff;
pub mod emit;
pub mod forge_plan;
pub mod ignore;
pub mod layout;
pub mod lower;
pub mod model;
/// `kradle plan`'s diff, under the command's name.
pub use diff as plan;
pub mod project;
pub mod reference;
pub mod render;
pub mod schemas;
pub mod source;
pub mod sshkey;
pub mod template;
pub mod text;
pub mod write;
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
            self.sources
                .files
                .iter()
                .filter(|f| !builtin::is_builtin(&f.path))
                .count(),
            self.model.resources.len(),
        )
    }
}

/// A compiled config repository: every output file, or the diagnostics that
/// prevented it.
#[derive(Debug)]
pub struct Build {
    pub validation: Validation,
    pub output: lower::Output,
    /// Path → content; empty when there are errors.
    pub files: std::collections::BTreeMap<String, String>,
}

impl Build {
    pub fn has_errors(&self) -> bool {
        self.validation.has_errors()
    }
}

/// Checks and lowers `sources`. Nothing is produced when the input has errors.
pub fn build(sources: Sources, options: &lower::BuildOptions) -> Build {
    let mut validation = check_sources(sources, &Options { now: options.now });
    if validation.has_errors() {
        return Build {
            validation,
            output: lower::Output::default(),
            files: Default::default(),
        };
    }
    let (output, diags) = lower::lower(&validation.model, options);
    if !diags.is_empty() {
        validation.diagnostics.extend(diags);
        return Build {
            validation,
            output: lower::Output::default(),
            files: Default::default(),
        };
    }
    let files = layout::files(&validation.model, &output);
    Build {
        validation,
        output,
        files,
    }
}

/// Checks every document of `sources` and, when the checks pass, lowers the
/// model to find what only lowering can (an output collision, a template
/// that does not render), so that `validate` reports what `build` would, in
/// one run.
pub fn validate(sources: Sources, options: &Options) -> Validation {
    let mut validation = check_sources(sources, options);
    if !validation.has_errors() {
        let (_, diags) = lower::lower(&validation.model, &lower::BuildOptions::at(options.now));
        validation.diagnostics.extend(diags);
    }
    validation
}

/// Checks every document of `sources`, without lowering: what `build` runs
/// before it lowers, and what the benchmark compares with parsing alone.
pub fn check_sources(mut sources: Sources, options: &Options) -> Validation {
    builtin::add(&mut sources);
    let (model, diagnostics) = check::check(&sources, options);
    Validation {
        sources,
        model,
        diagnostics,
    }
}
