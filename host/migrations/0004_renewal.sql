-- Renewal: the chain of certificates that replaced each other, and the queue of
-- renewals that wait for someone's approval.

ALTER TABLE certificates ADD COLUMN renewed_from TEXT REFERENCES certificates(id) ON DELETE SET NULL;
CREATE INDEX certificates_renewed_from ON certificates (renewed_from);

CREATE TABLE renewal_queue (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    certificate_id     TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    status             TEXT NOT NULL,      -- pending | renewed | cancelled | failed
    reason             TEXT NOT NULL,
    not_after          TEXT NOT NULL,      -- of the certificate to renew
    new_certificate_id TEXT REFERENCES certificates(id) ON DELETE SET NULL,
    decided_by         TEXT,
    decided_at         TEXT,
    error              TEXT,
    created_at         TEXT NOT NULL
);
-- At most one open entry per certificate.
CREATE UNIQUE INDEX renewal_queue_one_pending ON renewal_queue (certificate_id) WHERE status = 'pending';
CREATE INDEX renewal_queue_by_org ON renewal_queue (organization_id, status, created_at);
