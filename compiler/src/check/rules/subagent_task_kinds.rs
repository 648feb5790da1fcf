//! `subagent-task-kinds` (KR505): an AgentSubagent's task kinds.
//!
//! What it checks: `taskKinds` is not empty and has no empty entry.
//!
//! Why: a stack routes a task to the subagent that lists its kind; a
//! subagent without task kinds never receives work, and an empty name
//! matches nothing.
//!
//! Example:
//! ```yaml
//! kind: AgentSubagent
//! spec: { taskKinds: [] }   # KR505
//! ```

use crate::diagnostics::Code;
use crate::model::agents::AgentSubagentSpec;

use super::Ctx;

pub(super) fn check(d: &mut Ctx<'_, '_>, s: &AgentSubagentSpec) {
    if s.task_kinds.is_empty() {
        d.err(
            Code::SubagentTaskKinds,
            "/spec/taskKinds",
            "taskKinds must not be empty",
            "list the task kinds this subagent handles, e.g. `[fix, review]`",
        );
    }
    for (i, t) in s.task_kinds.iter().enumerate() {
        if t.trim().is_empty() {
            d.err(
                Code::SubagentTaskKinds,
                &format!("/spec/taskKinds/{i}"),
                "a task kind must not be empty",
                "remove the empty entry",
            );
        }
    }
}
