-- Erasure (see AuditProjection::erasure_policy): the audit log keeps its
-- entries with the ids of the people involved, and never held their text.
COMMENT ON COLUMN audit_log.actor IS 'lethe:person-kept';
COMMENT ON COLUMN audit_log.target_id IS 'lethe:person-kept';
COMMENT ON COLUMN event_log.actor IS 'lethe:person-kept';
