-- Read model of the audit projection (domains/audit/read/): one entry per
-- staff, admin or security-relevant action across every domain. It keeps
-- ids, never payload text, so it holds no personal data beyond the ids of
-- the people involved (actor, and target when the target is a person).
-- Keyed by event id: a republished event is recorded once.
CREATE TABLE audit_log (
  event_id       uuid PRIMARY KEY,
  action         text NOT NULL,         -- the event type, e.g. user.role_changed
  actor          text NOT NULL,         -- who acted (a user id, or system:<name>)
  target_kind    text NOT NULL,         -- user, ticket, product, transaction, ...
  target_id      text NOT NULL,
  stream_id      text NOT NULL,
  stream_version bigint NOT NULL,
  occurred_at    timestamptz NOT NULL,
  correlation_id text NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (occurred_at, event_id);
CREATE INDEX audit_log_target ON audit_log (target_id, occurred_at, event_id);
CREATE INDEX audit_log_actor ON audit_log (actor, occurred_at, event_id);
