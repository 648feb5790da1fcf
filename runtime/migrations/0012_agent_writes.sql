-- What an agent delivers back (docs/dispatch.md, "The agent's side"): a
-- comment, a pull request or a commit status its run asks for through the
-- agent API is a write intent in the forge journal, like every forge
-- write, tied to the run that asked. Its payload holds the write as the
-- agent sent it (checked, secret-scanned); its approval, when the stack
-- wants one, is the run's AgentApproval of action `write-back`.
ALTER TABLE kradle_write_intents
    ADD COLUMN run BIGINT REFERENCES kradle_dispatch_runs (id);

CREATE INDEX kradle_write_intents_run
    ON kradle_write_intents (run, id) WHERE run IS NOT NULL;
