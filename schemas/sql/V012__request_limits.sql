-- Requests without a sign-in (register, log in), counted per client address
-- and for everyone, per minute, shared by every `lethe serve` process. The
-- address is kept as its blind index (a keyed hash), never in clear, and
-- rows older than a few minutes are pruned as new minutes begin.
CREATE TABLE request_limits (
  bucket bytea NOT NULL,           -- blind index of the address; '\x00' for everyone
  window_start timestamptz NOT NULL,
  requests integer NOT NULL,
  PRIMARY KEY (bucket, window_start)
);

-- Failed logins past their window are pruned for every email as logins
-- happen (not only when the same email is tried again), so what is kept for
-- emails nobody has is bounded by the window.
CREATE INDEX login_failures_expiry ON login_failures (failed_at);
