-- Read models of the content projection (domains/content/read/), from the
-- content topic. Person columns are named author_id (see the erasure
-- policy); author_deleted is the erasure policy's to set and no event of
-- this projection touches it. version is the stream version last folded
-- in: an event at or below it was applied already and is skipped.

-- Stream post-<id>. A deleted post keeps its row, marked deleted.
CREATE TABLE content_posts (
  post_id        text PRIMARY KEY,
  author_id      text,
  title          text NOT NULL,
  body           text NOT NULL,
  deleted        boolean NOT NULL,
  author_deleted boolean NOT NULL DEFAULT false,
  published_at   timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  version        bigint NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX content_posts_published ON content_posts (published_at DESC, post_id);
CREATE INDEX content_posts_author ON content_posts (author_id, published_at DESC, post_id);

-- Stream comment-<id>; post_id names its post.
CREATE TABLE content_comments (
  comment_id     text PRIMARY KEY,
  post_id        text NOT NULL,
  author_id      text,
  body           text NOT NULL,
  deleted        boolean NOT NULL,
  author_deleted boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  version        bigint NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX content_comments_post ON content_comments (post_id, created_at, comment_id);
CREATE INDEX content_comments_author ON content_comments (author_id, created_at DESC, comment_id);
