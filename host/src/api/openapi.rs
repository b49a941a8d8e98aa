//! The OpenAPI document, generated from the handlers, and a browsable page.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    Route, audit_events, cas, certificate_io, certificates, health, jwk_objects, jwt_keys,
    key_material, keys, mtls, ocsp, organizations, plugins, projects, renewal, rotation, templates,
    webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Keystead", description = "PKI platform API"),
    paths(
        health::healthz, health::readyz, health::metrics,
        keys::list_keys, keys::create_key, keys::update_key, keys::delete_key, keys::issue_token,
        jwt_keys::list, jwt_keys::generate, jwt_keys::get_one, jwt_keys::delete,
        jwt_keys::public_key, jwt_keys::rotate, jwt_keys::sign, jwt_keys::verify, jwt_keys::jwks,
        organizations::list, organizations::create, organizations::get_one,
        organizations::update, organizations::delete,
        projects::list_projects, projects::create_project, projects::get_project,
        projects::update_project, projects::delete_project,
        projects::list_environments, projects::create_environment, projects::get_environment,
        projects::update_environment, projects::delete_environment,
        key_material::list_keys, key_material::upload_key, key_material::get_key,
        key_material::delete_key, key_material::list_keystores, key_material::upload_keystore,
        key_material::get_keystore, key_material::delete_keystore,
        jwk_objects::list, jwk_objects::create, jwk_objects::update, jwk_objects::get_one,
        jwk_objects::update_one, jwk_objects::delete, jwk_objects::environment_jwks,
        audit_events::list,
        cas::list, cas::create, cas::get_one, cas::disable, cas::certificate, cas::upload_certificate,
        cas::crl, cas::regenerate_crl,
        templates::list, templates::create, templates::get_one, templates::update, templates::delete,
        certificates::submit, certificates::list, certificates::get_one, certificates::update,
        certificates::status, certificates::approve, certificates::reject, certificates::revoke,
        certificates::unrevoke, certificates::archive, certificates::restore,
        certificates::permanent_delete,
        certificate_io::export, certificate_io::import, certificate_io::import_bulk,
        certificate_io::import_file, certificate_io::import_preview,
        mtls::list, mtls::generate, mtls::get_one, mtls::download, mtls::renew, mtls::delete,
        ocsp::ocsp_post, ocsp::ocsp_get,
        plugins::list,
        renewal::renew, renewal::history, renewal::queue, renewal::approve, renewal::cancel,
        rotation::get_config, rotation::put_config, rotation::trigger, rotation::history,
        rotation::list_targets, rotation::create_target, rotation::get_target,
        rotation::update_target, rotation::delete_target, rotation::sync,
        webhooks::list, webhooks::create, webhooks::get_one, webhooks::update, webhooks::delete,
        webhooks::deliveries, webhooks::delivery, webhooks::redeliver, webhooks::ping,
        openapi_json, docs_page,
    ),
    components(schemas(super::ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "keys", description = "API keys"),
        (name = "jwt-keys", description = "JWT signing keys and the public JWKS"),
        (name = "jwks", description = "JWK objects and the environments' public JWKS"),
        (name = "key-material", description = "Keys and keystores that JWK sources read"),
        (name = "tenancy", description = "Organizations, projects and environments"),
        (name = "audit", description = "Security events"),
        (name = "cas", description = "Certificate authorities, CRLs"),
        (name = "templates", description = "Certificate templates"),
        (name = "certificates", description = "Certificate requests and lifecycle, export and import"),
        (name = "mtls", description = "mTLS certificates, made and downloaded in one call"),
        (name = "rotation", description = "Pushing certificates to rotation targets"),
        (name = "plugins", description = "Loaded WebAssembly plugins"),
        (name = "webhooks", description = "Signed event deliveries and their log"),
        (name = "health", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/openapi.json").get(openapi_json),
        Route::at("/api/v1/docs").get(docs_page),
    ]
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "OpenAPI 3.1 document")))]
pub(super) async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: LazyLock<String> =
        LazyLock::new(|| ApiDoc::openapi().to_json().unwrap_or_default());
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// A browsable page over the OpenAPI document.
#[utoipa::path(get, path = "/api/v1/docs", tag = "health",
    responses((status = 200, content_type = "text/html", body = String)))]
pub(super) async fn docs_page() -> Html<&'static str> {
    static PAGE: LazyLock<String> =
        LazyLock::new(|| utoipa_scalar::Scalar::new(ApiDoc::openapi()).to_html());
    Html(PAGE.as_str())
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc = ApiDoc::openapi();
        let mut missing = Vec::new();
        for route in super::super::route_table() {
            // OpenAPI has no catch-all segments: `{*request}` is documented as `{request}`.
            let item = doc.paths.paths.get(&route.path.replace("{*", "{"));
            for method in &route.methods {
                let documented = item.is_some_and(|item| {
                    let op = match *method {
                        Method::GET => &item.get,
                        Method::POST => &item.post,
                        Method::PUT => &item.put,
                        Method::PATCH => &item.patch,
                        Method::DELETE => &item.delete,
                        _ => &None,
                    };
                    op.is_some()
                });
                if !documented {
                    missing.push(format!("{method} {}", route.path));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "routes missing from the OpenAPI document: {missing:?}"
        );
    }
}
