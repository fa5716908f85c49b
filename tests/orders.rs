//! Orders over HTTP: idempotent creation, life cycle, who sees what; and the store on PostgreSQL.

mod common;

use atelier::auth::Role;
use atelier::orders::fabric::Catalog;
use atelier::orders::{self, Mover, NewOrder, OrderState, Viewer};
use axum::body::Body;
use common::{futures_join, json, problem, request, store, Db, TestApp};

/// The measurements of a shirt order (cm).
const MEASUREMENTS: &str = r#"{"chest_girth":98.5,"neck_girth":39,"shoulder_breadth":44,"back_waist_length":45,"arm_length":62,"upper_arm_girth":32,"wrist_girth":17.5,"across_back":39}"#;
const ORDER: &str = r#"{"customer_ref":"C-7","measurements":{"chest_girth":98.5,"neck_girth":39,"shoulder_breadth":44,"back_waist_length":45,"arm_length":62,"upper_arm_girth":32,"wrist_girth":17.5,"across_back":39},"garment":"shirt","options":{"chest_ease":10},"fabric":"poplin-white","quantity":2,"due_date":"2026-12-20","factory":"factory-a"}"#;

fn post_order(key: &str, idem: Option<&str>, body: &str) -> axum::http::Request<Body> {
    let mut b = request("POST", "/v1/orders", Some(key)).header("content-type", "application/json");
    if let Some(k) = idem {
        b = b.header("idempotency-key", k);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn a_retry_never_creates_a_second_order() {
    let t = TestApp::new(&[]).await;
    t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;

    problem(t.send(post_order(&shop, None, ORDER)).await, 400).await;
    // HTTP lets a header carry bytes beyond ASCII; the key is refused, saying why.
    let mut non_ascii = post_order(&shop, None, ORDER);
    non_ascii.headers_mut().insert(
        "idempotency-key",
        axum::http::HeaderValue::from_bytes("订单-1".as_bytes()).unwrap(),
    );
    let refused = problem(t.send(non_ascii).await, 400).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("visible ASCII"),
        "{refused}"
    );
    let first = t.send(post_order(&shop, Some("k-1"), ORDER)).await;
    assert_eq!(first.status(), 201);
    let first = json(first).await;
    assert_eq!(first["state"], "received");
    let again = t.send(post_order(&shop, Some("k-1"), ORDER)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(json(again).await["id"], first["id"]);
    // The same key with another body is refused rather than silently answered with the old order.
    let other = ORDER.replace("\"quantity\":2", "\"quantity\":3");
    assert_eq!(
        problem(t.send(post_order(&shop, Some("k-1"), &other)).await, 422).await["field"],
        "Idempotency-Key"
    );

    // Concurrent retries of one request make one order.
    let sends = (0..16).map(|_| {
        let (app, req) = (t.app.clone(), post_order(&shop, Some("k-2"), ORDER));
        async move {
            tower::ServiceExt::oneshot(app, req)
                .await
                .expect("infallible")
        }
    });
    let responses = futures_join(sends).await;
    let mut ids = Vec::new();
    for r in responses {
        assert!(r.status() == 201 || r.status() == 200, "{}", r.status());
        ids.push(json(r).await["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let list = json(
        t.send(
            request("GET", "/v1/orders", Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn orders_move_through_production_legally() {
    let t = TestApp::new(&[]).await;
    let factory = t.key("factory-a", Role::Factory).await;
    let other_factory = t.key("factory-b", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let other_shop = t.key("shop-b", Role::Shop).await;
    let order = json(t.send(post_order(&shop, Some("k"), ORDER)).await).await;
    let id = order["id"].as_str().unwrap();

    // Visibility: the shop and the factory it is routed to, nobody else.
    let get = |key: &str, path: String| {
        request("GET", &path, Some(key))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        t.send(get(&shop, format!("/v1/orders/{id}")))
            .await
            .status(),
        200
    );
    assert_eq!(
        t.send(get(&factory, format!("/v1/factory/orders/{id}")))
            .await
            .status(),
        200
    );
    problem(
        t.send(get(&other_shop, format!("/v1/orders/{id}"))).await,
        404,
    )
    .await;
    problem(
        t.send(get(&other_factory, format!("/v1/factory/orders/{id}")))
            .await,
        404,
    )
    .await;
    problem(t.send(get(&factory, format!("/v1/orders/{id}"))).await, 403).await;

    // The factory cannot cut before the order is planned.
    let step = |key: &str, state: &str| {
        request("POST", &format!("/v1/factory/orders/{id}/state"), Some(key))
            .header("content-type", "application/json")
            .body(Body::from(format!(r#"{{"state":"{state}"}}"#)))
            .unwrap()
    };
    problem(t.send(step(&factory, "cutting")).await, 409).await;
    problem(t.send(step(&factory, "exploded")).await, 422).await;

    // The service drafts and plans it (done by later stages), then the factory produces it.
    let store = &t.state.store;
    let shop_tenant = store.tenant_by_name("shop-a").await.unwrap().unwrap().id;
    for next in [OrderState::Patterned, OrderState::Planned] {
        orders::move_state(
            store,
            &Viewer::Shop(shop_tenant.clone()),
            Mover::Service,
            "service",
            id,
            next,
        )
        .await
        .unwrap();
    }
    for next in ["cutting", "sewn", "shipped"] {
        let resp = t.send(step(&factory, next)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json(resp).await["state"], next);
    }
    // Shipped is final: too late to cancel.
    problem(
        t.send(
            request("POST", &format!("/v1/orders/{id}/cancel"), Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await,
        409,
    )
    .await;

    let history = json(t.send(get(&shop, format!("/v1/orders/{id}/events"))).await).await;
    let states: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "received",
            "patterned",
            "planned",
            "cutting",
            "sewn",
            "shipped"
        ]
    );
    assert_eq!(history[3]["actor"], "factory-a/factory");
    assert!(history
        .as_array()
        .unwrap()
        .windows(2)
        .all(|w| w[0]["at"].as_i64() <= w[1]["at"].as_i64()));
}

#[tokio::test]
async fn bad_orders_name_the_field() {
    let t = TestApp::new(&[]).await;
    t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    for (body, field) in [
        (ORDER.replace("factory-a", "nobody"), "factory"),
        (
            ORDER.replace("\"quantity\":2", "\"quantity\":0"),
            "quantity",
        ),
        (ORDER.replace("2026-12-20", "2026-02-30"), "due_date"),
        (ORDER.replace("98.5", "-98.5"), "measurements.chest_girth"),
        (
            ORDER.replace(
                &format!(r#""measurements":{MEASUREMENTS}"#),
                r#""measurement_record_id":"nope""#,
            ),
            "measurement_record_id",
        ),
        // Only fabrics of the catalog, and only orders whose garment drafts, are accepted.
        (ORDER.replace("poplin-white", "tweed-x"), "fabric"),
        (ORDER.replace("\"shirt\"", "\"cape\""), "garment"),
        (
            ORDER.replace(r#"{"chest_ease":10}"#, r#"{"fit":"slim"}"#),
            "options.fit",
        ),
        (
            ORDER.replace(r#""chest_ease":10"#, r#""chest_ease":"wide""#),
            "options.chest_ease",
        ),
        (
            ORDER.replace(r#","wrist_girth":17.5"#, ""),
            "measurements.wrist_girth",
        ),
    ] {
        let doc = problem(t.send(post_order(&shop, Some(field), &body)).await, 422).await;
        assert_eq!(doc["field"], field, "{body}");
    }
    // An order may take its measurements from a saved record, as a snapshot; a record that
    // lacks what the garment needs is named as the field at fault.
    let save = |measurements: String| {
        let rec =
            format!(r#"{{"customer_ref":"C-7","source":"tape","measurements":{measurements}}}"#);
        request("POST", "/v1/measurement-records", Some(&shop))
            .header("content-type", "application/json")
            .body(Body::from(rec))
            .unwrap()
    };
    let from_record = |rec_id: &str| {
        ORDER.replace(
            &format!(r#""measurements":{MEASUREMENTS}"#),
            &format!(r#""measurement_record_id":"{rec_id}""#),
        )
    };
    let short = json(t.send(save(r#"{"chest_girth":101.0}"#.into())).await).await;
    let doc = problem(
        t.send(post_order(
            &shop,
            Some("short"),
            &from_record(short["id"].as_str().unwrap()),
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "measurement_record_id");
    let full = json(t.send(save(MEASUREMENTS.replace("98.5", "101.0"))).await).await;
    let resp = t
        .send(post_order(
            &shop,
            Some("rec"),
            &from_record(full["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(json(resp).await["measurements"]["chest_girth"], 101.0);
}

#[tokio::test]
async fn the_fabric_catalog_is_listed_and_can_be_replaced() {
    let t = TestApp::new(&[]).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let list = json(
        t.send(
            request("GET", "/v1/fabrics", Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    let poplin = list
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "poplin-white")
        .expect("poplin listed");
    assert_eq!(poplin["roll_width_mm"], 1500.0);
    assert_eq!(poplin["rotations"], serde_json::json!([0.0, 180.0]));

    // A factory's own catalog: a roll too narrow for a shirt back is refused at order time.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fabrics.csv");
    std::fs::write(
        &csv,
        "id,name,roll_width_mm,rotations,min_gap_mm\nribbon,Ribbon,300,\"0,180\",2\n",
    )
    .unwrap();
    let t = TestApp::new(&[("ATELIER_FABRICS", csv.to_str().unwrap())]).await;
    t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let doc = problem(
        t.send(post_order(
            &shop,
            Some("narrow"),
            &ORDER.replace("poplin-white", "ribbon"),
        ))
        .await,
        422,
    )
    .await;
    assert_eq!(doc["field"], "fabric");
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .contains("wider than its 300 mm roll"),
        "{doc}"
    );
}

#[tokio::test]
async fn postgres_orders_are_idempotent_and_race_free() {
    let Some((store, _)) = store(Db::Postgres).await else {
        return;
    };
    let shop = store.tenant_by_name_or_create("shop").await.unwrap();
    let factory = store.tenant_by_name_or_create("fac").await.unwrap();
    store
        .insert_key(&factory.id, "factory", "h-fac", "atk_f")
        .await
        .unwrap();
    let new: NewOrder = serde_json::from_str(&ORDER.replace("factory-a", "fac")).unwrap();
    let fabrics = std::sync::Arc::new(Catalog::bundled().unwrap());
    let intake = orders::Intake::new(store.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (intake, shop, new, fabrics) = (
            intake.clone(),
            shop.id.clone(),
            new.clone(),
            fabrics.clone(),
        );
        tasks.push(tokio::spawn(async move {
            orders::create(&intake, &fabrics, &shop, "same", &new)
                .await
                .map(|c| c.order.id)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order for one key");
    let viewer = Viewer::Shop(shop.id.clone());
    let id = &ids[0];
    // Two concurrent cancels: exactly one wins.
    let a = orders::cancel(&store, &shop.id, "a", id);
    let b = orders::cancel(&store, &shop.id, "b", id);
    let (a, b) = tokio::join!(a, b);
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|x| **x).count(), 1);
    assert_eq!(orders::events(&store, &viewer, id).await.unwrap().len(), 2);
}
