-- A billing profile (name, address, tax id) and the texts about a person's
-- money (a charge's description, refund, credit-note and cancellation
-- reasons) are theirs: sealed in the events, and these columns keep the
-- sealed text of the event's field (lethe:sealed), opened only when a query
-- answers. A reason written after the person's erasure keeps no text (NULL).
ALTER TABLE billing_transactions ALTER COLUMN description DROP NOT NULL;
ALTER TABLE billing_refunds ALTER COLUMN reason DROP NOT NULL;
ALTER TABLE billing_credit_notes ALTER COLUMN reason DROP NOT NULL;
COMMENT ON COLUMN billing_profiles.holder_name IS 'lethe:sealed';
COMMENT ON COLUMN billing_profiles.address IS 'lethe:sealed';
COMMENT ON COLUMN billing_profiles.tax_id IS 'lethe:sealed';
COMMENT ON COLUMN billing_subscriptions.cancel_reason IS 'lethe:sealed';
COMMENT ON COLUMN billing_transactions.description IS 'lethe:sealed';
COMMENT ON COLUMN billing_refunds.reason IS 'lethe:sealed';
COMMENT ON COLUMN billing_credit_notes.reason IS 'lethe:sealed';
