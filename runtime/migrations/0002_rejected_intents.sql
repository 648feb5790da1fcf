-- A write that needs approval can be rejected (`kradle intents reject`):
-- it is then closed and never sent.
ALTER TABLE kradle_write_intents DROP CONSTRAINT kradle_write_intents_phase_check;
ALTER TABLE kradle_write_intents ADD CONSTRAINT kradle_write_intents_phase_check CHECK (phase IN
    ('Pending', 'InFlight', 'Succeeded', 'Failed', 'PendingApproval', 'Superseded', 'Rejected'));
