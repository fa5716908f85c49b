//! The OpenAPI 3.1 document: generated from the handlers' annotations, completed by modifiers with
//! what annotations cannot say (multipart parts, one-of-two bodies, the statuses answered before a
//! handler runs) and, when served, with links between operations and this deployment's facts.

use axum::extract::State;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    admin, health, markers, measurements, orders, patterns, plans, problem, records, shades,
    webhooks, AppState,
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
        plans::get, plans::list, plans::stop,
        webhooks::create, webhooks::list, webhooks::remove,
        measurements::estimate, measurements::measure, shades::create,
        patterns::create, patterns::garments,
    ),
    components(schemas(problem::Problem, patterns::PatternRequest)),
    modifiers(&BearerAuth, &Forms, &Alternatives, &Problems),
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

/// Bodies that take exactly one of two fields, which field attributes cannot say.
struct Alternatives;

impl Modify for Alternatives {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (name, a, b) in [
            ("NewOrder", "measurements", "measurement_record_id"),
            ("PatternRequest", "measurements", "sizes"),
        ] {
            if let Some(RefOr::T(schema)) = components.schemas.get_mut(name) {
                let fields = std::mem::take(schema);
                *schema = AllOfBuilder::new()
                    .item(fields)
                    .item(
                        OneOfBuilder::new()
                            .item(ObjectBuilder::new().required(a))
                            .item(ObjectBuilder::new().required(b)),
                    )
                    .into();
            }
        }
    }
}

/// Problem answers are `application/problem+json`, and every operation lists the statuses that
/// the layers before its handler answer: the `/v1` guard (no or unknown key, a role not allowed,
/// the rate limit) and the extractors of a body (malformed, too large, wrong type, unusable
/// values) or a query (malformed, unusable values).
struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in operations(item) {
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        as_problem_json(response);
                    }
                }
                let body = op.request_body.is_some();
                let query = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let mut statuses = Vec::new();
                if path.starts_with("/v1/") {
                    statuses.extend([
                        ("401", "no API key, or an unknown or revoked one"),
                        ("403", "the key's role may not use this route"),
                        ("429", "over the key's rate limit (see Retry-After)"),
                    ]);
                }
                if body {
                    statuses.extend([
                        ("400", "malformed body"),
                        ("413", "body larger than ATELIER_MAX_BODY_BYTES"),
                        ("415", "wrong Content-Type"),
                    ]);
                }
                if query {
                    statuses.push(("400", "malformed query"));
                }
                if body || query {
                    statuses.push(("422", "well-formed but unusable values"));
                }
                for (status, description) in statuses {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem_response(description).into());
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Moves a `Problem` body from `application/json` to the media type it is sent with.
fn as_problem_json(response: &mut Response) {
    let is_problem = response.content.get("application/json").is_some_and(
        |c| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem")),
    );
    if is_problem {
        if let Some(content) = response.content.shift_remove("application/json") {
            response
                .content
                .insert(problem::PROBLEM_JSON.to_owned(), content);
        }
    }
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            problem::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The creating operation, the status of its answer, where that answer holds the new id, and the
/// operations taking that id as their `id` path parameter (the factory's with the key of the
/// factory an order is routed to): OpenAPI links, for clients and for test tools that chain calls.
const LINKS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "create_order",
        "201",
        "/id",
        &[
            "get_order",
            "list_order_events",
            "cancel_order",
            "get_factory_order",
            "move_factory_order",
        ],
    ),
    (
        "create_measurement_record",
        "201",
        "/id",
        &["get_measurement_record"],
    ),
    (
        "plan_marker",
        "201",
        "/marker/id",
        &["get_marker", "claim_marker", "get_marker_cut_file"],
    ),
    ("plan_marker", "202", "/id", &["get_plan", "stop_plan"]),
    ("create_webhook", "201", "/id", &["delete_webhook"]),
];

/// Adds [`LINKS`] to the answers of the creating operations (201, or 202 for a plan that runs in
/// the background). Written into the JSON because utoipa 5.5 serialises its `Link` with the
/// field names `operation_id` and `request_body` where OpenAPI says `operationId` and
/// `requestBody`.
fn add_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
    {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        for (_, status, pointer, targets) in LINKS.iter().filter(|(creator, ..)| *creator == id) {
            if let Some(created) = op.pointer_mut(&format!("/responses/{status}")) {
                created["links"] = targets
                    .iter()
                    .map(|target| {
                        let link = serde_json::json!({
                            "operationId": target,
                            "parameters": {"id": format!("$response.body#{pointer}")},
                        });
                        ((*target).to_owned(), link)
                    })
                    .collect();
            }
        }
    }
}

/// This document, with what only this deployment knows: the fabric catalog's codes and the
/// longest marker plan the request timeout leaves room for.
#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi_json(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    add_links(&mut doc);
    let fabrics: Vec<&str> = state.config.fabrics.iter().map(|f| f.id.as_str()).collect();
    for pointer in [
        "/components/schemas/NewOrder/allOf/0/properties/fabric",
        "/components/schemas/PlanRequest/properties/fabric",
    ] {
        if let Some(fabric) = doc.pointer_mut(pointer) {
            fabric["enum"] = serde_json::json!(fabrics);
        }
    }
    if let Some(limit) =
        doc.pointer_mut("/components/schemas/PlanRequest/properties/time_limit_secs")
    {
        // The schema's maximum is any plan's (a background one); a plan answered in the request
        // must also end within this deployment's request timeout.
        let budget =
            markers::plan_budget_secs(&state).min(crate::orders::markers::MAX_TIME_LIMIT_SECS);
        limit["description"] = serde_json::json!(format!(
            "Seconds the nesting search may take (default 10); the best marker found by then is kept. \
             At most {budget} s here for a plan answered in the request, 600 s with `Prefer: respond-async`."
        ));
    }
    axum::Json(doc)
}
