//! The sync pipeline: what a claimed batch of deliveries becomes, in the
//! one transaction ([`SyncTx`]) that completes its jobs. For each delivery,
//! in job order: normalize it, apply its change to the projection, record
//! the sync event, evaluate the org's trigger rules and turn each new match
//! into a Pending run; then move each receiver's watermark once, last, so
//! its row is locked only until the commit.

use std::collections::BTreeMap;

use crate::dispatch::{
    Decision, ExecutionPhase, TriggerEvent, Triggers, clone_url_of, is_label_update, label_changes,
    match_key, target_of, unrunnable,
};
use crate::store::{
    Delivery, Execution, Job, NewRun, StateChange, StateKey, Store, StoreError, SyncTx,
};
use crate::sync::{NormalizeError, Outcome, SyncEvent, normalize};

/// What processing a sync job did.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// Applied, and the job completed.
    Done(Outcome),
    /// The payload could not be normalized: nothing was written; the job
    /// is the caller's to fail.
    Invalid(NormalizeError),
    /// The worker no longer holds the job: nothing was written.
    LostLease,
}

/// Processes the sync jobs `worker` holds among `jobs`, in id order, in
/// one transaction; returns what became of each. A job whose payload
/// cannot be normalized is left as it is, for the caller to fail. On a
/// database error nothing is written, and the caller can process the jobs
/// one by one.
pub async fn process_batch(
    store: &Store,
    jobs: &[Job],
    worker: &str,
    triggers: &Triggers,
) -> Result<Vec<(i64, Processed)>, StoreError> {
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    store
        .sync_tx(async |tx| {
            let deliveries = tx.claimed(&ids, worker).await?;
            let mut results: Vec<(i64, Processed)> = ids
                .iter()
                .filter(|id| !deliveries.iter().any(|d| d.job == **id))
                .map(|id| (*id, Processed::LostLease))
                .collect();
            let mut states: BTreeMap<StateKey, StateChange> = BTreeMap::new();
            for d in &deliveries {
                let event = match normalize(&d.source, &d.org, &d.event, &d.payload) {
                    Ok(event) => event,
                    Err(e) => {
                        results.push((d.job, Processed::Invalid(e)));
                        continue;
                    }
                };
                // A Gitea label update says the labels after it: what changed
                // is told from the projection's labels before it.
                let labels_before = if is_label_update(&d.source, &event) {
                    Some(
                        tx.stored_labels(d, event.resource_kind, &event.native_id)
                            .await?,
                    )
                } else {
                    None
                };
                let (outcome, name) = tx.apply(d, &event).await?;
                tx.record_event(d, &event, outcome, name.as_deref()).await?;
                // A backfilled listing is a state, not an event: it triggers
                // nothing. Nor does write-back's replay of the forge's answer:
                // the forge sends its own webhooks for the change kradle made,
                // and those are the events rules see (once each).
                if event.action.as_deref() != Some("backfilled")
                    && !d.delivery_id.starts_with("writeback:")
                {
                    trigger(tx, d, &event, triggers, labels_before.as_deref()).await?;
                }
                let key = (
                    d.org.clone(),
                    d.source.clone(),
                    d.receiver.clone(),
                    event.resource_kind,
                );
                let state = states.entry(key).or_default();
                match outcome {
                    Outcome::Applied => {
                        state.applied += 1;
                        state.watermark = state.watermark.max(event.updated_at);
                    }
                    Outcome::Superseded => state.superseded += 1,
                    Outcome::Unmatched | Outcome::Recorded => {}
                }
                results.push((d.job, Processed::Done(outcome)));
            }
            for (key, change) in &states {
                tx.advance_state(key, change).await?;
            }
            results.sort_by_key(|(id, _)| *id);
            Ok(results)
        })
        .await
}

/// Records what each of the org's rules about this event decided, and
/// makes each new match a Pending run, in the batch's transaction: a match
/// is dispatched once or not at all. `labels_before` (a Gitea label
/// update): each label added or removed is evaluated as a `labeled` or
/// `unlabeled` event.
async fn trigger(
    tx: &mut SyncTx<'_>,
    d: &Delivery,
    event: &SyncEvent,
    triggers: &Triggers,
    labels_before: Option<&[String]>,
) -> Result<(), StoreError> {
    let base = TriggerEvent::of(event, &d.payload);
    let changes = match labels_before {
        Some(before) => {
            let item = if d.payload["pull_request"].is_object() {
                &d.payload["pull_request"]
            } else {
                &d.payload["issue"]
            };
            let after: Vec<String> = item["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["name"].as_str())
                .map(str::to_string)
                .collect();
            label_changes(before, &after)
        }
        None => Vec::new(),
    };
    let views: Vec<TriggerEvent<'_>> = if changes.is_empty() {
        vec![base.clone()]
    } else {
        changes
            .iter()
            .map(|(label, action)| TriggerEvent {
                action: Some(action),
                label: Some(label.as_str()),
                ..base.clone()
            })
            .collect()
    };
    let decisions = triggers.evaluate_all(&d.org, &views);
    if decisions.is_empty() {
        return Ok(());
    }
    let source_event = format!(
        "{}:{}:{}",
        event.event_type, event.resource_kind, event.native_id
    );
    let (repository, git_ref) = target_of(&d.payload);
    let unrunnable = unrunnable(repository.as_deref(), git_ref.as_deref());
    let clone_url = clone_url_of(&d.payload);
    let mut executions = Vec::with_capacity(decisions.len());
    for (rule, decision, view) in &decisions {
        let key = match_key(&source_event, &views[*view], &d.payload);
        let (mut phase, mut reason) = (decision.phase(), decision.reason().map(str::to_string));
        if *decision == Decision::Dispatching {
            if let Some(why) = &unrunnable {
                // A match that cannot become a run (the event names a ref
                // no checkout may take): recorded, never dispatched.
                (phase, reason) = (
                    ExecutionPhase::Failed,
                    Some(format!("cannot dispatch: {why}")),
                );
            } else if let Some(ago) = tx
                .dispatched_within(&d.org, &rule.name, &key, rule.dedup_window)
                .await?
            {
                (phase, reason) = (
                    ExecutionPhase::Deduplicated,
                    Some(format!(
                        "the same match was dispatched {} s ago, within the rule's dedupWindow",
                        ago.max(0.0).round()
                    )),
                );
            }
        }
        executions.push(Execution {
            rule: rule.name.clone(),
            agent_stack: rule.agent_stack.clone(),
            task_kind: rule.task_kind.clone(),
            decision: phase,
            reason,
            match_key: key,
        });
    }
    let recorded = tx.record_executions(d, &source_event, &executions).await?;
    for (id, i) in recorded {
        let x = &executions[i];
        if x.decision != ExecutionPhase::Dispatching {
            continue;
        }
        tx.create_run(&NewRun {
            org: &d.org,
            agent_stack: &x.agent_stack,
            task_kind: &x.task_kind,
            repository: repository.as_deref(),
            git_ref: git_ref.as_deref(),
            source: &source_event,
            execution: Some((id, &x.rule)),
            requested_by: base.actor,
            limits: None,
            clone_url: clone_url.as_deref(),
        })
        .await?;
    }
    Ok(())
}
