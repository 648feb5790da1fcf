//! A public Repository in a private Organization.
//!
//! What it checks: a Repository with `visibility: public` in an Organization
//! whose `visibility` is `private` or `limited`.
//!
//! Why: Gitea hides every repository of a private organization from anonymous
//! users, public or not, so the repository would not be public at all. When
//! an Organization does not set `visibility`, kradle makes it `public` as
//! soon as one of its repositories is public; this warning is for an
//! explicit choice that contradicts a repository.
//!
//! Example:
//! ```yaml
//! kind: Organization
//! spec: { visibility: private }
//! ---
//! kind: Repository
//! spec: { visibility: public }   # KR520
//! ```

use crate::diagnostics::{Code, Diagnostic};
use crate::model::identity::{OrgVisibility, OrganizationSpec};
use crate::model::repository::{RepositorySpec, Visibility};

use super::Model;

pub fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for (slug, org) in model.organizations() {
        let Some(o) = org.spec_as::<OrganizationSpec>() else {
            continue;
        };
        let Some(v) = o.visibility.filter(|v| *v != OrgVisibility::Public) else {
            continue;
        };
        for (r, repo) in model.all::<RepositorySpec>() {
            if repo.visibility == Visibility::Public && r.org.as_deref() == Some(slug.as_str()) {
                let level = if v == OrgVisibility::Limited {
                    "limited"
                } else {
                    "private"
                };
                diags.push(
                    Diagnostic::new(
                        Code::PublicRepositoryInPrivateOrg,
                        format!(
                            "Repository `{}` is public, but organization `{slug}` is {level}",
                            r.name
                        ),
                    )
                    .at(r.file, r.span_of("/spec/visibility"))
                    .label("not visible to anonymous users")
                    .related(
                        org.file,
                        org.span_of("/spec/visibility"),
                        "organization visibility set here",
                    )
                    .help("make the organization `visibility: public`, or the repository private"),
                );
            }
        }
    }
}
