-- Read models of the billing projection (domains/billing/read/), from the
-- billing topic. Person columns are named user_id (see the erasure policy).
-- Money is an integer number of minor units with its ISO 4217 currency,
-- never floating point. version is the stream version last folded in: an
-- event at or below it was applied already and is skipped.

-- One row per person (stream billingprofile-<user id>). holder_name,
-- address and tax_id are the person's, opened with their key; NULL once the
-- key is gone (and tax_id when none was given).
CREATE TABLE billing_profiles (
  user_id      text PRIMARY KEY,
  holder_name  text,
  address      text,
  tax_id       text,
  updated_at   timestamptz NOT NULL,
  version      bigint NOT NULL
);

-- Stream subscription-<id>.
CREATE TABLE billing_subscriptions (
  subscription_id text PRIMARY KEY,
  user_id         text,
  plan            text NOT NULL,
  status          text NOT NULL CHECK (status IN ('active', 'cancelled')),
  cancel_reason   text,
  created_at      timestamptz NOT NULL,
  cancelled_at    timestamptz,
  version         bigint NOT NULL
);
CREATE INDEX billing_subscriptions_user ON billing_subscriptions (user_id, created_at DESC, subscription_id);

-- Stream transaction-<id>: the charge, with the sums of its refunds and
-- credit notes folded in.
CREATE TABLE billing_transactions (
  transaction_id text PRIMARY KEY,
  user_id        text,
  amount         bigint NOT NULL,
  currency       text NOT NULL,
  description    text NOT NULL,
  refunded       bigint NOT NULL,
  credited       bigint NOT NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  version        bigint NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX billing_transactions_user ON billing_transactions (user_id, created_at DESC, transaction_id);

-- Each refund and credit note, keyed by its own id (applying one twice
-- changes nothing); stream_version is its place in the transaction's stream.
CREATE TABLE billing_refunds (
  refund_id      text PRIMARY KEY,
  transaction_id text NOT NULL,
  user_id        text,
  amount         bigint NOT NULL,
  currency       text NOT NULL,
  reason         text NOT NULL,
  at             timestamptz NOT NULL,
  stream_version bigint NOT NULL
);
CREATE INDEX billing_refunds_transaction ON billing_refunds (transaction_id, stream_version);
CREATE INDEX billing_refunds_user ON billing_refunds (user_id, at DESC, refund_id);

CREATE TABLE billing_credit_notes (
  credit_note_id text PRIMARY KEY,
  transaction_id text NOT NULL,
  user_id        text,
  amount         bigint NOT NULL,
  currency       text NOT NULL,
  reason         text NOT NULL,
  at             timestamptz NOT NULL,
  stream_version bigint NOT NULL
);
CREATE INDEX billing_credit_notes_transaction ON billing_credit_notes (transaction_id, stream_version);
CREATE INDEX billing_credit_notes_user ON billing_credit_notes (user_id, at DESC, credit_note_id);
