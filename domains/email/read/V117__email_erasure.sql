-- Erasure (see EmailProjection::erasure_policy): the log stays without the
-- recipient; the subject (theirs) goes. Comments as in V111.
COMMENT ON COLUMN email_logs.recipient_id IS 'lethe:person';
COMMENT ON COLUMN email_logs.subject IS 'lethe:personal';
