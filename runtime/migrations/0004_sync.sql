-- Inbound sync (`kradle serve` workers): what each delivery became.
--
-- kradle_projections holds the objects kradle keeps of the forges (the
-- spec's Issue, PullRequest, Review, Pipeline, Job), each with its external
-- envelope: the forge's id, its `updated_at`, and when kradle first and last
-- synced it. The aggregated API serves them.

CREATE SEQUENCE kradle_resource_version;

CREATE TABLE kradle_projections (
    id                  BIGSERIAL   PRIMARY KEY,
    uid                 UUID        NOT NULL DEFAULT gen_random_uuid(),
    org                 TEXT        NOT NULL,
    kind                TEXT        NOT NULL,
    name                TEXT        NOT NULL,
    source              TEXT        NOT NULL,
    -- The binding or subscription whose deliveries write it.
    receiver            TEXT        NOT NULL,
    native_id           TEXT        NOT NULL,
    labels              JSONB       NOT NULL DEFAULT '{}',
    spec                JSONB       NOT NULL,
    status              JSONB       NOT NULL,
    -- The provider's updated_at of the state stored: an event about an
    -- older state never overwrites it.
    external_updated_at TIMESTAMPTZ,
    first_synced_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_synced_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    resource_version    BIGINT      NOT NULL DEFAULT nextval('kradle_resource_version'),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (org, kind, source, native_id),
    UNIQUE (org, kind, name)
);

-- The spec's ExternalSyncEvent: one per processed delivery.
CREATE TABLE kradle_sync_events (
    id                  BIGSERIAL   PRIMARY KEY,
    org                 TEXT        NOT NULL,
    source              TEXT        NOT NULL,
    receiver            TEXT        NOT NULL,
    delivery            BIGINT      NOT NULL UNIQUE REFERENCES kradle_webhook_deliveries (id),
    event_type          TEXT        NOT NULL,
    action              TEXT,
    resource_kind       TEXT        NOT NULL,
    native_id           TEXT        NOT NULL,
    -- The projection it wrote (or would have), by name.
    resource_name       TEXT,
    external_updated_at TIMESTAMPTZ,
    received_at         TIMESTAMPTZ NOT NULL,
    canonical_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- applied: the projection was written; superseded: it already held a
    -- newer state; unmatched: a status update for an object kradle does
    -- not have; recorded: kradle keeps no projection of this kind.
    outcome             TEXT        NOT NULL
        CHECK (outcome IN ('applied', 'superseded', 'unmatched', 'recorded'))
);

CREATE INDEX kradle_sync_events_object ON kradle_sync_events (org, resource_kind, native_id);

-- The spec's ExternalSyncState: a high watermark per binding (or
-- subscription) and kind, the newest provider updated_at applied. The
-- backfill lists what changed since it.
CREATE TABLE kradle_sync_states (
    org            TEXT        NOT NULL,
    source         TEXT        NOT NULL,
    receiver       TEXT        NOT NULL,
    resource_kind  TEXT        NOT NULL,
    watermark      TIMESTAMPTZ,
    last_synced_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied        BIGINT      NOT NULL DEFAULT 0,
    superseded     BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (org, source, receiver, resource_kind)
);
