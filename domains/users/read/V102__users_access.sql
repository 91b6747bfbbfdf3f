-- The users read model grows with the users domain: deactivated accounts
-- stay in the table (lists leave them out unless asked), OAuth identities,
-- and the staff-only notes about a user (from the restricted staff topic;
-- only staff routes read this table).
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;

CREATE TABLE user_oauth_identities (
  user_id   text NOT NULL,
  provider  text NOT NULL,
  subject   text,          -- NULL once the person is erased
  linked_at timestamptz NOT NULL,
  UNIQUE (user_id, provider, subject)
);

CREATE TABLE user_notes (
  note_id  uuid PRIMARY KEY,
  user_id  text NOT NULL,
  text     text,           -- NULL once the person is erased
  author   text NOT NULL,
  added_at timestamptz NOT NULL
);
CREATE INDEX user_notes_user ON user_notes (user_id, added_at);
