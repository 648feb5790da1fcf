//! The order of an apply: operations by dependency level, each level sent
//! at once.

use std::collections::HashMap;

use kradle_compiler::forge_plan::Plan;

/// Each operation's level: 0 without dependencies, else one more than its
/// deepest dependency. Plans list dependencies first.
pub(super) fn levels(plan: &Plan) -> Vec<usize> {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::with_capacity(plan.operations.len());
    for op in &plan.operations {
        let level = op
            .depends_on
            .iter()
            .filter_map(|d| by_id.get(d.as_str()))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        by_id.insert(&op.id, level);
        out.push(level);
    }
    out
}
