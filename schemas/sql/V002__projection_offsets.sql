-- Kafka offsets of every projection, written in the same transaction as the
-- projection's rows: the read model and its position never disagree.
-- next_offset is the offset of the next message to read.
CREATE TABLE projection_offsets (
  projection  text   NOT NULL,
  topic       text   NOT NULL,
  partition   int    NOT NULL,
  next_offset bigint NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, topic, partition)
);
