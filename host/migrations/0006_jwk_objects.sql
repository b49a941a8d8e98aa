-- JWK objects: named public JWKs per project, made from a source (URL, pasted JSON,
-- certificate, key, keystore), and their publication in each environment's JWKS.
CREATE TABLE jwk_objects (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT,
    source_type     TEXT NOT NULL,
    -- The source fields the object was made from, as JSON (never a secret).
    source          TEXT NOT NULL,
    -- The public JWK, as JSON.
    jwk             TEXT NOT NULL,
    kid             TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE jwk_deployments (
    jwk_id         TEXT NOT NULL REFERENCES jwk_objects(id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    deployed_at    TEXT NOT NULL,
    PRIMARY KEY (jwk_id, environment_id)
);
CREATE INDEX jwk_deployments_environment ON jwk_deployments (environment_id);
