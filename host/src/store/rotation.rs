//! Rotation configs, targets and push runs (queue and history), scoped by organization.

use sqlx::FromRow;

use super::Store;

#[derive(Debug, Clone, FromRow)]
pub struct RotationConfigRow {
    pub certificate_id: String,
    pub organization_id: String,
    pub enabled: bool,
    pub trigger_mode: String,
    pub days_before_expiry: Option<i64>,
    pub interval_hours: Option<i64>,
    pub include_private_key: bool,
    pub next_run_at: Option<String>,
    pub updated_by: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct RotationTargetRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub certificate_id: String,
    pub name: String,
    #[sqlx(rename = "type")]
    pub target_type: String,
    pub enabled: bool,
    pub config: String,
    pub sealed_credentials: Option<Vec<u8>>,
    pub key_custody: bool,
    pub last_status: Option<String>,
    pub last_synced_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct RotationRunRow {
    pub id: String,
    pub organization_id: String,
    pub target_id: String,
    pub certificate_id: String,
    pub target_name: String,
    pub target_type: String,
    pub serial_number: Option<String>,
    pub version: i64,
    pub reason: String,
    pub status: String,
    pub attempt: i64,
    pub include_private_key: bool,
    pub next_attempt_at: String,
    pub lease_until: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub location: Option<String>,
    pub destination_version: Option<String>,
    pub requested_by: String,
    pub created_at: String,
}

/// What a history list is filtered by.
#[derive(Debug, Default)]
pub struct RunFilter<'a> {
    pub target_id: Option<&'a str>,
    pub status: Option<&'a str>,
}

impl Store {
    // ---- configs ----

    pub async fn rotation_config_get(
        &self,
        organization_id: &str,
        certificate_id: &str,
    ) -> Result<Option<RotationConfigRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT * FROM rotation_configs WHERE organization_id = ? AND certificate_id = ?",
        )
        .bind(organization_id)
        .bind(certificate_id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn rotation_config_upsert(&self, row: &RotationConfigRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO rotation_configs (certificate_id, organization_id, enabled, trigger_mode,
                days_before_expiry, interval_hours, include_private_key, next_run_at, updated_by,
                updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (certificate_id) DO UPDATE SET enabled = excluded.enabled,
                trigger_mode = excluded.trigger_mode, days_before_expiry = excluded.days_before_expiry,
                interval_hours = excluded.interval_hours,
                include_private_key = excluded.include_private_key,
                next_run_at = excluded.next_run_at, updated_by = excluded.updated_by,
                updated_at = excluded.updated_at",
        )
        .bind(&row.certificate_id)
        .bind(&row.organization_id)
        .bind(row.enabled)
        .bind(&row.trigger_mode)
        .bind(row.days_before_expiry)
        .bind(row.interval_hours)
        .bind(row.include_private_key)
        .bind(&row.next_run_at)
        .bind(&row.updated_by)
        .bind(&row.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// Enabled configs with a time-driven trigger whose next look is due.
    pub async fn rotation_configs_due(
        &self,
        now: &str,
    ) -> Result<Vec<RotationConfigRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT * FROM rotation_configs
             WHERE enabled = 1 AND trigger_mode IN ('before_expiry', 'schedule')
               AND (next_run_at IS NULL OR next_run_at <= ?)
             ORDER BY next_run_at LIMIT 500",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn rotation_config_set_next_run(
        &self,
        certificate_id: &str,
        next_run_at: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE rotation_configs SET next_run_at = ? WHERE certificate_id = ?")
            .bind(next_run_at)
            .bind(certificate_id)
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Moves a certificate's rotation config and targets to the certificate that
    /// renewed it, in one transaction.
    pub async fn rotation_hand_over(
        &self,
        old_certificate_id: &str,
        new_certificate_id: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE rotation_configs SET certificate_id = ? WHERE certificate_id = ?
               AND NOT EXISTS (SELECT 1 FROM rotation_configs WHERE certificate_id = ?)",
        )
        .bind(new_certificate_id)
        .bind(old_certificate_id)
        .bind(new_certificate_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE OR IGNORE rotation_targets SET certificate_id = ? WHERE certificate_id = ?",
        )
        .bind(new_certificate_id)
        .bind(old_certificate_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    // ---- targets ----

    pub async fn rotation_target_insert(&self, row: &RotationTargetRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO rotation_targets (id, organization_id, project_id, certificate_id, name,
                type, enabled, config, sealed_credentials, key_custody, last_status, last_synced_at,
                last_error, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.project_id)
        .bind(&row.certificate_id)
        .bind(&row.name)
        .bind(&row.target_type)
        .bind(row.enabled)
        .bind(&row.config)
        .bind(&row.sealed_credentials)
        .bind(row.key_custody)
        .bind(&row.last_status)
        .bind(&row.last_synced_at)
        .bind(&row.last_error)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// A target of one organization, whatever its certificate.
    pub async fn rotation_target_get(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<RotationTargetRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM rotation_targets WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn rotation_targets_of(
        &self,
        organization_id: &str,
        certificate_id: &str,
    ) -> Result<Vec<RotationTargetRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT * FROM rotation_targets WHERE organization_id = ? AND certificate_id = ?
             ORDER BY created_at, id",
        )
        .bind(organization_id)
        .bind(certificate_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Writes the settings back (not the outcome columns).
    pub async fn rotation_target_update(
        &self,
        row: &RotationTargetRow,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query(
            "UPDATE rotation_targets SET name = ?, type = ?, enabled = ?, config = ?,
                sealed_credentials = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
        )
        .bind(&row.name)
        .bind(&row.target_type)
        .bind(row.enabled)
        .bind(&row.config)
        .bind(&row.sealed_credentials)
        .bind(&row.updated_at)
        .bind(&row.id)
        .bind(&row.organization_id)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected() == 1)
    }

    pub async fn rotation_target_delete(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query("DELETE FROM rotation_targets WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected() == 1)
    }

    pub async fn rotation_target_record_outcome(
        &self,
        id: &str,
        status: &str,
        at: &str,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE rotation_targets SET last_status = ?, last_synced_at = ?, last_error = ?
             WHERE id = ?",
        )
        .bind(status)
        .bind(at)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    // ---- runs ----

    pub async fn rotation_run_insert(&self, row: &RotationRunRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO rotation_runs (id, organization_id, target_id, certificate_id, target_name,
                target_type, serial_number, version, reason, status, attempt, include_private_key,
                next_attempt_at, lease_until, started_at, finished_at, duration_ms, error, location,
                destination_version, requested_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.target_id)
        .bind(&row.certificate_id)
        .bind(&row.target_name)
        .bind(&row.target_type)
        .bind(&row.serial_number)
        .bind(row.version)
        .bind(&row.reason)
        .bind(&row.status)
        .bind(row.attempt)
        .bind(row.include_private_key)
        .bind(&row.next_attempt_at)
        .bind(&row.lease_until)
        .bind(&row.started_at)
        .bind(&row.finished_at)
        .bind(row.duration_ms)
        .bind(&row.error)
        .bind(&row.location)
        .bind(&row.destination_version)
        .bind(&row.requested_by)
        .bind(&row.created_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// Marks a target's waiting runs as superseded by a newer one.
    pub async fn rotation_runs_supersede(
        &self,
        target_id: &str,
        at: &str,
    ) -> Result<u64, sqlx::Error> {
        sqlx::query(
            "UPDATE rotation_runs SET status = 'superseded', finished_at = ?
             WHERE target_id = ? AND status = 'pending'",
        )
        .bind(at)
        .bind(target_id)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
    }

    /// Whether a push to the target waits in the queue.
    pub async fn rotation_target_has_pending(&self, target_id: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM rotation_runs WHERE target_id = ? AND status = 'pending')",
        )
        .bind(target_id)
        .fetch_one(&self.pool)
        .await
    }

    /// Puts runs whose lease ran out (their node stopped mid-push) back in the queue.
    pub async fn rotation_runs_release_expired(&self, now: &str) -> Result<u64, sqlx::Error> {
        sqlx::query(
            "UPDATE rotation_runs SET status = 'pending', lease_until = NULL
             WHERE status = 'running' AND lease_until < ?",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
    }

    /// Takes up to `limit` due runs, at most one per target and none for a target
    /// with a push under way; each is `running` until `lease_until`.
    pub async fn rotation_runs_claim(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<RotationRunRow>, sqlx::Error> {
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT r.id FROM rotation_runs r
             WHERE r.status = 'pending' AND r.next_attempt_at <= ?
               AND NOT EXISTS (SELECT 1 FROM rotation_runs x
                               WHERE x.target_id = r.target_id AND x.status = 'running')
             ORDER BY r.next_attempt_at, r.created_at LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for id in candidates {
            let row: Option<RotationRunRow> = sqlx::query_as(
                "UPDATE rotation_runs SET status = 'running', lease_until = ?, started_at = ?
                 WHERE id = ? AND status = 'pending'
                   AND NOT EXISTS (SELECT 1 FROM rotation_runs x
                                   WHERE x.target_id = rotation_runs.target_id
                                     AND x.status = 'running')
                 RETURNING *",
            )
            .bind(lease_until)
            .bind(now)
            .bind(&id)
            .fetch_optional(&self.pool)
            .await?;
            claimed.extend(row);
        }
        Ok(claimed)
    }

    /// When the next waiting run is due, if any.
    pub async fn rotation_runs_next_due(&self) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM rotation_runs WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Records how a running push ended.
    pub async fn rotation_run_finish(&self, row: &RotationRunRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE rotation_runs SET status = ?, lease_until = NULL, finished_at = ?,
                duration_ms = ?, error = ?, location = ?, destination_version = ?
             WHERE id = ?",
        )
        .bind(&row.status)
        .bind(&row.finished_at)
        .bind(row.duration_ms)
        .bind(&row.error)
        .bind(&row.location)
        .bind(&row.destination_version)
        .bind(&row.id)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// The runs of a certificate's current targets and of pushes of that certificate,
    /// newest first.
    pub async fn rotation_runs_list(
        &self,
        organization_id: &str,
        certificate_id: &str,
        filter: &RunFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RotationRunRow>, i64), sqlx::Error> {
        const WHERE: &str = "WHERE organization_id = ?1
               AND (certificate_id = ?2 OR target_id IN
                    (SELECT id FROM rotation_targets WHERE certificate_id = ?2))
               AND (?3 IS NULL OR target_id = ?3) AND (?4 IS NULL OR status = ?4)";
        let rows = sqlx::query_as(&format!(
            "SELECT * FROM rotation_runs {WHERE} ORDER BY created_at DESC, id LIMIT ?5 OFFSET ?6"
        ))
        .bind(organization_id)
        .bind(certificate_id)
        .bind(filter.target_id)
        .bind(filter.status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM rotation_runs {WHERE}"))
            .bind(organization_id)
            .bind(certificate_id)
            .bind(filter.target_id)
            .bind(filter.status)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }
}
