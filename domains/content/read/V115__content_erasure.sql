-- Erasure (see ContentProjection::erasure_policy): posts and comments keep
-- their content, author set to NULL and author_deleted. Comments as in V111.
COMMENT ON COLUMN content_posts.author_id IS 'lethe:person';
COMMENT ON COLUMN content_comments.author_id IS 'lethe:person';
