//! Rotation configs, targets and push runs (queue and history), scoped by tenant.

use rusqlite::params;
use sqlx::FromRow;
use time::OffsetDateTime;

use super::codec::{int, int_text, json, json_text, name, optional_time, optional_time_text, time};
use super::{Scope, Store, StoreError, Tx};
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

    pub async fn rotation_config_upsert(&self, config: RotationConfig) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.rotation_config_upsert(&config))
            .await
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
        let certificate_id = certificate_id.to_owned();
        self.transaction(move |tx| tx.rotation_config_set_next_run(&certificate_id, next_run_at))
            .await
    }

    /// Moves a certificate's rotation config and targets to the certificate that
    /// renewed it, in one transaction.
    pub async fn rotation_hand_over(
        &self,
        old_certificate_id: &str,
        new_certificate_id: &str,
    ) -> Result<(), StoreError> {
        let (old, new) = (old_certificate_id.to_owned(), new_certificate_id.to_owned());
        self.transaction(move |tx| tx.rotation_hand_over(&old, &new))
            .await
    }

    // ---- targets ----

    pub async fn rotation_target_insert(&self, target: RotationTarget) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.rotation_target_insert(&target))
            .await
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
    pub async fn rotation_target_update(&self, target: RotationTarget) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.rotation_target_update(&target))
            .await
    }

    pub async fn rotation_target_delete(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<bool, StoreError> {
        let (scope, id) = (scope.to_owned_scope(), id.to_owned());
        self.transaction(move |tx| tx.rotation_target_delete(scope.scope(), &id))
            .await
    }

    pub async fn rotation_target_record_outcome(
        &self,
        id: &str,
        status: RunStatus,
        at: OffsetDateTime,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let (id, error) = (id.to_owned(), error.map(str::to_owned));
        self.transaction(move |tx| {
            tx.rotation_target_record_outcome(&id, status, at, error.as_deref())
        })
        .await
    }

    // ---- runs ----

    pub async fn rotation_run_insert(&self, run: RotationRun) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.rotation_run_insert(&run))
            .await
    }

    /// Marks a target's waiting runs as superseded by a newer one.
    pub async fn rotation_runs_supersede(
        &self,
        target_id: &str,
        at: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let target_id = target_id.to_owned();
        self.transaction(move |tx| tx.rotation_runs_supersede(&target_id, at))
            .await
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
    ) -> Result<usize, StoreError> {
        self.transaction(move |tx| tx.rotation_runs_release_expired(now))
            .await
    }

    /// Takes up to `limit` due runs, at most one per target and none for a target
    /// with a push under way; each is `running` until `lease_until`.
    pub async fn rotation_runs_claim(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<RotationRun>, StoreError> {
        let claimed = self
            .transaction(move |tx| tx.rotation_runs_claim(now, lease_until, limit))
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        // The writer answered after its commit: the claimed runs read back as claimed.
        let rows = sqlx::query_as(
            "SELECT * FROM rotation_runs WHERE id IN (SELECT value FROM json_each(?))
             ORDER BY next_attempt_at, created_at",
        )
        .bind(json_text(&claimed)?)
        .fetch_all(&self.pool)
        .await?;
        runs(rows)
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
    pub async fn rotation_run_finish(&self, run: RotationRun) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.rotation_run_finish(&run))
            .await
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

impl Tx<'_> {
    // ---- configs ----

    pub fn rotation_config_upsert(&mut self, config: &RotationConfig) -> Result<(), StoreError> {
        self.execute(
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
            params![
                config.certificate_id,
                config.organization_id,
                config.enabled,
                config.trigger.as_str(),
                config.days_before_expiry,
                config.interval_hours,
                config.include_private_key,
                optional_time_text(config.next_run_at),
                config.updated_by.as_deref().unwrap_or_default(),
                optional_time_text(config.updated_at).unwrap_or_default(),
            ],
        )?;
        Ok(())
    }

    pub fn rotation_config_set_next_run(
        &mut self,
        certificate_id: &str,
        next_run_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE rotation_configs SET next_run_at = ? WHERE certificate_id = ?",
            params![optional_time_text(next_run_at), certificate_id],
        )?;
        Ok(())
    }

    /// Moves a certificate's rotation config and targets to the certificate that
    /// renewed it.
    pub fn rotation_hand_over(
        &mut self,
        old_certificate_id: &str,
        new_certificate_id: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE rotation_configs SET certificate_id = ?1 WHERE certificate_id = ?2
               AND NOT EXISTS (SELECT 1 FROM rotation_configs WHERE certificate_id = ?1)",
            params![new_certificate_id, old_certificate_id],
        )?;
        self.execute(
            "UPDATE OR IGNORE rotation_targets SET certificate_id = ? WHERE certificate_id = ?",
            params![new_certificate_id, old_certificate_id],
        )?;
        Ok(())
    }

    // ---- targets ----

    pub fn rotation_target_insert(&mut self, target: &RotationTarget) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO rotation_targets (id, organization_id, project_id, certificate_id, name,
                type, enabled, config, sealed_credentials, key_custody, last_status, last_synced_at,
                last_error, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                target.id,
                target.organization_id,
                target.project_id,
                target.certificate_id,
                target.name,
                target.target_type,
                target.enabled,
                json_text(&target.config)?,
                target.sealed_credentials,
                target.key_custody,
                target.last_status.map(RunStatus::as_str),
                optional_time_text(target.last_synced_at),
                target.last_error,
                timestamp::format(target.created_at),
                timestamp::format(target.updated_at),
            ],
        )?;
        Ok(())
    }

    /// Writes the settings back (not the outcome columns).
    pub fn rotation_target_update(&mut self, target: &RotationTarget) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE rotation_targets SET name = ?, type = ?, enabled = ?, config = ?,
                sealed_credentials = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
            params![
                target.name,
                target.target_type,
                target.enabled,
                json_text(&target.config)?,
                target.sealed_credentials,
                timestamp::format(target.updated_at),
                target.id,
                target.organization_id,
            ],
        )?;
        Ok(done == 1)
    }

    pub fn rotation_target_delete(
        &mut self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = self.execute(
            &format!("DELETE FROM rotation_targets WHERE {TARGET_IN_SCOPE} AND id = ?3"),
            params![scope.organization_id(), scope.project_id(), id],
        )?;
        Ok(done == 1)
    }

    pub fn rotation_target_record_outcome(
        &mut self,
        id: &str,
        status: RunStatus,
        at: OffsetDateTime,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE rotation_targets SET last_status = ?, last_synced_at = ?, last_error = ?
             WHERE id = ?",
            params![status.as_str(), timestamp::format(at), error, id],
        )?;
        Ok(())
    }

    // ---- runs ----

    pub fn rotation_run_insert(&mut self, run: &RotationRun) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO rotation_runs (id, organization_id, target_id, certificate_id, target_name,
                target_type, serial_number, version, reason, status, attempt, include_private_key,
                next_attempt_at, lease_until, started_at, finished_at, duration_ms, error, location,
                destination_version, requested_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                run.id,
                run.organization_id,
                run.target_id,
                run.certificate_id,
                run.target_name,
                run.target_type,
                run.serial_number,
                run.version,
                run.reason.as_str(),
                run.status.as_str(),
                run.attempt,
                run.include_private_key,
                timestamp::format(run.next_attempt_at),
                optional_time_text(run.progress.lease_until),
                optional_time_text(run.progress.started_at),
                optional_time_text(run.progress.finished_at),
                run.progress.duration_ms.map(int_text),
                run.progress.error,
                run.progress.location,
                run.progress.destination_version,
                run.requested_by,
                timestamp::format(run.created_at),
            ],
        )?;
        Ok(())
    }

    /// Marks a target's waiting runs as superseded by a newer one.
    pub fn rotation_runs_supersede(
        &mut self,
        target_id: &str,
        at: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE rotation_runs SET status = 'superseded', finished_at = ?
             WHERE target_id = ? AND status = 'pending'",
            params![timestamp::format(at), target_id],
        )
    }

    /// Puts runs whose lease ran out (their node stopped mid-push) back in the queue.
    pub fn rotation_runs_release_expired(
        &mut self,
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE rotation_runs SET status = 'pending', lease_until = NULL
             WHERE status = 'running' AND lease_until < ?",
            [timestamp::format(now)],
        )
    }

    /// Takes up to `limit` due runs, at most one per target and none for a target
    /// with a push under way; each is `running` until `lease_until`. Returns their ids.
    pub fn rotation_runs_claim(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let now = timestamp::format(now);
        let lease_until = timestamp::format(lease_until);
        let candidates: Vec<String> = self
            .conn()
            .prepare_cached(
                "SELECT r.id FROM rotation_runs r
                 WHERE r.status = 'pending' AND r.next_attempt_at <= ?
                   AND NOT EXISTS (SELECT 1 FROM rotation_runs x
                                   WHERE x.target_id = r.target_id AND x.status = 'running')
                 ORDER BY r.next_attempt_at, r.created_at LIMIT ?",
            )?
            .query_map(params![now, limit], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut claimed = Vec::new();
        for id in candidates {
            let done = self.execute(
                "UPDATE rotation_runs SET status = 'running', lease_until = ?, started_at = ?
                 WHERE id = ? AND status = 'pending'
                   AND NOT EXISTS (SELECT 1 FROM rotation_runs x
                                   WHERE x.target_id = rotation_runs.target_id
                                     AND x.status = 'running')",
                params![lease_until, now, id],
            )?;
            if done == 1 {
                claimed.push(id);
            }
        }
        Ok(claimed)
    }

    /// Records how a running push ended.
    pub fn rotation_run_finish(&mut self, run: &RotationRun) -> Result<(), StoreError> {
        self.execute(
            "UPDATE rotation_runs SET status = ?, lease_until = NULL, finished_at = ?,
                duration_ms = ?, error = ?, location = ?, destination_version = ?
             WHERE id = ?",
            params![
                run.status.as_str(),
                optional_time_text(run.progress.finished_at),
                run.progress.duration_ms.map(int_text),
                run.progress.error,
                run.progress.location,
                run.progress.destination_version,
                run.id,
            ],
        )?;
        Ok(())
    }
}
