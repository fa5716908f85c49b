//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, health, markers, measurements, orders, patterns, problem, records, shades, webhooks,
};

/// The service's OpenAPI description, served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "atelier", description = "Made-to-measure: body measurement, shade matching, patterns and cutting markers."),
    paths(
        health::healthz, health::readyz, health::metrics, health::problem_type, openapi_json,
        admin::me, admin::create_key, admin::tenants,
        records::create, records::get, records::list,
        orders::create, orders::list, orders::get, orders::events, orders::cancel,
        orders::factory_list, orders::factory_get, orders::factory_move, orders::fabrics,
        markers::plan, markers::list, markers::get, markers::claim, markers::cut_file,
        webhooks::create, webhooks::list, webhooks::remove,
        measurements::estimate, measurements::measure, shades::create,
        patterns::create, patterns::garments,
    ),
    components(schemas(problem::Problem, patterns::PatternRequest)),
    modifiers(&BearerAuth, &Forms),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The multipart forms' parts, which the handlers' annotations can only call `Object`.
struct Forms;

impl Modify for Forms {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let forms = [
            ("/v1/measurements", measurements::form_schema()),
            ("/v1/shade-matches", shades::form_schema()),
        ];
        for (path, schema) in forms {
            let content = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|op| op.request_body.as_mut())
                .and_then(|body| body.content.get_mut("multipart/form-data"));
            if let Some(content) = content {
                content.schema = Some(schema.into());
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
