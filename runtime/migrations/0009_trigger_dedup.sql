-- What a trigger match was about, finer than the source event: the event
-- and action, the resource, and the comment, label change or CI run
-- attempt that matched. A second match of the same rule with the same key
-- within the rule's dedupWindow is recorded as Deduplicated.
ALTER TABLE kradle_trigger_executions ADD COLUMN match_key TEXT;

CREATE INDEX kradle_trigger_executions_dedup
    ON kradle_trigger_executions (org, rule, match_key, evaluated_at)
    WHERE decision IN ('Dispatching', 'Dispatched');
