//! Reading what sync wrote, for the aggregated API: projections, sync
//! events and sync states, as rows the API turns into objects.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{Store, StoreError};
use crate::dispatch::run::Phase;

/// Why a `labelSelector` is refused (the API answers 400 with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSelector(pub String);

impl From<String> for BadSelector {
    fn from(why: String) -> BadSelector {
        BadSelector(why)
    }
}

/// An equality-based label selector (`a=b,c!=d,e,!f`), parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    pub equal: Map<String, Value>,
    pub not_equal: Vec<(String, String)>,
    pub exists: Vec<String>,
    pub absent: Vec<String>,
}

impl LabelSelector {
    /// Parses Kubernetes' equality-based selector syntax. Set-based terms
    /// (`in`, `notin`) are refused with a message.
    pub fn parse(text: &str) -> Result<LabelSelector, BadSelector> {
        let mut out = LabelSelector::default();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if term.contains('(') || term.contains(" in ") || term.contains(" notin ") {
                return Err(
                    format!("set-based label selectors are not supported: `{term}`").into(),
                );
            }
            if let Some((k, v)) = term.split_once("!=") {
                out.not_equal.push((key(k)?, value(v)?));
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                out.equal.insert(key(k)?, Value::String(value(v)?));
            } else if let Some(k) = term.strip_prefix('!') {
                out.absent.push(key(k)?);
            } else {
                out.exists.push(key(term)?);
            }
        }
        Ok(out)
    }
}

fn key(text: &str) -> Result<String, BadSelector> {
    let k = text.trim();
    let ok = !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(k.to_string())
    } else {
        Err(format!("`{k}` is not a label key").into())
    }
}

fn value(text: &str) -> Result<String, BadSelector> {
    let v = text.trim();
    let ok = v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!("`{v}` is not a label value").into())
    }
}

/// A stored object, as the API serves it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredObject {
    /// The position in its table, for `continue`.
    pub id: i64,
    pub org: String,
    pub name: String,
    pub uid: String,
    pub resource_version: i64,
    pub created_at: DateTime<Utc>,
    /// The resourceVersion it was created at, where kradle keeps it (the
    /// synced projections).
    pub created_version: Option<i64>,
    pub labels: Value,
    pub spec: Value,
    pub status: Value,
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<StoredObject>,
    /// The id after which the next page starts, when there is one.
    pub next: Option<i64>,
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `None`: every org (a list across namespaces).
    pub org: Option<String>,
    pub selector: LabelSelector,
    pub limit: Option<i64>,
    /// Start after this id.
    pub after: i64,
    /// Only this name.
    pub name: Option<String>,
    /// A watch: only objects with a resourceVersion above this, in
    /// resourceVersion order (instead of `after` and id order).
    pub newer_than: Option<i64>,
}

/// The most items one page holds, whatever `limit` asks.
pub const MAX_PAGE: i64 = 500;

/// The served view of dispatch runs: its `Completed` condition is read
/// from the run's phase, whose texts come from the enum.
static RUNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT r.id, r.org, r.name, md5('run/' || r.id)::uuid::text AS uid, r.resource_version,
                    r.queued_at AS created_at, NULL::bigint AS created_version,
                    jsonb_strip_nulls(jsonb_build_object('kradle.a5c.ai/org', r.org,
                        'kradle.a5c.ai/stack', r.agent_stack, 'kradle.a5c.ai/phase', r.phase,
                        'kradle.a5c.ai/trigger-rule', r.trigger_rule)) AS labels,
                    jsonb_strip_nulls(jsonb_build_object('organizationRef', r.org,
                        'repository', r.repository, 'ref', r.ref, 'sourceRefs', r.source_refs,
                        'agentStack', r.agent_stack, 'taskKind', r.task_kind,
                        'triggerRule', r.trigger_rule, 'requestedBy', r.requested_by,
                        'workspaceRef', r.workspace, 'memorySnapshotRef', r.memory_snapshot,
                        'contextBundleRef', (SELECT r.name FROM kradle_context_bundles b WHERE b.run = r.id),
                        'mountSpec', CASE WHEN w.pvc IS NOT NULL THEN jsonb_build_object(
                            'volume', jsonb_build_object('name', 'workspace',
                                'persistentVolumeClaim', jsonb_build_object('claimName', w.pvc)),
                            'volumeMount', jsonb_build_object('name', 'workspace', 'mountPath', '/workspace')) END)) AS spec,
                    jsonb_strip_nulls(jsonb_build_object('phase', r.phase, 'reason', r.reason,
                        'message', r.message, 'attempts', r.attempts, 'maxAttempts', r.max_attempts,
                        'deadlineSeconds', r.deadline_seconds, 'jobName', a.job_name,
                        'backend', a.backend,
                        'queuedAt', r.queued_at, 'startedAt', r.started_at, 'finishedAt', r.finished_at,
                        'permissionSnapshot', r.permission, 'result', r.result,
                        'transcriptRef', CASE WHEN t.run IS NOT NULL THEN r.name END,
                        'conditions', jsonb_build_array(
                            jsonb_build_object('type', 'StackResolved', 'status',
                                CASE WHEN r.reason IN ('StackNotFound', 'StackNotReady') THEN 'False'
                                     WHEN r.permission IS NOT NULL OR r.step <> 'review' THEN 'True'
                                     ELSE 'Unknown' END),
                            jsonb_build_object('type', 'PermissionReviewed', 'status',
                                CASE WHEN r.reason IN ('PermissionDenied', 'Denied') THEN 'False'
                                     WHEN r.phase = 'AwaitingApproval' THEN 'Unknown'
                                     WHEN r.step NOT IN ('review') OR r.reason = 'Approved' THEN 'True'
                                     ELSE 'Unknown' END),
                            jsonb_build_object('type', 'WorkspaceBound', 'status',
                                CASE WHEN r.workspace IS NOT NULL THEN 'True' ELSE 'False' END),
                            jsonb_build_object('type', 'JobCreated', 'status',
                                CASE WHEN r.started_at IS NOT NULL THEN 'True' ELSE 'False' END),
                            jsonb_build_object('type', 'Completed', 'status',
                                CASE r.phase WHEN '{succeeded}' THEN 'True'
                                     WHEN '{failed}' THEN 'False' WHEN '{cancelled}' THEN 'False'
                                     ELSE 'Unknown' END, 'reason', r.reason)))) AS status
               FROM kradle_dispatch_runs r
               LEFT JOIN kradle_workspaces w ON w.org = r.org AND w.name = r.workspace
               LEFT JOIN kradle_dispatch_attempts a ON a.run = r.id AND a.number = r.attempts
               LEFT JOIN kradle_transcripts t ON t.run = r.id",
        succeeded = Phase::Succeeded,
        failed = Phase::Failed,
        cancelled = Phase::Cancelled,
    )
});

/// The SELECT of each served table, as (id, org, name, uid,
/// resource_version, created_at, labels, spec, status) — one per kind
/// family, so one list query serves them all.
fn source(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ExternalSyncEvent" => {
            "SELECT e.id, e.org, e.source || '-' || e.receiver || '-' || e.id AS name,
                    md5('event/' || e.id)::uuid::text AS uid, e.id AS resource_version,
                    e.canonical_at AS created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', e.org, 'kradle.a5c.ai/source', e.source,
                                       'kradle.a5c.ai/event', e.event_type) AS labels,
                    jsonb_build_object('organizationRef', e.org, 'providerRef', e.source,
                        'bindingRef', e.receiver, 'eventKind', e.event_type, 'action', e.action,
                        'resourceRef', jsonb_build_object('kind', e.resource_kind,
                            'name', e.resource_name, 'nativeId', e.native_id),
                        'deliveryId', d.delivery_id) AS spec,
                    jsonb_build_object('phase', initcap(e.outcome),
                        'externalUpdatedAt', e.external_updated_at,
                        'receivedAt', e.received_at, 'canonicalAt', e.canonical_at) AS status
               FROM kradle_sync_events e JOIN kradle_webhook_deliveries d ON d.id = e.delivery"
        }
        // Every delivery received, as stored (read-only); its phase is its
        // sync job's outcome.
        "ExternalWebhookDelivery" => {
            "SELECT d.id, d.org, d.source || '-' || d.receiver || '-' || d.id AS name,
                    md5('delivery/' || d.id)::uuid::text AS uid,
                    (extract(epoch FROM coalesce(d.processed_at, d.received_at)) * 1000)::bigint
                        AS resource_version,
                    d.received_at AS created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', d.org, 'kradle.a5c.ai/source', d.source,
                                       'kradle.a5c.ai/event', d.event) AS labels,
                    jsonb_strip_nulls(jsonb_build_object('organizationRef', d.org,
                        'providerRef', d.source, 'bindingRef', d.receiver, 'eventType', d.event,
                        'action', d.action, 'deliveryId', d.delivery_id, 'payload', d.payload)) AS spec,
                    jsonb_strip_nulls(jsonb_build_object('phase', CASE d.outcome
                            WHEN 'processed' THEN 'Succeeded' WHEN 'dead' THEN 'DeadLettered'
                            ELSE 'Queued' END,
                        'receivedAt', d.received_at, 'processedAt', d.processed_at,
                        'bodyDigest', d.body_digest)) AS status
               FROM kradle_webhook_deliveries d"
        }
        // What `kradle apply` created or adopted on a forge. A forge name
        // may hold `/` (`api/ada`): the object's name is derived from it.
        "ExternalObjectLink" => {
            "SELECT row_number() OVER (ORDER BY l.org, l.backend, l.kind, l.name) AS id, l.org,
                    l.backend || '-' || l.kind || '-' || substr(md5(l.name), 1, 12) AS name,
                    md5('link/' || l.org || '/' || l.backend || '/' || l.kind || '/' || l.name)::uuid::text AS uid,
                    (extract(epoch FROM l.updated_at) * 1000)::bigint AS resource_version,
                    l.created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', l.org, 'kradle.a5c.ai/source', l.backend,
                                       'kradle.a5c.ai/link-kind', l.kind) AS labels,
                    jsonb_build_object('organizationRef', l.org, 'providerRef', l.backend,
                        'externalId', coalesce(l.native_id, l.name),
                        'localRef', jsonb_build_object('kind', l.kind, 'name', l.name)) AS spec,
                    jsonb_strip_nulls(jsonb_build_object('phase', 'Linked',
                        'createdBy', l.created_by, 'appliedDigest', l.applied_digest,
                        'updatedAt', l.updated_at)) AS status
               FROM kradle_object_links l"
        }
        "ExternalSyncState" => {
            "SELECT row_number() OVER (ORDER BY s.org, s.source, s.receiver, s.resource_kind) AS id,
                    s.org, lower(s.source || '-' || s.receiver || '-' || s.resource_kind) AS name,
                    md5('state/' || s.org || s.source || s.receiver || s.resource_kind)::uuid::text AS uid,
                    (extract(epoch FROM s.last_synced_at) * 1000)::bigint AS resource_version,
                    s.last_synced_at AS created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', s.org, 'kradle.a5c.ai/source', s.source) AS labels,
                    jsonb_build_object('organizationRef', s.org, 'providerRef', s.source,
                        'bindingRef', s.receiver,
                        'resourceRef', jsonb_build_object('kind', s.resource_kind)) AS spec,
                    jsonb_build_object('phase', 'Synced', 'watermark', s.watermark,
                        'lastSyncedAt', s.last_synced_at, 'applied', s.applied,
                        'superseded', s.superseded) AS status
               FROM kradle_sync_states s"
        }
        // The forge journal: `kradle apply`'s writes and write-backs.
        // Phases are the journal's (docs/writeback.md maps them).
        "ExternalWriteIntent" => {
            "SELECT i.id, i.org, 'intent-' || i.id AS name,
                    md5('intent/' || i.id)::uuid::text AS uid,
                    (extract(epoch FROM i.updated_at) * 1000)::bigint AS resource_version,
                    i.created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', i.org, 'kradle.a5c.ai/source', i.backend,
                                       'kradle.a5c.ai/phase', i.phase) AS labels,
                    jsonb_strip_nulls(jsonb_build_object('organizationRef', i.org, 'providerRef', i.backend,
                        'resourceRef', CASE
                            WHEN r.name IS NOT NULL
                                THEN jsonb_build_object('kind', 'AgentDispatchRun', 'name', r.name)
                            WHEN i.resource_name IS NULL
                                THEN jsonb_build_object('operation', i.operation_id)
                            ELSE jsonb_build_object('kind', i.resource_kind, 'name', i.resource_name) END,
                        'interfaceKey', CASE WHEN i.resource_name IS NULL AND i.run IS NULL
                            THEN 'gitForge' ELSE 'issueTracking' END,
                        'operation', i.action, 'method', i.method, 'path', i.path,
                        'payload', coalesce(i.payload -> 'edit', i.payload -> 'write'),
                        'base', i.payload -> 'base', 'dispatchRun', r.name,
                        'idempotencyKey', i.idempotency_key)) AS spec,
                    jsonb_strip_nulls(jsonb_build_object('phase', i.phase, 'attempts', i.attempts,
                        'lastError', i.last_error, 'externalResult', i.result,
                        'updatedAt', i.updated_at)) AS status
               FROM kradle_write_intents i
               LEFT JOIN kradle_dispatch_runs r ON r.id = i.run"
        }
        "ExternalSyncConflict" => {
            "SELECT c.id, c.org, 'conflict-' || c.id AS name,
                    md5('conflict/' || c.id)::uuid::text AS uid,
                    (extract(epoch FROM coalesce(c.resolved_at, c.detected_at)) * 1000)::bigint AS resource_version,
                    c.detected_at AS created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', c.org, 'kradle.a5c.ai/source', c.backend,
                                       'kradle.a5c.ai/phase', c.phase) AS labels,
                    jsonb_build_object('organizationRef', c.org, 'providerRef', c.backend,
                        'resourceRef', jsonb_build_object('kind', c.resource_kind, 'name', c.resource_name),
                        'conflictKind', c.conflict_kind, 'fieldPath', c.field_path,
                        'baseValue', c.base_value, 'localValue', c.local_value,
                        'externalValue', c.external_value, 'detectedAt', c.detected_at,
                        'writeIntentRef', 'intent-' || c.intent_id) AS spec,
                    jsonb_strip_nulls(jsonb_build_object('phase', c.phase, 'resolution', c.resolution,
                        'resolvedValue', c.resolved_value, 'resolvedBy', c.resolved_by,
                        'resolvedAt', c.resolved_at)) AS status
               FROM kradle_sync_conflicts c"
        }
        "AgentTriggerExecution" => {
            "SELECT x.id, x.org,
                    x.rule || '-' || coalesce(x.delivery::text,
                        'tick-' || extract(epoch FROM x.tick)::bigint::text) AS name,
                    md5('trigger/' || x.id)::uuid::text AS uid, x.id AS resource_version,
                    x.evaluated_at AS created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', x.org, 'kradle.a5c.ai/trigger-rule', x.rule,
                                       'kradle.a5c.ai/decision',
                                       CASE WHEN r.id IS NOT NULL THEN 'Dispatched' ELSE x.decision END) AS labels,
                    jsonb_strip_nulls(jsonb_build_object('organizationRef', x.org, 'triggerRule', x.rule,
                        'agentStack', x.agent_stack, 'taskKind', x.task_kind,
                        'sourceEvent', x.source_event, 'decision', x.decision,
                        'deliveryId', d.delivery_id, 'tick', x.tick)) AS spec,
                    jsonb_strip_nulls(jsonb_build_object(
                        'phase', CASE WHEN r.id IS NOT NULL THEN 'Dispatched' ELSE x.decision END,
                        'reason', x.reason, 'evaluatedAt', x.evaluated_at,
                        'dispatchRunRef', r.name)) AS status
               FROM kradle_trigger_executions x LEFT JOIN kradle_webhook_deliveries d ON d.id = x.delivery
               LEFT JOIN kradle_dispatch_runs r ON r.execution = x.id"
        }
        // The dispatch lifecycle (docs/dispatch.md).
        "AgentDispatchRun" => {
            RUNS.as_str()
        }
        "AgentDispatchAttempt" => {
            "SELECT a.id, r.org, r.name || '-' || a.number AS name,
                    md5('attempt/' || a.id)::uuid::text AS uid, a.resource_version, a.created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', r.org, 'kradle.a5c.ai/run', r.name,
                        'kradle.a5c.ai/phase', a.phase) AS labels,
                    jsonb_strip_nulls(jsonb_build_object('organizationRef', r.org,
                        'agentDispatchRun', r.name, 'attempt', a.number, 'attemptReason', a.reason,
                        'agentStackSnapshot', a.stack_snapshot,
                        'contextBundleDigest', a.context_digest)) AS spec,
                    jsonb_strip_nulls(jsonb_build_object('phase', a.phase, 'reason', a.reason_code,
                        'message', a.message, 'jobName', a.job_name, 'permissionSnapshot', r.permission,
                        'queueEnteredAt', a.created_at, 'startedAt', a.started_at,
                        'finishedAt', a.finished_at, 'backend', a.backend,
                        'agentMuxRunId', a.mux_run_id, 'agentMuxSessionId', a.mux_session_id)) AS status
               FROM kradle_dispatch_attempts a JOIN kradle_dispatch_runs r ON r.id = a.run"
        }
        "AgentMemorySnapshot" => {
            "SELECT m.id, m.org, m.name, md5('memory/' || m.id)::uuid::text AS uid,
                    m.resource_version, m.created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', m.org, 'kradle.a5c.ai/run', r.name) AS labels,
                    jsonb_build_object('organizationRef', m.org, 'memoryRepository', m.memory_repository,
                        'requestedRef', m.requested_ref, 'resolvedCommit', m.resolved_commit,
                        'timeTravelMode', 'current', 'dispatchRun', r.name) AS spec,
                    jsonb_build_object('phase', 'Pinned') AS status
               FROM kradle_memory_snapshots m JOIN kradle_dispatch_runs r ON r.id = m.run"
        }
        "AgentApproval" => {
            "SELECT p.id, p.org, p.name, md5('approval/' || p.id)::uuid::text AS uid,
                    p.resource_version, p.requested_at AS created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', p.org, 'kradle.a5c.ai/run', r.name,
                        'kradle.a5c.ai/phase', p.phase) AS labels,
                    jsonb_strip_nulls(jsonb_build_object('organizationRef', p.org,
                        'dispatchRun', r.name, 'action', p.action, 'requestedBy', p.requested_by,
                        'description', p.description, 'requestedAt', p.requested_at)) AS spec,
                    jsonb_strip_nulls(jsonb_build_object('phase', p.phase, 'decidedBy', p.decided_by,
                        'reason', p.reason, 'decidedAt', p.decided_at)) AS status
               FROM kradle_approvals p JOIN kradle_dispatch_runs r ON r.id = p.run"
        }
        "AgentContextBundle" => {
            "SELECT b.run AS id, b.org, r.name, md5('bundle/' || b.run)::uuid::text AS uid,
                    b.run AS resource_version, b.created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', b.org, 'kradle.a5c.ai/run', r.name) AS labels,
                    jsonb_build_object('organizationRef', b.org, 'dispatchRun', r.name,
                        'digest', b.digest, 'sources', b.sources, 'content', b.content,
                        'redactionManifest', b.redactions) AS spec,
                    jsonb_build_object('phase', 'Assembled',
                        'redactions', jsonb_array_length(b.redactions)) AS status
               FROM kradle_context_bundles b JOIN kradle_dispatch_runs r ON r.id = b.run"
        }
        "KradleArtifact" => {
            "SELECT x.id, x.org, r.name || '-' || substr(x.digest, 8, 12) AS name,
                    md5('artifact/' || x.id)::uuid::text AS uid, x.id AS resource_version, x.created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', x.org, 'kradle.a5c.ai/run', r.name,
                        'kradle.a5c.ai/artifact-kind', x.kind) AS labels,
                    jsonb_strip_nulls(jsonb_build_object('organizationRef', x.org, 'dispatchRun', r.name,
                        'attempt', x.attempt, 'kind', x.kind, 'digest', x.digest, 'size', x.size,
                        'mimeType', x.mime_type, 'uri', x.uri)) AS spec,
                    jsonb_build_object('phase', 'Stored') AS status
               FROM kradle_artifacts x JOIN kradle_dispatch_runs r ON r.id = x.run"
        }
        "AgentSessionTranscript" => {
            "SELECT t.run AS id, t.org, r.name, md5('transcript/' || t.run)::uuid::text AS uid,
                    r.resource_version, t.created_at, NULL::bigint AS created_version,
                    jsonb_build_object('kradle.a5c.ai/org', t.org, 'kradle.a5c.ai/run', r.name) AS labels,
                    jsonb_build_object('organizationRef', t.org, 'dispatchRun', r.name,
                        'attempt', t.attempt, 'digest', t.digest, 'events', t.events) AS spec,
                    jsonb_build_object('phase', 'Recorded',
                        'eventCount', jsonb_array_length(t.events)) AS status
               FROM kradle_transcripts t JOIN kradle_dispatch_runs r ON r.id = t.run"
        }
        "Issue" | "PullRequest" | "Review" | "Pipeline" | "Job" => {
            "SELECT p.id, p.org, p.name, p.uid::text AS uid, p.resource_version, p.created_at,
                    p.created_version, p.labels, p.spec,
                    p.status || jsonb_build_object('external', jsonb_build_object(
                        'provider', p.source, 'binding', p.receiver, 'nativeId', p.native_id,
                        'url', p.status -> 'url', 'updatedAt', p.external_updated_at,
                        'firstSyncedAt', p.first_synced_at, 'lastSyncedAt', p.last_synced_at))
                      AS status
               FROM kradle_projections p WHERE p.kind = $7"
        }
        _ => return None,
    })
}

/// Where a projection came from, and its spec.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectionRef {
    pub source: String,
    pub receiver: String,
    pub native_id: String,
    pub spec: Value,
}

impl Store {
    /// The projection of `kind` named `name` in `org`.
    pub async fn projection(
        &self,
        org: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<ProjectionRef>, StoreError> {
        sqlx::query_as(
            "SELECT source, receiver, native_id, spec FROM kradle_projections
              WHERE org = $1 AND kind = $2 AND name = $3",
        )
        .bind(org)
        .bind(kind)
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// The highest resourceVersion an object of `kind` has (0 when none):
    /// a watch may start at any value up to it, and at none above, since
    /// objects are never deleted and their versions only grow.
    pub async fn latest_resource_version(&self, kind: &str) -> Result<i64, StoreError> {
        let Some(from) = source(kind) else {
            return Ok(0);
        };
        // A source names its kind as $7 (the list's parameter); here it
        // is the only one.
        let sql = format!(
            "WITH o AS ({}) SELECT coalesce(max(resource_version), 0)::bigint FROM o",
            from.replace("$7", "$1")
        );
        let mut query = sqlx::query_scalar(&sql);
        if from.contains("$7") {
            query = query.bind(kind);
        }
        query
            .fetch_one(self.pool())
            .await
            .map_err(|e| self.query_error(e))
    }

    /// A page of the objects of `kind`: in id order, after `query.after`,
    /// filtered by org, name and labels.
    pub async fn list_objects(&self, kind: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let Some(from) = source(kind) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let limit = query.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        let (ne_keys, ne_values): (Vec<String>, Vec<String>) =
            query.selector.not_equal.iter().cloned().unzip();
        let sql = format!(
            "WITH o AS ({from})
             SELECT id, org, name, uid, resource_version, created_at, created_version, labels,
                    spec, status
               FROM o
              WHERE ($1::text IS NULL OR org = $1)
                AND ($2::text IS NULL OR name = $2)
                AND labels @> $3
                AND NOT EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[]) AS n(k, v)
                                 WHERE labels ->> n.k = n.v)
                AND labels ?& $6::text[]
                AND NOT (labels ?| $8::text[])
                AND id > $9
                AND ($11::bigint IS NULL OR resource_version > $11)
              ORDER BY CASE WHEN $11::bigint IS NULL THEN id ELSE resource_version END, id
              LIMIT $10"
        );
        let mut items: Vec<StoredObject> = sqlx::query_as(&sql)
            .bind(&query.org)
            .bind(&query.name)
            .bind(Value::Object(query.selector.equal.clone()))
            .bind(&ne_keys)
            .bind(&ne_values)
            .bind(&query.selector.exists)
            .bind(kind)
            .bind(&query.selector.absent)
            .bind(query.after)
            .bind(limit + 1)
            .bind(query.newer_than)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(e))?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|o| o.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_selectors_parse_and_set_based_ones_are_refused() {
        let s = LabelSelector::parse("a=b, c==d,e!=f,g,!h").unwrap();
        assert_eq!(s.equal.len(), 2);
        assert_eq!(s.not_equal, [("e".into(), "f".into())]);
        assert_eq!(s.exists, ["g"]);
        assert_eq!(s.absent, ["h"]);
        assert!(LabelSelector::parse("env in (a,b)").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
        assert_eq!(LabelSelector::parse("").unwrap(), LabelSelector::default());
    }
}
