-- A customer's plan, trial, usage and card on file (stream
-- billingplan-<user id>), one row each. used counts the plan's units in
-- period (a month, UTC); a query shows 0 for a month not counted yet.
-- trial_state: NULL (no trial), running, or why it ended (expired, used_up,
-- converted); a running trial past trial_ends_at reads as expired. The card
-- itself is the payment provider's: only its brand, last four digits (the
-- person's, sealed: lethe:sealed) and expiry are here.
CREATE TABLE billing_plans (
  user_id         text PRIMARY KEY,
  plan            text,
  monthly_limit   bigint,
  period          text,
  used            bigint NOT NULL,
  trial_plan      text,
  trial_limit     bigint,
  trial_used      bigint NOT NULL,
  trial_ends_at   timestamptz,
  trial_state     text CHECK (trial_state IN ('running', 'expired', 'used_up', 'converted')),
  payment_brand   text,
  payment_last4   text,
  payment_expires text,
  updated_at      timestamptz NOT NULL,
  version         bigint NOT NULL
);
COMMENT ON COLUMN billing_plans.payment_last4 IS 'lethe:sealed';
-- Erasure (BillingProjection::erasure_policy): the row goes with the person.
COMMENT ON COLUMN billing_plans.user_id IS 'lethe:person';
