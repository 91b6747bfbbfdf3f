-- Seals: a running digest over every event in global_position order,
-- authenticated with an HMAC under a key the database does not hold (see
-- `lethe seal`). Seal n covers the events in (last_position of seal n-1,
-- last_position]; its digest continues the digest of seal n-1, so it stands
-- for every event up to last_position. Whoever can write here cannot forge a
-- seal without the key; deleting or rewriting sealed events breaks the
-- digest, deleting seals in the middle breaks the numbering.
CREATE TABLE seals (
  seal_number   bigint PRIMARY KEY CHECK (seal_number >= 1),
  last_position bigint NOT NULL,
  event_count   bigint NOT NULL,  -- events in this seal's range
  digest        text   NOT NULL,  -- hex SHA-256, running over every event so far
  hmac          text   NOT NULL,  -- hex HMAC-SHA256 over the fields above
  sealed_at     timestamptz NOT NULL DEFAULT now()
);
