//! The scheduler of `kradle serve`: it fires the `schedule` AgentTriggerRules
//! (docs/dispatch.md, "Cron rules").
//!
//! Every replica runs one, and one leads: the one holding the PostgreSQL
//! advisory lock `kradle:scheduler` on a session of its own. When the
//! leader dies, its session closes, the lock goes with it, and another
//! replica takes it within a second. Only the leader evaluates schedules;
//! a tick fires a rule once even if two leaders overlapped (unique per
//! rule and tick).

use std::time::Duration;

use tokio::sync::watch;

use super::current;
use super::sync::SharedTriggers;
use crate::store::{OrgLock, Scheduled, Store, StoreError};

/// How often the leader looks at the schedules, and a replica standing by
/// tries to lead.
pub const INTERVAL: Duration = Duration::from_secs(1);

const LOCK: &str = "kradle:scheduler";

/// Runs the scheduler until `stop` turns true.
pub async fn run(store: Store, triggers: SharedTriggers, mut stop: watch::Receiver<bool>) {
    let mut lock: Option<OrgLock> = None;
    let mut standing_by = false;
    while !*stop.borrow() {
        if let Some(held) = lock.as_mut() {
            if !held.alive().await {
                tracing::warn!("scheduler: lost the lead (its database session ended)");
                lock = None;
            }
        }
        if lock.is_none() {
            match store.lock_named(LOCK, false).await {
                Ok(held) => {
                    tracing::info!("scheduler: leading; cron rules fire from this replica");
                    lock = Some(held);
                    standing_by = false;
                }
                Err(StoreError::Locked { .. }) => {
                    if !standing_by {
                        tracing::info!("scheduler: standing by; another replica leads");
                        standing_by = true;
                    }
                }
                Err(error) => tracing::warn!(%error, "scheduler: cannot try to lead"),
            }
        }
        if lock.is_some() {
            if let Err(error) = tick(&store, &triggers).await {
                tracing::warn!(%error, "scheduler: a pass failed; the next one retries");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
    if let Some(held) = lock {
        held.release().await;
    }
}

/// One pass: fires each schedule that is due, once.
async fn tick(store: &Store, triggers: &SharedTriggers) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    let rules = current(triggers);
    for rule in rules.scheduled() {
        let Some(schedule) = rule.schedule() else {
            continue;
        };
        let last = store.schedule_last(&rule.org, &rule.name, now).await?;
        let Some(due) = schedule.due(last, now) else {
            continue;
        };
        let scheduled = Scheduled {
            org: &rule.org,
            rule: &rule.name,
            agent_stack: &rule.agent_stack,
            task_kind: &rule.task_kind,
            repository: rule.repository(),
        };
        if store.fire_schedule(&scheduled, due).await? {
            tracing::info!(
                org = %rule.org,
                rule = %rule.name,
                tick = %due.to_rfc3339(),
                schedule = schedule.as_str(),
                "schedule fired: a run is dispatched"
            );
        }
    }
    Ok(())
}
