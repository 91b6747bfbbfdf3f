-- Erasure (see UsersProjection::erasure_policy): the account row stays,
-- anonymized, under its id; its identities and the staff notes about the
-- person go. The comments mark what names a person (lethe:person, or
-- lethe:person-kept where the id stays by design) and what holds their data
-- (lethe:personal); the projection refuses to start while such a column has
-- no rule, and `lethe gdpr verify` reads them.
ALTER TABLE users ADD COLUMN erased_at timestamptz;
ALTER TABLE user_notes ALTER COLUMN author DROP NOT NULL;
COMMENT ON COLUMN users.user_id IS 'lethe:person-kept';
COMMENT ON COLUMN users.email IS 'lethe:personal';
COMMENT ON COLUMN users.name IS 'lethe:personal';
COMMENT ON COLUMN user_oauth_identities.user_id IS 'lethe:person';
COMMENT ON COLUMN user_oauth_identities.subject IS 'lethe:personal';
COMMENT ON COLUMN user_notes.user_id IS 'lethe:person';
COMMENT ON COLUMN user_notes.text IS 'lethe:personal';
COMMENT ON COLUMN user_notes.author IS 'lethe:person';
