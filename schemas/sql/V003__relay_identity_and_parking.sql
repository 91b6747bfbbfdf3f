-- The relay's checkpoint is a transaction id, and transaction ids mean
-- something only in the cluster that issued them. After a dump and restore,
-- or a move by logical replication, new outbox rows can sit below the old
-- checkpoint and would never be published. The checkpoint therefore records
-- the cluster it was written in (pg_control_system().system_identifier);
-- the relay refuses to run when it changes, until `lethe relay rebase`.
ALTER TABLE relay_checkpoint ADD COLUMN system_identifier text;

-- Outbox entries the broker refused for good (too large for the topic,
-- invalid), set aside so that the relay goes on with the rest. Each one is
-- logged when it is parked and counted in the relay's progress line; after
-- fixing the cause, `lethe republish --stream STREAM` sends the stream again.
CREATE TABLE relay_parked (
  global_position bigint PRIMARY KEY,
  event_id        uuid   NOT NULL,
  stream_id       text   NOT NULL,
  topic           text   NOT NULL,
  reason          text   NOT NULL,
  parked_at       timestamptz NOT NULL DEFAULT now()
);

-- NOTIFY channel names are identifiers: at most 63 bytes. Built from the
-- schema name as it was, a long schema name made every append fail. A hash
-- of the name always fits (13 + 32 bytes); the relay LISTENs on the same.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('lethe_outbox_' || md5(TG_TABLE_SCHEMA), '');
  RETURN NULL;
END $$;
