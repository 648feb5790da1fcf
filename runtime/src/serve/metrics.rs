//! `/metrics`: Prometheus text exposition (format 0.0.4).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::store::SYNC_QUEUE;

/// Deliveries answered, by result.
#[derive(Debug, Default)]
pub struct DeliveryCounts {
    pub accepted: AtomicU64,
    pub duplicate: AtomicU64,
    pub conflict: AtomicU64,
    pub unauthorized: AtomicU64,
    pub not_found: AtomicU64,
    pub bad_request: AtomicU64,
    pub unavailable: AtomicU64,
}

impl DeliveryCounts {
    /// Counts an answer by its status.
    pub fn count(&self, status: StatusCode) {
        let counter = match status.as_u16() {
            202 => &self.accepted,
            200 => &self.duplicate,
            409 => &self.conflict,
            401 => &self.unauthorized,
            404 => &self.not_found,
            400 => &self.bad_request,
            _ => &self.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn value(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Escapes a label value.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A counter family: its HELP and TYPE lines, then one sample per label
/// value.
fn counters(out: &mut String, name: &str, help: &str, label: &str, samples: &[(&str, &AtomicU64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value_of_label, counter) in samples {
        let _ = writeln!(
            out,
            "{name}{{{label}=\"{value_of_label}\"}} {}",
            value(counter)
        );
    }
}

pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    // With --metrics-require-token, a reader of the API only.
    if state.metrics_protected {
        if let Err(r) =
            super::api::authorized(&state, &headers, super::api::Access::discovery()).await
        {
            return r;
        }
    }
    let mut out = String::new();
    let d = &state.deliveries;
    counters(
        &mut out,
        "kradle_webhook_deliveries_total",
        "Webhook deliveries answered, by result.",
        "result",
        &[
            ("accepted", &d.accepted),
            ("duplicate", &d.duplicate),
            ("conflict", &d.conflict),
            ("unauthorized", &d.unauthorized),
            ("not_found", &d.not_found),
            ("bad_request", &d.bad_request),
            ("unavailable", &d.unavailable),
        ],
    );
    let w = &state.workers;
    counters(
        &mut out,
        "kradle_sync_jobs_total",
        "Sync jobs finished by this process, by outcome.",
        "outcome",
        &[
            ("applied", &w.applied),
            ("superseded", &w.superseded),
            ("unmatched", &w.unmatched),
            ("recorded", &w.recorded),
            ("retried", &w.retried),
            ("dead", &w.dead),
            ("lost_lease", &w.lost_leases),
        ],
    );
    let wb = &state.writeback;
    counters(
        &mut out,
        "kradle_writeback_total",
        "Write-back attempts finished by this process, by outcome.",
        "outcome",
        &[
            ("sent", &wb.sent),
            ("already_there", &wb.already_there),
            ("held", &wb.blocked),
            ("failed", &wb.failed),
            ("retried", &wb.retried),
        ],
    );
    let aw = &state.agent_writes;
    counters(
        &mut out,
        "kradle_agent_writes_total",
        "Agent writes (comments, pull requests, statuses) finished by this process, by outcome.",
        "outcome",
        &[
            ("sent", &aw.sent),
            ("already_there", &aw.already_there),
            ("refused", &aw.refused),
            ("failed", &aw.failed),
            ("retried", &aw.retried),
        ],
    );
    let ds = &state.dispatch;
    counters(
        &mut out,
        "kradle_dispatch_total",
        "Dispatch events in this process, by event.",
        "event",
        &[
            ("job_created", &ds.launched),
            ("attempt_failed", &ds.attempts_failed),
            ("succeeded", &ds.succeeded),
            ("approval_requested", &ds.awaiting_approval),
        ],
    );
    let _ = writeln!(
        out,
        "# HELP kradle_queue_claim_seconds Time spent claiming jobs.\n\
         # TYPE kradle_queue_claim_seconds summary\n\
         kradle_queue_claim_seconds_sum {}\n\
         kradle_queue_claim_seconds_count {}",
        value(&w.claim_micros) as f64 / 1e6,
        value(&w.claims)
    );

    // From the database: what every replica shares.
    let (depth, lag) = match state.store.sync_backlog(SYNC_QUEUE).await {
        Ok(backlog) => backlog,
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
                .into_response();
        }
    };
    let _ = writeln!(
        out,
        "# HELP kradle_queue_depth Jobs waiting or running.\n\
         # TYPE kradle_queue_depth gauge\n\
         kradle_queue_depth{{queue=\"{SYNC_QUEUE}\"}} {depth}"
    );
    let _ = writeln!(
        out,
        "# HELP kradle_sync_lag_seconds Age of the oldest delivery not yet processed, per receiver.\n\
         # TYPE kradle_sync_lag_seconds gauge"
    );
    for ((org, source, receiver), seconds) in lag {
        let _ = writeln!(
            out,
            "kradle_sync_lag_seconds{{org=\"{}\",source=\"{}\",receiver=\"{}\"}} {seconds}",
            label(&org),
            label(&source),
            label(&receiver)
        );
    }
    let Ok(runs) = state.store.dispatch_gauges().await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer",
        )
            .into_response();
    };
    let _ = writeln!(
        out,
        "# HELP kradle_dispatch_runs Agent runs, by organization and phase.\n\
         # TYPE kradle_dispatch_runs gauge"
    );
    for (org, phase, count, _) in &runs.by_phase {
        let _ = writeln!(
            out,
            "kradle_dispatch_runs{{org=\"{}\",phase=\"{phase}\"}} {count}",
            label(org)
        );
    }
    let _ = writeln!(
        out,
        "# HELP kradle_dispatch_oldest_in_phase_seconds How long the oldest open run has been in its phase.\n\
         # TYPE kradle_dispatch_oldest_in_phase_seconds gauge"
    );
    for (org, phase, _, oldest) in runs.by_phase.iter().filter(|r| r.3.is_some()) {
        let _ = writeln!(
            out,
            "kradle_dispatch_oldest_in_phase_seconds{{org=\"{}\",phase=\"{phase}\"}} {}",
            label(org),
            oldest.unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "# HELP kradle_dispatch_approvals_pending Approvals waiting for a person.\n\
         # TYPE kradle_dispatch_approvals_pending gauge\n\
         kradle_dispatch_approvals_pending {}",
        runs.approvals_pending
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
