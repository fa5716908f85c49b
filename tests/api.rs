//! The HTTP surface: auth, roles, tenant isolation, problem+json, limits, metrics, OpenAPI.

mod common;

use std::time::Duration;

use atelier::auth::Role;
use axum::body::Body;
use axum::routing::get;
use common::{json, problem, request, text, TestApp};

#[tokio::test]
async fn health_and_readiness() {
    let t = TestApp::new(&[]).await;
    let resp = t
        .send(
            request("GET", "/healthz", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));

    let resp = t
        .send(request("GET", "/readyz", None).body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), 503, "not ready before the models are loaded");
    assert_eq!(json(resp).await["models"], false);

    t.load_models().await;
    let resp = t
        .send(request("GET", "/readyz", None).body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    let doc = json(resp).await;
    assert_eq!(doc["database"], true);
    assert_eq!(doc["status"], "ready");
}

#[tokio::test]
async fn v1_needs_a_valid_key() {
    let t = TestApp::new(&[]).await;
    let resp = t
        .send(request("GET", "/v1/me", None).body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
    problem(resp, 401).await;

    for bad in ["atk_0000", "not-a-key", ""] {
        let resp = t
            .send(
                request("GET", "/v1/me", Some(bad))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        problem(resp, 401).await;
    }
    let resp = t
        .send(
            request("GET", "/v1/me", None)
                .header("authorization", "Basic dXNlcjpwYXNz")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    problem(resp, 401).await;

    let key = t.key("tailor-one", Role::Shop).await;
    let resp = t
        .send(
            request("GET", "/v1/me", Some(&key))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let me = json(resp).await;
    assert_eq!(me["tenant_name"], "tailor-one");
    assert_eq!(me["role"], "shop");
}

#[tokio::test]
async fn only_a_hash_of_the_key_is_stored() {
    let t = TestApp::new(&[]).await;
    let key = t.key("tailor-one", Role::Shop).await;
    assert!(key.starts_with("atk_") && key.len() == 4 + 64);
    let stored = t
        .state
        .store
        .key_by_hash(&atelier::auth::hash_key(&key))
        .await
        .unwrap()
        .expect("found by hash");
    assert!(key.starts_with(&stored.prefix));
    assert!(
        t.state.store.key_by_hash(&key).await.unwrap().is_none(),
        "the plaintext is not a stored value"
    );
    assert!(t.state.store.revoke_key(&stored.id).await.unwrap());
    let resp = t
        .send(
            request("GET", "/v1/me", Some(&key))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    problem(resp, 401).await;
}

#[tokio::test]
async fn roles_limit_routes() {
    let t = TestApp::new(&[]).await;
    let counter = t.key("beauty-counter", Role::Counter).await;
    let resp = t
        .send(
            request("GET", "/v1/measurement-records", Some(&counter))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let doc = problem(resp, 403).await;
    assert!(doc["detail"].as_str().unwrap().contains("counter"), "{doc}");

    let shop = t.key("tailor-one", Role::Shop).await;
    let resp = t
        .send(
            request("GET", "/v1/admin/tenants", Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    problem(resp, 403).await;

    let admin = t.key("operator", Role::Admin).await;
    let resp = t
        .send(
            request("GET", "/v1/admin/tenants", Some(&admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let names: Vec<String> = json(resp)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["beauty-counter", "operator", "tailor-one"]);

    // An admin can issue keys over the API; the new key works at once.
    let body = r#"{"tenant":"factory-a","role":"factory"}"#;
    let resp = t
        .send(
            request("POST", "/v1/admin/keys", Some(&admin))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let issued = json(resp).await;
    let resp = t
        .send(
            request("GET", "/v1/me", issued["key"].as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(json(resp).await["role"], "factory");
    let body = r#"{"tenant":"factory-a","role":"owner"}"#;
    let resp = t
        .send(
            request("POST", "/v1/admin/keys", Some(&admin))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(problem(resp, 422).await["field"], "role");
}

fn record_body(customer: &str, chest: f64) -> Body {
    Body::from(format!(
        r#"{{"customer_ref":"{customer}","source":"tape","measurements":{{"chest_girth":{chest},"waist_girth":82.5}}}}"#
    ))
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_data() {
    let t = TestApp::new(&[]).await;
    let shop_a = t.key("shop-a", Role::Shop).await;
    let shop_b = t.key("shop-b", Role::Shop).await;
    let post = |key: &str, customer: &str| {
        request("POST", "/v1/measurement-records", Some(key))
            .header("content-type", "application/json")
            .body(record_body(customer, 96.0))
            .unwrap()
    };

    let resp = t.send(post(&shop_a, "A-001")).await;
    assert_eq!(resp.status(), 201);
    let location = resp
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let a_record = json(resp).await;
    assert_eq!(
        location,
        format!(
            "/v1/measurement-records/{}",
            a_record["id"].as_str().unwrap()
        )
    );
    assert_eq!(t.send(post(&shop_b, "B-001")).await.status(), 201);

    let resp = t
        .send(
            request("GET", &location, Some(&shop_a))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(json(resp).await["measurements"]["chest_girth"], 96.0);
    // Another tenant's record does not exist as far as shop B can tell.
    let resp = t
        .send(
            request("GET", &location, Some(&shop_b))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    problem(resp, 404).await;

    for (key, only) in [(&shop_a, "A-001"), (&shop_b, "B-001")] {
        let resp = t
            .send(
                request("GET", "/v1/measurement-records", Some(key))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let list = json(resp).await;
        let refs: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["customer_ref"].as_str().unwrap())
            .collect();
        assert_eq!(refs, [only]);
    }
}

#[tokio::test]
async fn bad_bodies_are_problems() {
    let t = TestApp::new(&[]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let post = |ct: &str, body: &'static str| {
        request("POST", "/v1/measurement-records", Some(&shop))
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap()
    };

    problem(t.send(post("application/json", "{not json")).await, 400).await;
    problem(t.send(post("text/plain", "{}")).await, 415).await;
    problem(
        t.send(post("application/json", r#"{"customer_ref":"x"}"#))
            .await,
        422,
    )
    .await;
    let doc = problem(
        t.send(post(
            "application/json",
            r#"{"customer_ref":"x","source":"tape","measurements":{"chest_girth":-4}}"#,
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "measurements.chest_girth");
    let doc = problem(
        t.send(post(
            "application/json",
            r#"{"customer_ref":"","source":"tape","measurements":{"chest_girth":90}}"#,
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "customer_ref");
    for uri in ["/v1/measurement-records?limit=0", "/v1/orders?limit=501"] {
        let request = request("GET", uri, Some(&shop))
            .body(Body::empty())
            .unwrap();
        let doc = problem(t.send(request).await, 422).await;
        assert_eq!(doc["field"], "limit", "{uri}");
        let detail = doc["detail"].as_str().unwrap_or("");
        assert!(detail.contains("500"), "{doc}");
    }

    let doc = problem(
        t.send(
            request("GET", "/no/such/route", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(doc["type"], "/problems/not-found");
    problem(
        t.send(
            request("DELETE", "/healthz", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
        405,
    )
    .await;

    // Every problem type is documented at its URI.
    let resp = t
        .send(
            request("GET", "/problems/validation-failed", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(text(resp).await.contains("422"));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let t = TestApp::new(&[("ATELIER_MAX_BODY_BYTES", "2048")]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let big = format!(
        r#"{{"customer_ref":"{}","source":"tape","measurements":{{"chest_girth":90}}}}"#,
        "x".repeat(10_000)
    );
    let resp = t
        .send(
            request("POST", "/v1/measurement-records", Some(&shop))
                .header("content-type", "application/json")
                .body(Body::from(big.clone()))
                .unwrap(),
        )
        .await;
    problem(resp, 413).await;
    // Also when the client does not announce the length and streams the body.
    let stream = futures_stream(big.into_bytes());
    let resp = t
        .send(
            request("POST", "/v1/measurement-records", Some(&shop))
                .header("content-type", "application/json")
                .body(stream)
                .unwrap(),
        )
        .await;
    problem(resp, 413).await;
}

fn futures_stream(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    Body::from_stream(tokio_stream_iter(chunks))
}

fn tokio_stream_iter(
    items: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Iter(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test]
async fn panics_and_timeouts_are_problems() {
    let t = TestApp::with_router(&[("ATELIER_REQUEST_TIMEOUT_SECS", "1")], {
        axum::Router::new()
            .route(
                "/test/panic",
                get(|| async {
                    if true {
                        panic!("boom")
                    }
                    "unreachable"
                }),
            )
            .route(
                "/test/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
    })
    .await;
    let doc = problem(
        t.send(
            request("GET", "/test/panic", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
        500,
    )
    .await;
    assert!(
        !doc["detail"].as_str().unwrap().contains("boom"),
        "panic messages are logged, not sent"
    );
    problem(
        t.send(
            request("GET", "/test/slow", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
        503,
    )
    .await;
}

#[tokio::test]
async fn keys_are_rate_limited() {
    let t = TestApp::new(&[("ATELIER_RATE_LIMIT_PER_MINUTE", "2")]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    for _ in 0..2 {
        assert_eq!(
            t.send(
                request("GET", "/v1/me", Some(&shop))
                    .body(Body::empty())
                    .unwrap()
            )
            .await
            .status(),
            200
        );
    }
    let resp = t
        .send(
            request("GET", "/v1/me", Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(resp.headers().get("retry-after").is_some());
    problem(resp, 429).await;
    // Another key has its own budget.
    let other = t.key("shop-b", Role::Shop).await;
    assert_eq!(
        t.send(
            request("GET", "/v1/me", Some(&other))
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let t = TestApp::new(&[]).await;
    t.send(
        request("GET", "/healthz", None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    t.send(
        request("GET", "/v1/measurement-records/abc", None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let resp = t
        .send(
            request("GET", "/metrics", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let body = text(resp).await;
    assert!(
        body.contains(r#"atelier_http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{body}"
    );
    assert!(
        body.contains(r#"route="/v1/measurement-records/{id}",status="401""#),
        "{body}"
    );
    assert!(
        body.contains("atelier_http_request_duration_seconds_bucket"),
        "{body}"
    );
}

/// The served document is valid OpenAPI 3.1 by a validator nobody here wrote
/// (openapi-spec-validator, pinned in tools/openapi_requirements.txt; its venv is made on first
/// use in target/venvs/openapi, or taken from `ATELIER_OPENAPI_VENV`). It refused the document
/// whose operation ids repeated.
#[tokio::test]
async fn openapi_document_passes_the_reference_validator() {
    let root = env!("CARGO_MANIFEST_DIR");
    let venv = std::env::var("ATELIER_OPENAPI_VENV")
        .unwrap_or_else(|_| format!("{root}/target/venvs/openapi"));
    let setup = std::process::Command::new("bash")
        .arg(format!("{root}/tools/venv_setup.sh"))
        .arg(&venv)
        .arg(format!("{root}/tools/openapi_requirements.txt"))
        .status()
        .expect("bash");
    assert!(setup.success(), "making the validator's venv failed");
    let t = TestApp::new(&[]).await;
    let doc = t.openapi().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, doc).unwrap();
    let out = std::process::Command::new(format!("{venv}/bin/openapi-spec-validator"))
        .arg(&path)
        .output()
        .expect("openapi-spec-validator");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let t = TestApp::new(&[("ATELIER_REQUEST_TIMEOUT_SECS", "65")]).await;
    let doc: serde_json::Value = serde_json::from_str(&t.openapi().await).expect("JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/problems/{slug}", "get"),
        ("/v1/me", "get"),
        ("/v1/admin/keys", "post"),
        ("/v1/admin/tenants", "get"),
        ("/v1/measurement-records", "post"),
        ("/v1/measurement-records", "get"),
        ("/v1/measurement-records/{id}", "get"),
        ("/v1/fabrics", "get"),
        ("/v1/factory/markers", "post"),
        ("/v1/factory/markers", "get"),
        ("/v1/factory/markers/{id}", "get"),
        ("/v1/factory/markers/{id}/claim", "post"),
        ("/v1/factory/markers/{id}/cut-file", "get"),
        ("/v1/webhooks", "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks/{id}", "delete"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // The multipart forms name their parts (utoipa alone would only say `object`).
    let form = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
            .clone()
    };
    let measure = form("/v1/measurements");
    let (parts, pairs) = (&measure["allOf"][0], &measure["allOf"][1]["oneOf"]);
    for part in [
        "front",
        "side",
        "front_mask",
        "side_mask",
        "height_cm",
        "weight_kg",
        "sex",
        "overlay",
    ] {
        assert!(
            parts["properties"][part].is_object(),
            "measurements: {part}"
        );
    }
    assert_eq!(parts["required"], serde_json::json!(["height_cm"]));
    assert_eq!(pairs[0]["required"], serde_json::json!(["front", "side"]));
    assert_eq!(
        pairs[1]["required"],
        serde_json::json!(["front_mask", "side_mask"])
    );
    let shade = form("/v1/shade-matches");
    for part in ["image", "corners", "catalog", "top"] {
        assert!(
            shade["properties"][part].is_object(),
            "shade-matches: {part}"
        );
    }
    assert_eq!(shade["required"], serde_json::json!(["image"]));
    // Every problem answer is documented as problem+json, and every /v1 operation lists what
    // the guard answers before its handler runs.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["content"]
                        .get("application/json")
                        .is_none_or(|c| { c["schema"]["$ref"] != "#/components/schemas/Problem" }),
                    "{method} {path} {status}: a Problem documented as application/json"
                );
            }
            if path.starts_with("/v1/") {
                for status in ["401", "403", "429"] {
                    assert!(
                        op["responses"][status]["content"]["application/problem+json"].is_object(),
                        "{method} {path} lacks {status}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    // Operation ids are unique (code generators name functions after them), and every link from
    // a created resource names one of them.
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate operationId in {ids:?}");
    let order_links = &paths["/v1/orders"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        order_links["get_order"]["parameters"]["id"],
        "$response.body#/id"
    );
    let plan_links = &paths["/v1/factory/markers"]["post"]["responses"]["202"]["links"];
    assert_eq!(
        plan_links["stop_plan"]["parameters"]["id"],
        "$response.body#/id"
    );
    for item in paths.values() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    assert!(unique.contains(target), "a link to unknown {target}");
                }
            }
        }
    }
    // Exactly one of two fields, and what only this deployment knows: its fabrics, its plan budget.
    let order = &doc["components"]["schemas"]["NewOrder"];
    assert_eq!(
        order["allOf"][1]["oneOf"],
        serde_json::json!([
            {"type": "object", "required": ["measurements"]},
            {"type": "object", "required": ["measurement_record_id"]}
        ])
    );
    let fabrics = order["allOf"][0]["properties"]["fabric"]["enum"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(fabrics.contains(&"poplin-white".into()), "{fabrics:?}");
    let plan = &doc["components"]["schemas"]["PlanRequest"]["properties"];
    assert_eq!(plan["fabric"]["enum"], serde_json::json!(fabrics));
    // Any plan's limit, and for one answered in the request, the request timeout less the
    // plan's 5 s overhead.
    assert_eq!(plan["time_limit_secs"]["maximum"], 600.0);
    let said = plan["time_limit_secs"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(said.contains("At most 60 s here"), "{said}");
    let estimate = &doc["components"]["schemas"]["EstimateRequest"]["properties"];
    assert_eq!(
        estimate["values"]["additionalProperties"]["exclusiveMinimum"],
        0.0
    );
    assert_eq!(estimate["sd"]["additionalProperties"]["minimum"], 0.0);
}
