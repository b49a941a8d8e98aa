-- Certificate authorities, templates, certificates and CRLs.

CREATE TABLE cas (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,            -- root | intermediate
    parent_id       TEXT REFERENCES cas(id),
    status          TEXT NOT NULL,            -- active | pending_certificate | disabled
    key_algorithm   TEXT NOT NULL,
    subject         TEXT NOT NULL,
    certificate_pem TEXT,
    csr_pem         TEXT,
    sealed_key      BLOB NOT NULL,
    serial_number   TEXT,
    not_before      TEXT,
    not_after       TEXT,
    crl_number      INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE templates (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT,
    ca_id           TEXT NOT NULL REFERENCES cas(id),
    rules           TEXT NOT NULL,            -- JSON, see pki::template::TemplateRules
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE certificates (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    ca_id              TEXT REFERENCES cas(id),
    template_id        TEXT REFERENCES templates(id),
    status             TEXT NOT NULL,         -- pending_approval | active | rejected | revoked | archived
    archived_status    TEXT,                  -- the status to restore
    common_name        TEXT NOT NULL,
    subject            TEXT NOT NULL,         -- JSON object of subject fields
    san                TEXT NOT NULL,         -- JSON object: dns_names, ip_addresses, email_addresses, uris
    key_type           TEXT NOT NULL,
    key_storage_mode   TEXT NOT NULL,         -- local | none
    validity_days      INTEGER NOT NULL,
    csr_pem            TEXT NOT NULL,
    serial_number      TEXT,
    certificate_der    BLOB,
    sealed_key         BLOB,
    fingerprint_sha256 TEXT,
    issuer_cn          TEXT,
    not_before         TEXT,
    not_after          TEXT,
    requested_by       TEXT NOT NULL,
    requested_at       TEXT NOT NULL,
    decided_by         TEXT,
    decided_at         TEXT,
    rejection_reason   TEXT,
    revoked_at         TEXT,
    revoked_by         TEXT,
    revocation_reason  TEXT,
    revocation_comment TEXT,
    properties         TEXT NOT NULL DEFAULT '{}',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX certificates_by_tenant ON certificates (organization_id, project_id, status);
CREATE UNIQUE INDEX certificates_by_serial ON certificates (ca_id, serial_number);
CREATE INDEX certificates_revoked ON certificates (ca_id, revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE crls (
    ca_id           TEXT NOT NULL REFERENCES cas(id) ON DELETE CASCADE,
    crl_number      INTEGER NOT NULL,
    kind            TEXT NOT NULL,            -- full | delta
    base_crl_number INTEGER,
    der             BLOB NOT NULL,
    this_update     TEXT NOT NULL,
    next_update     TEXT NOT NULL,
    PRIMARY KEY (ca_id, crl_number)
);
