-- Master key versions (lethe keys rotate-master). The master key file holds
-- one line per version ("N:<64 hex digits>"; a bare line of hex digits is
-- version 1). Every person key records the version it is wrapped under;
-- rotating wraps every key under a new version and retires the old ones,
-- which are destroyed (removed from the file) once retired for longer than
-- the retention window. A backup of this database holds keys wrapped under
-- the versions of its day: once those are destroyed it opens nothing, which
-- is what an erasure's "readable in backups until" is computed from.
ALTER TABLE person_keys ADD COLUMN master_version int;
UPDATE person_keys SET master_version = 1 WHERE wrapped;

-- Per version: a known text sealed under it (a wrong master key file is one
-- clear error), and when it was made, retired and destroyed.
CREATE TABLE master_key_versions (
  version      int PRIMARY KEY,
  check_sealed bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  retired_at   timestamptz,
  destroyed_at timestamptz
);
INSERT INTO master_key_versions (version, check_sealed) SELECT 1, sealed FROM keyring_check WHERE id = 1;
DROP TABLE keyring_check;
