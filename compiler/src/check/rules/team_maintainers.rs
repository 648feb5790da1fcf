//! `team-maintainer-not-member` (KR513): a Team's maintainers.
//!
//! What it checks: every maintainer of a Team is also one of its members.
//!
//! Why: forges give maintainer rights to members only; a maintainer who is
//! not a member is silently dropped, and the team has no maintainer.
//!
//! Example:
//! ```yaml
//! kind: Team
//! spec: { members: [ada], maintainers: [bob] }   # KR513 (warning)
//! ```

use crate::diagnostics::{Code, Diagnostic};
use crate::model::identity::TeamSpec;

use super::Ctx;

pub(super) fn check(d: &mut Ctx<'_, '_>, s: &TeamSpec) {
    for (i, m) in s.maintainers.iter().enumerate() {
        if !s.members.contains(m) {
            let r = d.r;
            d.push(
                Diagnostic::new(
                    Code::TeamMaintainer,
                    format!(
                        "maintainer `{}` is not a member of team `{}`",
                        m.name(),
                        r.name
                    ),
                )
                .at(r.file, r.span_of(&format!("/spec/maintainers/{i}")))
                .help(format!("add `{}` to members", m.name())),
            );
        }
    }
}
