-- A change writes one outbox event however many webhooks subscribe to it; the
-- dispatcher turns it into one delivery per subscribed webhook afterwards ("fans it
-- out"). Events already in the outbox have their deliveries.
ALTER TABLE webhook_events ADD COLUMN fanned_out INTEGER NOT NULL DEFAULT 1;
CREATE INDEX webhook_events_to_fan_out ON webhook_events (id) WHERE fanned_out = 0;
