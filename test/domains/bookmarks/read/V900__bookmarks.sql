-- Read model of the bookmarks projection (test/domains/bookmarks/read/): one
-- row per stream bookmark-<id>. An erasure deletes the owner's bookmarks.
CREATE TABLE bookmarks (
  bookmark_id text PRIMARY KEY,
  owner_id    text NOT NULL,
  url         text NOT NULL,
  label       text NOT NULL,
  saved_at    timestamptz NOT NULL,
  version     bigint NOT NULL
);
CREATE INDEX bookmarks_owner ON bookmarks (owner_id);
COMMENT ON COLUMN bookmarks.owner_id IS 'lethe:person';
COMMENT ON COLUMN bookmarks.url IS 'lethe:personal';
COMMENT ON COLUMN bookmarks.label IS 'lethe:personal';
