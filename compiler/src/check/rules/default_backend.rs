//! `default-backend` (KR523): a Repository no binding scopes, under
//! `defaultBackend: github`, needs exactly one GitHub binding in its
//! organization to live on.
//!
//! What it checks: with `defaultBackend: github` in kradle.yaml, each
//! Repository that no ExternalBackendBinding lists in `scope.repositories`
//! has an organization with exactly one enabled binding to a GitHub
//! provider.
//!
//! Why: the binding's provider says which GitHub (endpoint, owner) and its
//! credentials how to reach it; without one the repository has no forge,
//! with several kradle would have to guess.
//!
//! Example:
//! ```yaml
//! # kradle.yaml: defaultBackend: github
//! kind: Repository
//! metadata: { name: web }   # KR523 when the org has no GitHub binding
//! ```

use crate::diagnostics::Code;
use crate::project::Backend;

use super::{Ctx, Model};

pub(super) fn repository(model: &Model, d: &mut Ctx<'_, '_>) {
    if model.project.default_backend != Some(Backend::Github) {
        return;
    }
    let Some(org) = d.r.org.as_deref() else {
        return;
    };
    if model.bound_repositories(org).contains(d.r.name.as_str()) {
        return;
    }
    let bindings: Vec<&str> = model
        .github_bindings(org)
        .map(|(r, _, _)| r.name.as_str())
        .collect();
    let name = d.r.name.clone();
    match bindings.as_slice() {
        [_] => {}
        [] => d.err(
            Code::DefaultBackend,
            "/metadata/name",
            &format!(
                "Repository `{name}` has no forge: kradle.yaml says `defaultBackend: github`, and organization `{org}` has no enabled ExternalBackendBinding to a GitHub provider"
            ),
            "declare an ExternalBackendProvider with `providerType: github` and an ExternalBackendBinding to it in the organization (`kradle init --backend github` writes both), or set `defaultBackend: gitea`",
        ),
        several => d.err(
            Code::DefaultBackend,
            "/metadata/name",
            &format!(
                "Repository `{name}` could live on any of organization `{org}`'s GitHub bindings ({}): `defaultBackend: github` needs exactly one",
                several
                    .iter()
                    .map(|b| format!("`{b}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &format!("list `{name}` in the `scope.repositories` of one of them"),
        ),
    }
}
