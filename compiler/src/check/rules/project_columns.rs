//! `project-columns` (KR502): a KradleProject's workflow columns.
//!
//! What it checks: `workflowColumns`, when given, is not empty, its ids are
//! unique, and at most one column is the default.
//!
//! Why: the board places new issues in the default column and moves cards by
//! column id; an empty list, a repeated id or two defaults make both
//! ambiguous.
//!
//! Example:
//! ```yaml
//! kind: KradleProject
//! spec:
//!   workflowColumns:
//!     - { id: todo, default: true }
//!     - { id: todo }                 # KR502: duplicate column id
//! ```

use std::collections::BTreeSet;

use crate::diagnostics::Code;
use crate::model::agents::KradleProjectSpec;

use super::Ctx;

pub(super) fn check(d: &mut Ctx<'_, '_>, s: &KradleProjectSpec) {
    let Some(cols) = &s.workflow_columns else {
        return;
    };
    if cols.is_empty() {
        d.err(
            Code::ProjectColumns,
            "/spec/workflowColumns",
            "workflowColumns must not be empty",
            "list at least one column, e.g. `- { id: backlog, displayName: Backlog, default: true }`",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, c) in cols.iter().enumerate() {
        if !seen.insert(c.id.as_str()) {
            d.err(
                Code::ProjectColumns,
                &format!("/spec/workflowColumns/{i}/id"),
                &format!("duplicate column id `{}`", c.id),
                "column ids are unique within a project",
            );
        }
    }
    let defaults: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| c.default == Some(true))
        .map(|(i, _)| i)
        .collect();
    if let Some(second) = defaults.get(1) {
        d.err(
            Code::ProjectColumns,
            &format!("/spec/workflowColumns/{second}/default"),
            "more than one column has `default: true`",
            "new issues land in the single default column; keep one",
        );
    }
}
