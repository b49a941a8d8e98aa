//! Template records: a name, the CA that signs, and the rules.

use uuid::Uuid;

use super::Pki;
use super::template::TemplateRules;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::store::{TemplateRow, is_unique_violation};
use crate::{Error, Result, timestamp};

#[derive(Debug)]
pub struct TemplateInput {
    pub name: String,
    pub description: Option<String>,
    pub ca_id: String,
    pub rules: TemplateRules,
}

impl Pki {
    async fn checked_row(
        &self,
        caller: &Caller,
        id: String,
        input: TemplateInput,
    ) -> Result<TemplateRow> {
        let name = crate::tenancy::validate_name("name", input.name)?;
        input.rules.validate()?;
        self.check_validator_names(&input.rules)?;
        self.store
            .ca_get(Some(caller.organization_id()), &input.ca_id)
            .await?
            .ok_or_else(|| {
                Error::bad_request(
                    "ca_id",
                    format!("no CA '{}' in this organization", input.ca_id),
                )
            })?;
        let now = timestamp::now_string();
        Ok(TemplateRow {
            id,
            organization_id: caller.organization_id().to_owned(),
            name,
            description: input.description,
            ca_id: input.ca_id,
            rules: serde_json::to_string(&input.rules).map_err(Error::internal)?,
            created_at: now.clone(),
            updated_at: now,
        })
    }

    pub async fn create_template(
        &self,
        caller: &Caller,
        input: TemplateInput,
    ) -> Result<TemplateRow> {
        let row = self
            .checked_row(caller, Uuid::new_v4().to_string(), input)
            .await?;
        self.store
            .template_insert(&row)
            .await
            .map_err(|err| conflict(err, &row.name))?;
        self.record(caller, "template.create", &row.id, Severity::Medium, None)
            .await?;
        Ok(row)
    }

    pub async fn update_template(
        &self,
        caller: &Caller,
        id: &str,
        input: TemplateInput,
    ) -> Result<TemplateRow> {
        let existing = self.get_template(caller, id).await?;
        let mut row = self.checked_row(caller, existing.id.clone(), input).await?;
        row.created_at = existing.created_at;
        self.store
            .template_update(&row)
            .await
            .map_err(|err| conflict(err, &row.name))?;
        self.record(caller, "template.update", &row.id, Severity::Medium, None)
            .await?;
        Ok(row)
    }

    /// A template by id or name.
    pub async fn get_template(&self, caller: &Caller, id: &str) -> Result<TemplateRow> {
        self.store
            .template_get(caller.organization_id(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("template '{id}'")))
    }

    pub async fn list_templates(
        &self,
        caller: &Caller,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TemplateRow>, i64)> {
        Ok(self
            .store
            .template_list(caller.organization_id(), offset, limit)
            .await?)
    }

    pub async fn delete_template(&self, caller: &Caller, id: &str) -> Result<()> {
        let row = self.get_template(caller, id).await?;
        if self.store.template_in_use(&row.id).await? {
            return Err(Error::Conflict(format!(
                "template '{}' has certificates; it cannot be deleted",
                row.name
            )));
        }
        self.store
            .template_delete(caller.organization_id(), &row.id)
            .await?;
        self.record(caller, "template.delete", &row.id, Severity::Medium, None)
            .await
    }
}

pub(super) fn rules_of(row: &TemplateRow) -> Result<TemplateRules> {
    serde_json::from_str(&row.rules).map_err(Error::internal)
}

fn conflict(err: sqlx::Error, name: &str) -> Error {
    if is_unique_violation(&err) {
        Error::Conflict(format!("a template named '{name}' exists"))
    } else {
        err.into()
    }
}
