-- Webhooks: the endpoints, the outbox of events (written in the same transaction as the
-- change that caused them), each event's delivery to each endpoint, and every attempt.

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    -- NULL: the events of every project of the organization.
    project_id      TEXT REFERENCES projects(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    -- The subscribed event types, a JSON array.
    events          TEXT NOT NULL,
    -- The signing secret, sealed under the master key.
    sealed_secret   BLOB NOT NULL,
    -- The webhook-transport plugin that delivers to this endpoint.
    transport       TEXT NOT NULL,
    -- Per-endpoint transport settings, a JSON object (never a secret).
    config          TEXT NOT NULL DEFAULT '{}',
    description     TEXT,
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX webhooks_by_org ON webhooks (organization_id, active);

-- The outbox. An event is written only when some active webhook subscribes to it.
CREATE TABLE webhook_events (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id      TEXT,
    event_type      TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    -- The event's data, a JSON object.
    payload         TEXT NOT NULL
);

-- One event for one webhook. A dispatcher leases due rows (lease_token, lease_until) and
-- writes the outcome back; a lease that runs out (a crash) makes the row due again.
CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    status           TEXT NOT NULL,      -- pending | delivered | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_token      TEXT,
    lease_until      TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    -- The delivery this one repeats, for redeliveries asked through the API.
    redelivery_of    TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_token) WHERE lease_token IS NOT NULL;

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- The receiver's HTTP status; NULL when no answer came.
    status_code INTEGER,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- Expiry notices already given, so that each is given once: `expiring:<days>` per
-- configured threshold, and `expired`.
CREATE TABLE certificate_expiry_notices (
    certificate_id TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    notice         TEXT NOT NULL,
    noticed_at     TEXT NOT NULL,
    PRIMARY KEY (certificate_id, notice)
);
CREATE INDEX certificates_by_expiry ON certificates (not_after) WHERE status = 'active';
