-- The forge plan each organization was last converged to, per backend: what
-- `kradle apply FILE` compares a saved plan's expectations with, so a plan
-- made before someone else applied a newer config is refused as stale
-- instead of undoing their change (docs/apply.md, "Saved plans").
CREATE TABLE kradle_applied_plans (
    org         TEXT        NOT NULL,
    backend     TEXT        NOT NULL CHECK (backend IN ('gitea', 'github')),
    -- sha256 of the compiled plan (docs/forge-plans.md), as `kradle plan --out` records it.
    plan_digest TEXT        NOT NULL,
    -- Where it came from, for the refusal's message: a config path and
    -- revision, or a saved plan file.
    source      TEXT        NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org, backend)
);
