-- Erasure (see BillingProjection::erasure_policy): the billing profile goes;
-- subscriptions, transactions, refunds and credit notes are financial
-- records and stay without the person. Comments as in V111.
COMMENT ON COLUMN billing_profiles.user_id IS 'lethe:person';
COMMENT ON COLUMN billing_profiles.holder_name IS 'lethe:personal';
COMMENT ON COLUMN billing_profiles.address IS 'lethe:personal';
COMMENT ON COLUMN billing_profiles.tax_id IS 'lethe:personal';
COMMENT ON COLUMN billing_subscriptions.user_id IS 'lethe:person';
COMMENT ON COLUMN billing_transactions.user_id IS 'lethe:person';
COMMENT ON COLUMN billing_refunds.user_id IS 'lethe:person';
COMMENT ON COLUMN billing_credit_notes.user_id IS 'lethe:person';
