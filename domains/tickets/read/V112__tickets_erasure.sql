-- Erasure (see TicketsProjection::erasure_policy): tickets and comments
-- stay with their content, the person set to NULL and anonymized_at
-- stamped; staff notes about the person go. Comments as in V111.
ALTER TABLE ticket_comments ADD COLUMN anonymized_at timestamptz;
COMMENT ON COLUMN tickets.requester_id IS 'lethe:person';
COMMENT ON COLUMN tickets.assignee_id IS 'lethe:person';
COMMENT ON COLUMN ticket_comments.author_id IS 'lethe:person';
COMMENT ON COLUMN ticket_internal_notes.requester_id IS 'lethe:person';
COMMENT ON COLUMN ticket_internal_notes.author_id IS 'lethe:person';
COMMENT ON COLUMN ticket_internal_notes.text IS 'lethe:personal';
