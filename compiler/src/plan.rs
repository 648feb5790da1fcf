//! `kradle plan`: what merging a change does, from two compiled outputs.
//!
//! Kubernetes objects are compared by identity (apiVersion, kind, namespace,
//! name) with a field-level diff for changed ones; forge operations per
//! organization plan by operation id (a different idempotency key for the same
//! id is a change). Destructive changes — removed namespaces, repositories,
//! permissions, teams, protections, keys — are listed first, and an
//! organization losing more than `max_removal` percent of its permissions is
//! flagged as dangerous, in the spirit of Peribolos' removal guards.
//!
//! Rendering: human (terraform-like), Markdown for a pull-request comment
//! (never over GitHub's 65,536 characters), and JSON (docs/plan-format.md).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::forge_plan::Action as ForgeAction;
use crate::lower::{Object, Operation, Output, Plan};

/// GitHub's limit for a comment body.
pub const MARKDOWN_LIMIT: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path, e.g. `spec.members[1]`.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectChange {
    pub action: Action,
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Organization slug, or `null` for platform objects.
    pub organization: Option<String>,
    pub destructive: bool,
    /// For `change`: what differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationChange {
    pub action: Action,
    pub organization: String,
    pub backend: String,
    pub id: String,
    /// The forge action, e.g. `addCollaborator`.
    pub operation: String,
    /// What it means, e.g. "grant write on api to grace".
    pub description: String,
    pub method: String,
    pub path: String,
    /// Idempotency key in head (or in base for removals).
    pub idempotency_key: String,
    pub destructive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovalGuard {
    pub organization: String,
    /// Permission grants (collaborators and team repositories) in base.
    pub permissions_before: usize,
    pub permissions_removed: usize,
    pub share_percent: f64,
    pub dangerous: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub objects: Counts,
    pub operations: Counts,
    pub destructive: usize,
    pub dangerous: bool,
    pub max_removal_percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// What was compared: a revision, or "working tree".
    pub source: String,
    pub compiled: bool,
    pub errors: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDiff {
    pub format_version: u32,
    pub base: Side,
    pub head: Side,
    pub summary: Summary,
    pub removal_guards: Vec<RemovalGuard>,
    pub objects: Vec<ObjectChange>,
    pub operations: Vec<OperationChange>,
}

impl PlanDiff {
    pub fn has_changes(&self) -> bool {
        !self.objects.is_empty() || !self.operations.is_empty()
    }
}

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

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn segment(path: &str, i: usize) -> &str {
    path.trim_start_matches('/').split('/').nth(i).unwrap_or("")
}

/// A sentence for a forge operation, as a reviewer reads it.
pub fn describe(op: &Operation, removed: bool) -> String {
    crate::text::escape_controls(&describe_raw(op, removed)).into_owned()
}

fn describe_raw(op: &Operation, removed: bool) -> String {
    use ForgeAction as A;
    let body = &op.body;
    let path = op.path.as_str();
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let id_part = |i: usize| op.id.split(':').nth(i).unwrap_or("?").to_string();
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
                "set the default branch of {} to {}",
                last_segment(path),
                s(&body["default_branch"])
            )
        }
        (A::EnsureUserMapping, false) => format!("require forge user {}", last_segment(path)),
        (A::EnsureUserMapping, true) => {
            format!("no longer require forge user {}", last_segment(path))
        }
        (A::CreateTeam, false) => format!("create team {}", s(&body["name"])),
        (A::CreateTeam, true) => format!("delete team {}", s(&body["name"])),
        (A::AddTeamMember, false) => {
            format!("add {} to team {}", last_segment(path), id_part(1))
        }
        (A::AddTeamMember, true) => {
            format!("remove {} from team {}", last_segment(path), id_part(1))
        }
        (A::AddDeployKey, false) => format!(
            "add {} deploy key {} to {}",
            if body["read_only"] == Value::Bool(true) {
                "read-only"
            } else {
                "read-write"
            },
            s(&body["title"]),
            segment(path, 2)
        ),
        (A::AddDeployKey, true) => format!(
            "delete deploy key {} from {}",
            s(&body["title"]),
            segment(path, 2)
        ),
        (A::AddUserSshKey, false) => {
            format!("add SSH key {} for {}", s(&body["title"]), segment(path, 2))
        }
        (A::AddUserSshKey, true) => format!(
            "delete SSH key {} of {}",
            s(&body["title"]),
            segment(path, 2)
        ),
        (A::AddCollaborator, false) => format!(
            "grant {} on {} to {}",
            s(&body["permission"]),
            segment(path, 2),
            last_segment(path)
        ),
        (A::AddCollaborator, true) => format!(
            "revoke {} on {} from {}",
            s(&body["permission"]),
            segment(path, 2),
            last_segment(path)
        ),
        (A::AddTeamRepository, false) => {
            format!("give team {} access to {}", id_part(1), id_part(2))
        }
        (A::AddTeamRepository, true) => {
            format!("remove team {}'s access to {}", id_part(1), id_part(2))
        }
        (A::ProtectBranch, false) => {
            let branch = body["rule_name"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| segment(path, 4).to_string());
            format!("protect {branch} on {}", segment(path, 2))
        }
        (A::ProtectBranch, true) => {
            let branch = body["rule_name"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| segment(path, 4).to_string());
            format!("unprotect {branch} on {}", segment(path, 2))
        }
        (A::CreateWebhook, false) => format!(
            "send {} events to {}",
            body["events"].as_array().map_or(0, Vec::len),
            s(&body["config"]["url"])
        ),
        (A::CreateWebhook, true) => format!("delete the webhook to {}", s(&body["config"]["url"])),
        (A::RequireSignedCommits, false) => {
            format!(
                "require signed commits on {} of {}",
                segment(path, 4),
                segment(path, 2)
            )
        }
        (A::RequireSignedCommits, true) => format!(
            "stop requiring signed commits on {} of {}",
            segment(path, 4),
            segment(path, 2)
        ),
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
        objects.push(ObjectChange {
            action,
            api_version: id.0.clone(),
            kind: id.1.clone(),
            namespace: id.2.clone(),
            name: id.3.clone(),
            organization: organization_of(obj),
            destructive: action == Action::Remove && DESTRUCTIVE_KINDS.contains(&id.1.as_str()),
            fields,
        });
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
                description = format!("{description} (was: {old})");
            }
            if action == Action::Remove && op.action.grants_permission() {
                guard.1 += 1;
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
        max_removal_percent: max_removal,
    };
    PlanDiff {
        format_version: 1,
        base: base_side,
        head: head_side,
        summary,
        removal_guards,
        objects,
        operations,
    }
}

fn object_line(o: &ObjectChange) -> String {
    let ns = if o.namespace.is_empty() {
        String::new()
    } else {
        format!("{}/", o.namespace)
    };
    format!("{} {} {ns}{}", o.api_version, o.kind, o.name)
}

fn sign(a: Action) -> &'static str {
    match a {
        Action::Add => "+",
        Action::Change => "~",
        Action::Remove => "-",
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Add => "create",
        Action::Change => "update",
        Action::Remove => "destroy",
    }
}

fn short(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 80 {
                format!("{}…", t.chars().take(79).collect::<String>())
            } else {
                t
            }
        }
    }
}

fn guard_line(g: &RemovalGuard, max: f64) -> String {
    format!(
        "{}: removes {} of {} permissions ({}%{})",
        g.organization,
        g.permissions_removed,
        g.permissions_before,
        g.share_percent,
        if g.dangerous {
            format!(", more than the {max}% allowed")
        } else {
            String::new()
        }
    )
}

/// Terraform-like text; `color` adds ANSI colours.
pub fn human(d: &PlanDiff, color: bool) -> String {
    let paint = |a: Action, text: &str| {
        if !color {
            return text.to_string();
        }
        let code = match a {
            Action::Add => "32",
            Action::Change => "33",
            Action::Remove => "31",
        };
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    };
    let mut out = String::new();
    let _ = writeln!(out, "kradle plan: {} → {}", d.base.source, d.head.source);
    if !d.base.compiled {
        let _ = writeln!(
            out,
            "note: the base does not compile ({} errors); everything in head is shown as added",
            d.base.errors
        );
    }
    if !d.has_changes() {
        let _ = writeln!(
            out,
            "\nNo changes. The cluster and the forges are up to date with this change."
        );
        return out;
    }
    let destructive: Vec<String> = d
        .objects
        .iter()
        .filter(|o| o.destructive)
        .map(|o| format!("destroy {}", object_line(o)))
        .chain(
            d.operations
                .iter()
                .filter(|o| o.destructive)
                .map(|o| format!("{} ({}): {}", o.organization, o.backend, o.description)),
        )
        .collect();
    if !destructive.is_empty() || d.summary.dangerous {
        let _ = writeln!(out, "\nDestructive changes:");
        for g in d.removal_guards.iter().filter(|g| g.dangerous) {
            let _ = writeln!(
                out,
                "  {} {}",
                paint(Action::Remove, "DANGER"),
                guard_line(g, d.summary.max_removal_percent)
            );
        }
        for line in &destructive {
            let _ = writeln!(out, "  {} {line}", paint(Action::Remove, "-"));
        }
    }
    if !d.objects.is_empty() {
        let _ = writeln!(out, "\nKubernetes objects:");
        for o in &d.objects {
            let _ = writeln!(
                out,
                "  {} {} {}",
                paint(o.action, sign(o.action)),
                verb(o.action),
                object_line(o)
            );
            for f in &o.fields {
                let _ = writeln!(
                    out,
                    "      {} {}: {} → {}",
                    paint(Action::Change, "~"),
                    f.path,
                    short(&f.before),
                    short(&f.after)
                );
            }
        }
    }
    let mut by_plan: BTreeMap<(&str, &str), Vec<&OperationChange>> = BTreeMap::new();
    for o in &d.operations {
        by_plan
            .entry((&o.organization, &o.backend))
            .or_default()
            .push(o);
    }
    if !by_plan.is_empty() {
        let _ = writeln!(out, "\nForge operations:");
        for ((org, backend), ops) in by_plan {
            let _ = writeln!(out, "  {org} ({backend}):");
            for o in ops {
                let _ = writeln!(
                    out,
                    "    {} {}",
                    paint(o.action, sign(o.action)),
                    o.description
                );
            }
        }
    }
    let s = &d.summary;
    let _ = writeln!(
        out,
        "\nPlan: {} to add, {} to change, {} to destroy; forge: {} to add, {} to change, {} to remove.",
        s.objects.add,
        s.objects.change,
        s.objects.remove,
        s.operations.add,
        s.operations.change,
        s.operations.remove
    );
    out
}

/// A pull-request comment; never longer than [`MARKDOWN_LIMIT`]: details are
/// cut (with a notice) before the counts are.
pub fn markdown(d: &PlanDiff) -> String {
    let s = &d.summary;
    let mut head = String::new();
    let _ = writeln!(head, "### kradle plan\n");
    let _ = writeln!(head, "`{}` → `{}`\n", d.base.source, d.head.source);
    if !d.base.compiled {
        let _ = writeln!(
            head,
            "> [!NOTE]\n> The base does not compile ({} errors): everything in head is shown as added.\n",
            d.base.errors
        );
    }
    if !d.has_changes() {
        let _ = writeln!(
            head,
            "**No changes.** The cluster and the forges are up to date with this change."
        );
        return head;
    }
    let _ = writeln!(head, "| | Add | Change | Remove |\n|---|---:|---:|---:|");
    let _ = writeln!(
        head,
        "| Kubernetes objects | {} | {} | {} |",
        s.objects.add, s.objects.change, s.objects.remove
    );
    let _ = writeln!(
        head,
        "| Forge operations | {} | {} | {} |\n",
        s.operations.add, s.operations.change, s.operations.remove
    );

    let dangerous: Vec<&RemovalGuard> = d.removal_guards.iter().filter(|g| g.dangerous).collect();
    let destructive_objects: Vec<&ObjectChange> =
        d.objects.iter().filter(|o| o.destructive).collect();
    let destructive_ops: Vec<&OperationChange> =
        d.operations.iter().filter(|o| o.destructive).collect();
    let mut warn = String::new();
    if !dangerous.is_empty() || !destructive_objects.is_empty() || !destructive_ops.is_empty() {
        let _ = writeln!(
            warn,
            "> [!CAUTION]\n> **{} destructive change{}**",
            s.destructive,
            if s.destructive == 1 { "" } else { "s" }
        );
        for g in &dangerous {
            let _ = writeln!(
                warn,
                "> - **Dangerous:** {}",
                guard_line(g, s.max_removal_percent)
            );
        }
        for o in &destructive_objects {
            let _ = writeln!(warn, "> - destroy `{}`", object_line(o));
        }
        for o in &destructive_ops {
            let _ = writeln!(
                warn,
                "> - {} ({}): {}",
                o.organization, o.backend, o.description
            );
        }
        warn.push('\n');
    }

    // Details per organization (platform first), each in a collapsible section.
    let mut sections: BTreeMap<String, (Vec<&ObjectChange>, Vec<&OperationChange>)> =
        BTreeMap::new();
    for o in &d.objects {
        let key = o.organization.clone().unwrap_or_else(|| " platform".into());
        sections.entry(key).or_default().0.push(o);
    }
    for o in &d.operations {
        sections
            .entry(o.organization.clone())
            .or_default()
            .1
            .push(o);
    }
    let notice_room = 400;
    let mut body = String::new();
    let mut cut = 0usize;
    let total_sections = sections.len();
    for (org, (objs, ops)) in &sections {
        let title = org.trim();
        let mut sec = String::new();
        let _ = writeln!(
            sec,
            "<details><summary><b>{title}</b> — {} object change{}, {} forge operation{}</summary>\n",
            objs.len(),
            if objs.len() == 1 { "" } else { "s" },
            ops.len(),
            if ops.len() == 1 { "" } else { "s" }
        );
        sec.push_str("```diff\n");
        for o in objs {
            let _ = writeln!(
                sec,
                "{} {} {}",
                sign(o.action),
                verb(o.action),
                object_line(o)
            );
            for f in &o.fields {
                let _ = writeln!(
                    sec,
                    "!   {}: {} → {}",
                    f.path,
                    short(&f.before),
                    short(&f.after)
                );
            }
        }
        for o in ops {
            let _ = writeln!(sec, "{} {} ({})", sign(o.action), o.description, o.backend);
        }
        sec.push_str("```\n\n</details>\n\n");
        if head.len() + warn.len() + body.len() + sec.len() + notice_room > MARKDOWN_LIMIT {
            cut += 1;
            continue;
        }
        body.push_str(&sec);
    }
    let mut out = head;
    // The caution list itself may be long: keep it within bounds too.
    if out.len() + warn.len() + notice_room > MARKDOWN_LIMIT {
        let keep = MARKDOWN_LIMIT.saturating_sub(out.len() + notice_room * 2);
        let mut w: String = warn.chars().take(keep).collect();
        if let Some(i) = w.rfind('\n') {
            w.truncate(i + 1);
        }
        w.push_str("> - … more destructive changes are not listed here (see the JSON plan)\n\n");
        warn = w;
    }
    out.push_str(&warn);
    out.push_str(&body);
    if cut > 0 {
        let _ = writeln!(
            out,
            "> [!NOTE]\n> Details of {cut} of {total_sections} sections are cut to stay within GitHub's comment limit; the counts above are complete. Run `kradle plan --format json` for everything."
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
