-- Indexes written by every issuance grow at their end: serial numbers lead with the
-- time of issue, so the serial index leads with the serial (lookups by CA and serial
-- still use it). Fingerprints are random, so only imports, which rely on them to refuse
-- a certificate already held, keep a fingerprint index; an import finds an issued copy
-- of itself by serial and fingerprint.
DROP INDEX certificates_by_serial;
CREATE UNIQUE INDEX certificates_by_serial ON certificates (serial_number, ca_id);
DROP INDEX certificates_by_fingerprint;
CREATE UNIQUE INDEX certificates_imported_by_fingerprint ON certificates (project_id, fingerprint_sha256)
    WHERE source = 'imported';
