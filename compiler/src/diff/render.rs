//! Rendering a plan for people: terraform-like text for a terminal, and
//! Markdown for a pull-request comment within GitHub's size limit.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{
    Action, FieldChange, MARKDOWN_LIMIT, ObjectChange, OperationChange, PlanDiff, RemovalGuard,
    SecurityChange,
};

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
/// The two renderings differ only in markup.
enum Style {
    Human,
    Markdown,
}

/// What both renderings open with: the two sides, a note when the base does
/// not compile, and "No changes." when there are none. Returns the text and
/// whether there are changes to show after it.
fn header(d: &PlanDiff, style: &Style) -> (String, bool) {
    let mut out = String::new();
    let (base, head) = (&d.base.source, &d.head.source);
    let _ = match style {
        Style::Human => writeln!(out, "kradle plan: {base} → {head}"),
        Style::Markdown => writeln!(
            out,
            "{COMMENT_MARKER}\n### kradle plan\n\n`{base}` → `{head}`\n"
        ),
    };
    if !d.base.compiled {
        let errors = d.base.errors;
        let _ = match style {
            Style::Human => writeln!(
                out,
                "note: the base does not compile ({errors} errors); everything in head is shown as added"
            ),
            Style::Markdown => writeln!(
                out,
                "> [!NOTE]\n> The base does not compile ({errors} errors): everything in head is shown as added.\n"
            ),
        };
    }
    let changes = d.has_changes();
    if !changes {
        let _ = match style {
            Style::Human => writeln!(
                out,
                "\nNo changes. The cluster and the forges are up to date with this change."
            ),
            Style::Markdown => writeln!(
                out,
                "**No changes.** The cluster and the forges are up to date with this change."
            ),
        };
    }
    (out, changes)
}

/// One `<prefix>path: before → after` line per field.
fn field_lines(out: &mut String, fields: &[FieldChange], prefix: &str) {
    for f in fields {
        let _ = writeln!(
            out,
            "{prefix}{}: {} → {}",
            f.path,
            short(&f.before),
            short(&f.after)
        );
    }
}

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
    let (mut out, changes) = header(d, &Style::Human);
    if !changes {
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
    if !d.security_changes.is_empty() {
        let _ = writeln!(
            out,
            "\nSecurity-relevant changes (where credentials, events or data go):"
        );
        for c in &d.security_changes {
            let _ = writeln!(out, "  {} {}", paint(Action::Change, "!"), security_line(c));
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
            let prefix = format!("      {} ", paint(Action::Change, "~"));
            field_lines(&mut out, &o.fields, &prefix);
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
                let prefix = format!("        {} ", paint(Action::Change, "~"));
                field_lines(&mut out, &o.fields, &prefix);
            }
        }
    }
    if !d.skipped_operations.is_empty() {
        let _ = writeln!(
            out,
            "\nNot planned (declared, but the forge plan cannot carry it out):"
        );
        for s in &d.skipped_operations {
            let _ = writeln!(out, "  ! {} {}: {}", s.organization, s.id, s.reason);
        }
    }
    let s = &d.summary;
    let _ = write!(
        out,
        "\nPlan: {} to add, {} to change, {} to destroy; forge: {} to add, {} to change, {} to remove",
        s.objects.add,
        s.objects.change,
        s.objects.remove,
        s.operations.add,
        s.operations.change,
        s.operations.remove
    );
    if s.security_relevant > 0 {
        let _ = write!(out, "; {} security-relevant", s.security_relevant);
    }
    let _ = writeln!(out, ".");
    out
}

/// One security-relevant change, for a reviewer: where, what, and what it
/// means. Values are shown escaped and cut, as field changes are.
fn security_line(c: &SecurityChange) -> String {
    let org = c.organization.as_deref().unwrap_or("platform");
    let values = match c.action {
        Action::Add => short(&c.after),
        _ => format!("{} → {}", short(&c.before), short(&c.after)),
    };
    format!(
        "{org}: {} {}: {} {values}: {}",
        c.kind, c.name, c.path, c.reason
    )
}

/// The first line of the Markdown plan: how the GitHub Action finds its own
/// comment to update instead of adding another (`ci/comment.mjs`).
pub const COMMENT_MARKER: &str = "<!-- kradle-plan -->";

/// A pull-request comment; never longer than [`MARKDOWN_LIMIT`]: details are
/// cut (with a notice) before the counts are.
pub fn markdown(d: &PlanDiff) -> String {
    let s = &d.summary;
    let (mut head, changes) = header(d, &Style::Markdown);
    if !changes {
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
    if !d.security_changes.is_empty() {
        let n = d.security_changes.len();
        let _ = writeln!(
            warn,
            "> [!WARNING]\n> **{n} security-relevant change{}**: where credentials, events or data go",
            if n == 1 { "" } else { "s" }
        );
        for c in d.security_changes.iter().take(20) {
            // In a code span: what a pull request wrote renders as text,
            // never as a link.
            let _ = writeln!(warn, "> - `{}`", security_line(c).replace('`', "'"));
        }
        if n > 20 {
            let _ = writeln!(warn, "> - … and {} more", n - 20);
        }
        warn.push('\n');
    }
    if !d.skipped_operations.is_empty() {
        let _ = writeln!(
            warn,
            "> [!WARNING]\n> **Not planned:** declared, but the forge plan cannot carry it out"
        );
        for o in d.skipped_operations.iter().take(20) {
            let _ = writeln!(warn, "> - {} `{}`: {}", o.organization, o.id, o.reason);
        }
        if d.skipped_operations.len() > 20 {
            let _ = writeln!(warn, "> - … and {} more", d.skipped_operations.len() - 20);
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
            field_lines(&mut sec, &o.fields, "!   ");
        }
        for o in ops {
            let _ = writeln!(sec, "{} {} ({})", sign(o.action), o.description, o.backend);
            field_lines(&mut sec, &o.fields, "!   ");
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
