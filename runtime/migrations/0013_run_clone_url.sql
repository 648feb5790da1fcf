-- Where a run's checkout clones from: the repository's `clone_url` of the
-- forge event that made the run (http or https, without credentials;
-- docs/dispatch.md, "The checkout"). NULL for runs by hand or schedule.
ALTER TABLE kradle_dispatch_runs ADD COLUMN clone_url TEXT;
