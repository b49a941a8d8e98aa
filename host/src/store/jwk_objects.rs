//! JWK objects and their publication per environment.

use rusqlite::params;
use serde_json::{Map, Value};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::codec::{json, json_text, name, time};
use super::{Store, StoreError, Tx};
use crate::model::JwkObject;
use crate::model::jwk_object::JwkSourceType;
use crate::timestamp;

#[derive(FromRow)]
struct JwkObjectRow {
    id: String,
    organization_id: String,
    project_id: String,
    name: String,
    description: Option<String>,
    source_type: String,
    /// The source fields, a JSON object.
    source: String,
    /// The public JWK, a JSON object.
    jwk: String,
    kid: String,
    created_at: String,
    updated_at: String,
}

impl JwkObjectRow {
    fn into_model(self) -> Result<JwkObject, StoreError> {
        Ok(JwkObject {
            source_type: name(
                "jwk_objects.source_type",
                &self.source_type,
                JwkSourceType::parse,
            )?,
            source: json("jwk_objects.source", &self.source)?,
            jwk: json("jwk_objects.jwk", &self.jwk)?,
            created_at: time("jwk_objects.created_at", &self.created_at)?,
            updated_at: time("jwk_objects.updated_at", &self.updated_at)?,
            id: self.id,
            organization_id: self.organization_id,
            project_id: self.project_id,
            name: self.name,
            description: self.description,
            kid: self.kid,
        })
    }
}

impl Store {
    /// Replaces everything but the id, the name and the creation time.
    pub async fn jwk_object_update(&self, object: JwkObject) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.jwk_object_update(&object))
            .await
    }

    pub async fn jwk_object_list(&self, project_id: &str) -> Result<Vec<JwkObject>, StoreError> {
        let rows: Vec<JwkObjectRow> =
            sqlx::query_as("SELECT * FROM jwk_objects WHERE project_id = ? ORDER BY name")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(JwkObjectRow::into_model).collect()
    }

    pub async fn jwk_object_get(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<JwkObject>, StoreError> {
        let row: Option<JwkObjectRow> =
            sqlx::query_as("SELECT * FROM jwk_objects WHERE project_id = ? AND name = ?")
                .bind(project_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(JwkObjectRow::into_model).transpose()
    }

    pub async fn jwk_object_delete(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.transaction(move |tx| tx.jwk_object_delete(&id)).await
    }

    /// Publishes the object in one environment (again, if it already is).
    pub async fn jwk_deploy(
        &self,
        jwk_id: &str,
        environment_id: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (jwk_id, environment_id) = (jwk_id.to_owned(), environment_id.to_owned());
        self.transaction(move |tx| tx.jwk_deploy(&jwk_id, &environment_id, at))
            .await
    }

    /// Names of the environments an object is published in.
    pub async fn jwk_deployed_environments(&self, jwk_id: &str) -> Result<Vec<String>, StoreError> {
        let names = sqlx::query_scalar(
            "SELECT e.name FROM jwk_deployments d JOIN environments e ON e.id = d.environment_id \
             WHERE d.jwk_id = ? ORDER BY e.name",
        )
        .bind(jwk_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(names)
    }

    /// The public JWKs published in an environment, addressed by project id and
    /// environment id or name; `None` when no such environment exists.
    pub async fn environment_jwks(
        &self,
        project_id: &str,
        env: &str,
    ) -> Result<Option<Vec<Map<String, Value>>>, StoreError> {
        let environment: Option<String> = sqlx::query_scalar(
            "SELECT id FROM environments WHERE project_id = ?1 AND (id = ?2 OR name = ?2)",
        )
        .bind(project_id)
        .bind(env)
        .fetch_optional(&self.pool)
        .await?;
        let Some(environment) = environment else {
            return Ok(None);
        };
        let jwks: Vec<String> = sqlx::query_scalar(
            "SELECT j.jwk FROM jwk_deployments d JOIN jwk_objects j ON j.id = d.jwk_id \
             WHERE d.environment_id = ? ORDER BY j.name",
        )
        .bind(environment)
        .fetch_all(&self.pool)
        .await?;
        let jwks = jwks
            .iter()
            .map(|jwk| json("jwk_objects.jwk", jwk))
            .collect::<Result<_, _>>()?;
        Ok(Some(jwks))
    }

    /// The DER of the newest issued certificate of a project with that id or common name.
    pub async fn certificate_der_by_name(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let der = sqlx::query_scalar(
            "SELECT certificate_der FROM certificates WHERE project_id = ?1 \
             AND (id = ?2 OR common_name = ?2) AND certificate_der IS NOT NULL \
             ORDER BY requested_at DESC LIMIT 1",
        )
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(der)
    }
}

impl Tx<'_> {
    pub fn jwk_object_insert(&mut self, object: &JwkObject) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO jwk_objects (id, organization_id, project_id, name, description, \
             source_type, source, jwk, kid, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                object.id,
                object.organization_id,
                object.project_id,
                object.name,
                object.description,
                object.source_type.as_str(),
                json_text(&object.source)?,
                json_text(&object.jwk)?,
                object.kid,
                timestamp::format(object.created_at),
                timestamp::format(object.updated_at),
            ],
        )?;
        Ok(())
    }

    /// Replaces everything but the id, the name and the creation time.
    pub fn jwk_object_update(&mut self, object: &JwkObject) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE jwk_objects SET description = ?, source_type = ?, source = ?, jwk = ?, \
             kid = ?, updated_at = ? WHERE id = ?",
            params![
                object.description,
                object.source_type.as_str(),
                json_text(&object.source)?,
                json_text(&object.jwk)?,
                object.kid,
                timestamp::format(object.updated_at),
                object.id,
            ],
        )?;
        Ok(done == 1)
    }

    pub fn jwk_object_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM jwk_objects WHERE id = ?", [id])? == 1)
    }

    /// Publishes the object in one environment (again, if it already is).
    pub fn jwk_deploy(
        &mut self,
        jwk_id: &str,
        environment_id: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO jwk_deployments (jwk_id, environment_id, deployed_at) VALUES (?, ?, ?) \
             ON CONFLICT (jwk_id, environment_id) DO UPDATE SET deployed_at = excluded.deployed_at",
            params![jwk_id, environment_id, timestamp::format(at)],
        )?;
        Ok(())
    }
}
