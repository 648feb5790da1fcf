//! `role-binding-scope` (KR516): AgentRoleBindings stay in the organization.
//!
//! What it checks: an AgentRoleBinding does not ask for `scope: cluster`.
//!
//! Why: agent RBAC is confined to the organization's namespace (spec
//! §4.2). A ClusterRoleBinding from one organization's config would grant
//! its agents access to every organization.
//!
//! Example:
//! ```yaml
//! kind: AgentRoleBinding
//! spec: { scope: cluster, roleRef: { kind: ClusterRole, name: view } }   # KR516
//! ```

use crate::diagnostics::Code;
use crate::model::identity::{AgentRoleBindingSpec, BindingScope};

use super::Ctx;

pub(super) fn check(d: &mut Ctx<'_, '_>, s: &AgentRoleBindingSpec) {
    if s.scope == BindingScope::Cluster {
        d.err(
            Code::RoleBindingScope,
            "/spec/scope",
            "an organization's AgentRoleBinding cannot grant cluster-wide access",
            "use `scope: namespace`: agent RBAC is confined to the organization's namespace (spec §4.2); a namespaced binding may still reference a ClusterRole such as `view`",
        );
    }
}
