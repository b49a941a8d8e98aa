//! CAs, templates, certificates, renewals and CRLs: rows and queries, and their mapping
//! to the domain model. Tenant-scoped queries take a [`Scope`].

use sqlx::{FromRow, QueryBuilder, Sqlite};
use time::OffsetDateTime;

use super::columns::{
    from_json, named, optional_time, optional_time_text, time, time_text, to_json,
};
use super::{Scope, Store, StoreError, WriteTx};
use crate::crypto::Sealed;
use crate::model::{CaKind, CaStatus, CertificateAuthority, KeyAlgorithm, Template};

#[derive(FromRow)]
struct CaRow {
    id: String,
    organization_id: String,
    name: String,
    kind: String,
    parent_id: Option<String>,
    status: String,
    key_algorithm: String,
    subject: String,
    certificate_pem: Option<String>,
    csr_pem: Option<String>,
    sealed_key: Vec<u8>,
    serial_number: Option<String>,
    not_before: Option<String>,
    not_after: Option<String>,
    created_at: String,
    updated_at: String,
}

impl TryFrom<CaRow> for CertificateAuthority {
    type Error = StoreError;

    fn try_from(row: CaRow) -> Result<Self, StoreError> {
        Ok(Self {
            kind: named("CA kind", &row.kind, CaKind::parse)?,
            status: named("CA status", &row.status, CaStatus::parse)?,
            key_algorithm: named(
                "CA key algorithm",
                &row.key_algorithm,
                KeyAlgorithm::from_label,
            )?,
            subject: from_json("CA subject", &row.subject)?,
            not_before: optional_time(row.not_before.as_deref())?,
            not_after: optional_time(row.not_after.as_deref())?,
            created_at: time(&row.created_at)?,
            updated_at: time(&row.updated_at)?,
            sealed_key: Sealed(row.sealed_key),
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            parent_id: row.parent_id,
            certificate_pem: row.certificate_pem,
            csr_pem: row.csr_pem,
            serial_number: row.serial_number,
        })
    }
}

fn cas(rows: Vec<CaRow>) -> Result<Vec<CertificateAuthority>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

#[derive(FromRow)]
struct TemplateRow {
    id: String,
    organization_id: String,
    name: String,
    description: Option<String>,
    ca_id: String,
    rules: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<TemplateRow> for Template {
    type Error = StoreError;

    fn try_from(row: TemplateRow) -> Result<Self, StoreError> {
        Ok(Self {
            rules: from_json("template rules", &row.rules)?,
            created_at: time(&row.created_at)?,
            updated_at: time(&row.updated_at)?,
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            description: row.description,
            ca_id: row.ca_id,
        })
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct CertificateRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub ca_id: Option<String>,
    pub template_id: Option<String>,
    pub status: String,
    pub archived_status: Option<String>,
    pub common_name: String,
    pub subject: String,
    pub san: String,
    pub key_type: String,
    pub key_storage_mode: String,
    pub validity_days: i64,
    pub csr_pem: String,
    pub serial_number: Option<String>,
    pub certificate_der: Option<Vec<u8>>,
    pub sealed_key: Option<Vec<u8>>,
    pub fingerprint_sha256: Option<String>,
    pub issuer_cn: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub rejection_reason: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    pub revocation_reason: Option<String>,
    pub revocation_comment: Option<String>,
    pub properties: String,
    pub created_at: String,
    pub updated_at: String,
    /// The certificate this one renewed.
    pub renewed_from: Option<String>,
    /// `issued`, `imported` or `mtls`.
    pub source: String,
    /// The chain an imported certificate arrived with (PEM).
    pub chain_pem: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct RenewalRow {
    pub id: String,
    pub organization_id: String,
    pub certificate_id: String,
    pub status: String,
    pub reason: String,
    pub not_after: String,
    pub new_certificate_id: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
}

/// What a certificate list is filtered by. `organization_id` is always set.
#[derive(Debug, Default)]
pub struct CertificateFilter {
    pub organization_id: String,
    pub project_id: Option<String>,
    pub status: Option<String>,
    /// `expired` is not stored: it means active with `not_after` before `now`.
    pub expired: Option<bool>,
    pub ca_id: Option<String>,
    pub common_name: Option<String>,
    pub not_after_before: Option<String>,
    /// `issued`, `imported` or `mtls`.
    pub source: Option<String>,
    pub now: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct RevokedEntry {
    pub serial_number: String,
    pub revoked_at: String,
    pub revocation_reason: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct CrlRow {
    pub ca_id: String,
    pub crl_number: i64,
    pub kind: String,
    pub base_crl_number: Option<i64>,
    pub der: Vec<u8>,
    pub this_update: String,
    pub next_update: String,
}

impl Store {
    // ---- CAs ----

    pub async fn ca_insert(&self, ca: &CertificateAuthority) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cas (id, organization_id, name, kind, parent_id, status, key_algorithm, subject,
                              certificate_pem, csr_pem, sealed_key, serial_number, not_before, not_after,
                              created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&ca.id)
        .bind(&ca.organization_id)
        .bind(&ca.name)
        .bind(ca.kind.as_str())
        .bind(&ca.parent_id)
        .bind(ca.status.as_str())
        .bind(ca.key_algorithm.label())
        .bind(to_json(&ca.subject)?)
        .bind(&ca.certificate_pem)
        .bind(&ca.csr_pem)
        .bind(&ca.sealed_key.0)
        .bind(&ca.serial_number)
        .bind(optional_time_text(ca.not_before))
        .bind(optional_time_text(ca.not_after))
        .bind(time_text(ca.created_at))
        .bind(time_text(ca.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A CA of the scope's organization. CAs belong to the organization: every project
    /// of it sees them.
    pub async fn ca_get(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<CertificateAuthority>, StoreError> {
        let row: Option<CaRow> =
            sqlx::query_as("SELECT * FROM cas WHERE id = ? AND organization_id = ?")
                .bind(id)
                .bind(scope.organization_id())
                .fetch_optional(&self.pool)
                .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// A CA of any organization: the public CRL and OCSP endpoints, and the jobs that
    /// refresh CRLs, address CAs by id alone.
    pub async fn ca_get_any(&self, id: &str) -> Result<Option<CertificateAuthority>, StoreError> {
        let row: Option<CaRow> = sqlx::query_as("SELECT * FROM cas WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub async fn ca_by_name(
        &self,
        scope: Scope<'_>,
        name: &str,
    ) -> Result<Option<CertificateAuthority>, StoreError> {
        let row: Option<CaRow> =
            sqlx::query_as("SELECT * FROM cas WHERE organization_id = ? AND name = ?")
                .bind(scope.organization_id())
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub async fn ca_list(
        &self,
        scope: Scope<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<CertificateAuthority>, i64), StoreError> {
        let rows = sqlx::query_as(
            "SELECT * FROM cas WHERE organization_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
        )
        .bind(scope.organization_id())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM cas WHERE organization_id = ?")
            .bind(scope.organization_id())
            .fetch_one(&self.pool)
            .await?;
        Ok((cas(rows)?, total))
    }

    /// Writes back what changes over a CA's life: its status and its certificate.
    pub async fn ca_update(&self, ca: &CertificateAuthority) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cas SET status = ?, certificate_pem = ?, csr_pem = ?, serial_number = ?,
                            not_before = ?, not_after = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
        )
        .bind(ca.status.as_str())
        .bind(&ca.certificate_pem)
        .bind(&ca.csr_pem)
        .bind(&ca.serial_number)
        .bind(optional_time_text(ca.not_before))
        .bind(optional_time_text(ca.not_after))
        .bind(time_text(ca.updated_at))
        .bind(&ca.id)
        .bind(&ca.organization_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the next CRL number of a CA.
    pub async fn ca_next_crl_number(&self, id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE cas SET crl_number = crl_number + 1 WHERE id = ? RETURNING crl_number",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    // ---- templates ----

    pub async fn template_insert(&self, template: &Template) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO templates (id, organization_id, name, description, ca_id, rules, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&template.id)
        .bind(&template.organization_id)
        .bind(&template.name)
        .bind(&template.description)
        .bind(&template.ca_id)
        .bind(to_json(&template.rules)?)
        .bind(time_text(template.created_at))
        .bind(time_text(template.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A template of the scope's organization, by id or name. Templates belong to the
    /// organization: every project of it uses them.
    pub async fn template_get(
        &self,
        scope: Scope<'_>,
        id_or_name: &str,
    ) -> Result<Option<Template>, StoreError> {
        let row: Option<TemplateRow> = sqlx::query_as(
            "SELECT * FROM templates WHERE organization_id = ?1 AND (id = ?2 OR name = ?2)",
        )
        .bind(scope.organization_id())
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub async fn template_list(
        &self,
        scope: Scope<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Template>, i64), StoreError> {
        let rows: Vec<TemplateRow> = sqlx::query_as(
            "SELECT * FROM templates WHERE organization_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
        )
        .bind(scope.organization_id())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM templates WHERE organization_id = ?")
            .bind(scope.organization_id())
            .fetch_one(&self.pool)
            .await?;
        let templates = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?;
        Ok((templates, total))
    }

    /// Writes back everything but the id, the organization and the creation time.
    pub async fn template_update(&self, template: &Template) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE templates SET name = ?, description = ?, ca_id = ?, rules = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
        )
        .bind(&template.name)
        .bind(&template.description)
        .bind(&template.ca_id)
        .bind(to_json(&template.rules)?)
        .bind(time_text(template.updated_at))
        .bind(&template.id)
        .bind(&template.organization_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn template_delete(&self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM templates WHERE organization_id = ? AND id = ?")
            .bind(scope.organization_id())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn template_in_use(&self, id: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM certificates WHERE template_id = ?)")
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    // ---- certificates ----

    /// A write of its own. A change with an audit event or webhook events writes through
    /// [`WriteTx::certificate_insert`] instead, so that they commit together.
    pub async fn certificate_insert(&self, row: &CertificateRow) -> Result<(), sqlx::Error> {
        insert_certificate(&self.pool, row).await
    }

    /// Writes every mutable column back. `expected_status` guards against a concurrent
    /// transition: the update applies only when the stored status is still that one.
    pub async fn certificate_update(
        &self,
        row: &CertificateRow,
        expected_status: &str,
    ) -> Result<bool, sqlx::Error> {
        update_certificate(&self.pool, row, expected_status).await
    }

    pub async fn certificate_get(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<CertificateRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM certificates WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// The certificate of a project with this SHA-256 fingerprint (lowercase hex).
    pub async fn certificate_by_fingerprint(
        &self,
        project_id: &str,
        fingerprint_sha256: &str,
    ) -> Result<Option<CertificateRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM certificates WHERE project_id = ? AND fingerprint_sha256 = ?")
            .bind(project_id)
            .bind(fingerprint_sha256)
            .fetch_optional(&self.pool)
            .await
    }

    /// A project's certificates from one source that are not archived, newest first.
    pub async fn certificates_by_source(
        &self,
        organization_id: &str,
        project_id: &str,
        source: &str,
    ) -> Result<Vec<CertificateRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT * FROM certificates
             WHERE organization_id = ? AND project_id = ? AND source = ? AND status <> 'archived'
             ORDER BY created_at DESC, id",
        )
        .bind(organization_id)
        .bind(project_id)
        .bind(source)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn certificate_by_serial(
        &self,
        ca_id: &str,
        serial_number: &str,
    ) -> Result<Option<CertificateRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM certificates WHERE ca_id = ? AND serial_number = ?")
            .bind(ca_id)
            .bind(serial_number)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn certificate_delete(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM certificates WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn certificate_list(
        &self,
        filter: &CertificateFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<CertificateRow>, i64), sqlx::Error> {
        let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM certificates");
        push_certificate_filter(&mut select, filter);
        select.push(" ORDER BY created_at DESC, id LIMIT ");
        select.push_bind(limit).push(" OFFSET ").push_bind(offset);
        let rows = select.build_query_as().fetch_all(&self.pool).await?;
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM certificates");
        push_certificate_filter(&mut count, filter);
        let total = count.build_query_scalar().fetch_one(&self.pool).await?;
        Ok((rows, total))
    }

    /// Revocations of a CA's certificates (for CRLs); `since` limits to newer ones (delta CRLs).
    /// Archived revoked certificates stay listed: archiving does not unrevoke.
    pub async fn revoked_for_ca(
        &self,
        ca_id: &str,
        since: Option<&str>,
    ) -> Result<Vec<RevokedEntry>, sqlx::Error> {
        sqlx::query_as(
            "SELECT serial_number, revoked_at, revocation_reason FROM certificates
             WHERE ca_id = ?1 AND revoked_at IS NOT NULL AND serial_number IS NOT NULL
               AND (?2 IS NULL OR revoked_at >= ?2)
             ORDER BY revoked_at",
        )
        .bind(ca_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await
    }

    // ---- renewal ----

    /// Certificates that renewed `id`.
    pub async fn certificate_renewals(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Vec<CertificateRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM certificates WHERE organization_id = ? AND renewed_from = ? ORDER BY created_at")
            .bind(organization_id)
            .bind(id)
            .fetch_all(&self.pool)
            .await
    }

    /// Active templated certificates ending before `before` that nothing renewed yet and
    /// that never had a queue entry (a cancelled or failed one stays decided), with their
    /// template's rules (JSON).
    pub async fn renewal_candidates(
        &self,
        before: &str,
    ) -> Result<Vec<(CertificateRow, String)>, sqlx::Error> {
        let rows: Vec<CertificateRow> = sqlx::query_as(
            "SELECT c.* FROM certificates c
             WHERE c.status = 'active' AND c.template_id IS NOT NULL AND c.not_after <= ?
               AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.renewed_from = c.id)
               AND NOT EXISTS (SELECT 1 FROM renewal_queue q WHERE q.certificate_id = c.id)
             ORDER BY c.not_after LIMIT 500",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let rules: Option<String> =
                sqlx::query_scalar("SELECT rules FROM templates WHERE id = ?")
                    .bind(&row.template_id)
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(rules) = rules {
                out.push((row, rules));
            }
        }
        Ok(out)
    }

    pub async fn renewal_insert(&self, row: &RenewalRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO renewal_queue (id, organization_id, certificate_id, status, reason, not_after,
                new_certificate_id, decided_by, decided_at, error, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.certificate_id)
        .bind(&row.status)
        .bind(&row.reason)
        .bind(&row.not_after)
        .bind(&row.new_certificate_id)
        .bind(&row.decided_by)
        .bind(&row.decided_at)
        .bind(&row.error)
        .bind(&row.created_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn renewal_get(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<RenewalRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM renewal_queue WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Moves an entry out of `pending`; false when it was no longer pending.
    pub async fn renewal_decide(&self, row: &RenewalRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE renewal_queue SET status = ?, new_certificate_id = ?, decided_by = ?, decided_at = ?, error = ?
             WHERE id = ? AND organization_id = ? AND status = 'pending'",
        )
        .bind(&row.status)
        .bind(&row.new_certificate_id)
        .bind(&row.decided_by)
        .bind(&row.decided_at)
        .bind(&row.error)
        .bind(&row.id)
        .bind(&row.organization_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn renewal_list(
        &self,
        organization_id: &str,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RenewalRow>, i64), sqlx::Error> {
        let rows = sqlx::query_as(
            "SELECT * FROM renewal_queue WHERE organization_id = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4",
        )
        .bind(organization_id)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar(
            "SELECT COUNT(*) FROM renewal_queue WHERE organization_id = ?1 AND (?2 IS NULL OR status = ?2)",
        )
        .bind(organization_id)
        .bind(status)
        .fetch_one(&self.pool)
        .await?;
        Ok((rows, total))
    }

    // ---- CRLs ----

    pub async fn crl_insert(&self, row: &CrlRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO crls (ca_id, crl_number, kind, base_crl_number, der, this_update, next_update)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.ca_id)
        .bind(row.crl_number)
        .bind(&row.kind)
        .bind(row.base_crl_number)
        .bind(&row.der)
        .bind(&row.this_update)
        .bind(&row.next_update)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// The newest CRL of a kind (`full` or `delta`).
    pub async fn crl_latest(&self, ca_id: &str, kind: &str) -> Result<Option<CrlRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT * FROM crls WHERE ca_id = ? AND kind = ? ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(ca_id)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await
    }

    /// Active CAs whose newest full CRL is due before `before`, or that have none yet.
    pub async fn cas_needing_crl(&self, before: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT c.id FROM cas c WHERE c.status = 'active' AND NOT EXISTS (
                 SELECT 1 FROM crls r WHERE r.ca_id = c.id AND r.kind = 'full' AND r.next_update > ?)",
        )
        .bind(time_text(before))
        .fetch_all(&self.pool)
        .await?)
    }
}

impl WriteTx {
    pub async fn certificate_insert(&mut self, row: &CertificateRow) -> Result<(), sqlx::Error> {
        insert_certificate(self.conn(), row).await
    }

    /// As [`Store::certificate_update`], inside the transaction.
    pub async fn certificate_update(
        &mut self,
        row: &CertificateRow,
        expected_status: &str,
    ) -> Result<bool, sqlx::Error> {
        update_certificate(self.conn(), row, expected_status).await
    }

    pub async fn certificate_delete(
        &mut self,
        organization_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM certificates WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn insert_certificate<'e, E>(executor: E, row: &CertificateRow) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO certificates (id, organization_id, project_id, ca_id, template_id, status,
            archived_status, common_name, subject, san, key_type, key_storage_mode, validity_days,
            csr_pem, serial_number, certificate_der, sealed_key, fingerprint_sha256, issuer_cn,
            not_before, not_after, requested_by, requested_at, decided_by, decided_at,
            rejection_reason, revoked_at, revoked_by, revocation_reason, revocation_comment,
            properties, created_at, updated_at, renewed_from, source, chain_pem)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                 ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.id)
    .bind(&row.organization_id)
    .bind(&row.project_id)
    .bind(&row.ca_id)
    .bind(&row.template_id)
    .bind(&row.status)
    .bind(&row.archived_status)
    .bind(&row.common_name)
    .bind(&row.subject)
    .bind(&row.san)
    .bind(&row.key_type)
    .bind(&row.key_storage_mode)
    .bind(row.validity_days)
    .bind(&row.csr_pem)
    .bind(&row.serial_number)
    .bind(&row.certificate_der)
    .bind(&row.sealed_key)
    .bind(&row.fingerprint_sha256)
    .bind(&row.issuer_cn)
    .bind(&row.not_before)
    .bind(&row.not_after)
    .bind(&row.requested_by)
    .bind(&row.requested_at)
    .bind(&row.decided_by)
    .bind(&row.decided_at)
    .bind(&row.rejection_reason)
    .bind(&row.revoked_at)
    .bind(&row.revoked_by)
    .bind(&row.revocation_reason)
    .bind(&row.revocation_comment)
    .bind(&row.properties)
    .bind(&row.created_at)
    .bind(&row.updated_at)
    .bind(&row.renewed_from)
    .bind(&row.source)
    .bind(&row.chain_pem)
    .execute(executor)
    .await
    .map(|_| ())
}

async fn update_certificate<'e, E>(
    executor: E,
    row: &CertificateRow,
    expected_status: &str,
) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let done = sqlx::query(
        "UPDATE certificates SET status = ?, archived_status = ?, serial_number = ?,
            certificate_der = ?, sealed_key = ?, fingerprint_sha256 = ?, issuer_cn = ?,
            not_before = ?, not_after = ?, decided_by = ?, decided_at = ?, rejection_reason = ?,
            revoked_at = ?, revoked_by = ?, revocation_reason = ?, revocation_comment = ?,
            properties = ?, updated_at = ?
         WHERE id = ? AND organization_id = ? AND status = ?",
    )
    .bind(&row.status)
    .bind(&row.archived_status)
    .bind(&row.serial_number)
    .bind(&row.certificate_der)
    .bind(&row.sealed_key)
    .bind(&row.fingerprint_sha256)
    .bind(&row.issuer_cn)
    .bind(&row.not_before)
    .bind(&row.not_after)
    .bind(&row.decided_by)
    .bind(&row.decided_at)
    .bind(&row.rejection_reason)
    .bind(&row.revoked_at)
    .bind(&row.revoked_by)
    .bind(&row.revocation_reason)
    .bind(&row.revocation_comment)
    .bind(&row.properties)
    .bind(&row.updated_at)
    .bind(&row.id)
    .bind(&row.organization_id)
    .bind(expected_status)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn push_certificate_filter<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    filter: &'a CertificateFilter,
) {
    query
        .push(" WHERE organization_id = ")
        .push_bind(filter.organization_id.as_str());
    if let Some(project) = &filter.project_id {
        query.push(" AND project_id = ").push_bind(project.as_str());
    }
    if let Some(status) = &filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    match filter.expired {
        Some(true) => {
            query
                .push(" AND not_after < ")
                .push_bind(filter.now.as_str());
        }
        Some(false) => {
            query
                .push(" AND (not_after IS NULL OR not_after >= ")
                .push_bind(filter.now.as_str())
                .push(")");
        }
        None => {}
    }
    if let Some(ca) = &filter.ca_id {
        query.push(" AND ca_id = ").push_bind(ca.as_str());
    }
    if let Some(cn) = &filter.common_name {
        query
            .push(" AND instr(lower(common_name), lower(")
            .push_bind(cn.as_str())
            .push(")) > 0");
    }
    if let Some(before) = &filter.not_after_before {
        query.push(" AND not_after <= ").push_bind(before.as_str());
    }
    if let Some(source) = &filter.source {
        query.push(" AND source = ").push_bind(source.as_str());
    }
}
