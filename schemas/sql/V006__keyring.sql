-- The keyring: one key per person (crypto-shredding). Personal fields of
-- events are sealed under their person's key before the append; the keys
-- never leave PostgreSQL for Kafka. Destroying a person's key makes every
-- copy of their personal data unreadable, in every topic, segment, replica,
-- dead letter and backup of the log.
-- key_material is the raw 32-byte key, or, when wrapped, the key sealed
-- under the master key (XChaCha20-Poly1305, nonce first, the subject and
-- key id as associated data).
CREATE TABLE person_keys (
  subject      text    NOT NULL,
  key_id       int     NOT NULL DEFAULT 1,
  key_material bytea   NOT NULL,
  wrapped      boolean NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subject, key_id)
);

-- With a master key: a known text sealed under it, so that a wrong master
-- key is one clear error instead of every key failing to open.
CREATE TABLE keyring_check (
  id     int   PRIMARY KEY CHECK (id = 1),
  sealed bytea NOT NULL
);
