-- Webhook ingest (`kradle serve`): every delivery a forge sends, once, and
-- the queue of work it makes. A delivery row and its job are committed in
-- one transaction, before the forge gets its 202.
--
-- The spec's ExternalWebhookDelivery. Only what the forge sent is stored
-- (its payload, its headers' event, action and delivery id); the secret that
-- verified it is never stored, nor is the signature.

CREATE TABLE kradle_webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    org          TEXT        NOT NULL,
    source       TEXT        NOT NULL CHECK (source IN ('gitea', 'github')),
    -- The ExternalBackendBinding (GitHub) or WebhookSubscription (Gitea)
    -- the delivery was addressed to.
    receiver     TEXT        NOT NULL,
    -- X-GitHub-Delivery / X-Gitea-Delivery.
    delivery_id  TEXT        NOT NULL,
    event        TEXT        NOT NULL,
    action       TEXT,
    payload      JSONB       NOT NULL,
    -- sha256 of the raw body, to tell a redelivery from a forged replay
    -- with another body under the same delivery id.
    body_digest  TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when its job is done (or dead).
    processed_at TIMESTAMPTZ,
    outcome      TEXT CHECK (outcome IN ('processed', 'dead')),
    UNIQUE (org, source, receiver, delivery_id)
);

CREATE INDEX kradle_webhook_deliveries_unprocessed
    ON kradle_webhook_deliveries (received_at) WHERE processed_at IS NULL;

-- The queue. Only live work stays in this table: a finished job is deleted
-- in the transaction that records its outcome, and a dead one moves to
-- kradle_dead_jobs, so claims never wade through finished rows.
CREATE TABLE kradle_jobs (
    id           BIGSERIAL PRIMARY KEY,
    queue        TEXT        NOT NULL,
    -- Jobs with the same key run in id order, never two at once.
    key          TEXT        NOT NULL,
    payload      JSONB       NOT NULL,
    attempts     INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER     NOT NULL CHECK (max_attempts > 0),
    run_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set while a worker holds the job; expired leases are claimed again.
    locked_by    TEXT,
    lease_until  TIMESTAMPTZ,
    last_error   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX kradle_jobs_ready ON kradle_jobs (queue, run_at, id);
CREATE INDEX kradle_jobs_key ON kradle_jobs (key, id);
-- The leased jobs (few), for finding those whose worker died.
CREATE INDEX kradle_jobs_leased ON kradle_jobs (lease_until) WHERE lease_until IS NOT NULL;

CREATE TABLE kradle_dead_jobs (
    id          BIGINT      PRIMARY KEY,
    queue       TEXT        NOT NULL,
    key         TEXT        NOT NULL,
    payload     JSONB       NOT NULL,
    attempts    INTEGER     NOT NULL,
    last_error  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    died_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
