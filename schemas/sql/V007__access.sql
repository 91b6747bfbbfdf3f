-- The write side's own state for access control, kept in the same
-- transaction as the events that change it (never from a read model): who
-- may log in, which credentials are live, and the set rules across streams.
-- No email is stored in clear: lookups go through a blind index, a keyed
-- BLAKE2b hash of the normalised email whose key lives outside the database
-- (LETHE_INDEX_KEY_FILE or LETHE_INDEX_KEY).

-- One row per account: its role and whether it is active, for
-- authentication, authorization and the last-owner rule.
CREATE TABLE accounts (
  user_id     text    PRIMARY KEY,
  role        text    NOT NULL,
  active      boolean NOT NULL,
  email_index bytea   NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- An email is unique among active accounts: this unique key is the
-- reservation. Register and email changes insert, deactivation deletes,
-- restore inserts again (and fails when someone took the email meanwhile).
CREATE TABLE email_reservations (
  email_index bytea PRIMARY KEY,
  user_id     text  NOT NULL UNIQUE REFERENCES accounts (user_id)
);

-- API keys and session tokens, stored only as a BLAKE2b hash of the token.
-- A deactivated account's credentials stop working at once: authentication
-- joins accounts and requires it active.
CREATE TABLE credentials (
  token_hash   bytea PRIMARY KEY,
  kind         text  NOT NULL CHECK (kind IN ('api_key', 'session')),
  credential_id text NOT NULL UNIQUE,  -- key id or session id
  user_id      text  NOT NULL REFERENCES accounts (user_id),
  name         text,                   -- API keys only
  prefix       text,                   -- API keys only: the first characters, to recognise a key
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);
CREATE INDEX credentials_user ON credentials (user_id, kind);

-- The login rate limit, shared by every server process: failed attempts per
-- email (blind index) with their time. A row per email serialises the
-- count-and-reserve step for that email (SELECT ... FOR UPDATE); an attempt
-- is recorded as a failure before its password is checked, and a success
-- clears them all.
CREATE TABLE login_limits (
  email_index bytea PRIMARY KEY
);
CREATE TABLE login_failures (
  email_index bytea       NOT NULL,
  attempt_id  uuid        NOT NULL,
  failed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_failures_recent ON login_failures (email_index, failed_at);
