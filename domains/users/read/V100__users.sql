-- Read model of the users projection (projections/users/users.cpp).
-- version is the stream version of the last event folded in: an event at or
-- below it was applied already and is skipped, so a republished event is
-- applied once.
CREATE TABLE users (
  user_id       text   PRIMARY KEY,
  email         text   NOT NULL,
  name          text   NOT NULL,
  role          text   NOT NULL,
  registered_at timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  version       bigint NOT NULL,
  last_event_id uuid   NOT NULL
);
CREATE INDEX users_email ON users (email);
