-- The table Debezium's JDBC sink upserts into: the shape and key of lethe's
-- users read model (domains/users/read/V100__users.sql and the migrations
-- after it, V102, V103, V111: the same columns, types, NOT NULLs, primary
-- key and fillfactor; no index but the key, as there). Pre-created: the
-- sink runs with schema.evolution=none.
-- Placeholder, replaced before use:
--   @SCHEMA@  the schema the table goes into (scripts/peers cleanup drops
--             peer_users in whatever schema it is).
CREATE TABLE @SCHEMA@.peer_users (
  user_id       text   PRIMARY KEY,
  email         text   NOT NULL,
  name          text   NOT NULL,
  role          text   NOT NULL,
  registered_at timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  version       bigint NOT NULL,
  last_event_id uuid   NOT NULL,
  active        boolean NOT NULL DEFAULT true,
  erased_at     timestamptz
) WITH (fillfactor = 80);
