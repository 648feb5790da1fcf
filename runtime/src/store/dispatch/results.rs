//! An attempt's result: the agent's callback, or what its backend
//! reported; the run's phase, its artifacts and its transcript.

use serde_json::json;
use sqlx::postgres::PgConnection;

use super::transitions::attempt_failed_on;
use super::{Called, Ending, end_run, release_workspace, settle_attempt};
use crate::dispatch::outcome::Outcome;
use crate::dispatch::run::{AttemptPhase, Phase, Run, Step};
use crate::store::{Store, StoreError};

impl Store {
    /// A callback: `token_hash` must open the run's current attempt.
    pub async fn callback(
        &self,
        org: &str,
        name: &str,
        token_hash: &str,
        outcome: &Outcome,
    ) -> Result<Called, StoreError> {
        self.in_tx(async |tx| {
            let row: Option<(i64, i32, Phase, Step, Option<String>)> = sqlx::query_as(
                "SELECT id, attempts, phase, step, token_hash FROM kradle_dispatch_runs
                  WHERE org = $1 AND name = $2 FOR UPDATE",
            )
            .bind(org)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id, attempt, phase, step, hash)) = row else {
                return Ok(Called::Unauthorized);
            };
            if hash.as_deref() != Some(token_hash) {
                return Ok(Called::Unauthorized);
            }
            if !step.has_attempt() {
                return Ok(Called::NotRunning(phase.to_string()));
            }
            let called = record_outcome(&mut *tx, org, id, attempt, outcome).await?;
            Ok(called)
        })
        .await
    }

    /// The backend brought the result of the run's current attempt (a
    /// gateway's `result` event): recorded as its callback would be.
    /// `None` when the run had moved on.
    pub async fn report(&self, run: &Run, outcome: &Outcome) -> Result<Option<Called>, StoreError> {
        self.in_tx(async |tx| {
            let open: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM kradle_dispatch_runs
                  WHERE id = $1 AND attempts = $2 AND phase = $3 AND step = $4
                    FOR UPDATE",
            )
            .bind(run.id)
            .bind(run.attempts)
            .bind(Phase::Running)
            .bind(Step::Watch)
            .fetch_optional(&mut *tx)
            .await?;
            if open.is_none() {
                return Ok(None);
            }
            let called = record_outcome(&mut *tx, &run.org, run.id, run.attempts, outcome).await?;
            Ok(Some(called))
        })
        .await
    }
}

/// Records the result of attempt `attempt` of run `id` (authorized by
/// the caller): the run's phase, its artifacts and its transcript.
async fn record_outcome(
    conn: &mut PgConnection,
    org: &str,
    id: i64,
    attempt: i32,
    outcome: &Outcome,
) -> Result<Called, sqlx::Error> {
    let called = if outcome.succeeded {
        let result = json!({ "phase": Phase::Succeeded, "message": outcome.message,
                             "artifacts": outcome.artifacts.len() });
        let ending = Ending {
            phase: Phase::Succeeded,
            step: Step::Done,
            reason: "Completed",
            message: outcome.message.as_deref(),
            result: Some(&result),
        };
        end_run(&mut *conn, id, &ending).await?;
        settle_attempt(
            &mut *conn,
            id,
            AttemptPhase::Succeeded,
            None,
            outcome.message.as_deref(),
        )
        .await?;
        release_workspace(&mut *conn, id).await?;
        Called::Succeeded
    } else {
        let message = outcome
            .message
            .clone()
            .unwrap_or_else(|| "the agent reported a failure".into());
        Called::Failed(attempt_failed_on(&mut *conn, id, attempt, "AgentFailed", &message).await?)
    };
    for a in &outcome.artifacts {
        sqlx::query(
            "INSERT INTO kradle_artifacts (org, run, attempt, kind, digest, size, mime_type, uri)
                 VALUES ($1, $2, $3, $4 ->> 'kind', $4 ->> 'digest', ($4 ->> 'size')::bigint,
                         $4 ->> 'mimeType', $4 ->> 'uri')
                 ON CONFLICT (run, digest) DO NOTHING",
        )
        .bind(org)
        .bind(id)
        .bind(attempt)
        .bind(a)
        .execute(&mut *conn)
        .await?;
    }
    if let Some((events, digest)) = &outcome.transcript {
        sqlx::query(
            "INSERT INTO kradle_transcripts (run, org, attempt, events, digest)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (run) DO UPDATE SET attempt = $3, events = $4, digest = $5",
        )
        .bind(id)
        .bind(org)
        .bind(attempt)
        .bind(events)
        .bind(digest)
        .execute(&mut *conn)
        .await?;
    }
    Ok(called)
}
