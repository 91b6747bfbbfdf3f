-- The event store: every event of every stream, append-only.
-- (stream_id, stream_version) is unique: of two appends at the same expected
-- version exactly one can commit; the other hits the key and is told so.
CREATE TABLE events (
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        uuid   NOT NULL UNIQUE,
  stream_id       text   NOT NULL,
  stream_version  bigint NOT NULL CHECK (stream_version >= 1),
  type            text   NOT NULL,
  schema_version  int    NOT NULL,
  -- text, not timestamptz, and json, not jsonb: the hash chain covers the
  -- exact bytes, so they are stored as they were hashed.
  occurred_at     text   NOT NULL,
  actor           text   NOT NULL,
  correlation_id  text   NOT NULL,
  causation_id    text   NOT NULL,
  payload         json   NOT NULL,
  prev_hash       text   NOT NULL,
  hash            text   NOT NULL,
  UNIQUE (stream_id, stream_version)
);

-- The outbox: one row per event still to be published, written in the same
-- transaction as the event. tx_id is the writing transaction's id; the relay
-- publishes in (tx_id, global_position) order and only below the oldest
-- transaction still running, so a transaction that commits late can never
-- be skipped (see producers/src/relay.cpp).
CREATE TABLE outbox (
  tx_id           xid8   NOT NULL DEFAULT pg_current_xact_id(),
  global_position bigint NOT NULL REFERENCES events (global_position),
  topic           text   NOT NULL,
  PRIMARY KEY (tx_id, global_position)
);

-- How far the relay has published, advanced only after Kafka acknowledged.
CREATE TABLE relay_checkpoint (
  id              int    PRIMARY KEY CHECK (id = 1),
  tx_id           xid8   NOT NULL,
  global_position bigint NOT NULL,
  published       bigint NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO relay_checkpoint (id, tx_id, global_position) VALUES (1, '0', 0);

-- Wakes the relay when an appending transaction commits (NOTIFY is
-- delivered at commit, once per transaction and channel).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('lethe_outbox_' || TG_TABLE_SCHEMA, '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
