//! Cron rules' ticks (docs/dispatch.md, "Cron rules"): each fired once, with
//! its AgentTriggerExecution and its run, in one transaction.

use super::{NewRun, create_run};
use crate::dispatch::ExecutionPhase;
use crate::store::{Store, StoreError};

/// A schedule's rule, as [`Store::fire_schedule`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled<'a> {
    pub org: &'a str,
    pub rule: &'a str,
    pub agent_stack: &'a str,
    pub task_kind: &'a str,
    pub repository: Option<&'a str>,
}

impl Store {
    /// The latest tick `rule` of `org` fired; a rule seen for the first
    /// time starts at `now` (it fires at its next tick, not for the past).
    pub async fn schedule_last(
        &self,
        org: &str,
        rule: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        sqlx::query_scalar(
            "WITH s AS (INSERT INTO kradle_schedules (org, rule, last_tick) VALUES ($1, $2, $3)
                        ON CONFLICT (org, rule) DO NOTHING RETURNING last_tick)
             SELECT last_tick FROM s
             UNION ALL SELECT last_tick FROM kradle_schedules WHERE org = $1 AND rule = $2
             LIMIT 1",
        )
        .bind(org)
        .bind(rule)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// Fires `rule` for `tick`: in one transaction, the schedule moves to
    /// `tick`, and an AgentTriggerExecution and a Pending run are
    /// recorded, the run's first step queued. False when the tick was
    /// fired already (by this replica or another).
    pub async fn fire_schedule(
        &self,
        s: &Scheduled<'_>,
        tick: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let moved = sqlx::query(
                "UPDATE kradle_schedules SET last_tick = $3, updated_at = now()
                  WHERE org = $1 AND rule = $2 AND last_tick < $3",
            )
            .bind(s.org)
            .bind(s.rule)
            .bind(tick)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !moved {
                return Ok(false);
            }
            let execution: Option<(i64, String)> = sqlx::query_as(
                "INSERT INTO kradle_trigger_executions
                     (org, rule, agent_stack, task_kind, tick, source_event, decision)
                 VALUES ($1, $2, $3, $4, $5,
                         'schedule:' || to_char($5 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                         $6)
                 ON CONFLICT (org, rule, tick) WHERE tick IS NOT NULL DO NOTHING
                 RETURNING id, source_event",
            )
            .bind(s.org)
            .bind(s.rule)
            .bind(s.agent_stack)
            .bind(s.task_kind)
            .bind(tick)
            .bind(ExecutionPhase::Dispatching)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((execution, source)) = execution else {
                return Ok(false);
            };
            create_run(
                tx,
                &NewRun {
                    org: s.org,
                    agent_stack: s.agent_stack,
                    task_kind: s.task_kind,
                    repository: s.repository,
                    git_ref: None,
                    source: &source,
                    execution: Some((execution, s.rule)),
                    requested_by: Some("kradle-scheduler"),
                    limits: None,
                    clone_url: None,
                },
            )
            .await?;
            Ok(true)
        })
        .await
    }
}
