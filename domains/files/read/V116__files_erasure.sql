-- Erasure (see FilesProjection::erasure_policy): file records stay without
-- their owner. Comments as in V111.
COMMENT ON COLUMN files.owner_id IS 'lethe:person';
