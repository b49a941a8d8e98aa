//! Template records: a name, the CA that signs, and the rules.

use uuid::Uuid;

use super::Pki;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::model::{Template, TemplateRules};
use crate::store::StoreError;
use crate::{Error, Result, timestamp};

#[derive(Debug)]
pub struct TemplateInput {
    pub name: String,
    pub description: Option<String>,
    pub ca_id: String,
    pub rules: TemplateRules,
}

impl Pki {
    async fn checked_template(
        &self,
        caller: &Caller,
        id: String,
        input: TemplateInput,
    ) -> Result<Template> {
        let name = crate::tenancy::validate_name("name", input.name)?;
        input.rules.validate()?;
        self.check_validator_names(&input.rules)?;
        self.store
            .ca_get(caller.scope(), &input.ca_id)
            .await?
            .ok_or_else(|| {
                Error::bad_request(
                    "ca_id",
                    format!("no CA '{}' in this organization", input.ca_id),
                )
            })?;
        let now = timestamp::now();
        Ok(Template {
            id,
            organization_id: caller.organization_id().to_owned(),
            name,
            description: input.description,
            ca_id: input.ca_id,
            rules: input.rules,
            created_at: now,
            updated_at: now,
        })
    }

    pub async fn create_template(&self, caller: &Caller, input: TemplateInput) -> Result<Template> {
        let template = self
            .checked_template(caller, Uuid::new_v4().to_string(), input)
            .await?;
        self.store
            .template_insert(template.clone())
            .await
            .map_err(|err| conflict(err, &template.name))?;
        self.audit
            .record(caller.success("template.create", &template.id, Severity::Medium, None))
            .await?;
        Ok(template)
    }

    pub async fn update_template(
        &self,
        caller: &Caller,
        id: &str,
        input: TemplateInput,
    ) -> Result<Template> {
        let existing = self.get_template(caller, id).await?;
        let mut template = self
            .checked_template(caller, existing.id.clone(), input)
            .await?;
        template.created_at = existing.created_at;
        self.store
            .template_update(template.clone())
            .await
            .map_err(|err| conflict(err, &template.name))?;
        self.audit
            .record(caller.success("template.update", &template.id, Severity::Medium, None))
            .await?;
        Ok(template)
    }

    /// A template by id or name.
    pub async fn get_template(&self, caller: &Caller, id: &str) -> Result<Template> {
        self.store
            .template_get(caller.scope(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("template '{id}'")))
    }

    pub async fn list_templates(
        &self,
        caller: &Caller,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Template>, i64)> {
        Ok(self
            .store
            .template_list(caller.scope(), offset, limit)
            .await?)
    }

    pub async fn delete_template(&self, caller: &Caller, id: &str) -> Result<()> {
        let template = self.get_template(caller, id).await?;
        if self.store.template_in_use(&template.id).await? {
            return Err(Error::Conflict(format!(
                "template '{}' has certificates; it cannot be deleted",
                template.name
            )));
        }
        self.store
            .template_delete(caller.scope(), &template.id)
            .await?;
        self.audit
            .record(caller.success("template.delete", &template.id, Severity::Medium, None))
            .await
    }
}

fn conflict(err: StoreError, name: &str) -> Error {
    match err {
        StoreError::Conflict => Error::Conflict(format!("a template named '{name}' exists")),
        other => other.into(),
    }
}
