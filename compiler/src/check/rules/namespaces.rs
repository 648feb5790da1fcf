//! `namespace-mismatch` (KR304), for agent identities and grants.
//!
//! What it checks: an AgentServiceAccount's `namespace`, and the namespace
//! of the Secret or ConfigMap an AgentSecretGrant or AgentConfigGrant names,
//! is the organization's own namespace `kradle-org-<slug>`.
//!
//! Why: organizations are isolated (spec §4.2); a grant on another
//! namespace would hand one organization's agents another's secrets.
//!
//! Example:
//! ```yaml
//! kind: AgentSecretGrant
//! metadata: { namespace: kradle-org-acme }
//! spec: { secretRef: { name: db, namespace: kradle-org-other } }   # KR304
//! ```

use crate::diagnostics::Code;
use crate::model::common::ObjectKeysRef;
use crate::model::identity::AgentServiceAccountSpec;
use crate::model::org_namespace;

use super::Ctx;

pub(super) fn service_account(d: &mut Ctx<'_, '_>, s: &AgentServiceAccountSpec) {
    let Some(org) = &d.r.org else { return };
    let expected = org_namespace(org);
    let Some(namespace) = &s.namespace else {
        return;
    };
    if *namespace != expected {
        d.err(
            Code::NamespaceMismatch,
            "/spec/namespace",
            &format!(
                "the ServiceAccount namespace `{namespace}` is not the organization's namespace"
            ),
            &format!("agent identities live in `{expected}`"),
        );
    }
}

/// Grants name objects of the organization's own namespace.
pub(super) fn grant(d: &mut Ctx<'_, '_>, target: &ObjectKeysRef, pointer: &str) {
    let (Some(ns), Some(org)) = (&target.namespace, &d.r.org) else {
        return;
    };
    let expected = org_namespace(org);
    if *ns != expected {
        d.err(
            Code::NamespaceMismatch,
            pointer,
            &format!("a grant can only name objects in `{expected}`, not `{ns}`"),
            "remove namespace (it defaults to the organization's) — organizations are isolated",
        );
    }
}
