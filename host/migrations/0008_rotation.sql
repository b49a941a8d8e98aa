-- Rotation: pushing certificates to external targets (secret managers, file
-- systems, HTTP receivers) through rotation-target plugins. A certificate's
-- targets and rotation config follow it to the certificate that renews it.

CREATE TABLE rotation_configs (
    certificate_id      TEXT PRIMARY KEY REFERENCES certificates(id) ON DELETE CASCADE,
    organization_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    enabled             INTEGER NOT NULL,
    trigger_mode        TEXT NOT NULL,      -- on_renewal | before_expiry | schedule
    days_before_expiry  INTEGER,            -- before_expiry: renew and push this many days before
    interval_hours      INTEGER,            -- schedule: push again this often
    include_private_key INTEGER NOT NULL,
    next_run_at         TEXT,               -- when the scan next looks at this certificate
    updated_by          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX rotation_configs_due ON rotation_configs (enabled, next_run_at);

CREATE TABLE rotation_targets (
    id                  TEXT PRIMARY KEY,
    organization_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    certificate_id      TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    type                TEXT NOT NULL,      -- the rotation-target plugin's name
    enabled             INTEGER NOT NULL,
    config              TEXT NOT NULL,      -- JSON object handed to the plugin (no secrets)
    sealed_credentials  BLOB,               -- AES-256-GCM under the master key, AAD = the id
    key_custody         INTEGER NOT NULL DEFAULT 0, -- holds the externally stored private key
    last_status         TEXT,               -- succeeded | failed
    last_synced_at      TEXT,
    last_error          TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (certificate_id, name)
);
CREATE INDEX rotation_targets_by_certificate ON rotation_targets (certificate_id);

-- One row per push attempt: the queue (pending, running) and the history
-- (succeeded, failed, superseded).
CREATE TABLE rotation_runs (
    id                  TEXT PRIMARY KEY,
    organization_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    target_id           TEXT NOT NULL REFERENCES rotation_targets(id) ON DELETE CASCADE,
    certificate_id      TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    target_name         TEXT NOT NULL,
    target_type         TEXT NOT NULL,
    serial_number       TEXT,
    version             INTEGER NOT NULL,
    reason              TEXT NOT NULL,      -- manual | sync | renewal | issued | schedule | before_expiry | retry
    status              TEXT NOT NULL,      -- pending | running | succeeded | failed | superseded
    attempt             INTEGER NOT NULL,
    include_private_key INTEGER NOT NULL,
    next_attempt_at     TEXT NOT NULL,
    lease_until         TEXT,
    started_at          TEXT,
    finished_at         TEXT,
    duration_ms         INTEGER,
    error               TEXT,
    location            TEXT,
    destination_version TEXT,
    requested_by        TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE INDEX rotation_runs_due ON rotation_runs (status, next_attempt_at);
CREATE INDEX rotation_runs_by_target ON rotation_runs (target_id, created_at);
CREATE INDEX rotation_runs_by_certificate ON rotation_runs (certificate_id, created_at);
