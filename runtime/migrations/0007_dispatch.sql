-- The dispatch lifecycle (spec §3.1, AgentDispatchRun, AgentDispatchAttempt,
-- AgentApproval, KradleWorkspace, KradleArtifact; docs/dispatch.md).
--
-- A run is a state machine: `phase` is the spec's phase, `step` what the
-- dispatch worker does next within it. Every transition is one
-- transaction, guarded by the (phase, step) it leaves, and queues the
-- next step on the `dispatch` queue (key `run:<id>`): a worker killed
-- anywhere leaves the run where its last commit put it, and the queue's
-- lease hands it to the next worker.

CREATE TABLE kradle_dispatch_runs (
    id               BIGSERIAL   PRIMARY KEY,
    org              TEXT        NOT NULL,
    name             TEXT        NOT NULL,
    agent_stack      TEXT        NOT NULL,
    task_kind        TEXT        NOT NULL,
    repository       TEXT,
    ref              TEXT,
    source_refs      JSONB       NOT NULL DEFAULT '[]',
    -- The trigger execution that made it; NULL for a manual dispatch.
    execution        BIGINT      UNIQUE REFERENCES kradle_trigger_executions (id),
    trigger_rule     TEXT,
    requested_by     TEXT,
    phase            TEXT        NOT NULL DEFAULT 'Pending'
        CHECK (phase IN ('Pending', 'AwaitingApproval', 'Queued', 'Running',
                         'Succeeded', 'Failed', 'Cancelled')),
    -- review → workspace → launch → watch; cleanup after a cancel;
    -- done when nothing is left to do.
    step             TEXT        NOT NULL DEFAULT 'review'
        CHECK (step IN ('review', 'workspace', 'launch', 'watch', 'cleanup', 'done')),
    reason           TEXT,
    message          TEXT,
    -- The permission review's outcome, frozen.
    permission       JSONB,
    workspace        TEXT,
    attempts         INTEGER     NOT NULL DEFAULT 0,
    max_attempts     INTEGER     NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    deadline_seconds INTEGER     NOT NULL DEFAULT 3600 CHECK (deadline_seconds > 0),
    -- sha256 (hex) of the current attempt's callback token: the token
    -- itself is only in the attempt's Secret.
    token_hash       TEXT,
    result           JSONB,
    queued_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    resource_version BIGINT      NOT NULL DEFAULT nextval('kradle_resource_version'),
    UNIQUE (org, name)
);

CREATE INDEX kradle_dispatch_runs_open ON kradle_dispatch_runs (phase)
    WHERE phase NOT IN ('Succeeded', 'Failed', 'Cancelled');

CREATE TABLE kradle_dispatch_attempts (
    id             BIGSERIAL   PRIMARY KEY,
    run            BIGINT      NOT NULL REFERENCES kradle_dispatch_runs (id),
    number         INTEGER     NOT NULL CHECK (number > 0),
    reason         TEXT        NOT NULL CHECK (reason IN ('initial', 'retry')),
    stack_snapshot JSONB       NOT NULL,
    job_name       TEXT        NOT NULL,
    context_digest TEXT,
    phase          TEXT        NOT NULL DEFAULT 'Starting'
        CHECK (phase IN ('Starting', 'Running', 'Succeeded', 'Failed', 'Cancelled')),
    reason_code    TEXT,
    message        TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    resource_version BIGINT    NOT NULL DEFAULT nextval('kradle_resource_version'),
    UNIQUE (run, number)
);

CREATE TABLE kradle_approvals (
    id           BIGSERIAL   PRIMARY KEY,
    org          TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    run          BIGINT      NOT NULL REFERENCES kradle_dispatch_runs (id),
    action       TEXT        NOT NULL
        CHECK (action IN ('tool-use', 'secret-access', 'write-back', 'release', 'escalation')),
    requested_by TEXT        NOT NULL,
    description  TEXT,
    phase        TEXT        NOT NULL DEFAULT 'Pending'
        CHECK (phase IN ('Pending', 'Approved', 'Denied')),
    decided_by   TEXT,
    reason       TEXT,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at   TIMESTAMPTZ,
    resource_version BIGINT  NOT NULL DEFAULT nextval('kradle_resource_version'),
    UNIQUE (org, name),
    -- No second request for the same run and action.
    UNIQUE (run, action)
);

-- Workspaces the runtime provisions (docs/dispatch.md). A run claims a
-- Ready one of its org, repository and branch, or creates one.
CREATE TABLE kradle_workspaces (
    id            BIGSERIAL   PRIMARY KEY,
    org           TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    repository    TEXT        NOT NULL,
    branch        TEXT        NOT NULL,
    pvc           TEXT        NOT NULL,
    storage_class TEXT,
    capacity      TEXT        NOT NULL,
    -- Provisioning: its PVC is created with the first run's Job.
    phase         TEXT        NOT NULL
        CHECK (phase IN ('Provisioning', 'Ready', 'InUse')),
    claimed_by    BIGINT      REFERENCES kradle_dispatch_runs (id),
    runs          INTEGER     NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    resource_version BIGINT   NOT NULL DEFAULT nextval('kradle_resource_version'),
    UNIQUE (org, name)
);

CREATE INDEX kradle_workspaces_ready ON kradle_workspaces (org, repository, branch)
    WHERE phase = 'Ready';

-- The context a run's agent gets (AgentContextBundle): assembled and
-- redacted once, when the run binds its workspace.
CREATE TABLE kradle_context_bundles (
    run         BIGINT      PRIMARY KEY REFERENCES kradle_dispatch_runs (id),
    org         TEXT        NOT NULL,
    digest      TEXT        NOT NULL,
    sources     JSONB       NOT NULL,
    content     JSONB       NOT NULL,
    redactions  JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE kradle_artifacts (
    id          BIGSERIAL   PRIMARY KEY,
    org         TEXT        NOT NULL,
    run         BIGINT      NOT NULL REFERENCES kradle_dispatch_runs (id),
    attempt     INTEGER     NOT NULL,
    kind        TEXT        NOT NULL,
    digest      TEXT        NOT NULL,
    size        BIGINT,
    mime_type   TEXT,
    uri         TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (run, digest)
);

CREATE TABLE kradle_transcripts (
    run         BIGINT      PRIMARY KEY REFERENCES kradle_dispatch_runs (id),
    org         TEXT        NOT NULL,
    attempt     INTEGER     NOT NULL,
    events      JSONB       NOT NULL,
    digest      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Schedules (cron rules): an execution comes from a delivery or from a
-- tick, never both; a tick fires a rule once (whichever replica leads).
ALTER TABLE kradle_trigger_executions
    ALTER COLUMN delivery DROP NOT NULL,
    ADD COLUMN tick TIMESTAMPTZ,
    ADD CONSTRAINT kradle_trigger_executions_source CHECK ((delivery IS NULL) <> (tick IS NULL));

CREATE UNIQUE INDEX kradle_trigger_executions_tick
    ON kradle_trigger_executions (org, rule, tick) WHERE tick IS NOT NULL;

-- The latest tick each schedule fired (or when it was first seen).
CREATE TABLE kradle_schedules (
    org        TEXT        NOT NULL,
    rule       TEXT        NOT NULL,
    last_tick  TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org, rule)
);
