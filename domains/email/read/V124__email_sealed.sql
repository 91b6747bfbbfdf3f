-- An email's subject stays the sealed text of the event's field
-- (lethe:sealed), opened only when a query answers; the erasure policy
-- still empties it with the recipient.
COMMENT ON COLUMN email_logs.subject IS 'lethe:sealed';
