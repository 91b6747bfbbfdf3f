-- The table Debezium's JDBC sink upserts into: lethe's users read model's
-- columns, types, NOT NULLs, defaults, key and indexes, taken from the users
-- table of the same schema (LIKE does not copy storage parameters: the
-- fillfactor of V103 is set again). Pre-created: the sink runs with
-- schema.evolution=none.
-- Placeholder, replaced before use:
--   @SCHEMA@  the schema the table goes into, beside its users table
--             (scripts/peers cleanup drops peer_users in whatever schema).
CREATE TABLE @SCHEMA@.peer_users (LIKE @SCHEMA@.users INCLUDING ALL) WITH (fillfactor = 80);
