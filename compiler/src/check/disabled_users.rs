//! A grant to a disabled User.
//!
//! What it checks: a Team membership, a RepositoryPermission, an SSH key, an
//! AgentRoleBinding or an ArtifactAccessPolicy that names a User with
//! `disabled: true`.
//!
//! Why: a disabled (suspended) User keeps no grants: the forge plans leave
//! out its memberships, collaborator access and keys, and RBAC leaves out its
//! bindings (`kradle plan` shows them removed). The reference is kept so a
//! re-enabled User gets them back, but a reader of the config should not
//! believe the grant is live.
//!
//! Example:
//! ```yaml
//! kind: User
//! metadata: { name: mallory }
//! spec: { displayName: Mallory, email: m@acme.example, disabled: true }
//! ---
//! kind: Team
//! metadata: { name: core }
//! spec: { members: [mallory] }   # KR519: mallory is disabled
//! ```

use crate::diagnostics::{Code, Diagnostic};
use crate::model::Spec;
use crate::model::identity::UserSpec;

use super::Model;
use super::references::{edges, resolve};

pub fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for r in &model.resources {
        let Some(spec) = &r.spec else { continue };
        // Naming a user is not granting it anything.
        if matches!(spec, Spec::IdentityMapping(_) | Spec::User(_)) {
            continue;
        }
        for edge in edges(spec) {
            let Some(target) = resolve(model, r, &edge) else {
                continue;
            };
            if let Some(u) = target.spec_as::<UserSpec>() {
                if u.disabled == Some(true) {
                    diags.push(
                        Diagnostic::new(
                            Code::DisabledUser,
                            format!(
                                "User `{}` is disabled: this {} grants it nothing",
                                target.name, r.kind.kind
                            ),
                        )
                        .at(r.file, r.span_of(&edge.pointer))
                        .label("disabled user")
                        .related(target.file, target.span_of("/spec/disabled"), "disabled here")
                        .help("remove the reference, or re-enable the user; until then kradle plans no membership, access, key or binding for it"),
                    );
                }
            }
        }
    }
}
