-- Trigger evaluation (spec AgentTriggerExecution): each sync event
-- evaluated against its org's AgentTriggerRules, recorded in the
-- transaction that applies the event. One row per rule and delivery: a
-- rule fires at most once per external event.

CREATE TABLE kradle_trigger_executions (
    id           BIGSERIAL   PRIMARY KEY,
    org          TEXT        NOT NULL,
    rule         TEXT        NOT NULL,
    agent_stack  TEXT        NOT NULL,
    task_kind    TEXT        NOT NULL,
    delivery     BIGINT      NOT NULL REFERENCES kradle_webhook_deliveries (id),
    -- `<event>:<kind>:<native id>`, the spec's sourceEvent.
    source_event TEXT        NOT NULL,
    -- Dispatching: matched, for the dispatch loop to run; Skipped: a
    -- filter did not pass (reason says which).
    decision     TEXT        NOT NULL
        CHECK (decision IN ('Dispatching', 'Dispatched', 'Skipped', 'Deduplicated', 'Failed')),
    reason       TEXT,
    dispatch_run TEXT,
    evaluated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (org, rule, delivery)
);

CREATE INDEX kradle_trigger_executions_pending
    ON kradle_trigger_executions (id) WHERE decision = 'Dispatching';
