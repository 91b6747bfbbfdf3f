-- A ticket's priority, set by its requester when they open it
-- (ticket.opened v2). Tickets opened before it existed were normal: their
-- v1 events are lifted to that by the tickets domain's upcaster, so a
-- replay writes the same.
ALTER TABLE tickets ADD COLUMN priority text NOT NULL DEFAULT 'normal'
  CHECK (priority IN ('low', 'normal', 'high', 'urgent'));
