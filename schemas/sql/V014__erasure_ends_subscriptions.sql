-- The erasure cancels the person's active subscriptions: it finds them
-- through the event store, by the subscriber named when each was created.
CREATE INDEX events_subscriber ON events ((payload ->> 'user_id')) WHERE type = 'billing.subscription_created';
