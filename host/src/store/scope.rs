//! The tenant a query is confined to.

use sqlx::query::QueryAs;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{FromRow, Sqlite};

/// An organization, and within it one project when the caller is confined to one.
/// Tenant-scoped store queries take a `Scope`, so that no query can forget the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    organization_id: &'a str,
    project_id: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// Everything of one organization.
    pub fn organization(organization_id: &'a str) -> Self {
        Self {
            organization_id,
            project_id: None,
        }
    }

    /// One project of one organization.
    pub fn project(organization_id: &'a str, project_id: &'a str) -> Self {
        Self {
            organization_id,
            project_id: Some(project_id),
        }
    }

    pub fn organization_id(&self) -> &'a str {
        self.organization_id
    }

    /// The project this scope is confined to, if any.
    pub fn project_id(&self) -> Option<&'a str> {
        self.project_id
    }

    /// Whether an object of `project_id` lies inside this scope.
    pub fn contains_project(&self, project_id: &str) -> bool {
        self.project_id.is_none_or(|p| p == project_id)
    }

    /// The same scope owning its ids, for a unit of work that outlives the borrow.
    pub(super) fn to_owned_scope(self) -> OwnedScope {
        OwnedScope {
            organization_id: self.organization_id.to_owned(),
            project_id: self.project_id.map(str::to_owned),
        }
    }
}

/// A [`Scope`] that owns its ids.
pub(super) struct OwnedScope {
    organization_id: String,
    project_id: Option<String>,
}

impl OwnedScope {
    pub(super) fn scope(&self) -> Scope<'_> {
        Scope {
            organization_id: &self.organization_id,
            project_id: self.project_id.as_deref(),
        }
    }
}

/// Queries that look for one key inside a scope. Their SQL names the scope's organization
/// `?1`, its project `?2` (NULL for the whole organization) and the key `?3`.
impl<'q> Scope<'q> {
    /// `sql` with the scope and `key` bound, answering rows of type `R`.
    pub(super) fn query_as<R>(
        self,
        sql: &'q str,
        key: &'q str,
    ) -> QueryAs<'q, Sqlite, R, SqliteArguments<'q>>
    where
        R: for<'r> FromRow<'r, SqliteRow>,
    {
        sqlx::query_as(sql)
            .bind(self.organization_id)
            .bind(self.project_id)
            .bind(key)
    }
}
