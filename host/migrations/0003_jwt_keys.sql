-- JWT signing keys. The private key is stored only sealed under the master key
-- (envelope encryption, the key's id bound in as associated data); the public parts are
-- stored in the clear so that the JWKS can be served without opening any secret.
CREATE TABLE jwt_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    -- RSA modulus length in bits; NULL for elliptic-curve and Edwards keys.
    key_size        INTEGER,
    -- RFC 7638 thumbprint of the public key: stable and unique.
    kid             TEXT NOT NULL UNIQUE,
    public_jwk      TEXT NOT NULL,
    public_pem      TEXT NOT NULL,
    sealed_private  BLOB NOT NULL,
    deprecated_at   TEXT,
    -- The key that replaced this one on rotation.
    replaced_by     TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX jwt_keys_by_project ON jwt_keys (project_id, created_at);
-- One active (not deprecated) key per name and project; rotation keeps the name.
CREATE UNIQUE INDEX jwt_keys_active_name ON jwt_keys (project_id, name) WHERE deprecated_at IS NULL;

-- Named key material that JWK sources read, per project and environment: uploaded PEM keys
-- and keystores (PKCS#12, JKS). Private keys, keystores and keystore passwords are stored
-- only sealed, each bound to its record (the password to "<id>:password").
CREATE TABLE stored_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT,
    -- PUBLIC_KEY or PRIVATE_KEY
    key_type        TEXT NOT NULL,
    -- The key's encoding, from its PEM label: SPKI, PKCS1, PKCS8 or SEC1.
    encoding        TEXT NOT NULL,
    -- Public keys only, in the clear.
    public_pem      TEXT,
    -- Private keys only.
    sealed_pem      BLOB,
    created_at      TEXT NOT NULL,
    UNIQUE (environment_id, name)
);

CREATE TABLE keystores (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT,
    -- PKCS12 or JKS
    format          TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    sealed_content  BLOB NOT NULL,
    sealed_password BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (environment_id, name)
);
