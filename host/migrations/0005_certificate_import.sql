-- Certificate import and the mTLS certificate API: where a certificate came from, the
-- chain an imported certificate arrived with, and one copy of a certificate per project.

-- issued (signed here from a request) | imported | mtls (made by the mTLS API)
ALTER TABLE certificates ADD COLUMN source TEXT NOT NULL DEFAULT 'issued';
-- PEM certificates above an imported one, as given; issued certificates use their CA's.
ALTER TABLE certificates ADD COLUMN chain_pem TEXT;

CREATE INDEX certificates_by_source ON certificates (organization_id, project_id, source);
-- A certificate is held once per project: imports report a second copy as a duplicate.
CREATE UNIQUE INDEX certificates_by_fingerprint ON certificates (project_id, fingerprint_sha256)
    WHERE fingerprint_sha256 IS NOT NULL;
