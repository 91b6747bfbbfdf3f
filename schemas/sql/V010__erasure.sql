-- Erasure on the write side (see producers/erasure_service.hpp).
--
-- The register of erased people: the other half of the keyring. A person's
-- key is deleted from person_keys in the same transaction as their
-- user.erased event and a row goes here; from then on no key can be made
-- for them again (infra::ensure_person_key refuses), no command may name
-- them, and projections check this table for the people each event names,
-- so that erasure is sticky in every read model whatever order they read
-- their topics in. key_fingerprint names the destroyed key (a BLAKE2b hash
-- of it under a fixed context) without revealing it.
CREATE TABLE erased_persons (
  subject         text PRIMARY KEY,
  request_id      text NOT NULL,
  key_fingerprint text NOT NULL,
  erased_by       text NOT NULL,
  erased_at       timestamptz NOT NULL DEFAULT now()
);

-- An erased account keeps its row, so that its id is never given again;
-- its blind email index goes (it is derived from the email).
ALTER TABLE accounts ALTER COLUMN email_index DROP NOT NULL;
ALTER TABLE accounts ADD COLUMN erased_at timestamptz;

-- At most one erasure request per person waits: a self-service request
-- awaiting its confirmation token (stored only as a BLAKE2b hash), or a
-- confirmed one waiting for an admin. The row goes when the person is
-- erased; an expired token's row is replaced by the next request.
CREATE TABLE open_erasures (
  user_id      text PRIMARY KEY,
  request_id   text NOT NULL UNIQUE,
  token_hash   bytea,                 -- NULL once confirmed, or for an admin's request
  confirm_by   timestamptz,           -- the token's expiry
  confirmed_at timestamptz
);

-- The erasure rate limit per acting admin: one row per erasure they
-- carried out, counted over the last hour (serialised per admin with an
-- advisory lock, as login failures are per email).
CREATE TABLE erasure_limits (
  actor      text        NOT NULL,
  request_id text        NOT NULL,
  erased_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX erasure_limits_recent ON erasure_limits (actor, erased_at);

-- Records a person owns, found on the write side (never in a read model)
-- when they are erased, so that each is handed to the erasing admin: tickets
-- assigned to them, products and categories they created or were handed.
CREATE INDEX events_ticket_assignee ON events ((payload ->> 'assignee_id')) WHERE type = 'ticket.assigned';
CREATE INDEX events_created_by ON events ((payload ->> 'created_by'))
  WHERE type IN ('shop.product_created', 'shop.category_created');
CREATE INDEX events_handed_to ON events ((payload ->> 'to_user_id'))
  WHERE type IN ('shop.product_handed_over', 'shop.category_handed_over');

-- Which columns name a person (lethe:person: no row may hold an erased
-- person's id there; lethe:person-kept: the id stays by design) and which
-- hold personal data in clear (lethe:personal). `lethe gdpr verify` reads
-- these comments; the projections' tables carry them too.
COMMENT ON COLUMN accounts.user_id IS 'lethe:person-kept';
COMMENT ON COLUMN email_reservations.user_id IS 'lethe:person';
COMMENT ON COLUMN credentials.user_id IS 'lethe:person';
COMMENT ON COLUMN oauth_reservations.user_id IS 'lethe:person';
COMMENT ON COLUMN open_carts.user_id IS 'lethe:person';
COMMENT ON COLUMN person_keys.subject IS 'lethe:person';
COMMENT ON COLUMN erased_persons.subject IS 'lethe:person-kept';
COMMENT ON COLUMN erased_persons.erased_by IS 'lethe:person-kept';
COMMENT ON COLUMN open_erasures.user_id IS 'lethe:person';
COMMENT ON COLUMN erasure_limits.actor IS 'lethe:person';
COMMENT ON COLUMN events.actor IS 'lethe:person-kept';
