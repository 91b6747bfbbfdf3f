-- An account's email and name, a linked OAuth subject and the staff notes
-- about a person keep the sealed text of the event's field (lethe:sealed),
-- opened only when a query answers: the heap, the WAL, backups and replicas
-- hold ciphertext. The erasure policy still writes the anonymous
-- placeholders (plain text, about nobody) into the account row.
COMMENT ON COLUMN users.email IS 'lethe:sealed';
COMMENT ON COLUMN users.name IS 'lethe:sealed';
COMMENT ON COLUMN user_oauth_identities.subject IS 'lethe:sealed';
COMMENT ON COLUMN user_notes.text IS 'lethe:sealed';
