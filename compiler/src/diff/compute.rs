//! Computing a plan: objects by identity with a field-level diff, forge
//! operations per organization plan by id, descriptions from the typed
//! forge plan, and the removal guard.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::forge_plan::Action as ForgeAction;
use crate::lower::{Object, Operation, Output, Plan};

use super::{
    Action, Counts, FieldChange, ObjectChange, OperationChange, PlanDiff, RemovalGuard,
    SecurityChange, Side, Summary,
};

/// Kinds whose removal loses something a user would miss.
const DESTRUCTIVE_KINDS: &[&str] = &[
    "Namespace",
    "Organization",
    "Repository",
    "RepositoryPermission",
    "Team",
    "BranchProtection",
    "SSHKey",
    "PersistentVolumeClaim",
];

fn organization_of(o: &Object) -> Option<String> {
    o.value["metadata"]["labels"][crate::model::ORG_LABEL]
        .as_str()
        .map(String::from)
}

fn field_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Field-level differences between two JSON values.
fn diff_values(path: &str, a: &Value, b: &Value, out: &mut Vec<FieldChange>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = field_path(path, k);
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => diff_values(&p, va, vb, out),
                    (va, vb) => out.push(FieldChange {
                        path: p,
                        before: va.cloned(),
                        after: vb.cloned(),
                    }),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff_values(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if a != b => out.push(FieldChange {
            path: path.to_string(),
            before: Some(a.clone()),
            after: Some(b.clone()),
        }),
        _ => {}
    }
}

/// Fields of kradle's own kinds that say where credentials, events or
/// data are sent.
const DESTINATION_FIELDS: &[&str] = &["endpoint", "gatewayUrl", "baseUrl", "url", "serverUrl"];

/// The last key of a dotted field path (`spec.secretRef.name` → `name`).
fn last_key(path: &str) -> &str {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next().unwrap_or(last)
}

/// Whether a field path names a credential's Secret (`secretRef`,
/// `webhookSecretRef`, `tokenSecretRef.key`, ...).
fn names_a_secret(path: &str) -> bool {
    path.split('.')
        .any(|k| k == "secretRef" || k.ends_with("SecretRef") || k == "secretName")
}

/// The security-relevant part of an object change: for a new object, every
/// destination it names; for a changed one, every destination or Secret
/// reference that moved.
fn security_of(change: &ObjectChange, object: &Object) -> Vec<SecurityChange> {
    if !change.api_version.starts_with("kradle.a5c.ai/") || change.action == Action::Remove {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut push = |path: String, before: Option<Value>, after: Option<Value>, reason: String| {
        found.push(SecurityChange {
            action: change.action,
            organization: change.organization.clone(),
            kind: change.kind.clone(),
            name: change.name.clone(),
            path,
            before: before.map(without_userinfo),
            after: after.map(without_userinfo),
            reason,
        });
    };
    match change.action {
        Action::Add => {
            let mut destinations = Vec::new();
            destinations_in("spec", &object.value["spec"], &mut destinations);
            for (path, url) in destinations {
                let reason = format!("a new destination: {}", host_of(&url));
                push(path, None, Some(Value::String(url)), reason);
            }
        }
        _ => {
            for f in &change.fields {
                if DESTINATION_FIELDS.contains(&last_key(&f.path)) {
                    let host = |v: &Option<Value>| {
                        v.as_ref()
                            .and_then(Value::as_str)
                            .map_or("(none)".into(), host_of)
                    };
                    let reason = format!(
                        "the destination moves from {} to {}",
                        host(&f.before),
                        host(&f.after)
                    );
                    push(f.path.clone(), f.before.clone(), f.after.clone(), reason);
                } else if names_a_secret(&f.path) {
                    let reason = "the credential is read from another Secret".to_string();
                    push(f.path.clone(), f.before.clone(), f.after.clone(), reason);
                }
            }
        }
    }
    found
}

/// Every string field of `value` named as a destination, with its path.
fn destinations_in(path: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = field_path(path, k);
                match v {
                    Value::String(url) if DESTINATION_FIELDS.contains(&k.as_str()) => {
                        out.push((p, url.clone()));
                    }
                    _ => destinations_in(&p, v, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                destinations_in(&format!("{path}[{i}]"), v, out);
            }
        }
        _ => {}
    }
}

/// A URL value with any `user:password@` replaced by `***@`.
fn without_userinfo(value: Value) -> Value {
    let Some(url) = value.as_str() else {
        return value;
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return value;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => Value::String(format!("{scheme}://***{}", &rest[at..])),
        None => value,
    }
}

/// `scheme://host[:port]` of a URL, for a reviewer to read; the text
/// itself (escaped) when it is not one.
fn host_of(url: &str) -> String {
    let shown = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            // Never show a password someone put in a URL.
            let authority = authority.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{authority}")
        }
        None => url.to_string(),
    };
    crate::text::escape_controls(&shown).into_owned()
}

/// A sentence for a forge operation, as a reviewer reads it.
pub fn describe(op: &Operation, removed: bool) -> String {
    crate::text::escape_controls(&describe_raw(op, removed)).into_owned()
}

fn describe_raw(op: &Operation, removed: bool) -> String {
    use ForgeAction as A;
    let body = &op.body;
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let t = &op.target;
    let name = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let (repo, user, team, branch) = (
        name(&t.repository),
        name(&t.user),
        name(&t.team),
        name(&t.branch),
    );
    match (op.action, removed) {
        (A::CreateOrganization, false) => format!("create organization {}", s(&body["username"])),
        (A::CreateOrganization, true) => format!("delete organization {}", s(&body["username"])),
        (A::CreateRepository, false) => format!(
            "create {} repository {}",
            if body["private"] == Value::Bool(false) {
                "public"
            } else {
                "private"
            },
            s(&body["name"])
        ),
        (A::CreateRepository, true) => format!("delete repository {}", s(&body["name"])),
        (A::EnsureOrgMemoryRepository, _) => {
            format!("ensure issue-sync repository {}", s(&body["name"]))
        }
        (A::UpdateRepository, _) => {
            format!(
                "set the default branch of {repo} to {}",
                s(&body["default_branch"])
            )
        }
        (A::EnsureUserMapping, false) => format!("require forge user {user}"),
        (A::EnsureUserMapping, true) => {
            format!("no longer require forge user {user}")
        }
        (A::CreateTeam, false) => format!("create team {}", s(&body["name"])),
        (A::CreateTeam, true) => format!("delete team {}", s(&body["name"])),
        (A::AddTeamMember, false) => {
            format!("add {user} to team {team}")
        }
        (A::AddTeamMember, true) => {
            format!("remove {user} from team {team}")
        }
        (A::AddDeployKey, false) => format!(
            "add {} deploy key {} to {}",
            if body["read_only"] == Value::Bool(true) {
                "read-only"
            } else {
                "read-write"
            },
            s(&body["title"]),
            repo
        ),
        (A::AddDeployKey, true) => format!("delete deploy key {} from {repo}", s(&body["title"]),),
        (A::AddUserSshKey, false) => {
            format!("add SSH key {} for {user}", s(&body["title"]))
        }
        (A::AddUserSshKey, true) => {
            format!("delete SSH key {} of {user}", s(&body["title"]))
        }
        (A::AddCollaborator, false) => {
            format!("grant {} on {repo} to {user}", s(&body["permission"]))
        }
        (A::AddCollaborator, true) => {
            format!("revoke {} on {repo} from {user}", s(&body["permission"]))
        }
        (A::AddTeamRepository, false) => {
            format!("give team {team} access to {repo}")
        }
        (A::AddTeamRepository, true) => {
            format!("remove team {team}'s access to {repo}")
        }
        (A::ProtectBranch, false) => format!("protect {branch} on {repo}"),
        (A::ProtectBranch, true) => format!("unprotect {branch} on {repo}"),
        (A::CreateWebhook, false) => format!(
            "send {} events to {}",
            body["events"].as_array().map_or(0, Vec::len),
            s(&body["config"]["url"])
        ),
        (A::CreateWebhook, true) => format!("delete the webhook to {}", s(&body["config"]["url"])),
        (A::RequireSignedCommits, false) => {
            format!("require signed commits on {branch} of {repo}")
        }
        (A::RequireSignedCommits, true) => {
            format!("stop requiring signed commits on {branch} of {repo}")
        }
    }
}

fn plan_key(p: &Plan) -> (String, String) {
    (p.org.clone(), p.backend.to_string())
}

/// Compares two builds. `base` is `None` when the base does not compile:
/// everything in head is then an addition.
pub fn diff(
    base: Option<&Output>,
    head: &Output,
    base_side: Side,
    head_side: Side,
    max_removal: f64,
) -> PlanDiff {
    let empty = Output::default();
    let base_out = base.unwrap_or(&empty);

    // Objects by identity.
    let before: BTreeMap<_, &Object> = base_out.objects.iter().map(|o| (o.identity(), o)).collect();
    let after: BTreeMap<_, &Object> = head.objects.iter().map(|o| (o.identity(), o)).collect();
    let ids: BTreeSet<_> = before.keys().chain(after.keys()).cloned().collect();
    let mut objects = Vec::new();
    let mut security_changes = Vec::new();
    for id in ids {
        let (action, obj, fields) = match (before.get(&id), after.get(&id)) {
            (None, Some(o)) => (Action::Add, *o, Vec::new()),
            (Some(o), None) => (Action::Remove, *o, Vec::new()),
            (Some(a), Some(b)) if a.value != b.value => {
                let mut fields = Vec::new();
                diff_values("", &a.value, &b.value, &mut fields);
                (Action::Change, *b, fields)
            }
            _ => continue,
        };
        let change = ObjectChange {
            action,
            api_version: id.0.clone(),
            kind: id.1.clone(),
            namespace: id.2.clone(),
            name: id.3.clone(),
            organization: organization_of(obj),
            destructive: action == Action::Remove && DESTRUCTIVE_KINDS.contains(&id.1.as_str()),
            fields,
        };
        security_changes.extend(security_of(&change, obj));
        objects.push(change);
    }

    // Forge operations by (org, backend, id).
    let plans_before: BTreeMap<_, &Plan> =
        base_out.plans.iter().map(|p| (plan_key(p), p)).collect();
    let plans_after: BTreeMap<_, &Plan> = head.plans.iter().map(|p| (plan_key(p), p)).collect();
    let keys: BTreeSet<_> = plans_before
        .keys()
        .chain(plans_after.keys())
        .cloned()
        .collect();
    let mut operations = Vec::new();
    let mut guards: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for key in keys {
        let ops_before: BTreeMap<&str, &Operation> = plans_before
            .get(&key)
            .map(|p| p.operations.iter().map(|o| (o.id.as_str(), o)).collect())
            .unwrap_or_default();
        let ops_after: BTreeMap<&str, &Operation> = plans_after
            .get(&key)
            .map(|p| p.operations.iter().map(|o| (o.id.as_str(), o)).collect())
            .unwrap_or_default();
        let guard = guards.entry(key.0.clone()).or_default();
        guard.0 += ops_before
            .values()
            .filter(|o| o.action.grants_permission())
            .count();
        // Keep the plan's own order: base order for removals, head order otherwise.
        let mut order: Vec<&str> = plans_after
            .get(&key)
            .map(|p| p.operations.iter().map(|o| o.id.as_str()).collect())
            .unwrap_or_default();
        for id in ops_before.keys() {
            if !ops_after.contains_key(id) {
                order.push(id);
            }
        }
        for id in order {
            let (action, op, was) = match (ops_before.get(id), ops_after.get(id)) {
                (None, Some(o)) => (Action::Add, *o, None),
                (Some(o), None) => (Action::Remove, *o, None),
                (Some(a), Some(b)) if a.idempotency_key != b.idempotency_key => {
                    (Action::Change, *b, Some(*a))
                }
                _ => continue,
            };
            let mut description = describe(op, action == Action::Remove);
            if let Some(old) = was
                .map(|a| describe(a, false))
                .filter(|old| *old != description)
            {
                let old = old.strip_prefix("create ").unwrap_or(&old).to_string();
                description = format!("{description} (was: {old})");
            }
            // A changed creation updates what exists.
            if action == Action::Change {
                if let Some(rest) = description.strip_prefix("create ") {
                    description = format!("update {rest}");
                }
            }
            if action == Action::Remove && op.action.grants_permission() {
                guard.1 += 1;
            }
            if action != Action::Remove && op.action == ForgeAction::CreateWebhook {
                let url = |o: &Operation| o.body["config"]["url"].as_str().map(host_of);
                let before = was.and_then(url);
                let after = url(op);
                if before != after {
                    security_changes.push(SecurityChange {
                        action,
                        organization: Some(key.0.clone()),
                        kind: "Webhook".into(),
                        name: format!("{} ({})", key.0, key.1),
                        path: op.id.clone(),
                        reason: format!(
                            "the forge sends events and the webhook secret to {}",
                            after.as_deref().unwrap_or("?")
                        ),
                        before: before.map(Value::String),
                        after: after.map(Value::String),
                    });
                }
            }
            let mut fields = Vec::new();
            if let Some(was) = was {
                if was.path != op.path {
                    fields.push(FieldChange {
                        path: "path".into(),
                        before: Some(Value::String(was.path.to_string())),
                        after: Some(Value::String(op.path.to_string())),
                    });
                }
                diff_values("", &was.body, &op.body, &mut fields);
            }
            operations.push(OperationChange {
                action,
                organization: key.0.clone(),
                backend: key.1.clone(),
                id: op.id.clone(),
                operation: op.action.to_string(),
                description,
                method: op.method.to_string(),
                path: op.path.to_string(),
                idempotency_key: op.idempotency_key.clone(),
                destructive: action == Action::Remove && op.action.destructive_when_removed(),
                fields,
            });
        }
    }
    let removal_guards: Vec<RemovalGuard> = guards
        .into_iter()
        .filter(|(_, (before, removed))| *before > 0 && *removed > 0)
        .map(|(org, (before, removed))| {
            let share = removed as f64 * 100.0 / before as f64;
            RemovalGuard {
                organization: org,
                permissions_before: before,
                permissions_removed: removed,
                share_percent: (share * 10.0).round() / 10.0,
                dangerous: share > max_removal,
            }
        })
        .collect();

    let count = |a: Action, objs: bool| {
        if objs {
            objects.iter().filter(|o| o.action == a).count()
        } else {
            operations.iter().filter(|o| o.action == a).count()
        }
    };
    let summary = Summary {
        objects: Counts {
            add: count(Action::Add, true),
            change: count(Action::Change, true),
            remove: count(Action::Remove, true),
        },
        operations: Counts {
            add: count(Action::Add, false),
            change: count(Action::Change, false),
            remove: count(Action::Remove, false),
        },
        destructive: objects.iter().filter(|o| o.destructive).count()
            + operations.iter().filter(|o| o.destructive).count(),
        dangerous: removal_guards.iter().any(|g| g.dangerous),
        security_relevant: security_changes.len(),
        max_removal_percent: max_removal,
    };
    let skipped_operations = head
        .notes
        .skipped_operations
        .iter()
        .filter(|s| !base_out.notes.skipped_operations.contains(s))
        .cloned()
        .collect();
    PlanDiff {
        format_version: 1,
        base: base_side,
        head: head_side,
        summary,
        removal_guards,
        objects,
        operations,
        security_changes,
        skipped_operations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_are_shown_without_their_credentials() {
        assert_eq!(
            without_userinfo(json!("https://bob:ghp_x@evil.example/a@b")),
            json!("https://***@evil.example/a@b")
        );
        assert_eq!(
            without_userinfo(json!("https://api.github.com")),
            json!("https://api.github.com")
        );
        assert_eq!(
            host_of("https://bob:pw@evil.example:8443/x"),
            "https://evil.example:8443"
        );
        assert_eq!(last_key("spec.servers[2].url"), "url");
        assert_eq!(last_key("spec.endpoint"), "endpoint");
        assert_eq!(last_key("spec.urls[0]"), "urls");
        assert!(names_a_secret("spec.webhookSecretRef.name"));
        assert!(!names_a_secret("spec.displayName"));
    }

    #[test]
    fn field_diff_walks_maps_and_equal_length_lists() {
        let mut out = Vec::new();
        diff_values(
            "",
            &json!({"a": 1, "b": [1, 2], "c": {"d": "x"}}),
            &json!({"a": 1, "b": [1, 3], "c": {}, "e": true}),
            &mut out,
        );
        let paths: Vec<&str> = out.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["b[1]", "c.d", "e"]);
        assert_eq!(out[1].after, None);
    }

    #[test]
    fn describes_operations_for_reviewers() {
        let op = Operation {
            id: "collaborator:x".into(),
            target: crate::forge_plan::Target::owner("acme")
                .repo("api")
                .user("grace"),
            action: ForgeAction::AddCollaborator,
            method: crate::forge_plan::Method::Put,
            path: crate::forge_plan::Template::new("/repos/acme/api/collaborators/grace"),
            body: json!({"permission": "write"}),
            idempotency_key: "k".into(),
            depends_on: vec![],
        };
        assert_eq!(describe(&op, false), "grant write on api to grace");
        assert_eq!(describe(&op, true), "revoke write on api from grace");
    }
}
