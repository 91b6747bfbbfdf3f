-- The outbox table that Debezium's PostgreSQL connector streams and its
-- outbox event router (io.debezium.transforms.outbox.EventRouter) turns into
-- Kafka messages: the peer of lethe's own outbox and `lethe relay`, laid out
-- the way the router expects. One row per event, holding the bytes lethe's
-- relay publishes for it:
--   id             the event's event_id; the router's id column, sent as
--                  header "id" (always), and again as header "event_id"
--   aggregatetype  the logical topic ("users"); the router routes by it to
--                  @TOPIC_PREFIX@<aggregatetype>, as lethe's relay publishes
--                  to its topic prefix + the event's topic
--   aggregateid    the stream id ("user-<uuid>"): the message key
--   type           the event type ("user.registered"): header "type"
--   schema_version the envelope's schema_version: header "schema_version"
--                  (as text, like lethe's header)
--   payload        the whole encoded envelope (lethe's domain::encode), the
--                  message value byte for byte (text: JSON is UTF-8, and the
--                  StringConverter writes it back as the same bytes)
-- Placeholder, replaced before use:
--   @SCHEMA@  the schema the table goes into (scripts/peers cleanup drops
--             peer_outbox in whatever schema it is).
-- Rows may be deleted at any time after their insert is committed: the
-- connector skips deletes (skipped.operations) and emits no tombstones.
CREATE TABLE @SCHEMA@.peer_outbox (
  id             uuid PRIMARY KEY,
  aggregatetype  text NOT NULL,
  aggregateid    text NOT NULL,
  type           text NOT NULL,
  schema_version text NOT NULL,
  payload        text NOT NULL
);
