-- A person's streams, for an erasure request's map (GET /erasure-requests/
-- {id}): every stream they wrote to is found by the actor of its events.
CREATE INDEX event_log_actor ON event_log (actor);
