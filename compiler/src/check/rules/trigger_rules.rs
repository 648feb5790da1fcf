//! `trigger-source-config` (KR504), `invalid-cron` (KR503) and
//! `trigger-task-kind` (KR514): AgentTriggerRules.
//!
//! What it checks: a rule has sources; `schedule` comes with a valid
//! `cronExpression` and a cron expression with `schedule`; webhook events
//! are ones the forges send; a comment pattern is a valid, non-empty
//! regular expression; a label trigger names labels; and the stack it
//! dispatches, or one of its subagents, handles the rule's task kind.
//!
//! Why: a rule that can never fire, or that dispatches a task its stack
//! cannot route, fails silently at run time: nobody sees an event that
//! never matched.
//!
//! Example:
//! ```yaml
//! kind: AgentTriggerRule
//! spec:
//!   sources: [schedule]          # KR504: no cronExpression
//!   webhookTrigger: { events: [pull_requests] }   # KR504: did you mean pull_request?
//! ```

use crate::diagnostics::{Code, Diagnostic};
use crate::model::agents::{
    AgentStackSpec, AgentSubagentSpec, AgentTriggerRuleSpec, TriggerSource,
};

use super::super::cron;
use super::{Ctx, Model};

/// Webhook event names a trigger may listen to (spec §2.2), plus `*`.
pub(crate) const WEBHOOK_EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "pull_request_review",
    "issues",
    "issue_comment",
    "workflow_run",
    "workflow_job",
    "check_suite",
    "check_run",
    "deployment",
    "deployment_status",
    "label",
    "*",
];

pub(super) fn check(model: &Model, d: &mut Ctx<'_, '_>, s: &AgentTriggerRuleSpec) {
    if s.sources.is_empty() {
        d.err(
            Code::TriggerSource,
            "/spec/sources",
            "sources must not be empty",
            "list the events that trigger the rule, e.g. `[issue_comment]`, or `[manual]`",
        );
    }
    let scheduled = s.sources.contains(&TriggerSource::Schedule);
    match (&s.cron_expression, scheduled) {
        (None, true) => d.err(
            Code::TriggerSource,
            "/spec/sources",
            "the `schedule` source needs `cronExpression`",
            "add e.g. `cronExpression: \"0 3 * * *\"`",
        ),
        (Some(_), false) => d.err(
            Code::TriggerSource,
            "/spec/cronExpression",
            "cronExpression is set but `schedule` is not among the sources",
            "add `schedule` to sources, or remove cronExpression",
        ),
        _ => {}
    }
    if let Some(c) = &s.cron_expression {
        if let Err(e) = cron::validate(c) {
            d.err(
                Code::InvalidCron,
                "/spec/cronExpression",
                &format!("invalid cron expression: {e}"),
                "fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12) day-of-week (0-7)",
            );
        }
    }
    if let Some(zone) = &s.time_zone {
        if zone.parse::<chrono_tz::Tz>().is_err() {
            let mut diag =
                Diagnostic::new(Code::InvalidCron, format!("unknown time zone `{zone}`"))
                    .at(d.r.file, d.r.span_of("/spec/timeZone"));
            let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
            diag = match crate::diagnostics::did_you_mean(zone, names) {
                Some(b) => diag.help(format!("did you mean `{b}`?")),
                None => diag.help("use an IANA time zone name, such as `Europe/Paris` or `UTC`"),
            };
            d.push(diag);
        }
        if s.cron_expression.is_none() {
            d.err(
                Code::TriggerSource,
                "/spec/timeZone",
                "timeZone is set but the rule has no cronExpression",
                "remove timeZone, or add a schedule",
            );
        }
    }
    if let Some(w) = &s.dedup_window {
        if crate::model::duration_seconds(w).is_none() {
            d.err(
                Code::TriggerSource,
                "/spec/dedupWindow",
                &format!("dedupWindow `{w}` is not a duration"),
                "write digits and a unit, e.g. `30s`, `10m`, `1h` (or `0` to dispatch every match)",
            );
        }
    }
    if let Some(w) = &s.webhook_trigger {
        d.url("/spec/webhookTrigger/url", &w.url);
        for (i, e) in w.events.iter().enumerate() {
            if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                let mut diag =
                    Diagnostic::new(Code::TriggerSource, format!("unknown webhook event `{e}`"))
                        .at(
                            d.r.file,
                            d.r.span_of(&format!("/spec/webhookTrigger/events/{i}")),
                        );
                diag = match crate::diagnostics::did_you_mean(e, WEBHOOK_EVENTS.iter().copied()) {
                    Some(b) => diag.help(format!("did you mean `{b}`?")),
                    None => diag.help(format!("known events: {}", WEBHOOK_EVENTS.join(", "))),
                };
                d.push(diag);
            }
        }
    }
    if let Some(c) = &s.comment_trigger {
        if c.pattern.trim().is_empty() {
            d.err(
                Code::TriggerSource,
                "/spec/commentTrigger/pattern",
                "the comment pattern must not be empty",
                "use a regular expression such as `^/kradle fix`",
            );
        } else if let Err(e) = regex::Regex::new(&c.pattern) {
            let first = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            d.err(
                Code::TriggerSource,
                "/spec/commentTrigger/pattern",
                &format!("the comment pattern is not a valid regular expression: {first}"),
                "escape special characters such as `(`, `[` or `+` with a backslash",
            );
        }
    }
    if let Some(l) = &s.label_trigger {
        if l.labels.is_empty() || l.labels.iter().any(|x| x.trim().is_empty()) {
            d.err(
                Code::TriggerSource,
                "/spec/labelTrigger/labels",
                "labelTrigger.labels must be a non-empty list of label names",
                "e.g. `labels: [agent-fix]`",
            );
        }
    }
    // Task kind routing: the stack or one of its subagents should handle it.
    let org = d.r.org.as_deref();
    if let Some((_, stack)) = model.get::<AgentStackSpec>(org, s.agent_stack.name()) {
        let mut kinds: Vec<String> = stack.task_kind.iter().cloned().collect();
        for sub in &stack.subagent_refs {
            if let Some((_, sa)) = model.get::<AgentSubagentSpec>(org, sub.name()) {
                kinds.extend(sa.task_kinds.iter().cloned());
            }
        }
        if !kinds.is_empty() && !kinds.contains(&s.task_kind) {
            kinds.sort();
            kinds.dedup();
            d.push(
                Diagnostic::new(
                    Code::TriggerTaskKind,
                    format!(
                        "AgentStack `{}` does not handle task kind `{}`",
                        s.agent_stack.name(),
                        s.task_kind
                    ),
                )
                .at(d.r.file, d.r.span_of("/spec/taskKind"))
                .help(format!("the stack handles: {}", kinds.join(", "))),
            );
        }
    }
}
