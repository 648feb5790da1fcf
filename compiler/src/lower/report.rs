//! report: what a build did, as `report.json` — counts per kind and per output
//! target, each AgentStack's computed conditions, exceptions that produced no
//! PolicyException and why, forge operations kradle could not plan, the
//! Kyverno requirement, and the SHA-256 digest of every other output file.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::check::{is_ready, stack_conditions};
use crate::model::Model;
use crate::model::agents::AgentStackSpec;

use super::Output;

#[derive(Debug, Clone, Default)]
pub struct Notes {
    /// Organizations with at least one enforce-mode binding.
    pub enforce_orgs: BTreeSet<String>,
    pub skipped_exceptions: Vec<SkippedException>,
    pub skipped_operations: Vec<SkippedOperation>,
    /// Why the Argo CD objects were not generated, if they were not.
    pub gitops_skipped: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedException {
    pub organization: String,
    pub name: String,
    pub binding: String,
    /// pending, denied, revoked, expired, invalid-expiry or binding-produces-no-policy.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedOperation {
    pub organization: String,
    pub id: String,
    pub reason: String,
}

pub fn digest(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The report; `files` are every other output file (path → content).
pub fn build(model: &Model, output: &Output, files: &BTreeMap<String, String>) -> Value {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &model.resources {
        *by_kind.entry(r.kind.kind).or_default() += 1;
    }
    let mut by_target: BTreeMap<String, usize> = BTreeMap::new();
    for o in &output.objects {
        *by_target
            .entry(format!("{}/{}", o.api_version(), o.kind()))
            .or_default() += 1;
    }
    let plans: Vec<Value> = output
        .plans
        .iter()
        .map(|p| {
            let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
            for op in &p.operations {
                *by_action.entry(op.action.as_str()).or_default() += 1;
            }
            json!({
                "file": format!("plans/{}", p.file),
                "organization": p.org,
                "backend": p.backend,
                "operations": p.operations.len(),
                "byAction": by_action,
            })
        })
        .collect();
    let stacks: Vec<Value> = model
        .all::<AgentStackSpec>()
        .map(|(s, _)| {
            let (conditions, _) = stack_conditions(model, s);
            let ready = is_ready(&conditions);
            json!({ "organization": s.org, "name": s.name, "ready": ready, "conditions": conditions })
        })
        .collect();
    let require = model
        .project
        .kyverno
        .as_ref()
        .and_then(|k| k.require_for_enforce_mode)
        .unwrap_or(false);
    let kyverno_note = if require && !output.notes.enforce_orgs.is_empty() {
        Some(
            "Kyverno is required: these organizations have enforce-mode bindings and kradle.yaml sets kyverno.requireForEnforceMode (KRADLE_KYVERNO_REQUIRE_FOR_ENFORCE_MODE)",
        )
    } else {
        None
    };
    let digests: BTreeMap<&String, String> = files.iter().map(|(p, c)| (p, digest(c))).collect();
    json!({
        "inputs": {
            "resources": model.resources.len(),
            "byKind": by_kind,
        },
        "outputs": {
            "objects": output.objects.len(),
            "byTarget": by_target,
            "plans": plans,
        },
        "agentStacks": stacks,
        "policy": {
            "skippedExceptions": output.notes.skipped_exceptions,
            "kyverno": {
                "requireForEnforceMode": require,
                "enforceOrganizations": output.notes.enforce_orgs,
                "note": kyverno_note,
            },
        },
        "forge": { "skippedOperations": output.notes.skipped_operations },
        "gitops": { "skipped": output.notes.gitops_skipped },
        "digests": digests,
    })
}
