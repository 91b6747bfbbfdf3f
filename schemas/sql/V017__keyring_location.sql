-- Where this database's keys live. `lethe migrate` with LETHE_KEYRING_PG
-- moves the keyring into a database of its own and sets apart; a process
-- that would look for keys here (LETHE_KEYRING_PG unset) then refuses,
-- instead of making second keys for people whose keys live there.
CREATE TABLE keyring_location (
  id       int     PRIMARY KEY CHECK (id = 1),
  apart    boolean NOT NULL DEFAULT false,
  moved_at timestamptz
);
INSERT INTO keyring_location (id) VALUES (1);
