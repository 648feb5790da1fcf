-- Outbound write-back (`kradle issues set`, sent by the `kradle serve`
-- workers): a change made in kradle to an object kradle projects (an
-- Issue) is a write intent in the same journal as `kradle apply`, carrying
-- what it changes and the state it was made on, so that a field changed on
-- the forge meanwhile is found at send time (a conflict).
--
-- Nothing here is secret: issue titles, labels, assignees and states.

ALTER TABLE kradle_write_intents
    -- The projection written back (kind and name in kradle_projections).
    ADD COLUMN resource_kind TEXT,
    ADD COLUMN resource_name TEXT,
    -- {"edit": {...}, "base": {...}}: the change, and the projection's
    -- values of the fields it sets, as they were when it was made.
    ADD COLUMN payload       JSONB,
    -- What the forge answered, in short (number, state, updated_at).
    ADD COLUMN result        JSONB;

CREATE INDEX kradle_write_intents_resource
    ON kradle_write_intents (org, resource_kind, resource_name)
    WHERE resource_name IS NOT NULL;

-- The spec's ExternalSyncConflict: a field kradle was about to write had
-- changed on the forge since the change was made, to another value.
CREATE TABLE kradle_sync_conflicts (
    id             BIGSERIAL   PRIMARY KEY,
    org            TEXT        NOT NULL,
    backend        TEXT        NOT NULL CHECK (backend IN ('gitea', 'github')),
    resource_kind  TEXT        NOT NULL,
    resource_name  TEXT        NOT NULL,
    -- The write it was found by (and blocks, while Open).
    intent_id      BIGINT      NOT NULL REFERENCES kradle_write_intents (id),
    conflict_kind  TEXT        NOT NULL DEFAULT 'field-diverged',
    field_path     TEXT        NOT NULL,
    base_value     JSONB,
    local_value    JSONB,
    external_value JSONB,
    phase          TEXT        NOT NULL CHECK (phase IN ('Open', 'Resolved', 'Ignored', 'Superseded')),
    -- prefer-external, prefer-kradle (by the sync policy or by hand), ignore.
    resolution     TEXT CHECK (resolution IN ('prefer-external', 'prefer-kradle', 'ignore')),
    resolved_value JSONB,
    -- `policy` when the sync policy decided, `manual` when a person did.
    resolved_by    TEXT CHECK (resolved_by IN ('policy', 'manual')),
    detected_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at    TIMESTAMPTZ
);

-- At most one open conflict per write and field.
CREATE UNIQUE INDEX kradle_sync_conflicts_open
    ON kradle_sync_conflicts (intent_id, field_path) WHERE phase = 'Open';
CREATE INDEX kradle_sync_conflicts_org ON kradle_sync_conflicts (org, phase, id);
