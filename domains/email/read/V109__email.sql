-- Read model of the email projection (domains/email/read/), from the email
-- topic: one row per logged email (stream email-<id>). The person column is
-- recipient_id (see the erasure policy). subject is the recipient's,
-- opened with their key; NULL once the key is gone. sent_at is when the
-- mail service sent it (from the event), logged_at when it was logged (the
-- envelope's time). version is the stream version last folded in: an event
-- at or below it was applied already and is skipped.
CREATE TABLE email_logs (
  email_id     text PRIMARY KEY,
  recipient_id text,
  template     text NOT NULL,
  subject      text,
  sent_at      timestamptz NOT NULL,
  logged_at    timestamptz NOT NULL,
  version      bigint NOT NULL
);
CREATE INDEX email_logs_recipient ON email_logs (recipient_id, sent_at DESC, email_id);
CREATE INDEX email_logs_sent ON email_logs (sent_at DESC, email_id);
