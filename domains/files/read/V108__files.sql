-- Read model of the files projection (domains/files/read/), from the files
-- topic: metadata of stored files, one row per stream file-<id>. The person
-- column is owner_id (see the erasure policy). version is the stream
-- version last folded in: an event at or below it was applied already and
-- is skipped. A deleted file keeps its row, marked deleted.
CREATE TABLE files (
  file_id      text PRIMARY KEY,
  owner_id     text,
  name         text NOT NULL,
  size         bigint NOT NULL,
  content_type text NOT NULL,
  checksum     text NOT NULL,
  deleted      boolean NOT NULL,
  recorded_at  timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  version      bigint NOT NULL
);
CREATE INDEX files_owner ON files (owner_id, recorded_at DESC, file_id);
