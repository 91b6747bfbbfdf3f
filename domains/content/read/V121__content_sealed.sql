-- What people write is theirs: a post's title and body and a comment's body
-- (their author's) are sealed in the events, and these columns keep the
-- sealed text of the event's field (lethe:sealed), opened only when a query
-- answers. Destroying the author's key erases them here too. An edit by a
-- moderator after the author's erasure keeps no text (NULL).
ALTER TABLE content_posts ALTER COLUMN title DROP NOT NULL;
ALTER TABLE content_posts ALTER COLUMN body DROP NOT NULL;
ALTER TABLE content_comments ALTER COLUMN body DROP NOT NULL;
COMMENT ON COLUMN content_posts.title IS 'lethe:sealed';
COMMENT ON COLUMN content_posts.body IS 'lethe:sealed';
COMMENT ON COLUMN content_comments.body IS 'lethe:sealed';
