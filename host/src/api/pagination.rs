//! Page-numbered lists (`page`, `per_page`) for the `/api/v1` resources.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{Error, Result};

pub const DEFAULT_PER_PAGE: i64 = 25;
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1)]
    pub page: Option<i64>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 25)]
    pub per_page: Option<i64>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Pagination {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

impl PageQuery {
    /// The page that a list's own query string names.
    pub fn new(page: Option<i64>, per_page: Option<i64>) -> Self {
        Self { page, per_page }
    }

    /// `(page, per_page, offset)`, or a 400 naming the field that is out of range.
    pub fn resolve(&self) -> Result<(i64, i64, i64)> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page < 1 || page > i64::from(i32::MAX) {
            return Err(Error::bad_request("page", "must be 1 or more"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(Error::bad_request(
                "per_page",
                format!("must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Ok((page, per_page, (page - 1) * per_page))
    }

    /// Reads this page with `list(offset, per_page)`, which answers the page's rows and
    /// the total, and shows each row through `view`.
    pub async fn fetch<T, R, F>(
        &self,
        list: impl FnOnce(i64, i64) -> F,
        view: impl Fn(R) -> T,
    ) -> Result<Page<T>>
    where
        F: Future<Output = Result<(Vec<R>, i64)>>,
    {
        let (_, per_page, offset) = self.resolve()?;
        let (rows, total) = list(offset, per_page).await?;
        self.page(rows, total, view)
    }

    pub fn page<T, R>(&self, rows: Vec<R>, total: i64, view: impl Fn(R) -> T) -> Result<Page<T>> {
        let (page, per_page, _) = self.resolve()?;
        Ok(Page {
            data: rows.into_iter().map(view).collect(),
            pagination: Pagination {
                page,
                per_page,
                total,
            },
        })
    }
}
