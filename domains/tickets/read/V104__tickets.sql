-- Read models of the tickets projection (domains/tickets/read/).
-- Person columns are named for what the person is to the row
-- (requester_id, assignee_id, author_id): the erasure policy declares per
-- column what erasing that person does to it.
--
-- version is the ticket stream's version last folded in: an event at or
-- below it was applied already and is skipped.
CREATE TABLE tickets (
  ticket_id     text PRIMARY KEY,
  requester_id  text,
  assignee_id   text,
  subject       text NOT NULL,
  body          text NOT NULL,
  status        text NOT NULL,
  opened_at     timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  version       bigint NOT NULL,
  last_event_id uuid NOT NULL,
  anonymized_at timestamptz
) WITH (fillfactor = 80);
-- A customer's own tickets, newest first; staff filter by status.
CREATE INDEX tickets_requester ON tickets (requester_id, opened_at DESC, ticket_id);
CREATE INDEX tickets_status ON tickets (status, opened_at DESC, ticket_id);

-- Public comments, written by the requester or staff (stream ticket-<id>).
CREATE TABLE ticket_comments (
  comment_id     text PRIMARY KEY,
  ticket_id      text NOT NULL,
  author_id      text,
  body           text NOT NULL,
  created_at     timestamptz NOT NULL,
  ticket_version bigint NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments (ticket_id, ticket_version);

-- STAFF ONLY: internal notes, from the restricted staff topic (stream
-- ticketnotes-<id>). Only staff routes read this table. text is NULL once
-- the requester's key is gone.
CREATE TABLE ticket_internal_notes (
  note_id        text PRIMARY KEY,
  ticket_id      text NOT NULL,
  author_id      text,
  requester_id   text,
  text           text,
  created_at     timestamptz NOT NULL,
  stream_version bigint NOT NULL
);
CREATE INDEX ticket_internal_notes_ticket ON ticket_internal_notes (ticket_id, stream_version);
