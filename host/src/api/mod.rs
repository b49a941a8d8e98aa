//! The HTTP API: axum routers, one module per resource. Handlers parse, check
//! permissions and call the domain services; no business rule lives here.

mod audit_events;
mod cas;
mod certificate_io;
mod certificates;
mod error;
pub mod extract;
mod health;
mod jwk_objects;
mod jwt_keys;
mod key_material;
mod keys;
mod mtls;
mod ocsp;
mod openapi;
mod organizations;
mod pagination;
mod plugins;
mod projects;
mod renewal;
mod rotation;
mod templates;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ErrorBody;

use crate::Error;
use crate::audit::AuditLog;
use crate::auth::rate_limit::RateLimits;
use crate::auth::{ApiKeys, Authorizer, Caller, Permission};
use crate::config::Config;
use crate::jwk_objects::JwkObjects;
use crate::jwt_keys::JwtKeys;
use crate::key_material::KeyMaterial;
use crate::pki::Pki;
use crate::plugins::Registry;
use crate::rotation::Rotation;
use crate::store::Store;
use crate::telemetry::HttpMetrics;
use crate::tenancy::Tenancy;
use crate::webhooks::Webhooks;

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub audit: AuditLog,
    pub authz: Authorizer,
    pub api_keys: Arc<ApiKeys>,
    pub jwt_keys: Arc<JwtKeys>,
    pub key_material: Arc<KeyMaterial>,
    pub jwk_objects: Arc<JwkObjects>,
    pub tenancy: Tenancy,
    pub pki: Arc<Pki>,
    pub plugins: Arc<Registry>,
    pub rotation: Arc<Rotation>,
    pub webhooks: Arc<Webhooks>,
    pub rate_limits: Arc<RateLimits>,
    pub metrics: Arc<HttpMetrics>,
}

impl AppState {
    /// Checks that `caller` holds `permission`; a denial is audited and answered with 403.
    pub async fn require(&self, caller: &Caller, permission: Permission) -> crate::Result<()> {
        self.authz.require(caller, permission).await
    }
}

/// One API route: its path, the methods it answers and its handlers.
pub(crate) struct Route {
    pub path: &'static str,
    /// Read by the OpenAPI coverage test.
    #[cfg_attr(not(test), allow(dead_code))]
    pub methods: Vec<Method>,
    pub handlers: MethodRouter<AppState>,
}

impl Route {
    /// A route at `path`; each method added names its handler, and is listed for the
    /// OpenAPI coverage test by the same call.
    pub fn at(path: &'static str) -> Self {
        Self {
            path,
            methods: Vec::new(),
            handlers: MethodRouter::new(),
        }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.on(Method::GET, MethodFilter::GET, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.on(Method::POST, MethodFilter::POST, handler)
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.on(Method::PUT, MethodFilter::PUT, handler)
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.on(Method::PATCH, MethodFilter::PATCH, handler)
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.on(Method::DELETE, MethodFilter::DELETE, handler)
    }

    fn on<H: Handler<T, AppState>, T: 'static>(
        mut self,
        method: Method,
        filter: MethodFilter,
        handler: H,
    ) -> Self {
        self.methods.push(method);
        self.handlers = self.handlers.on(filter, handler);
        self
    }
}

/// Every route, from every module. The router is built from this table only, and a test
/// checks that each entry is in the OpenAPI document.
pub(crate) fn route_table() -> Vec<Route> {
    [
        health::routes(),
        keys::routes(),
        jwt_keys::routes(),
        key_material::routes(),
        jwk_objects::routes(),
        organizations::routes(),
        projects::routes(),
        audit_events::routes(),
        cas::routes(),
        templates::routes(),
        certificates::routes(),
        certificate_io::routes(),
        mtls::routes(),
        ocsp::routes(),
        plugins::routes(),
        renewal::routes(),
        rotation::routes(),
        webhooks::routes(),
        openapi::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let request_id = HeaderName::from_static(extract::REQUEST_ID_HEADER);
    let (bare, layered): (Vec<Route>, Vec<Route>) = route_table()
        .into_iter()
        .partition(|route| UNLAYERED.contains(&route.path));
    let mut router = Router::new();
    for route in layered {
        router = router.route(route.path, route.handlers);
    }
    let mut router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track_metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| {
            Error::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        // Spans name the path only: query strings may carry secrets (export passwords).
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    // Added after the layers, so that they bypass them.
    for route in bare {
        router = router.route(route.path, route.handlers);
    }
    router.with_state(state)
}

/// Routes served without the per-request middleware (request ids, tracing spans, latency
/// histograms, panic catching): public reads answered from memory, where that work costs
/// more than the answer itself. Their handlers cannot panic and count their own requests.
const UNLAYERED: &[&str] = &[jwt_keys::JWKS_PATH];

async fn not_found() -> Error {
    Error::NotFound("route".into())
}

async fn method_not_allowed(method: Method) -> Response {
    let body = ErrorBody {
        error: "method_not_allowed",
        error_description: format!("method {method} is not allowed on this route"),
        field: None,
        violations: None,
    };
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

async fn track_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
