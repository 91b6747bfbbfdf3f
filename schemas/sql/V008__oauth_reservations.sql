-- An OAuth identity (provider and the provider's subject id) is a way into
-- an account, so it belongs to one account only: this unique key reserves
-- it, in the same transaction as the user.oauth_linked event. Like emails,
-- identities are kept as a blind index (keyed BLAKE2b), never in clear.
CREATE TABLE oauth_reservations (
  identity_index bytea PRIMARY KEY,
  user_id        text  NOT NULL REFERENCES accounts (user_id)
);
