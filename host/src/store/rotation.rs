//! Rotation configs, targets and push runs (queue and history), scoped by tenant.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::codec::{int, int_text, json, json_text, name, optional_time, optional_time_text, time};
use super::{Scope, Store, StoreError};
use crate::model::rotation::{RunFilter, RunProgress, RunReason, RunStatus, Trigger};
use crate::model::{RotationConfig, RotationRun, RotationTarget};
use crate::timestamp;

#[derive(FromRow)]
struct RotationConfigRow {
    certificate_id: String,
    organization_id: String,
    enabled: bool,
    trigger_mode: String,
    days_before_expiry: Option<i64>,
    interval_hours: Option<i64>,
    include_private_key: bool,
    next_run_at: Option<String>,
    updated_by: String,
    updated_at: String,
}

impl RotationConfigRow {
    fn into_model(self) -> Result<RotationConfig, StoreError> {
        let count = |column, value: Option<i64>| value.map(|n| int(column, n)).transpose();
        Ok(RotationConfig {
            trigger: name(
                "rotation_configs.trigger_mode",
                &self.trigger_mode,
                Trigger::parse,
            )?,
            days_before_expiry: count(
                "rotation_configs.days_before_expiry",
                self.days_before_expiry,
            )?,
            interval_hours: count("rotation_configs.interval_hours", self.interval_hours)?,
            next_run_at: optional_time(
                "rotation_configs.next_run_at",
                self.next_run_at.as_deref(),
            )?,
            updated_by: Some(self.updated_by).filter(|by| !by.is_empty()),
            updated_at: Some(self.updated_at.as_str())
                .filter(|at| !at.is_empty())
                .map(|at| time("rotation_configs.updated_at", at))
                .transpose()?,
            certificate_id: self.certificate_id,
            organization_id: self.organization_id,
            enabled: self.enabled,
            include_private_key: self.include_private_key,
        })
    }
}

#[derive(FromRow)]
struct RotationTargetRow {
    id: String,
    organization_id: String,
    project_id: String,
    certificate_id: String,
    name: String,
    #[sqlx(rename = "type")]
    target_type: String,
    enabled: bool,
    /// The plugin's settings, a JSON object.
    config: String,
    sealed_credentials: Option<Vec<u8>>,
    key_custody: bool,
    last_status: Option<String>,
    last_synced_at: Option<String>,
    last_error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl RotationTargetRow {
    fn into_model(self) -> Result<RotationTarget, StoreError> {
        Ok(RotationTarget {
            config: json("rotation_targets.config", &self.config)?,
            last_status: self
                .last_status
                .as_deref()
                .map(|s| name("rotation_targets.last_status", s, RunStatus::parse))
                .transpose()?,
            last_synced_at: optional_time(
                "rotation_targets.last_synced_at",
                self.last_synced_at.as_deref(),
            )?,
            created_at: time("rotation_targets.created_at", &self.created_at)?,
            updated_at: time("rotation_targets.updated_at", &self.updated_at)?,
            id: self.id,
            organization_id: self.organization_id,
            project_id: self.project_id,
            certificate_id: self.certificate_id,
            name: self.name,
            target_type: self.target_type,
            enabled: self.enabled,
            sealed_credentials: self.sealed_credentials,
            key_custody: self.key_custody,
            last_error: self.last_error,
        })
    }
}

#[derive(FromRow)]
struct RotationRunRow {
    id: String,
    organization_id: String,
    target_id: String,
    certificate_id: String,
    target_name: String,
    target_type: String,
    serial_number: Option<String>,
    version: i64,
    reason: String,
    status: String,
    attempt: i64,
    include_private_key: bool,
    next_attempt_at: String,
    lease_until: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
    error: Option<String>,
    location: Option<String>,
    destination_version: Option<String>,
    requested_by: String,
    created_at: String,
}

impl RotationRunRow {
    fn into_model(self) -> Result<RotationRun, StoreError> {
        Ok(RotationRun {
            version: int("rotation_runs.version", self.version)?,
            reason: name("rotation_runs.reason", &self.reason, RunReason::parse)?,
            status: name("rotation_runs.status", &self.status, RunStatus::parse)?,
            attempt: int("rotation_runs.attempt", self.attempt)?,
            next_attempt_at: time("rotation_runs.next_attempt_at", &self.next_attempt_at)?,
            progress: RunProgress {
                lease_until: optional_time(
                    "rotation_runs.lease_until",
                    self.lease_until.as_deref(),
                )?,
                started_at: optional_time("rotation_runs.started_at", self.started_at.as_deref())?,
                finished_at: optional_time(
                    "rotation_runs.finished_at",
                    self.finished_at.as_deref(),
                )?,
                duration_ms: self
                    .duration_ms
                    .map(|ms| int("rotation_runs.duration_ms", ms))
                    .transpose()?,
                error: self.error,
                location: self.location,
                destination_version: self.destination_version,
            },
            created_at: time("rotation_runs.created_at", &self.created_at)?,
            id: self.id,
            organization_id: self.organization_id,
            target_id: self.target_id,
            certificate_id: self.certificate_id,
            target_name: self.target_name,
            target_type: self.target_type,
            serial_number: self.serial_number,
            include_private_key: self.include_private_key,
            requested_by: self.requested_by,
        })
    }
}

fn configs(rows: Vec<RotationConfigRow>) -> Result<Vec<RotationConfig>, StoreError> {
    rows.into_iter()
        .map(RotationConfigRow::into_model)
        .collect()
}

fn targets(rows: Vec<RotationTargetRow>) -> Result<Vec<RotationTarget>, StoreError> {
    rows.into_iter()
        .map(RotationTargetRow::into_model)
        .collect()
}

fn runs(rows: Vec<RotationRunRow>) -> Result<Vec<RotationRun>, StoreError> {
    rows.into_iter().map(RotationRunRow::into_model).collect()
}

/// The targets a scope contains: `?1` is its organization, `?2` its project (or NULL).
const TARGET_IN_SCOPE: &str = "organization_id = ?1 AND (?2 IS NULL OR project_id = ?2)";

/// The rows of `table` (configs, runs) a scope contains. They have no project of their
/// own: theirs is their certificate's. `?1` is the organization, `?2` the project (or NULL).
fn certificate_in_scope(table: &str) -> String {
    format!(
        "{table}.organization_id = ?1 AND (?2 IS NULL OR EXISTS
         (SELECT 1 FROM certificates c WHERE c.id = {table}.certificate_id AND c.project_id = ?2))"
    )
}

impl Store {
    // ---- configs ----

    pub async fn rotation_config_get(
        &self,
        scope: Scope<'_>,
        certificate_id: &str,
    ) -> Result<Option<RotationConfig>, StoreError> {
        let row: Option<RotationConfigRow> = scope
            .query_as(
                &format!(
                    "SELECT * FROM rotation_configs WHERE {} AND certificate_id = ?3",
                    certificate_in_scope("rotation_configs")
                ),
                certificate_id,
            )
            .fetch_optional(&self.pool)
            .await?;
        row.map(RotationConfigRow::into_model).transpose()
    }

    pub async fn rotation_config_upsert(&self, config: &RotationConfig) -> Result<(), StoreError> {
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
        .bind(&config.certificate_id)
        .bind(&config.organization_id)
        .bind(config.enabled)
        .bind(config.trigger.as_str())
        .bind(config.days_before_expiry)
        .bind(config.interval_hours)
        .bind(config.include_private_key)
        .bind(optional_time_text(config.next_run_at))
        .bind(config.updated_by.as_deref().unwrap_or_default())
        .bind(optional_time_text(config.updated_at).unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Enabled configs with a time-driven trigger whose next look is due.
    pub async fn rotation_configs_due(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<RotationConfig>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT * FROM rotation_configs
             WHERE enabled = 1 AND trigger_mode IN ('before_expiry', 'schedule')
               AND (next_run_at IS NULL OR next_run_at <= ?)
             ORDER BY next_run_at LIMIT 500",
        )
        .bind(timestamp::format(now))
        .fetch_all(&self.pool)
        .await?;
        configs(rows)
    }

    pub async fn rotation_config_set_next_run(
        &self,
        certificate_id: &str,
        next_run_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE rotation_configs SET next_run_at = ? WHERE certificate_id = ?")
            .bind(optional_time_text(next_run_at))
            .bind(certificate_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves a certificate's rotation config and targets to the certificate that
    /// renewed it, in one transaction.
    pub async fn rotation_hand_over(
        &self,
        old_certificate_id: &str,
        new_certificate_id: &str,
    ) -> Result<(), StoreError> {
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
        tx.commit().await?;
        Ok(())
    }

    // ---- targets ----

    pub async fn rotation_target_insert(&self, target: &RotationTarget) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rotation_targets (id, organization_id, project_id, certificate_id, name,
                type, enabled, config, sealed_credentials, key_custody, last_status, last_synced_at,
                last_error, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&target.id)
        .bind(&target.organization_id)
        .bind(&target.project_id)
        .bind(&target.certificate_id)
        .bind(&target.name)
        .bind(&target.target_type)
        .bind(target.enabled)
        .bind(json_text(&target.config)?)
        .bind(&target.sealed_credentials)
        .bind(target.key_custody)
        .bind(target.last_status.map(RunStatus::as_str))
        .bind(optional_time_text(target.last_synced_at))
        .bind(&target.last_error)
        .bind(timestamp::format(target.created_at))
        .bind(timestamp::format(target.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A target of a scope, whatever its certificate.
    pub async fn rotation_target_get(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<RotationTarget>, StoreError> {
        let row: Option<RotationTargetRow> = scope
            .query_as(
                &format!("SELECT * FROM rotation_targets WHERE {TARGET_IN_SCOPE} AND id = ?3"),
                id,
            )
            .fetch_optional(&self.pool)
            .await?;
        row.map(RotationTargetRow::into_model).transpose()
    }

    pub async fn rotation_targets_of(
        &self,
        scope: Scope<'_>,
        certificate_id: &str,
    ) -> Result<Vec<RotationTarget>, StoreError> {
        let rows = scope
            .query_as(
                &format!(
                    "SELECT * FROM rotation_targets WHERE {TARGET_IN_SCOPE} AND certificate_id = ?3
             ORDER BY created_at, id"
                ),
                certificate_id,
            )
            .fetch_all(&self.pool)
            .await?;
        targets(rows)
    }

    /// Writes the settings back (not the outcome columns).
    pub async fn rotation_target_update(
        &self,
        target: &RotationTarget,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE rotation_targets SET name = ?, type = ?, enabled = ?, config = ?,
                sealed_credentials = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
        )
        .bind(&target.name)
        .bind(&target.target_type)
        .bind(target.enabled)
        .bind(json_text(&target.config)?)
        .bind(&target.sealed_credentials)
        .bind(timestamp::format(target.updated_at))
        .bind(&target.id)
        .bind(&target.organization_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn rotation_target_delete(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = scope
            .query(
                &format!("DELETE FROM rotation_targets WHERE {TARGET_IN_SCOPE} AND id = ?3"),
                id,
            )
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn rotation_target_record_outcome(
        &self,
        id: &str,
        status: RunStatus,
        at: OffsetDateTime,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rotation_targets SET last_status = ?, last_synced_at = ?, last_error = ?
             WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(timestamp::format(at))
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- runs ----

    pub async fn rotation_run_insert(&self, run: &RotationRun) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rotation_runs (id, organization_id, target_id, certificate_id, target_name,
                target_type, serial_number, version, reason, status, attempt, include_private_key,
                next_attempt_at, lease_until, started_at, finished_at, duration_ms, error, location,
                destination_version, requested_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&run.id)
        .bind(&run.organization_id)
        .bind(&run.target_id)
        .bind(&run.certificate_id)
        .bind(&run.target_name)
        .bind(&run.target_type)
        .bind(&run.serial_number)
        .bind(run.version)
        .bind(run.reason.as_str())
        .bind(run.status.as_str())
        .bind(run.attempt)
        .bind(run.include_private_key)
        .bind(timestamp::format(run.next_attempt_at))
        .bind(optional_time_text(run.progress.lease_until))
        .bind(optional_time_text(run.progress.started_at))
        .bind(optional_time_text(run.progress.finished_at))
        .bind(run.progress.duration_ms.map(int_text))
        .bind(&run.progress.error)
        .bind(&run.progress.location)
        .bind(&run.progress.destination_version)
        .bind(&run.requested_by)
        .bind(timestamp::format(run.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a target's waiting runs as superseded by a newer one.
    pub async fn rotation_runs_supersede(
        &self,
        target_id: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE rotation_runs SET status = 'superseded', finished_at = ?
             WHERE target_id = ? AND status = 'pending'",
        )
        .bind(timestamp::format(at))
        .bind(target_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Whether a push to the target waits in the queue.
    pub async fn rotation_target_has_pending(&self, target_id: &str) -> Result<bool, StoreError> {
        let pending = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM rotation_runs WHERE target_id = ? AND status = 'pending')",
        )
        .bind(target_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(pending)
    }

    /// Puts runs whose lease ran out (their node stopped mid-push) back in the queue.
    pub async fn rotation_runs_release_expired(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE rotation_runs SET status = 'pending', lease_until = NULL
             WHERE status = 'running' AND lease_until < ?",
        )
        .bind(timestamp::format(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Takes up to `limit` due runs, at most one per target and none for a target
    /// with a push under way; each is `running` until `lease_until`.
    pub async fn rotation_runs_claim(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<RotationRun>, StoreError> {
        let now = timestamp::format(now);
        let lease_until = timestamp::format(lease_until);
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT r.id FROM rotation_runs r
             WHERE r.status = 'pending' AND r.next_attempt_at <= ?
               AND NOT EXISTS (SELECT 1 FROM rotation_runs x
                               WHERE x.target_id = r.target_id AND x.status = 'running')
             ORDER BY r.next_attempt_at, r.created_at LIMIT ?",
        )
        .bind(&now)
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
            .bind(&lease_until)
            .bind(&now)
            .bind(&id)
            .fetch_optional(&self.pool)
            .await?;
            claimed.extend(row);
        }
        runs(claimed)
    }

    /// When the next waiting run is due, if any.
    pub async fn rotation_runs_next_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM rotation_runs WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        optional_time("rotation_runs.next_attempt_at", next.as_deref())
    }

    /// Records how a running push ended.
    pub async fn rotation_run_finish(&self, run: &RotationRun) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rotation_runs SET status = ?, lease_until = NULL, finished_at = ?,
                duration_ms = ?, error = ?, location = ?, destination_version = ?
             WHERE id = ?",
        )
        .bind(run.status.as_str())
        .bind(optional_time_text(run.progress.finished_at))
        .bind(run.progress.duration_ms.map(int_text))
        .bind(&run.progress.error)
        .bind(&run.progress.location)
        .bind(&run.progress.destination_version)
        .bind(&run.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The runs of a certificate's current targets and of pushes of that certificate,
    /// newest first.
    pub async fn rotation_runs_list(
        &self,
        scope: Scope<'_>,
        certificate_id: &str,
        filter: &RunFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RotationRun>, i64), StoreError> {
        let matching = format!(
            "WHERE {}
               AND (certificate_id = ?3 OR target_id IN
                    (SELECT id FROM rotation_targets WHERE certificate_id = ?3))
               AND (?4 IS NULL OR target_id = ?4) AND (?5 IS NULL OR status = ?5)",
            certificate_in_scope("rotation_runs")
        );
        let status = filter.status.map(RunStatus::as_str);
        let rows = sqlx::query_as(&format!(
            "SELECT * FROM rotation_runs {matching}
             ORDER BY created_at DESC, id LIMIT ?6 OFFSET ?7"
        ))
        .bind(scope.organization_id())
        .bind(scope.project_id())
        .bind(certificate_id)
        .bind(filter.target_id)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM rotation_runs {matching}"))
            .bind(scope.organization_id())
            .bind(scope.project_id())
            .bind(certificate_id)
            .bind(filter.target_id)
            .bind(status)
            .fetch_one(&self.pool)
            .await?;
        Ok((runs(rows)?, total))
    }
}
