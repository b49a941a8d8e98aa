//! CAs, templates, certificates, renewals and CRLs: rows and queries, and their mapping
//! to the domain model. Tenant-scoped queries take a [`Scope`].

use rusqlite::params;
use sqlx::{FromRow, QueryBuilder, Sqlite};
use time::OffsetDateTime;

use super::cache::Changed;
use super::codec::{
    int, json, json_text, name, optional_time, optional_time_text, time, unreadable,
};
use super::{Scope, Store, StoreError, Tx};
use crate::crypto::Sealed;
use crate::model::{
    CaKind, CaStatus, Certificate, CertificateAuthority, CertificateFilter, CertificateSource, Crl,
    CrlKind, Issued, KeyAlgorithm, KeyStorageMode, KeyType, RenewalRequest, RenewalStatus,
    Revocation, RevocationReason, RevokedSerial, Status, Template, TemplateRules,
};
use crate::timestamp;

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
            kind: name("cas.kind", &row.kind, CaKind::parse)?,
            status: name("cas.status", &row.status, CaStatus::parse)?,
            key_algorithm: name(
                "cas.key_algorithm",
                &row.key_algorithm,
                KeyAlgorithm::from_label,
            )?,
            subject: json("cas.subject", &row.subject)?,
            not_before: optional_time("cas.not_before", row.not_before.as_deref())?,
            not_after: optional_time("cas.not_after", row.not_after.as_deref())?,
            created_at: time("cas.created_at", &row.created_at)?,
            updated_at: time("cas.updated_at", &row.updated_at)?,
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
            rules: json("templates.rules", &row.rules)?,
            created_at: time("templates.created_at", &row.created_at)?,
            updated_at: time("templates.updated_at", &row.updated_at)?,
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            description: row.description,
            ca_id: row.ca_id,
        })
    }
}

#[derive(FromRow)]
struct CertificateRow {
    id: String,
    organization_id: String,
    project_id: String,
    ca_id: Option<String>,
    template_id: Option<String>,
    status: String,
    archived_status: Option<String>,
    common_name: String,
    subject: String,
    san: String,
    key_type: String,
    key_storage_mode: String,
    validity_days: i64,
    csr_pem: String,
    serial_number: Option<String>,
    certificate_der: Option<Vec<u8>>,
    sealed_key: Option<Vec<u8>>,
    fingerprint_sha256: Option<String>,
    issuer_cn: Option<String>,
    not_before: Option<String>,
    not_after: Option<String>,
    requested_by: String,
    requested_at: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    rejection_reason: Option<String>,
    revoked_at: Option<String>,
    revoked_by: Option<String>,
    revocation_reason: Option<String>,
    revocation_comment: Option<String>,
    properties: String,
    created_at: String,
    updated_at: String,
    renewed_from: Option<String>,
    source: String,
    chain_pem: Option<String>,
}

impl TryFrom<CertificateRow> for Certificate {
    type Error = StoreError;

    fn try_from(row: CertificateRow) -> Result<Self, StoreError> {
        let missing = |column: &'static str| {
            unreadable(
                column,
                format!("certificate {} is signed but has none", row.id),
            )
        };
        let issued = match row.certificate_der {
            None => None,
            Some(der) => Some(Issued {
                serial_number: row
                    .serial_number
                    .ok_or_else(|| missing("certificates.serial_number"))?,
                der,
                fingerprint_sha256: row
                    .fingerprint_sha256
                    .ok_or_else(|| missing("certificates.fingerprint_sha256"))?,
                issuer_cn: row.issuer_cn,
                not_before: time(
                    "certificates.not_before",
                    row.not_before
                        .as_deref()
                        .ok_or_else(|| missing("certificates.not_before"))?,
                )?,
                not_after: time(
                    "certificates.not_after",
                    row.not_after
                        .as_deref()
                        .ok_or_else(|| missing("certificates.not_after"))?,
                )?,
            }),
        };
        let revocation = match row.revoked_at {
            None => None,
            Some(at) => Some(Revocation {
                revoked_at: time("certificates.revoked_at", &at)?,
                revoked_by: row.revoked_by.unwrap_or_default(),
                reason: name(
                    "certificates.revocation_reason",
                    row.revocation_reason.as_deref().unwrap_or_default(),
                    RevocationReason::parse,
                )?,
                comment: row.revocation_comment,
            }),
        };
        Ok(Self {
            source: name("certificates.source", &row.source, CertificateSource::parse)?,
            status: name("certificates.status", &row.status, Status::parse)?,
            archived_status: row
                .archived_status
                .as_deref()
                .map(|text| name("certificates.archived_status", text, Status::parse))
                .transpose()?,
            subject: json("certificates.subject", &row.subject)?,
            san: json("certificates.san", &row.san)?,
            key_type: KeyType::from_label(&row.key_type),
            key_storage: name(
                "certificates.key_storage_mode",
                &row.key_storage_mode,
                KeyStorageMode::parse,
            )?,
            validity_days: int("certificates.validity_days", row.validity_days)?,
            csr_pem: Some(row.csr_pem).filter(|pem| !pem.is_empty()),
            issued,
            sealed_key: row.sealed_key.map(Sealed),
            requested_at: time("certificates.requested_at", &row.requested_at)?,
            decided_at: optional_time("certificates.decided_at", row.decided_at.as_deref())?,
            revocation,
            properties: json("certificates.properties", &row.properties)?,
            created_at: time("certificates.created_at", &row.created_at)?,
            updated_at: time("certificates.updated_at", &row.updated_at)?,
            id: row.id,
            organization_id: row.organization_id,
            project_id: row.project_id,
            ca_id: row.ca_id,
            template_id: row.template_id,
            common_name: row.common_name,
            requested_by: row.requested_by,
            decided_by: row.decided_by,
            rejection_reason: row.rejection_reason,
            renewed_from: row.renewed_from,
            chain_pem: row.chain_pem,
        })
    }
}

impl TryFrom<&Certificate> for CertificateRow {
    type Error = StoreError;

    fn try_from(certificate: &Certificate) -> Result<Self, StoreError> {
        let issued = certificate.issued.as_ref();
        let revocation = certificate.revocation.as_ref();
        Ok(Self {
            id: certificate.id.clone(),
            organization_id: certificate.organization_id.clone(),
            project_id: certificate.project_id.clone(),
            ca_id: certificate.ca_id.clone(),
            template_id: certificate.template_id.clone(),
            status: certificate.status.as_str().into(),
            archived_status: certificate.archived_status.map(|s| s.as_str().into()),
            common_name: certificate.common_name.clone(),
            subject: json_text(&certificate.subject)?,
            san: json_text(&certificate.san)?,
            key_type: certificate.key_type.label(),
            key_storage_mode: certificate.key_storage.as_str().into(),
            validity_days: i64::from(certificate.validity_days),
            csr_pem: certificate.csr_pem.clone().unwrap_or_default(),
            serial_number: issued.map(|i| i.serial_number.clone()),
            certificate_der: issued.map(|i| i.der.clone()),
            sealed_key: certificate.sealed_key.as_ref().map(|s| s.0.clone()),
            fingerprint_sha256: issued.map(|i| i.fingerprint_sha256.clone()),
            issuer_cn: issued.and_then(|i| i.issuer_cn.clone()),
            not_before: issued.map(|i| timestamp::format(i.not_before)),
            not_after: issued.map(|i| timestamp::format(i.not_after)),
            requested_by: certificate.requested_by.clone(),
            requested_at: timestamp::format(certificate.requested_at),
            decided_by: certificate.decided_by.clone(),
            decided_at: optional_time_text(certificate.decided_at),
            rejection_reason: certificate.rejection_reason.clone(),
            revoked_at: revocation.map(|r| timestamp::format(r.revoked_at)),
            revoked_by: revocation.map(|r| r.revoked_by.clone()),
            revocation_reason: revocation.map(|r| r.reason.as_str().into()),
            revocation_comment: revocation.and_then(|r| r.comment.clone()),
            properties: json_text(&certificate.properties)?,
            created_at: timestamp::format(certificate.created_at),
            updated_at: timestamp::format(certificate.updated_at),
            renewed_from: certificate.renewed_from.clone(),
            source: certificate.source.as_str().into(),
            chain_pem: certificate.chain_pem.clone(),
        })
    }
}

fn certificates(rows: Vec<CertificateRow>) -> Result<Vec<Certificate>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

fn certificate(row: Option<CertificateRow>) -> Result<Option<Certificate>, StoreError> {
    row.map(TryInto::try_into).transpose()
}
#[derive(FromRow)]
struct RenewalRow {
    id: String,
    organization_id: String,
    certificate_id: String,
    status: String,
    reason: String,
    not_after: String,
    new_certificate_id: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<String>,
    error: Option<String>,
    created_at: String,
}

impl TryFrom<RenewalRow> for RenewalRequest {
    type Error = StoreError;

    fn try_from(row: RenewalRow) -> Result<Self, StoreError> {
        Ok(Self {
            status: name("renewal_queue.status", &row.status, RenewalStatus::parse)?,
            not_after: time("renewal_queue.not_after", &row.not_after)?,
            decided_at: optional_time("renewal_queue.decided_at", row.decided_at.as_deref())?,
            created_at: time("renewal_queue.created_at", &row.created_at)?,
            id: row.id,
            organization_id: row.organization_id,
            certificate_id: row.certificate_id,
            reason: row.reason,
            new_certificate_id: row.new_certificate_id,
            decided_by: row.decided_by,
            error: row.error,
        })
    }
}

#[derive(FromRow)]
struct RevokedRow {
    serial_number: String,
    revoked_at: String,
    revocation_reason: Option<String>,
}

impl TryFrom<RevokedRow> for RevokedSerial {
    type Error = StoreError;

    fn try_from(row: RevokedRow) -> Result<Self, StoreError> {
        Ok(Self {
            revoked_at: time("certificates.revoked_at", &row.revoked_at)?,
            reason: name(
                "certificates.revocation_reason",
                row.revocation_reason.as_deref().unwrap_or_default(),
                RevocationReason::parse,
            )?,
            serial_number: row.serial_number,
        })
    }
}

#[derive(FromRow)]
struct CrlRow {
    ca_id: String,
    crl_number: i64,
    kind: String,
    base_crl_number: Option<i64>,
    der: Vec<u8>,
    this_update: String,
    next_update: String,
}

impl TryFrom<CrlRow> for Crl {
    type Error = StoreError;

    fn try_from(row: CrlRow) -> Result<Self, StoreError> {
        Ok(Self {
            kind: name("crls.kind", &row.kind, CrlKind::parse)?,
            this_update: time("crls.this_update", &row.this_update)?,
            next_update: time("crls.next_update", &row.next_update)?,
            ca_id: row.ca_id,
            crl_number: row.crl_number,
            base_crl_number: row.base_crl_number,
            der: row.der,
        })
    }
}

impl Store {
    // ---- CAs ----

    pub async fn ca_insert(&self, ca: CertificateAuthority) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.ca_insert(&ca)).await
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
    pub async fn ca_update(&self, ca: CertificateAuthority) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.ca_update(&ca)).await
    }

    /// Takes the next CRL number of a CA.
    pub async fn ca_next_crl_number(&self, id: &str) -> Result<i64, StoreError> {
        let id = id.to_owned();
        self.transaction(move |tx| tx.ca_next_crl_number(&id)).await
    }

    // ---- templates ----

    pub async fn template_insert(&self, template: Template) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.template_insert(&template))
            .await
    }

    /// A template of the scope's organization, by id or name. Templates belong to the
    /// organization: every project of it uses them.
    pub async fn template_get(
        &self,
        scope: Scope<'_>,
        id_or_name: &str,
    ) -> Result<Option<Template>, StoreError> {
        let key = (scope.organization_id().to_owned(), id_or_name.to_owned());
        self.caches
            .templates
            .get_or_load(key, || async {
                let row: Option<TemplateRow> = sqlx::query_as(
                    "SELECT * FROM templates WHERE organization_id = ?1 AND (id = ?2 OR name = ?2)",
                )
                .bind(scope.organization_id())
                .bind(id_or_name)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            })
            .await
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
    pub async fn template_update(&self, template: Template) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.template_update(&template))
            .await
    }

    pub async fn template_delete(&self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let (scope, id) = (scope.to_owned_scope(), id.to_owned());
        self.transaction(move |tx| tx.template_delete(scope.scope(), &id))
            .await
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
    /// [`Tx::certificate_insert`] in one [`Store::transaction`] instead, so that they
    /// commit together.
    pub async fn certificate_insert(&self, certificate: Certificate) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.certificate_insert(&certificate))
            .await
    }

    /// A certificate inside the scope.
    pub async fn certificate_get(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        certificate(
            sqlx::query_as(
                "SELECT * FROM certificates
                 WHERE id = ?1 AND organization_id = ?2 AND (?3 IS NULL OR project_id = ?3)",
            )
            .bind(id)
            .bind(scope.organization_id())
            .bind(scope.project_id())
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    /// The certificate inside the scope with this serial number and SHA-256 fingerprint
    /// (lowercase hex): the same certificate, whoever issued it. A project holds each
    /// certificate once.
    pub async fn certificate_by_fingerprint(
        &self,
        scope: Scope<'_>,
        serial_number: &str,
        fingerprint_sha256: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        certificate(
            sqlx::query_as(
                "SELECT * FROM certificates
                 WHERE serial_number = ?1 AND fingerprint_sha256 = ?2 AND organization_id = ?3
                   AND (?4 IS NULL OR project_id = ?4)
                 ORDER BY created_at LIMIT 1",
            )
            .bind(serial_number)
            .bind(fingerprint_sha256)
            .bind(scope.organization_id())
            .bind(scope.project_id())
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    /// The scope's certificates from one source that are not archived, newest first.
    pub async fn certificates_by_source(
        &self,
        scope: Scope<'_>,
        source: CertificateSource,
    ) -> Result<Vec<Certificate>, StoreError> {
        certificates(
            sqlx::query_as(
                "SELECT * FROM certificates
                 WHERE organization_id = ?1 AND (?2 IS NULL OR project_id = ?2) AND source = ?3
                   AND status <> 'archived'
                 ORDER BY created_at DESC, id",
            )
            .bind(scope.organization_id())
            .bind(scope.project_id())
            .bind(source.as_str())
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// The certificate a CA issued with this serial number (OCSP asks without a tenant).
    pub async fn certificate_by_serial(
        &self,
        ca_id: &str,
        serial_number: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        certificate(
            sqlx::query_as("SELECT * FROM certificates WHERE ca_id = ? AND serial_number = ?")
                .bind(ca_id)
                .bind(serial_number)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn certificate_list(
        &self,
        scope: Scope<'_>,
        filter: &CertificateFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Certificate>, i64), StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM certificates");
        push_certificate_filter(&mut select, scope, filter);
        select.push(" ORDER BY created_at DESC, id LIMIT ");
        select.push_bind(limit).push(" OFFSET ").push_bind(offset);
        let rows = select.build_query_as().fetch_all(&self.pool).await?;
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM certificates");
        push_certificate_filter(&mut count, scope, filter);
        let total = count.build_query_scalar().fetch_one(&self.pool).await?;
        Ok((certificates(rows)?, total))
    }

    /// Active certificates that end after `now` and no later than `limit` and have not had
    /// `notice` yet; with `now` = `None`, those that ended by `limit` (expired).
    pub async fn expiry_candidates(
        &self,
        now: Option<OffsetDateTime>,
        limit: OffsetDateTime,
        notice: &str,
        max: i64,
    ) -> Result<Vec<Certificate>, StoreError> {
        certificates(
            sqlx::query_as(
                "SELECT c.* FROM certificates c
                 WHERE c.status = 'active' AND c.not_after IS NOT NULL
                   AND (?1 IS NULL OR c.not_after > ?1) AND c.not_after <= ?2
                   AND NOT EXISTS (SELECT 1 FROM certificate_expiry_notices n
                                   WHERE n.certificate_id = c.id AND n.notice = ?3)
                 ORDER BY c.not_after LIMIT ?4",
            )
            .bind(optional_time_text(now))
            .bind(timestamp::format(limit))
            .bind(notice)
            .bind(max)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// Revocations of a CA's certificates (for CRLs); `since` limits to newer ones (delta CRLs).
    /// Archived revoked certificates stay listed: archiving does not unrevoke.
    pub async fn revoked_for_ca(
        &self,
        ca_id: &str,
        since: Option<OffsetDateTime>,
    ) -> Result<Vec<RevokedSerial>, StoreError> {
        let rows: Vec<RevokedRow> = sqlx::query_as(
            "SELECT serial_number, revoked_at, revocation_reason FROM certificates
             WHERE ca_id = ?1 AND revoked_at IS NOT NULL AND serial_number IS NOT NULL
               AND (?2 IS NULL OR revoked_at >= ?2)
             ORDER BY revoked_at",
        )
        .bind(ca_id)
        .bind(optional_time_text(since))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    // ---- renewal ----

    /// Certificates inside the scope that renewed `id`.
    pub async fn certificate_renewals(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Vec<Certificate>, StoreError> {
        certificates(
            sqlx::query_as(
                "SELECT * FROM certificates
                 WHERE renewed_from = ?1 AND organization_id = ?2 AND (?3 IS NULL OR project_id = ?3)
                 ORDER BY created_at",
            )
            .bind(id)
            .bind(scope.organization_id())
            .bind(scope.project_id())
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// Active templated certificates ending before `before` that nothing renewed yet and
    /// that never had a queue entry (a cancelled or failed one stays decided), with their
    /// template's rules.
    pub async fn renewal_candidates(
        &self,
        before: OffsetDateTime,
    ) -> Result<Vec<(Certificate, TemplateRules)>, StoreError> {
        let rows: Vec<CertificateRow> = sqlx::query_as(
            "SELECT c.* FROM certificates c
             WHERE c.status = 'active' AND c.template_id IS NOT NULL AND c.not_after <= ?
               AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.renewed_from = c.id)
               AND NOT EXISTS (SELECT 1 FROM renewal_queue q WHERE q.certificate_id = c.id)
             ORDER BY c.not_after LIMIT 500",
        )
        .bind(timestamp::format(before))
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
                let rules = json("templates.rules", &rules)?;
                out.push((row.try_into()?, rules));
            }
        }
        Ok(out)
    }

    pub async fn renewal_insert(&self, request: RenewalRequest) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.renewal_insert(&request))
            .await
    }

    /// A queue entry whose certificate lies inside the scope.
    pub async fn renewal_get(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<RenewalRequest>, StoreError> {
        let row: Option<RenewalRow> = sqlx::query_as(
            "SELECT q.* FROM renewal_queue q JOIN certificates c ON c.id = q.certificate_id
             WHERE q.id = ?1 AND q.organization_id = ?2 AND (?3 IS NULL OR c.project_id = ?3)",
        )
        .bind(id)
        .bind(scope.organization_id())
        .bind(scope.project_id())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Moves an entry out of `pending`; false when it was no longer pending.
    pub async fn renewal_decide(&self, request: RenewalRequest) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.renewal_decide(&request))
            .await
    }

    /// Queue entries whose certificates lie inside the scope, newest first.
    pub async fn renewal_list(
        &self,
        scope: Scope<'_>,
        status: Option<RenewalStatus>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RenewalRequest>, i64), StoreError> {
        const INSIDE: &str = "FROM renewal_queue q JOIN certificates c ON c.id = q.certificate_id
             WHERE q.organization_id = ?1 AND (?2 IS NULL OR c.project_id = ?2)
               AND (?3 IS NULL OR q.status = ?3)";
        let rows: Vec<RenewalRow> = sqlx::query_as(&format!(
            "SELECT q.* {INSIDE} ORDER BY q.created_at DESC, q.id LIMIT ?4 OFFSET ?5"
        ))
        .bind(scope.organization_id())
        .bind(scope.project_id())
        .bind(status.map(RenewalStatus::as_str))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar(&format!("SELECT COUNT(*) {INSIDE}"))
            .bind(scope.organization_id())
            .bind(scope.project_id())
            .bind(status.map(RenewalStatus::as_str))
            .fetch_one(&self.pool)
            .await?;
        let requests = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?;
        Ok((requests, total))
    }

    // ---- CRLs ----

    pub async fn crl_insert(&self, crl: Crl) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.crl_insert(&crl)).await
    }

    /// The newest CRL of a kind.
    pub async fn crl_latest(&self, ca_id: &str, kind: CrlKind) -> Result<Option<Crl>, StoreError> {
        let row: Option<CrlRow> = sqlx::query_as(
            "SELECT * FROM crls WHERE ca_id = ? AND kind = ? ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(ca_id)
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Active CAs whose newest full CRL is due before `before`, or that have none yet.
    pub async fn cas_needing_crl(&self, before: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT c.id FROM cas c WHERE c.status = 'active' AND NOT EXISTS (
                 SELECT 1 FROM crls r WHERE r.ca_id = c.id AND r.kind = 'full' AND r.next_update > ?)",
        )
        .bind(timestamp::format(before))
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Tx<'_> {
    // ---- CAs ----

    pub fn ca_insert(&mut self, ca: &CertificateAuthority) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO cas (id, organization_id, name, kind, parent_id, status, key_algorithm, subject,
                              certificate_pem, csr_pem, sealed_key, serial_number, not_before, not_after,
                              created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                ca.id,
                ca.organization_id,
                ca.name,
                ca.kind.as_str(),
                ca.parent_id,
                ca.status.as_str(),
                ca.key_algorithm.label(),
                json_text(&ca.subject)?,
                ca.certificate_pem,
                ca.csr_pem,
                ca.sealed_key.0,
                ca.serial_number,
                optional_time_text(ca.not_before),
                optional_time_text(ca.not_after),
                timestamp::format(ca.created_at),
                timestamp::format(ca.updated_at),
            ],
        )?;
        Ok(())
    }

    /// Writes back what changes over a CA's life: its status and its certificate.
    pub fn ca_update(&mut self, ca: &CertificateAuthority) -> Result<(), StoreError> {
        self.execute(
            "UPDATE cas SET status = ?, certificate_pem = ?, csr_pem = ?, serial_number = ?,
                            not_before = ?, not_after = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
            params![
                ca.status.as_str(),
                ca.certificate_pem,
                ca.csr_pem,
                ca.serial_number,
                optional_time_text(ca.not_before),
                optional_time_text(ca.not_after),
                timestamp::format(ca.updated_at),
                ca.id,
                ca.organization_id,
            ],
        )?;
        Ok(())
    }

    /// Takes the next CRL number of a CA.
    pub fn ca_next_crl_number(&mut self, id: &str) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "UPDATE cas SET crl_number = crl_number + 1 WHERE id = ? RETURNING crl_number",
            )?
            .query_row([id], |row| row.get(0))?)
    }

    // ---- templates ----

    pub fn template_insert(&mut self, template: &Template) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO templates (id, organization_id, name, description, ca_id, rules, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                template.id,
                template.organization_id,
                template.name,
                template.description,
                template.ca_id,
                json_text(&template.rules)?,
                timestamp::format(template.created_at),
                timestamp::format(template.updated_at),
            ],
        )?;
        self.change(Changed::TEMPLATES);
        Ok(())
    }

    /// Writes back everything but the id, the organization and the creation time.
    pub fn template_update(&mut self, template: &Template) -> Result<(), StoreError> {
        self.execute(
            "UPDATE templates SET name = ?, description = ?, ca_id = ?, rules = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
            params![
                template.name,
                template.description,
                template.ca_id,
                json_text(&template.rules)?,
                timestamp::format(template.updated_at),
                template.id,
                template.organization_id,
            ],
        )?;
        self.change(Changed::TEMPLATES);
        Ok(())
    }

    pub fn template_delete(&mut self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let done = self.execute(
            "DELETE FROM templates WHERE organization_id = ? AND id = ?",
            params![scope.organization_id(), id],
        )?;
        self.change(Changed::TEMPLATES);
        Ok(done == 1)
    }

    // ---- certificates ----

    pub fn certificate_insert(&mut self, certificate: &Certificate) -> Result<(), StoreError> {
        let row = CertificateRow::try_from(certificate)?;
        let mut insert = self.conn().prepare_cached(
            "INSERT INTO certificates (id, organization_id, project_id, ca_id, template_id, status,
                archived_status, common_name, subject, san, key_type, key_storage_mode, validity_days,
                csr_pem, serial_number, certificate_der, sealed_key, fingerprint_sha256, issuer_cn,
                not_before, not_after, requested_by, requested_at, decided_by, decided_at,
                rejection_reason, revoked_at, revoked_by, revocation_reason, revocation_comment,
                properties, created_at, updated_at, renewed_from, source, chain_pem)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                     ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        insert.execute(params![
            row.id,
            row.organization_id,
            row.project_id,
            row.ca_id,
            row.template_id,
            row.status,
            row.archived_status,
            row.common_name,
            row.subject,
            row.san,
            row.key_type,
            row.key_storage_mode,
            row.validity_days,
            row.csr_pem,
            row.serial_number,
            row.certificate_der,
            row.sealed_key,
            row.fingerprint_sha256,
            row.issuer_cn,
            row.not_before,
            row.not_after,
            row.requested_by,
            row.requested_at,
            row.decided_by,
            row.decided_at,
            row.rejection_reason,
            row.revoked_at,
            row.revoked_by,
            row.revocation_reason,
            row.revocation_comment,
            row.properties,
            row.created_at,
            row.updated_at,
            row.renewed_from,
            row.source,
            row.chain_pem,
        ])?;
        Ok(())
    }

    /// Writes every mutable field back. `expected` guards against a concurrent transition:
    /// the update applies only when the stored status is still that one.
    pub fn certificate_update(
        &mut self,
        certificate: &Certificate,
        expected: Status,
    ) -> Result<bool, StoreError> {
        let row = CertificateRow::try_from(certificate)?;
        let done = self.execute(
            "UPDATE certificates SET status = ?, archived_status = ?, serial_number = ?,
                certificate_der = ?, sealed_key = ?, fingerprint_sha256 = ?, issuer_cn = ?,
                not_before = ?, not_after = ?, decided_by = ?, decided_at = ?, rejection_reason = ?,
                revoked_at = ?, revoked_by = ?, revocation_reason = ?, revocation_comment = ?,
                properties = ?, updated_at = ?
             WHERE id = ? AND organization_id = ? AND status = ?",
            params![
                row.status,
                row.archived_status,
                row.serial_number,
                row.certificate_der,
                row.sealed_key,
                row.fingerprint_sha256,
                row.issuer_cn,
                row.not_before,
                row.not_after,
                row.decided_by,
                row.decided_at,
                row.rejection_reason,
                row.revoked_at,
                row.revoked_by,
                row.revocation_reason,
                row.revocation_comment,
                row.properties,
                row.updated_at,
                row.id,
                row.organization_id,
                expected.as_str(),
            ],
        )?;
        Ok(done == 1)
    }

    pub fn certificate_delete(&mut self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let done = self.execute(
            "DELETE FROM certificates
             WHERE id = ?1 AND organization_id = ?2 AND (?3 IS NULL OR project_id = ?3)",
            params![id, scope.organization_id(), scope.project_id()],
        )?;
        Ok(done == 1)
    }

    // ---- renewal ----

    pub fn renewal_insert(&mut self, request: &RenewalRequest) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO renewal_queue (id, organization_id, certificate_id, status, reason, not_after,
                new_certificate_id, decided_by, decided_at, error, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                request.id,
                request.organization_id,
                request.certificate_id,
                request.status.as_str(),
                request.reason,
                timestamp::format(request.not_after),
                request.new_certificate_id,
                request.decided_by,
                optional_time_text(request.decided_at),
                request.error,
                timestamp::format(request.created_at),
            ],
        )?;
        Ok(())
    }

    /// Moves an entry out of `pending`; false when it was no longer pending.
    pub fn renewal_decide(&mut self, request: &RenewalRequest) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE renewal_queue SET status = ?, new_certificate_id = ?, decided_by = ?, decided_at = ?, error = ?
             WHERE id = ? AND organization_id = ? AND status = 'pending'",
            params![
                request.status.as_str(),
                request.new_certificate_id,
                request.decided_by,
                optional_time_text(request.decided_at),
                request.error,
                request.id,
                request.organization_id,
            ],
        )?;
        Ok(done == 1)
    }

    // ---- CRLs ----

    pub fn crl_insert(&mut self, crl: &Crl) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO crls (ca_id, crl_number, kind, base_crl_number, der, this_update, next_update)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![
                crl.ca_id,
                crl.crl_number,
                crl.kind.as_str(),
                crl.base_crl_number,
                crl.der,
                timestamp::format(crl.this_update),
                timestamp::format(crl.next_update),
            ],
        )?;
        Ok(())
    }
}

fn push_certificate_filter<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    scope: Scope<'a>,
    filter: &'a CertificateFilter,
) {
    query
        .push(" WHERE organization_id = ")
        .push_bind(scope.organization_id());
    if let Some(project) = scope.project_id() {
        query.push(" AND project_id = ").push_bind(project);
    }
    if let Some(project) = &filter.project_id {
        query.push(" AND project_id = ").push_bind(project.as_str());
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(at) = filter.ended_before {
        query
            .push(" AND not_after < ")
            .push_bind(timestamp::format(at));
    }
    if let Some(at) = filter.running_at {
        query
            .push(" AND (not_after IS NULL OR not_after >= ")
            .push_bind(timestamp::format(at))
            .push(")");
    }
    if let Some(at) = filter.ending_by {
        query
            .push(" AND not_after <= ")
            .push_bind(timestamp::format(at));
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
    if let Some(source) = filter.source {
        query.push(" AND source = ").push_bind(source.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewCertificate, Organization, Project, SanSet, Subject};

    fn at(text: &str) -> OffsetDateTime {
        timestamp::parse(text).unwrap()
    }

    fn issued_certificate(id: &str, project_id: &str) -> Certificate {
        let mut certificate = Certificate::requested(NewCertificate {
            id: id.into(),
            organization_id: "org".into(),
            project_id: project_id.into(),
            source: CertificateSource::Imported,
            ca_id: None,
            template_id: None,
            common_name: "api.example.com".into(),
            subject: Subject {
                common_name: Some("api.example.com".into()),
                country: Some("US".into()),
                ..Subject::default()
            },
            san: SanSet {
                dns_names: vec!["api.example.com".into()],
                ip_addresses: vec!["10.0.0.1".into()],
                ..SanSet::default()
            },
            key_type: KeyType::Known(KeyAlgorithm::EcdsaP256),
            key_storage: KeyStorageMode::Local,
            validity_days: 90,
            csr_pem: None,
            sealed_key: Some(Sealed(vec![1, 2, 3])),
            requested_by: "api_key:k".into(),
            requested_at: at("2026-01-02T03:04:05.123456Z"),
        });
        certificate.status = Status::Active;
        certificate.issued = Some(Issued {
            serial_number: format!("{id}-serial"),
            der: vec![0x30, 0x00],
            fingerprint_sha256: format!("{id}-fingerprint"),
            issuer_cn: Some("Example CA".into()),
            not_before: at("2026-01-01T00:00:00.000000Z"),
            not_after: at("2026-04-01T00:00:00.000000Z"),
        });
        certificate
            .properties
            .insert("tags".into(), serde_json::json!(["web"]));
        certificate
    }

    #[test]
    fn a_certificate_maps_to_its_row_and_back() {
        let mut certificate = issued_certificate("c1", "p1");
        certificate.status = Status::Archived;
        certificate.archived_status = Some(Status::Revoked);
        certificate.revocation = Some(Revocation {
            revoked_at: at("2026-02-01T00:00:00.000000Z"),
            revoked_by: "api_key:k".into(),
            reason: RevocationReason::KeyCompromise,
            comment: Some("leaked".into()),
        });
        let row = CertificateRow::try_from(&certificate).unwrap();
        assert_eq!(row.status, "archived");
        assert_eq!(row.archived_status.as_deref(), Some("revoked"));
        assert_eq!(row.revocation_reason.as_deref(), Some("keyCompromise"));
        assert_eq!(row.source, "imported");
        assert_eq!(row.key_type, "ECDSA-P256");
        assert_eq!(row.key_storage_mode, "local");
        assert_eq!(row.csr_pem, "");
        assert_eq!(
            row.not_after.as_deref(),
            Some("2026-04-01T00:00:00.000000Z")
        );
        let subject: serde_json::Value = serde_json::from_str(&row.subject).unwrap();
        assert_eq!(subject["common_name"], "api.example.com");
        assert_eq!(subject["country"], "US");
        let san: serde_json::Value = serde_json::from_str(&row.san).unwrap();
        assert_eq!(san["ip_addresses"][0], "10.0.0.1");
        assert_eq!(Certificate::try_from(row).unwrap(), certificate);
    }

    #[test]
    fn a_request_has_no_issued_columns() {
        let mut certificate = issued_certificate("c1", "p1");
        certificate.status = Status::PendingApproval;
        certificate.issued = None;
        certificate.csr_pem = Some("-----BEGIN CERTIFICATE REQUEST-----".into());
        let row = CertificateRow::try_from(&certificate).unwrap();
        assert_eq!(row.status, "pending_approval");
        assert!(row.certificate_der.is_none() && row.serial_number.is_none());
        assert_eq!(Certificate::try_from(row).unwrap(), certificate);
    }

    #[test]
    fn unknown_stored_values_are_backend_errors() {
        let certificate = issued_certificate("c1", "p1");
        let mut row = CertificateRow::try_from(&certificate).unwrap();
        row.status = "lost".into();
        assert!(matches!(
            Certificate::try_from(row),
            Err(StoreError::Backend(_))
        ));
        let mut row = CertificateRow::try_from(&certificate).unwrap();
        row.subject = r#"{"nickname": "x"}"#.into();
        assert!(matches!(
            Certificate::try_from(row),
            Err(StoreError::Backend(_))
        ));
    }

    async fn store_with_projects(dir: &std::path::Path) -> Store {
        let store = Store::open(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap();
        let t = at("2026-01-01T00:00:00.000000Z");
        store
            .organization_insert(Organization {
                id: "org".into(),
                name: "org".into(),
                display_name: None,
                created_at: t,
                updated_at: t,
            })
            .await
            .unwrap();
        for project in ["p1", "p2"] {
            store
                .project_insert(Project {
                    id: project.into(),
                    organization_id: "org".into(),
                    name: project.into(),
                    description: None,
                    created_at: t,
                    updated_at: t,
                })
                .await
                .unwrap();
        }
        store
    }

    #[tokio::test]
    async fn reads_stay_inside_the_scope_and_a_second_copy_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_projects(dir.path()).await;
        let certificate = issued_certificate("c1", "p1");
        store.certificate_insert(certificate.clone()).await.unwrap();

        let org = Scope::organization("org");
        let read = store.certificate_get(org, "c1").await.unwrap();
        assert_eq!(read.as_ref(), Some(&certificate));
        let p1 = Scope::project("org", "p1");
        let p2 = Scope::project("org", "p2");
        assert!(store.certificate_get(p1, "c1").await.unwrap().is_some());
        assert!(store.certificate_get(p2, "c1").await.unwrap().is_none());
        let other_org = Scope::organization("other");
        assert!(
            store
                .certificate_get(other_org, "c1")
                .await
                .unwrap()
                .is_none()
        );

        let mut copy = issued_certificate("c2", "p1");
        copy.issued = certificate.issued.clone();
        assert!(matches!(
            store.certificate_insert(copy).await,
            Err(StoreError::Conflict)
        ));

        let active = CertificateFilter {
            status: Some(Status::Active),
            ..CertificateFilter::default()
        };
        let (found, total) = store.certificate_list(p1, &active, 0, 10).await.unwrap();
        assert_eq!((found.len(), total), (1, 1));
        let (_, total) = store.certificate_list(p2, &active, 0, 10).await.unwrap();
        assert_eq!(total, 0);
        let revoked = CertificateFilter {
            status: Some(Status::Revoked),
            ..CertificateFilter::default()
        };
        let (_, total) = store.certificate_list(org, &revoked, 0, 10).await.unwrap();
        assert_eq!(total, 0);
    }

    #[tokio::test]
    async fn the_renewal_queue_shows_a_project_its_own_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_projects(dir.path()).await;
        store
            .certificate_insert(issued_certificate("c1", "p1"))
            .await
            .unwrap();
        let request = RenewalRequest {
            id: "r1".into(),
            organization_id: "org".into(),
            certificate_id: "c1".into(),
            status: RenewalStatus::Pending,
            reason: "expires soon".into(),
            not_after: at("2026-04-01T00:00:00.000000Z"),
            new_certificate_id: None,
            decided_by: None,
            decided_at: None,
            error: None,
            created_at: at("2026-03-01T00:00:00.000000Z"),
        };
        store.renewal_insert(request.clone()).await.unwrap();
        let pending = Some(RenewalStatus::Pending);
        let (found, total) = store
            .renewal_list(Scope::organization("org"), pending, 0, 10)
            .await
            .unwrap();
        assert_eq!((found[0].status, total), (RenewalStatus::Pending, 1));
        assert_eq!(found[0].not_after, request.not_after);
        let p2 = Scope::project("org", "p2");
        let (_, total) = store.renewal_list(p2, pending, 0, 10).await.unwrap();
        assert_eq!(total, 0);
        assert!(store.renewal_get(p2, "r1").await.unwrap().is_none());
        let p1 = Scope::project("org", "p1");
        let mut decided = store.renewal_get(p1, "r1").await.unwrap().unwrap();
        decided.status = RenewalStatus::Cancelled;
        assert!(store.renewal_decide(decided.clone()).await.unwrap());
        assert!(!store.renewal_decide(decided).await.unwrap());
    }

    #[tokio::test]
    async fn a_ca_its_revocations_and_its_crls_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_projects(dir.path()).await;
        let ca = CertificateAuthority {
            id: "ca1".into(),
            organization_id: "org".into(),
            name: "root".into(),
            kind: CaKind::Root,
            parent_id: None,
            status: CaStatus::Active,
            key_algorithm: KeyAlgorithm::Rsa(3072),
            subject: Subject {
                common_name: Some("Example Root".into()),
                ..Subject::default()
            },
            certificate_pem: Some("PEM".into()),
            csr_pem: None,
            sealed_key: Sealed(vec![9]),
            serial_number: Some("01".into()),
            not_before: Some(at("2026-01-01T00:00:00.000000Z")),
            not_after: Some(at("2036-01-01T00:00:00.000000Z")),
            created_at: at("2026-01-01T00:00:00.000000Z"),
            updated_at: at("2026-01-01T00:00:00.000000Z"),
        };
        store.ca_insert(ca.clone()).await.unwrap();
        assert!(matches!(
            store
                .ca_insert(CertificateAuthority {
                    id: "ca2".into(),
                    ..ca.clone()
                })
                .await,
            Err(StoreError::Conflict)
        ));
        let read = store
            .ca_get(Scope::project("org", "p2"), "ca1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.kind, read.status, read.key_algorithm),
            (CaKind::Root, CaStatus::Active, KeyAlgorithm::Rsa(3072))
        );
        assert_eq!(read.subject, ca.subject);
        assert_eq!(read.not_after, ca.not_after);
        assert!(
            store
                .ca_get(Scope::organization("other"), "ca1")
                .await
                .unwrap()
                .is_none()
        );

        let mut revoked = issued_certificate("c1", "p1");
        revoked.ca_id = Some("ca1".into());
        revoked.status = Status::Revoked;
        revoked.revocation = Some(Revocation {
            revoked_at: at("2026-02-01T00:00:00.000000Z"),
            revoked_by: "api_key:k".into(),
            reason: RevocationReason::CertificateHold,
            comment: None,
        });
        store.certificate_insert(revoked).await.unwrap();
        let listed = store.revoked_for_ca("ca1", None).await.unwrap();
        assert_eq!(
            listed,
            [RevokedSerial {
                serial_number: "c1-serial".into(),
                revoked_at: at("2026-02-01T00:00:00.000000Z"),
                reason: RevocationReason::CertificateHold,
            }]
        );
        let later = Some(at("2026-03-01T00:00:00.000000Z"));
        assert!(store.revoked_for_ca("ca1", later).await.unwrap().is_empty());

        let soon = at("2026-01-02T00:00:00.000000Z");
        assert_eq!(store.cas_needing_crl(soon).await.unwrap(), ["ca1"]);
        let crl = Crl {
            ca_id: "ca1".into(),
            crl_number: store.ca_next_crl_number("ca1").await.unwrap(),
            kind: CrlKind::Full,
            base_crl_number: None,
            der: vec![0x30],
            this_update: at("2026-01-01T00:00:00.000000Z"),
            next_update: at("2026-01-03T00:00:00.000000Z"),
        };
        store.crl_insert(crl.clone()).await.unwrap();
        let latest = store
            .crl_latest("ca1", CrlKind::Full)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((latest.crl_number, latest.kind), (1, CrlKind::Full));
        assert_eq!(latest.next_update, crl.next_update);
        assert!(
            store
                .crl_latest("ca1", CrlKind::Delta)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.cas_needing_crl(soon).await.unwrap().is_empty());
    }
}
