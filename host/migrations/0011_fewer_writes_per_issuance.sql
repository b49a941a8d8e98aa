-- Every issuance writes a certificate and its audit event; these make each write touch
-- fewer pages.

-- Most certificates renew none: only those that do are indexed.
DROP INDEX certificates_renewed_from;
CREATE INDEX certificates_renewed_from ON certificates (renewed_from) WHERE renewed_from IS NOT NULL;

-- Audit events are never deleted (the triggers refuse it), so the largest `seq` is never
-- given again without AUTOINCREMENT, which would update sqlite_sequence at every insert.
CREATE TABLE audit_events_appended (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    occurred_at     TEXT NOT NULL,
    organization_id TEXT,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT,
    severity        TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    request_id      TEXT,
    details         TEXT
);
INSERT INTO audit_events_appended
    SELECT seq, id, occurred_at, organization_id, actor, action, target, severity, outcome,
           request_id, details
    FROM audit_events ORDER BY seq;
-- Dropping a table deletes its rows without firing its triggers.
DROP TABLE audit_events;
ALTER TABLE audit_events_appended RENAME TO audit_events;
CREATE INDEX audit_events_by_org ON audit_events (organization_id, seq);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
