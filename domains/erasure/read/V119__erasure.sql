-- Read model of the erasure projection (domains/erasure/read/): each erasure
-- request with its receipts and external tasks, for GET /erasure-requests.
-- Ids and times only: the requests' events hold no personal data.
CREATE TABLE erasure_requests (
  request_id      text PRIMARY KEY,
  user_id         text NOT NULL,
  mode            text NOT NULL,   -- admin or self
  requested_by    text NOT NULL,
  requested_at    timestamptz NOT NULL,
  confirm_by      timestamptz,     -- self: the token's expiry
  confirmed_at    timestamptz,
  sessions_ended  int,
  erased_at       timestamptz,
  erased_by       text,
  key_fingerprint text,
  handed_to       text,
  records         jsonb,           -- what was handed over: [{"kind", "id"}]
  projections     text[] NOT NULL DEFAULT '{}',  -- must apply it
  beyond_reach    text,
  status          text NOT NULL,   -- awaiting_confirmation, pending, erased, complete, cancelled
  updated_at      timestamptz NOT NULL,
  version         bigint NOT NULL
);
CREATE INDEX erasure_requests_status ON erasure_requests (status, requested_at, request_id);
CREATE INDEX erasure_requests_user ON erasure_requests (user_id, requested_at);

CREATE TABLE erasure_receipts (
  request_id text NOT NULL,
  projection text NOT NULL,
  applied_at timestamptz NOT NULL,
  event_id   uuid NOT NULL,
  PRIMARY KEY (request_id, projection)
);

CREATE TABLE erasure_tasks (
  request_id   text NOT NULL,
  task         text NOT NULL,
  confirmed_by text,
  confirmed_at timestamptz,
  PRIMARY KEY (request_id, task)
);

-- Streams whose rows an erasure policy deleted, per projection: their later
-- events are skipped, so that a replay never meets a deleted row as a gap.
-- Not a projection's table: a replay keeps them (the person stays erased).
CREATE TABLE erased_streams (
  projection text NOT NULL,
  stream_id  text NOT NULL,
  PRIMARY KEY (projection, stream_id)
);

COMMENT ON COLUMN erasure_requests.user_id IS 'lethe:person-kept';
COMMENT ON COLUMN erasure_requests.requested_by IS 'lethe:person-kept';
COMMENT ON COLUMN erasure_requests.erased_by IS 'lethe:person-kept';
COMMENT ON COLUMN erasure_requests.handed_to IS 'lethe:person-kept';
COMMENT ON COLUMN erasure_tasks.confirmed_by IS 'lethe:person-kept';
