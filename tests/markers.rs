//! Cutting markers from orders over HTTP: planning (all or nothing), the factory's queue, claims
//! (one winner, also across two service instances on one PostgreSQL), and cut files checked
//! with an independent validator (plain geometry and `geo`'s boolean operations).

mod common;

use atelier::api::{self, AppState};
use atelier::auth::{self, Role};
use atelier::orders::markers::{self, PlanRequest};
use atelier::orders::{self, OrderState, Viewer};
use axum::body::Body;
use common::{config, json, problem, request, text, TestApp};
use geo::{Area, BooleanOps, BoundingRect, Coord, Distance, Euclidean, LineString, Polygon};
use tower::ServiceExt;

/// A body that drafts every men's garment (cm).
const MEASUREMENTS: &str = r#"{"stature":176,"chest_girth":98.5,"neck_girth":39,"shoulder_breadth":44,"back_waist_length":45,"arm_length":62,"upper_arm_girth":32,"wrist_girth":17.5,"across_back":39,"waist_girth":84,"hip_girth":98,"waist_height":105,"inside_leg":81}"#;

fn order_body(garment: &str, fabric: &str, quantity: u32, factory: &str) -> String {
    format!(
        r#"{{"customer_ref":"C-{garment}","measurements":{MEASUREMENTS},"garment":"{garment}","fabric":"{fabric}","quantity":{quantity},"due_date":"2026-12-20","factory":"{factory}"}}"#
    )
}

fn post(uri: &str, key: &str, body: String) -> axum::http::Request<Body> {
    request("POST", uri, Some(key))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn get(uri: &str, key: &str) -> axum::http::Request<Body> {
    request("GET", uri, Some(key)).body(Body::empty()).unwrap()
}

async fn place(app: &axum::Router, shop: &str, key: &str, body: String) -> String {
    let mut req = post("/v1/orders", shop, body);
    req.headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 201, "{}", text(resp).await);
    json(resp).await["id"].as_str().unwrap().to_owned()
}

async fn send(app: &axum::Router, req: axum::http::Request<Body>) -> axum::response::Response {
    app.clone().oneshot(req).await.expect("infallible")
}

/// The placed cut lines of a marker's JSON cut file, by piece label.
fn placed_pieces(cut_file: &serde_json::Value) -> Vec<(String, Polygon<f64>)> {
    cut_file["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let ring: Vec<Coord<f64>> = p["cut_line"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| Coord {
                    x: q[0].as_f64().unwrap() + p["offset"][0].as_f64().unwrap(),
                    y: q[1].as_f64().unwrap() + p["offset"][1].as_f64().unwrap(),
                })
                .collect();
            (
                p["name"].as_str().unwrap().to_owned(),
                Polygon::new(LineString::from(ring), vec![]),
            )
        })
        .collect()
}

/// Every way the placed pieces break the roll: outside it, beyond the marker's length,
/// overlapping, or closer than the fabric's gap.
fn violations(pieces: &[(String, Polygon<f64>)], width: f64, length: f64, gap: f64) -> Vec<String> {
    let mut out = Vec::new();
    let tol = 1e-3;
    let boxes: Vec<_> = pieces
        .iter()
        .map(|(_, p)| p.bounding_rect().unwrap())
        .collect();
    for ((name, _), bb) in pieces.iter().zip(&boxes) {
        if bb.min().x < -tol || bb.min().y < -tol || bb.max().y > width + tol {
            out.push(format!("{name} outside the roll: {bb:?}"));
        }
        if bb.max().x > length + tol {
            out.push(format!("{name} beyond the length {length}: {bb:?}"));
        }
    }
    for i in 0..pieces.len() {
        for j in i + 1..pieces.len() {
            let (a, b) = (boxes[i], boxes[j]);
            if a.max().x + gap <= b.min().x
                || b.max().x + gap <= a.min().x
                || a.max().y + gap <= b.min().y
                || b.max().y + gap <= a.min().y
            {
                continue;
            }
            let (pa, pb) = (&pieces[i].1, &pieces[j].1);
            let overlap = pa.intersection(pb).unsigned_area();
            if overlap > 1e-6 * pa.unsigned_area().min(pb.unsigned_area()) {
                out.push(format!(
                    "{} and {} overlap by {overlap} mm²",
                    pieces[i].0, pieces[j].0
                ));
            }
            let d = Euclidean.distance(pa, pb);
            if d < gap * (1.0 - 1e-3) {
                out.push(format!(
                    "{} and {} are {d} mm apart, gap {gap}",
                    pieces[i].0, pieces[j].0
                ));
            }
        }
    }
    out
}

/// A second app on `t`'s database whose catalog has a poplin roll of 400 mm, narrower than a
/// shirt's back; the catalog lives as long as the returned folder.
fn narrow_roll(t: &TestApp) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fabrics.csv");
    std::fs::write(
        &csv,
        "id,name,roll_width_mm,rotations,min_gap_mm\npoplin-white,Poplin,400,\"0,180\",3\n",
    )
    .unwrap();
    let narrow = api::router(AppState::new(
        t.state.store.clone(),
        config(&[("ATELIER_FABRICS", csv.to_str().unwrap())]),
    ));
    (narrow, dir)
}

/// Two service instances (two app states with their own pools) on one fresh PostgreSQL schema,
/// the first's store and a shop key; `None` when PostgreSQL is switched off.
async fn two_servers() -> Option<(atelier::store::Store, axum::Router, axum::Router, String)> {
    let (first, second) = common::postgres_pair().await?;
    let a = api::router(AppState::new(first.clone(), config(&[])));
    let b = api::router(AppState::new(second, config(&[])));
    let shop = auth::issue_key(&first, "shop-a", Role::Shop)
        .await
        .unwrap()
        .key;
    Some((first, a, b, shop))
}

async fn states(app: &axum::Router, shop: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let order = json(send(app, get(&format!("/v1/orders/{id}"), shop)).await).await;
        out.push(order["state"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test]
async fn factories_plan_claim_and_cut_markers() {
    let t = TestApp::new(&[]).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let other_factory = t.key("factory-b", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let shirts = place(
        &t.app,
        &shop,
        "1",
        order_body("shirt", "poplin-white", 2, "factory-a"),
    )
    .await;
    let trousers = place(
        &t.app,
        &shop,
        "2",
        order_body("trousers", "poplin-white", 1, "factory-a"),
    )
    .await;
    let denim = place(
        &t.app,
        &shop,
        "3",
        order_body("trousers", "denim-indigo", 1, "factory-a"),
    )
    .await;
    let elsewhere = place(
        &t.app,
        &shop,
        "4",
        order_body("shirt", "poplin-white", 1, "factory-b"),
    )
    .await;

    let resp = send(
        &t.app,
        post(
            "/v1/factory/markers",
            &factory,
            r#"{"fabric":"poplin-white","time_limit_secs":1}"#.into(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 201, "{}", text(resp).await);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let plan = json(resp).await;
    let marker = &plan["marker"];
    let id = marker["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/factory/markers/{id}"));
    assert_eq!(marker["state"], "ready");
    assert_eq!(plan["skipped"].as_array().unwrap().len(), 0);
    // Only this factory's waiting orders on this fabric, the earliest due first.
    let mut in_marker: Vec<&str> = marker["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    in_marker.sort_unstable();
    let mut expected = vec![shirts.as_str(), trousers.as_str()];
    expected.sort_unstable();
    assert_eq!(in_marker, expected);
    // Two shirts of 15 pieces (a back; fronts, sleeves, yokes, collars and stands in twos; four cuffs)
    // and a pair of trousers: every copy is placed once, with the fabric's rotations only.
    let placements = marker["placements"].as_array().unwrap();
    let shirt_copies = placements
        .iter()
        .filter(|p| p["order_id"] == shirts.as_str())
        .count();
    assert_eq!(shirt_copies, 2 * 15, "{placements:?}");
    assert!(placements
        .iter()
        .all(|p| [0.0, 180.0].contains(&p["rotation"].as_f64().unwrap())));
    let sleeves: Vec<_> = placements
        .iter()
        .filter(|p| p["order_id"] == shirts.as_str() && p["piece"] == "sleeve")
        .collect();
    assert_eq!(sleeves.len(), 4);
    assert_eq!(sleeves.iter().filter(|p| p["mirrored"] == true).count(), 2);
    let density = marker["density"].as_f64().unwrap();
    assert!(density > 0.5 && density < 1.0, "density {density}");

    assert_eq!(
        states(
            &t.app,
            &shop,
            &[shirts.clone(), trousers.clone(), denim.clone()]
        )
        .await,
        ["planned", "planned", "received"]
    );
    let history =
        json(send(&t.app, get(&format!("/v1/orders/{shirts}/events"), &shop)).await).await;
    let to: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["received", "patterned", "planned"]);
    assert_eq!(states(&t.app, &shop, &[elsewhere]).await, ["received"]);

    // Nothing more waits on poplin for this factory.
    let doc = problem(
        send(
            &t.app,
            post(
                "/v1/factory/markers",
                &factory,
                r#"{"fabric":"poplin-white","time_limit_secs":1}"#.into(),
            ),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "fabric");

    // The queue, and tenant isolation.
    let queue = json(send(&t.app, get("/v1/factory/markers?state=ready", &factory)).await).await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    let theirs = json(send(&t.app, get("/v1/factory/markers", &other_factory)).await).await;
    assert_eq!(theirs.as_array().unwrap().len(), 0);
    for path in [
        format!("/v1/factory/markers/{id}"),
        format!("/v1/factory/markers/{id}/cut-file"),
    ] {
        problem(send(&t.app, get(&path, &other_factory)).await, 404).await;
    }
    problem(
        send(
            &t.app,
            post(
                &format!("/v1/factory/markers/{id}/claim"),
                &other_factory,
                String::new(),
            ),
        )
        .await,
        404,
    )
    .await;
    problem(send(&t.app, get("/v1/factory/markers", &shop)).await, 403).await;

    // The cut file places every piece inside the roll, apart by the fabric's gap.
    let resp = send(
        &t.app,
        get(
            &format!("/v1/factory/markers/{id}/cut-file?format=json"),
            &factory,
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let cut = json(resp).await;
    let pieces = placed_pieces(&cut);
    assert_eq!(pieces.len(), placements.len());
    let found = violations(&pieces, 1500.0, marker["length_mm"].as_f64().unwrap(), 3.0);
    assert!(found.is_empty(), "{found:#?}");
    let piece_area: f64 = pieces.iter().map(|(_, p)| p.unsigned_area()).sum();
    let length = marker["length_mm"].as_f64().unwrap();
    assert!((piece_area / (length * 1500.0) - density).abs() < 1e-3);

    // DXF-AAMA: one block per piece copy, each labelled with its order and size.
    let resp = send(
        &t.app,
        get(
            &format!("/v1/factory/markers/{id}/cut-file?format=dxf-aama"),
            &factory,
        ),
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "image/vnd.dxf");
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("marker-{id}.dxf")));
    let dxf = text(resp).await;
    let lines: Vec<&str> = dxf.lines().map(str::trim).collect();
    let count = |what: &str| {
        lines
            .windows(2)
            .filter(|w| w[0] == "0" && w[1] == what)
            .count()
    };
    assert_eq!(count("BLOCK"), placements.len());
    assert_eq!(count("INSERT"), placements.len());
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == format!("Order: {shirts}"))
            .count(),
        30
    );
    assert_eq!(
        lines.iter().filter(|l| **l == "Size: MTM").count(),
        placements.len()
    );
    assert!(lines.contains(&"Piece Name: sleeve") && lines.contains(&"Category: trousers"));
    for (format, media) in [
        ("svg", "image/svg+xml"),
        ("pdf", "application/pdf"),
        ("hpgl", "application/vnd.hp-hpgl"),
    ] {
        let resp = send(
            &t.app,
            get(
                &format!("/v1/factory/markers/{id}/cut-file?format={format}"),
                &factory,
            ),
        )
        .await;
        assert_eq!(resp.status(), 200, "{format}");
        assert_eq!(resp.headers()["content-type"], media);
    }
    for bad in ["docx", "pdf-roll"] {
        let doc = problem(
            send(
                &t.app,
                get(
                    &format!("/v1/factory/markers/{id}/cut-file?format={bad}"),
                    &factory,
                ),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(doc["field"], "format");
    }

    // The shop cancels the trousers before cutting starts: the claim cuts the shirts only.
    let resp = send(
        &t.app,
        post(
            &format!("/v1/orders/{trousers}/cancel"),
            &shop,
            String::new(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = send(
        &t.app,
        post(
            &format!("/v1/factory/markers/{id}/claim"),
            &factory,
            String::new(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let claimed = json(resp).await;
    assert_eq!(claimed["state"], "claimed");
    assert!(claimed["claimed_by"].is_string() && claimed["claimed_at"].is_i64());
    let again = problem(
        send(
            &t.app,
            post(
                &format!("/v1/factory/markers/{id}/claim"),
                &factory,
                String::new(),
            ),
        )
        .await,
        409,
    )
    .await;
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .contains("already claimed"),
        "{again}"
    );
    assert_eq!(
        states(&t.app, &shop, &[shirts.clone(), trousers.clone()]).await,
        ["cutting", "cancelled"]
    );
    let cut = json(
        send(
            &t.app,
            get(
                &format!("/v1/factory/markers/{id}/cut-file?format=json"),
                &factory,
            ),
        )
        .await,
    )
    .await;
    assert_eq!(placed_pieces(&cut).len(), 30);
    let claimed_list =
        json(send(&t.app, get("/v1/factory/markers?state=claimed", &factory)).await).await;
    assert_eq!(claimed_list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_plans_are_problems_naming_the_field() {
    let t = TestApp::new(&[("ATELIER_REQUEST_TIMEOUT_SECS", "20")]).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let order = place(
        &t.app,
        &shop,
        "1",
        order_body("shirt", "poplin-white", 1, "factory-a"),
    )
    .await;
    let plan = |body: String| post("/v1/factory/markers", &factory, body);
    for (body, field) in [
        (
            r#"{"fabric":"tweed","time_limit_secs":1}"#.to_owned(),
            "fabric",
        ),
        (
            r#"{"fabric":"poplin-white","time_limit_secs":0}"#.to_owned(),
            "time_limit_secs",
        ),
        (
            r#"{"fabric":"poplin-white","time_limit_secs":-3}"#.to_owned(),
            "time_limit_secs",
        ),
        // Longer than the request timeout allows.
        (
            r#"{"fabric":"poplin-white","time_limit_secs":60}"#.to_owned(),
            "time_limit_secs",
        ),
        (
            r#"{"fabric":"poplin-white","order_ids":[]}"#.to_owned(),
            "order_ids",
        ),
        (
            r#"{"fabric":"poplin-white","order_ids":["nope"],"time_limit_secs":1}"#.to_owned(),
            "order_ids[0]",
        ),
        (
            format!(r#"{{"fabric":"denim-indigo","order_ids":["{order}"],"time_limit_secs":1}}"#),
            "order_ids[0]",
        ),
        (
            format!(
                r#"{{"fabric":"poplin-white","order_ids":["{order}","{order}"],"time_limit_secs":1}}"#
            ),
            "order_ids[1]",
        ),
    ] {
        let doc = problem(send(&t.app, plan(body.clone())).await, 422).await;
        assert_eq!(doc["field"], field, "{body}");
    }
    problem(
        send(
            &t.app,
            plan(r#"{"fabric":"poplin-white","speed":"max"}"#.into()),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        states(&t.app, &shop, std::slice::from_ref(&order)).await,
        ["received"]
    );

    // The catalog changed after the order was accepted: its roll is now too narrow.
    let (narrow, _catalog) = narrow_roll(&t);
    let doc = problem(
        send(
            &narrow,
            plan(r#"{"fabric":"poplin-white","time_limit_secs":1}"#.into()),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "fabric");
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .contains("wider than its 400 mm roll"),
        "{doc}"
    );
    assert_eq!(
        states(&t.app, &shop, std::slice::from_ref(&order)).await,
        ["received"]
    );
    // A plan for a listed order that is already planned is a conflict.
    let resp = send(
        &t.app,
        plan(format!(
            r#"{{"fabric":"poplin-white","order_ids":["{order}"],"time_limit_secs":0.5}}"#
        )),
    )
    .await;
    assert_eq!(resp.status(), 201);
    problem(
        send(
            &t.app,
            plan(format!(
                r#"{{"fabric":"poplin-white","order_ids":["{order}"],"time_limit_secs":0.5}}"#
            )),
        )
        .await,
        409,
    )
    .await;
}

/// Planning is all or nothing: an order cancelled between reading and storing makes the whole
/// plan a conflict with nothing written, and the same plan can never be stored twice.
#[tokio::test]
async fn a_plan_is_stored_whole_or_not_at_all() {
    let t = TestApp::new(&[]).await;
    t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let a = place(
        &t.app,
        &shop,
        "a",
        order_body("shirt", "poplin-white", 1, "factory-a"),
    )
    .await;
    let b = place(
        &t.app,
        &shop,
        "b",
        order_body("trousers", "poplin-white", 1, "factory-a"),
    )
    .await;
    let store = &t.state.store;
    let factory = store.tenant_by_name("factory-a").await.unwrap().unwrap().id;
    let shop_tenant = store.tenant_by_name("shop-a").await.unwrap().unwrap().id;
    let request = PlanRequest {
        fabric: "poplin-white".into(),
        order_ids: None,
        time_limit_secs: Some(0.5),
        defects: vec![],
    };
    let batch = markers::gather(store, &t.state.config.fabrics, &factory, &request)
        .await
        .unwrap();
    let planned =
        tokio::task::spawn_blocking(move || markers::lay_out(&batch, &Default::default(), |_| {}))
            .await
            .unwrap()
            .unwrap();
    // The shop cancels order b while the marker is being nested.
    orders::cancel(store, &shop_tenant, "shop-a/shop", &b)
        .await
        .unwrap();
    let err = markers::record(store, &factory, "factory-a/factory", &planned)
        .await
        .unwrap_err();
    assert!(matches!(err, orders::Error::Conflict(_)), "{err}");
    assert!(markers::markers(store, &factory, None, 10)
        .await
        .unwrap()
        .is_empty());
    let viewer = Viewer::Shop(shop_tenant.clone());
    assert_eq!(
        orders::get(store, &viewer, &a).await.unwrap().state,
        OrderState::Received
    );
    assert_eq!(
        orders::events(store, &viewer, &a).await.unwrap().len(),
        1,
        "no event of the rolled-back plan"
    );

    // Planned again, without the cancelled order; storing the same plan twice fails the second time.
    let batch = markers::gather(store, &t.state.config.fabrics, &factory, &request)
        .await
        .unwrap();
    assert_eq!(batch.orders.len(), 1);
    let planned =
        tokio::task::spawn_blocking(move || markers::lay_out(&batch, &Default::default(), |_| {}))
            .await
            .unwrap()
            .unwrap();
    let first = markers::record(store, &factory, "f", &planned)
        .await
        .unwrap();
    assert_eq!(first.order_ids, std::slice::from_ref(&a));
    assert!(matches!(
        markers::record(store, &factory, "f", &planned).await,
        Err(orders::Error::Conflict(_))
    ));
    assert_eq!(
        markers::markers(store, &factory, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(orders::events(store, &viewer, &a).await.unwrap().len(), 3);
}

/// Two service instances (two app states with their own pools) on one PostgreSQL schema; many
/// workers claim the same marker at once through both: exactly one claim wins, and each order
/// moves to cutting once.
#[tokio::test]
async fn one_claim_wins_across_two_servers_on_postgres() {
    let Some((first, a, b, shop)) = two_servers().await else {
        return;
    };
    let mut workers = Vec::new();
    for _ in 0..8 {
        workers.push(
            auth::issue_key(&first, "factory-a", Role::Factory)
                .await
                .unwrap()
                .key,
        );
    }
    let shirt = place(
        &a,
        &shop,
        "1",
        order_body("shirt", "poplin-white", 1, "factory-a"),
    )
    .await;
    let trousers = place(
        &b,
        &shop,
        "2",
        order_body("trousers", "poplin-white", 1, "factory-a"),
    )
    .await;
    let resp = send(
        &b,
        post(
            "/v1/factory/markers",
            &workers[0],
            r#"{"fabric":"poplin-white","time_limit_secs":0.5}"#.into(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 201, "{}", text(resp).await);
    let id = json(resp).await["marker"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let claims = workers.iter().enumerate().map(|(i, key)| {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let req = post(
            &format!("/v1/factory/markers/{id}/claim"),
            key,
            String::new(),
        );
        tokio::spawn(async move { app.oneshot(req).await.unwrap() })
    });
    let mut statuses = Vec::new();
    for c in claims.collect::<Vec<_>>() {
        let resp = c.await.unwrap();
        let status = resp.status().as_u16();
        if status == 409 {
            problem(resp, 409).await;
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        workers.len() - 1,
        "{statuses:?}"
    );
    assert_eq!(
        states(&a, &shop, &[shirt.clone(), trousers]).await,
        ["cutting", "cutting"]
    );
    let history = json(send(&b, get(&format!("/v1/orders/{shirt}/events"), &shop)).await).await;
    let to: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["received", "patterned", "planned", "cutting"]);
}

/// The same all-or-nothing planning on PostgreSQL: two instances storing plans of the same
/// orders at once make one marker.
#[tokio::test]
async fn concurrent_plans_make_one_marker_on_postgres() {
    let Some((first, second)) = common::postgres_pair().await else {
        return;
    };
    let a = AppState::new(first.clone(), config(&[]));
    let shop_app = api::router(a.clone());
    let shop = auth::issue_key(&first, "shop-a", Role::Shop)
        .await
        .unwrap()
        .key;
    auth::issue_key(&first, "factory-a", Role::Factory)
        .await
        .unwrap();
    for k in 0..3 {
        place(
            &shop_app,
            &shop,
            &k.to_string(),
            order_body("shirt", "poplin-white", 1, "factory-a"),
        )
        .await;
    }
    let factory = first.tenant_by_name("factory-a").await.unwrap().unwrap().id;
    let request = PlanRequest {
        fabric: "poplin-white".into(),
        order_ids: None,
        time_limit_secs: Some(0.5),
        defects: vec![],
    };
    let batch = markers::gather(&first, &a.config.fabrics, &factory, &request)
        .await
        .unwrap();
    let planned =
        tokio::task::spawn_blocking(move || markers::lay_out(&batch, &Default::default(), |_| {}))
            .await
            .unwrap()
            .unwrap();
    let (x, y) = tokio::join!(
        markers::record(&first, &factory, "one", &planned),
        markers::record(&second, &factory, "two", &planned)
    );
    assert_eq!(
        [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{x:?} {y:?}"
    );
    assert_eq!(
        markers::markers(&second, &factory, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A flaw in the roll is avoided by every piece, by at least the fabric's gap; a zone that is
/// not a polygon is a 422 naming it.
#[tokio::test]
async fn markers_avoid_defects_in_the_roll() {
    // Two search threads: their shared marker must keep clear of the flaw too.
    let t = TestApp::new(&[("ATELIER_NEST_WORKERS", "2")]).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    place(
        &t.app,
        &shop,
        "1",
        order_body("shirt", "poplin-white", 1, "factory-a"),
    )
    .await;
    let doc = problem(
        send(
            &t.app,
            post(
                "/v1/factory/markers",
                &factory,
                r#"{"fabric":"poplin-white","time_limit_secs":1,"defects":[[[0,0],[10,10]]]}"#
                    .into(),
            ),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "defects[0]");
    let zone = [
        [200.0, 400.0],
        [500.0, 400.0],
        [500.0, 1000.0],
        [200.0, 1000.0],
    ];
    let body = format!(
        r#"{{"fabric":"poplin-white","time_limit_secs":1,"defects":[{}]}}"#,
        serde_json::to_string(&zone).unwrap()
    );
    let resp = send(&t.app, post("/v1/factory/markers", &factory, body)).await;
    assert_eq!(resp.status(), 201, "{}", text(resp).await);
    let marker = json(resp).await["marker"].clone();
    assert_eq!(marker["defects"][0].as_array().unwrap().len(), 4);
    let id = marker["id"].as_str().unwrap();
    let cut = json(
        send(
            &t.app,
            get(
                &format!("/v1/factory/markers/{id}/cut-file?format=json"),
                &factory,
            ),
        )
        .await,
    )
    .await;
    let pieces = placed_pieces(&cut);
    assert_eq!(pieces.len(), 15);
    let flaw = Polygon::new(
        LineString::from(
            zone.iter()
                .map(|&[x, y]| Coord { x, y })
                .collect::<Vec<_>>(),
        ),
        vec![],
    );
    for (name, piece) in &pieces {
        assert!(
            piece.intersection(&flaw).unsigned_area() < 1e-6,
            "{name} covers the flaw"
        );
        let d = Euclidean.distance(piece, &flaw);
        assert!(d >= 3.0 * (1.0 - 1e-3), "{name} is {d} mm from the flaw");
    }
    let found = violations(&pieces, 1500.0, marker["length_mm"].as_f64().unwrap(), 3.0);
    assert!(found.is_empty(), "{found:#?}");
    // The preview shows the flaw where the plan said it is.
    let svg = text(
        send(
            &t.app,
            get(
                &format!("/v1/factory/markers/{id}/cut-file?format=svg"),
                &factory,
            ),
        )
        .await,
    )
    .await;
    assert_eq!(svg.matches(r#"class="defect""#).count(), 1, "{svg}");
    assert!(svg.contains("M200.00,400.00"), "the flaw's outline");
}

/// Asks for a marker plan in the background (`Prefer: respond-async`); the 202 answer.
async fn plan_in_background(app: &axum::Router, key: &str, body: &str) -> axum::response::Response {
    let mut req = post("/v1/factory/markers", key, body.to_owned());
    req.headers_mut()
        .insert("prefer", "respond-async, wait=5".parse().unwrap());
    let resp = send(app, req).await;
    assert_eq!(resp.status(), 202, "{}", text(resp).await);
    resp
}

/// Where to follow a background plan answered `resp`.
fn plan_location(resp: &axum::response::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// Polls a plan until it has ended, returning every state seen and the last view.
async fn follow(
    app: &axum::Router,
    key: &str,
    location: &str,
) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut seen = Vec::new();
    for _ in 0..600 {
        let resp = send(app, get(location, key)).await;
        assert_eq!(resp.status(), 200);
        let plan = json(resp).await;
        if ["done", "failed", "interrupted"].contains(&plan["state"].as_str().unwrap()) {
            return (seen, plan);
        }
        seen.push(plan);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "the plan at {location} did not end in a minute: {:?}",
        seen.last()
    );
}

/// With `Prefer: respond-async` a plan runs in the background for longer than a request may
/// wait: 202 with the queued plan at once, then running with the best marker so far, then done
/// with the stored marker. Only its factory sees it. A plan that cannot be nested ends failed,
/// carrying the problem a plan answered in the request would have been, and touches no order.
#[tokio::test]
async fn plans_run_in_the_background_and_report_progress() {
    // A 6 s request timeout leaves a plan answered in the request 1 s.
    let t = TestApp::new(&[("ATELIER_REQUEST_TIMEOUT_SECS", "6")]).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let other_factory = t.key("factory-b", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let mut ids = vec![
        place(
            &t.app,
            &shop,
            "1",
            order_body("shirt", "poplin-white", 2, "factory-a"),
        )
        .await,
        place(
            &t.app,
            &shop,
            "2",
            order_body("trousers", "poplin-white", 1, "factory-a"),
        )
        .await,
    ];
    ids.sort_unstable();
    let body = r#"{"fabric":"poplin-white","time_limit_secs":5}"#;
    let doc = problem(
        send(&t.app, post("/v1/factory/markers", &factory, body.into())).await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "time_limit_secs");
    assert!(
        doc["detail"].as_str().unwrap().contains("respond-async"),
        "{doc}"
    );

    let resp = plan_in_background(&t.app, &factory, body).await;
    assert_eq!(resp.headers()["preference-applied"], "respond-async");
    let location = plan_location(&resp);
    let accepted = json(resp).await;
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/factory/plans/{id}"));
    assert!(
        ["queued", "running"].contains(&accepted["state"].as_str().unwrap()),
        "{accepted}"
    );
    assert_eq!(accepted["time_limit_secs"], 5.0);
    let mut planned: Vec<&str> = accepted["order_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    planned.sort_unstable();
    assert_eq!(planned, ids.iter().map(String::as_str).collect::<Vec<_>>());
    problem(send(&t.app, get(&location, &other_factory)).await, 404).await;

    let (seen, done) = follow(&t.app, &factory, &location).await;
    assert_eq!(done["state"], "done", "{done}");
    assert!(
        seen.iter().any(|p| p["state"] == "running" && p["best_density"].as_f64().is_some_and(|d| d > 0.0)),
        "no progress was reported while the plan ran: {seen:?}"
    );
    let marker_id = done["marker_id"].as_str().unwrap();
    let marker = json(
        send(
            &t.app,
            get(&format!("/v1/factory/markers/{marker_id}"), &factory),
        )
        .await,
    )
    .await;
    assert_eq!(done["best_density"], marker["density"]);
    assert_eq!(done["best_length_mm"], marker["length_mm"]);
    assert!(done["elapsed_secs"].as_f64().unwrap() > 1.0, "{done}");
    assert_eq!(states(&t.app, &shop, &ids).await, ["planned", "planned"]);
    let listed = json(send(&t.app, get("/v1/factory/plans", &factory)).await).await;
    assert_eq!(listed[0]["id"], id);
    assert_eq!(
        json(send(&t.app, get("/v1/factory/plans", &other_factory)).await).await,
        serde_json::json!([])
    );

    // The catalog's roll is now narrower than a shirt's back.
    let third = place(
        &t.app,
        &shop,
        "3",
        order_body("shirt", "poplin-white", 1, "factory-a"),
    )
    .await;
    let (narrow, _catalog) = narrow_roll(&t);
    let location = plan_location(&plan_in_background(&narrow, &factory, body).await);
    let (_, failed) = follow(&narrow, &factory, &location).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["status"], 422);
    assert_eq!(failed["error"]["field"], "fabric");
    assert!(failed["marker_id"].is_null());
    assert_eq!(states(&t.app, &shop, &[third]).await, ["received"]);

    // An unknown fabric is still answered in the request.
    let mut req = post(
        "/v1/factory/markers",
        &factory,
        r#"{"fabric":"tweed"}"#.into(),
    );
    req.headers_mut()
        .insert("prefer", "respond-async".parse().unwrap());
    let doc = problem(send(&t.app, req).await, 422).await;
    assert_eq!(doc["field"], "fabric");
}

/// A background plan started on one instance is followed, and its marker claimed, through
/// another on the same PostgreSQL: the plan's row is all either instance needs.
#[tokio::test]
async fn a_background_plan_is_followed_from_another_server_on_postgres() {
    let Some((first, a, b, shop)) = two_servers().await else {
        return;
    };
    let factory = auth::issue_key(&first, "factory-a", Role::Factory)
        .await
        .unwrap()
        .key;
    let order = place(
        &a,
        &shop,
        "1",
        order_body("trousers", "poplin-white", 1, "factory-a"),
    )
    .await;
    let body = r#"{"fabric":"poplin-white","time_limit_secs":3}"#;
    let location = plan_location(&plan_in_background(&a, &factory, body).await);
    let (seen, done) = follow(&b, &factory, &location).await;
    assert_eq!(done["state"], "done", "{done}");
    assert!(seen.iter().any(|p| p["state"] == "running"), "{seen:?}");
    let marker_id = done["marker_id"].as_str().unwrap();
    let resp = send(
        &b,
        post(
            &format!("/v1/factory/markers/{marker_id}/claim"),
            &factory,
            String::new(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", text(resp).await);
    assert_eq!(states(&b, &shop, &[order]).await, ["cutting"]);
}

/// A factory that has seen enough asks a long background plan to stop: it ends within a few
/// heartbeats, storing the best marker it had, and a plan that has ended cannot be stopped.
#[tokio::test]
async fn a_background_plan_stops_early_with_its_best_marker() {
    let t = TestApp::new(&[]).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let other_factory = t.key("factory-b", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let order = place(
        &t.app,
        &shop,
        "1",
        order_body("shirt", "poplin-white", 1, "factory-a"),
    )
    .await;
    let body = r#"{"fabric":"poplin-white","time_limit_secs":600}"#;
    let location = plan_location(&plan_in_background(&t.app, &factory, body).await);
    let started = std::time::Instant::now();
    loop {
        let plan = json(send(&t.app, get(&location, &factory)).await).await;
        if plan["state"] == "running" && plan["best_density"].as_f64().is_some() {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "no progress in a minute: {plan}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let stop = format!("{location}/stop");
    problem(
        send(&t.app, post(&stop, &other_factory, String::new())).await,
        404,
    )
    .await;
    let resp = send(&t.app, post(&stop, &factory, String::new())).await;
    assert_eq!(resp.status(), 202, "{}", text(resp).await);
    assert_eq!(json(resp).await["stop_requested"], true);
    let (_, done) = follow(&t.app, &factory, &location).await;
    assert_eq!(done["state"], "done", "{done}");
    assert!(
        started.elapsed().as_secs() < 120,
        "the stop was not heeded: {done}"
    );
    assert!(done["marker_id"].is_string());
    assert_eq!(states(&t.app, &shop, &[order]).await, ["planned"]);
    let doc = problem(
        send(&t.app, post(&stop, &factory, String::new())).await,
        409,
    )
    .await;
    assert!(doc["detail"].as_str().unwrap().contains("done"), "{doc}");
}

/// An instance nests one background plan at a time and lets seven more wait; the next is a 503
/// with `Retry-After`. Stopped, the waiting ones end in turn: the first stores its marker, the
/// others find its orders already planned.
#[tokio::test]
async fn background_plans_beyond_the_queue_are_refused() {
    let t = TestApp::new(&[]).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    place(
        &t.app,
        &shop,
        "1",
        order_body("trousers", "poplin-white", 1, "factory-a"),
    )
    .await;
    let body = r#"{"fabric":"poplin-white","time_limit_secs":600}"#;
    let mut locations = Vec::new();
    for _ in 0..8 {
        locations.push(plan_location(
            &plan_in_background(&t.app, &factory, body).await,
        ));
    }
    let mut req = post("/v1/factory/markers", &factory, body.into());
    req.headers_mut()
        .insert("prefer", "respond-async".parse().unwrap());
    let resp = send(&t.app, req).await;
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 503).await;
    for location in &locations {
        let resp = send(
            &t.app,
            post(&format!("{location}/stop"), &factory, String::new()),
        )
        .await;
        assert_eq!(resp.status(), 202, "{}", text(resp).await);
    }
    let mut ended = Vec::new();
    for location in &locations {
        ended.push(follow(&t.app, &factory, location).await.1["state"].clone());
    }
    assert_eq!(
        ended.iter().filter(|s| *s == "done").count(),
        1,
        "{ended:?}"
    );
    assert_eq!(
        ended.iter().filter(|s| *s == "failed").count(),
        7,
        "{ended:?}"
    );
    // The lane is free again.
    place(
        &t.app,
        &shop,
        "2",
        order_body("trousers", "poplin-white", 1, "factory-a"),
    )
    .await;
    let location = plan_location(&plan_in_background(&t.app, &factory, body).await);
    send(
        &t.app,
        post(&format!("{location}/stop"), &factory, String::new()),
    )
    .await;
    assert_eq!(follow(&t.app, &factory, &location).await.1["state"], "done");
}
