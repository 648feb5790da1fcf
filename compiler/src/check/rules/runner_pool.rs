//! `runner-pool-replicas` (KR501): a RunnerPool's replica counts.
//!
//! What it checks: `maxReplicas` is at least 1 and at least `warmReplicas`.
//!
//! Why: a pool that may never run a runner, or whose warm floor is above its
//! ceiling, cannot be scheduled; the autoscaler would reject it at run time.
//!
//! Example:
//! ```yaml
//! kind: RunnerPool
//! spec: { warmReplicas: 3, maxReplicas: 2 }   # KR501
//! ```

use crate::diagnostics::Code;
use crate::model::repository::RunnerPoolSpec;

use super::Ctx;

pub(super) fn check(d: &mut Ctx<'_, '_>, s: &RunnerPoolSpec) {
    if s.max_replicas == 0 {
        d.err(
            Code::RunnerPoolReplicas,
            "/spec/maxReplicas",
            "maxReplicas must be at least 1",
            "a pool that can never run a runner is useless; set maxReplicas >= 1",
        );
    } else if s.max_replicas < s.warm_replicas {
        d.err(
            Code::RunnerPoolReplicas,
            "/spec/maxReplicas",
            &format!(
                "maxReplicas ({}) is smaller than warmReplicas ({})",
                s.max_replicas, s.warm_replicas
            ),
            "maxReplicas must be at least warmReplicas",
        );
    }
}
