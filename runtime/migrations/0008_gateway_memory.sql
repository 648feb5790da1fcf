-- Agent Mux gateway attempts and memory snapshots (docs/dispatch.md,
-- "The Agent Mux backend" and "Memory snapshots").

-- Where an attempt runs: a Kubernetes Job, or a session of the org's
-- Agent Mux gateway (AgentGatewayConfig). A gateway attempt records the
-- gateway's run and session ids (AgentDispatchAttempt.status.agentMuxRunId,
-- agentMuxSessionId) once the gateway has them.
ALTER TABLE kradle_dispatch_attempts
    ADD COLUMN backend        TEXT NOT NULL DEFAULT 'kubernetes'
        CHECK (backend IN ('kubernetes', 'agent-mux')),
    ADD COLUMN mux_run_id     TEXT,
    ADD COLUMN mux_session_id TEXT;

-- AgentMemorySnapshot: the commit of the org's memory repository a run
-- was dispatched against, pinned once, before its workspace is bound.
CREATE TABLE kradle_memory_snapshots (
    id                BIGSERIAL   PRIMARY KEY,
    org               TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    run               BIGINT      NOT NULL UNIQUE REFERENCES kradle_dispatch_runs (id),
    memory_repository TEXT        NOT NULL,
    requested_ref     TEXT        NOT NULL,
    resolved_commit   TEXT        NOT NULL CHECK (resolved_commit ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    resource_version  BIGINT      NOT NULL DEFAULT nextval('kradle_resource_version'),
    UNIQUE (org, name)
);

ALTER TABLE kradle_dispatch_runs ADD COLUMN memory_snapshot TEXT;
