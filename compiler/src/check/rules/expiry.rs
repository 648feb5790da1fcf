//! `expired` (KR509), `invalid-timestamp` (KR510) and
//! `policy-exception-decision` (KR515): Invites and PolicyExceptionRequests
//! in time.
//!
//! What it checks: timestamps are RFC 3339; an invite or an approved (or
//! undecided) exception whose `expiresAt` is before `--now` is reported as
//! expired; a decision names who decided.
//!
//! Why: an expired invite can no longer be accepted, and an expired
//! exception produces no Kyverno PolicyException, so the policy it relaxed
//! applies again: the user should know before merging.
//!
//! Example:
//! ```yaml
//! kind: PolicyExceptionRequest
//! spec: { expiresAt: "2020-01-01T00:00:00Z" }   # KR509 (warning)
//! ```

use chrono::{DateTime, Utc};

use crate::diagnostics::{Code, Diagnostic};
use crate::model::identity::InviteSpec;
use crate::model::policy::{DecisionPhase, PolicyExceptionRequestSpec};

use super::{Ctx, Options};

pub(super) fn invite(d: &mut Ctx<'_, '_>, s: &InviteSpec, options: &Options) {
    if let Some(exp) = &s.expires_at {
        expiry(d, "/spec/expiresAt", exp, options.now, "invite");
    }
}

pub(super) fn exception(d: &mut Ctx<'_, '_>, s: &PolicyExceptionRequestSpec, options: &Options) {
    let active = s
        .decision
        .as_ref()
        .is_none_or(|dec| dec.phase == DecisionPhase::Approved);
    if active {
        expiry(
            d,
            "/spec/expiresAt",
            &s.expires_at,
            options.now,
            "exception",
        );
    } else {
        timestamp(d, "/spec/expiresAt", &s.expires_at);
    }
    if let Some(dec) = &s.decision {
        timestamp(d, "/spec/decision/decidedAt", &dec.decided_at);
        if dec.decided_by.trim().is_empty() {
            d.err(
                Code::PolicyDecision,
                "/spec/decision/decidedBy",
                "decidedBy must not be empty",
                "name who approved, denied or revoked the request",
            );
        }
    }
}

fn timestamp(d: &mut Ctx<'_, '_>, pointer: &str, text: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            d.err(
                Code::InvalidTimestamp,
                pointer,
                &format!("`{text}` is not an RFC 3339 timestamp"),
                "use e.g. `2026-12-31T23:59:59Z`",
            );
            None
        }
    }
}

fn expiry(d: &mut Ctx<'_, '_>, pointer: &str, text: &str, now: DateTime<Utc>, what: &str) {
    let Some(t) = timestamp(d, pointer, text) else {
        return;
    };
    if t > now {
        return;
    }
    let consequence = if what == "invite" {
        "an expired invite is closed and can no longer be accepted"
    } else {
        "an expired exception produces no Kyverno PolicyException"
    };
    let r = d.r;
    d.push(
        Diagnostic::new(
            Code::Expired,
            format!("this {what} expired at {}", t.format("%Y-%m-%dT%H:%M:%SZ")),
        )
        .at(r.file, r.span_of(pointer))
        .label(format!("before now ({})", now.format("%Y-%m-%dT%H:%M:%SZ")))
        .help(format!("{consequence}; remove it or extend expiresAt")),
    );
}
