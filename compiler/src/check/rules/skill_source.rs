//! `skill-source` (KR506): where an AgentSkill is read from.
//!
//! What it checks: a URL `sourceRef` is an http(s) URL; a repository
//! `sourceRef` names a file (`path` is not empty).
//!
//! Why: the runtime fetches the skill when a stack starts; a source it
//! cannot fetch fails every run of every stack that uses the skill.
//!
//! Example:
//! ```yaml
//! kind: AgentSkill
//! spec: { sourceRef: "git@host:skills.git" }   # KR506: not http(s)
//! ```

use crate::diagnostics::Code;
use crate::model::agents::{AgentSkillSpec, SkillSource};

use super::Ctx;
use super::urls::is_http_url;

pub(super) fn check(d: &mut Ctx<'_, '_>, s: &AgentSkillSpec) {
    match &s.source_ref {
        SkillSource::Url(u) if !is_http_url(u) => d.err(
            Code::SkillSource,
            "/spec/sourceRef",
            "sourceRef is not an http(s) URL",
            "use `https://...`, or `{ repository: <name>, path: <file> }` for a Repository of the organization",
        ),
        SkillSource::Repository(src) if src.path.trim().is_empty() => d.err(
            Code::SkillSource,
            "/spec/sourceRef/path",
            "sourceRef.path must not be empty",
            "name the skill file inside the repository",
        ),
        _ => {}
    }
}
