-- The resourceVersion at which a projection was created. A watch that
-- starts from a resourceVersion (kubectl lists, then watches from the
-- list's version) says ADDED for an object created after that version and
-- MODIFIED for one that existed then; the creation time cannot tell (an
-- object created between the list and the watch would show as MODIFIED).
ALTER TABLE kradle_projections ADD COLUMN created_version BIGINT;
UPDATE kradle_projections SET created_version = resource_version;
