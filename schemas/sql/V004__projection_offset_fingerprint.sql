-- A fingerprint of the last message applied on each partition (the one at
-- next_offset - 1): BLAKE2b-128 over its key and value, in hex. On
-- assignment the runner reads that message again and compares: a topic
-- deleted and recreated while the projector was down holds other messages
-- at the same offsets, and reading it from next_offset would skip its first
-- events without a trace. NULL for offsets stored before this column existed
-- (the check starts with the next batch).
ALTER TABLE projection_offsets ADD COLUMN last_fingerprint text;
