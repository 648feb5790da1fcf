-- The forge journal: every write kradle sends to Gitea or GitHub is recorded
-- here before it is sent (an intent), and its outcome after. Object links map
-- what kradle manages to the forge's native ids.
--
-- Only references are stored: operation ids, paths and a digest of the body
-- with its `${secret:...}` placeholders unresolved. A secret value never
-- reaches this database.

CREATE TABLE kradle_write_intents (
    id              BIGSERIAL PRIMARY KEY,
    -- idem-gitForge-<action>-<hash> from the compiled plan (docs/forge-plans.md).
    idempotency_key TEXT        NOT NULL,
    org             TEXT        NOT NULL,
    backend         TEXT        NOT NULL CHECK (backend IN ('gitea', 'github')),
    operation_id    TEXT        NOT NULL,
    action          TEXT        NOT NULL,
    method          TEXT        NOT NULL,
    path            TEXT        NOT NULL,
    -- sha256 of the request body as planned (placeholders unresolved).
    body_digest     TEXT        NOT NULL,
    phase           TEXT        NOT NULL CHECK (phase IN
                        ('Pending', 'InFlight', 'Succeeded', 'Failed', 'PendingApproval', 'Superseded')),
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- At most one open intent per idempotency key: a rerun finds the intent a
-- killed run left behind instead of recording (and sending) it again. Closed
-- intents stay as history; a later run may record the same write again, for
-- example to repair drift.
CREATE UNIQUE INDEX kradle_write_intents_open_key
    ON kradle_write_intents (idempotency_key)
    WHERE phase IN ('Pending', 'InFlight', 'PendingApproval');

CREATE INDEX kradle_write_intents_org
    ON kradle_write_intents (org, backend, phase);

CREATE TABLE kradle_object_links (
    org            TEXT        NOT NULL,
    backend        TEXT        NOT NULL CHECK (backend IN ('gitea', 'github')),
    -- What kind of forge object: organization, repository, team, hook, deploy-key, ...
    kind           TEXT        NOT NULL,
    -- Its name in kradle's terms (the plan's operation target).
    name           TEXT        NOT NULL,
    -- The forge's id for it (a Gitea team id, a hook id), when it has one.
    native_id      TEXT,
    -- 'kradle' when kradle created it, 'adopted' when it existed and matched.
    created_by     TEXT        NOT NULL CHECK (created_by IN ('kradle', 'adopted')),
    -- sha256 of the body last applied.
    applied_digest TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org, backend, kind, name)
);
