-- Read model of the event_log projection (domains/event_log/read/): one row
-- per message applied, with its place in Kafka. Lets auditors find any event
-- by id, stream or position with SQL. It holds ids and types only, no
-- payload, so it holds no personal data.
-- (topic, partition, kafka_offset) is the key and rows are inserted plainly:
-- if the consumer runtime ever applied a message twice, this would refuse it.
CREATE TABLE event_log (
  topic          text   NOT NULL,
  partition      int    NOT NULL,
  kafka_offset   bigint NOT NULL,
  event_id       uuid   NOT NULL,
  type           text   NOT NULL,
  stream_id      text   NOT NULL,
  stream_version bigint NOT NULL,
  occurred_at    text   NOT NULL,
  actor          text   NOT NULL,
  correlation_id text   NOT NULL,
  projected_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition, kafka_offset)
);
CREATE INDEX event_log_event_id ON event_log (event_id);
CREATE INDEX event_log_stream ON event_log (stream_id, stream_version);
