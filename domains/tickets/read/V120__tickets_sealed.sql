-- What people write is theirs: a ticket's subject and body (its
-- requester's), public comments (their author's, and the requester's too
-- when staff wrote them) and staff notes (the requester's) are sealed in the
-- events, and these columns keep the sealed text of the event's field
-- (lethe:sealed), opened only when a query answers. The heap, the WAL,
-- backups and replicas hold ciphertext; destroying a person's key erases
-- them here too. A comment written after its requester's erasure keeps no
-- body (NULL).
ALTER TABLE ticket_comments ALTER COLUMN body DROP NOT NULL;
COMMENT ON COLUMN tickets.subject IS 'lethe:sealed';
COMMENT ON COLUMN tickets.body IS 'lethe:sealed';
COMMENT ON COLUMN ticket_comments.body IS 'lethe:sealed';
COMMENT ON COLUMN ticket_internal_notes.text IS 'lethe:sealed';
