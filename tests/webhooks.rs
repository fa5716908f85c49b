//! Webhooks against a local receiver: every committed state change is delivered, signed, and
//! retried after a failure; a rolled-back change is never told; other shops hear nothing; two
//! instances on one PostgreSQL deliver each event once.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atelier::api::{self, AppState};
use atelier::auth::{self, Role};
use atelier::orders::markers::{self, PlanRequest};
use atelier::orders::{self, Viewer};
use atelier::webhooks::{self, Delivery};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{config, json, problem, request, text, TestApp};
use tower::ServiceExt;

const ORDER: &str = r#"{"customer_ref":"C-1","measurements":{"chest_girth":98.5,"neck_girth":39,"shoulder_breadth":44,"back_waist_length":45,"arm_length":62,"upper_arm_girth":32,"wrist_girth":17.5,"across_back":39},"garment":"shirt","fabric":"poplin-white","quantity":1,"due_date":"2026-12-20","factory":"factory-a"}"#;
const SECRET: &str = "a-long-shared-secret-0123";

/// What the receiver saw: signature header, event header, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A local endpoint that refuses the first `fail_first` requests with 503, then accepts.
async fn receiver(fail_first: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let calls = Arc::new(Mutex::new(0usize));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let (record, calls) = (record.clone(), calls.clone());
            async move {
                let mut n = calls.lock().unwrap();
                *n += 1;
                if *n <= fail_first {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                record.lock().unwrap().push((
                    header("atelier-signature"),
                    header("atelier-event"),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

fn fast() -> Delivery {
    Delivery {
        first_backoff: Duration::from_millis(100),
        timeout: Duration::from_secs(5),
        // The receivers here listen on loopback.
        allow_private: true,
        ..Delivery::default()
    }
}

/// Runs delivery rounds until `seen` holds `n` events (or 15 s pass).
async fn deliver_until(store: &atelier::store::Store, seen: &Seen, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.lock().unwrap().len() < n && Instant::now() < deadline {
        webhooks::deliver_due(store, &fast()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The signature as Python's standard library computes it, independently of our code.
fn python_hmac(secret: &str, body: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
            secret,
            body,
        ])
        .output()
        .expect("python3");
    format!("sha256={}", String::from_utf8(out.stdout).unwrap().trim())
}

fn place(shop: &str, key: &str) -> axum::http::Request<Body> {
    request("POST", "/v1/orders", Some(shop))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(ORDER))
        .unwrap()
}

fn register(shop: &str, body: String) -> axum::http::Request<Body> {
    request("POST", "/v1/webhooks", Some(shop))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn shops_hear_of_every_committed_change_signed_and_retried() {
    let t = TestApp::new(&[]).await;
    t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let other_shop = t.key("shop-b", Role::Shop).await;
    let (url, seen) = receiver(1).await;
    let (other_url, other_seen) = receiver(0).await;

    for (body, field) in [
        (
            r#"{"url":"http:///no-host","secret":"0123456789abcdef"}"#.to_owned(),
            "url",
        ),
        (
            r#"{"url":"ftp://x/y","secret":"0123456789abcdef"}"#.to_owned(),
            "url",
        ),
        (format!(r#"{{"url":"{url}","secret":"short"}}"#), "secret"),
    ] {
        let doc = problem(t.send(register(&shop, body)).await, 422).await;
        assert_eq!(doc["field"], field);
    }
    let resp = t
        .send(register(
            &shop,
            format!(r#"{{"url":"{url}","secret":"{SECRET}"}}"#),
        ))
        .await;
    assert_eq!(resp.status(), 201);
    let hook = json(resp).await;
    assert!(hook.get("secret").is_none(), "the secret is never shown");
    let resp = t
        .send(register(
            &other_shop,
            format!(r#"{{"url":"{other_url}","secret":"{SECRET}"}}"#),
        ))
        .await;
    assert_eq!(resp.status(), 201);

    let order = json(t.send(place(&shop, "1")).await).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let resp = t
        .send(
            request("POST", &format!("/v1/orders/{id}/cancel"), Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);

    // The receiver refuses the first attempt; the retry gets through.
    deliver_until(&t.state.store, &seen, 2).await;
    let mut events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    events.sort_by_key(|(_, _, body)| {
        serde_json::from_str::<serde_json::Value>(body).unwrap()["seq"].as_i64()
    });
    for (k, (signature, event, body)) in events.iter().enumerate() {
        assert_eq!(
            signature,
            &python_hmac(SECRET, body),
            "signed with the shop's secret"
        );
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(doc["type"], "order.state_changed");
        assert_eq!(doc["order_id"], id.as_str());
        assert_eq!(doc["seq"], k as i64);
        assert_eq!(&doc["id"], event.as_str());
        assert_eq!(doc["to"], ["received", "cancelled"][k]);
    }
    assert!(events[1].2.contains(r#""from":"received""#));
    // Nothing more is due, nothing is sent twice, and the other shop heard nothing.
    let round = webhooks::deliver_due(&t.state.store, &fast())
        .await
        .unwrap();
    assert_eq!(round, webhooks::Round::default());
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(other_seen.lock().unwrap().is_empty());

    // Listing and removing; a removed endpoint hears nothing more.
    let hooks = json(
        t.send(
            request("GET", "/v1/webhooks", Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(hooks.as_array().unwrap().len(), 1);
    let hook_id = hook["id"].as_str().unwrap();
    problem(
        t.send(
            request(
                "DELETE",
                &format!("/v1/webhooks/{hook_id}"),
                Some(&other_shop),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await,
        404,
    )
    .await;
    let resp = t
        .send(
            request("DELETE", &format!("/v1/webhooks/{hook_id}"), Some(&shop))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 204, "{}", text(resp).await);
    t.send(place(&shop, "2")).await;
    webhooks::deliver_due(&t.state.store, &fast())
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// A marker plan rolled back (an order was cancelled meanwhile) tells nobody of the `patterned`
/// and `planned` moves it never made.
#[tokio::test]
async fn a_rolled_back_change_is_never_told() {
    let t = TestApp::new(&[]).await;
    t.key("factory-a", Role::Factory).await;
    let shop = t.key("shop-a", Role::Shop).await;
    let (url, seen) = receiver(0).await;
    t.send(register(
        &shop,
        format!(r#"{{"url":"{url}","secret":"{SECRET}"}}"#),
    ))
    .await;
    let a = json(t.send(place(&shop, "a")).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = json(t.send(place(&shop, "b")).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    orders::cancel(store, &shop_tenant, "shop-a/shop", &b)
        .await
        .unwrap();
    assert!(markers::record(store, &factory, "f", &planned)
        .await
        .is_err());
    deliver_until(store, &seen, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    webhooks::deliver_due(store, &fast()).await.unwrap();
    let told: Vec<(String, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| {
            let doc: serde_json::Value = serde_json::from_str(body).unwrap();
            (
                doc["order_id"].as_str().unwrap().to_owned(),
                doc["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(told.len(), 3, "{told:?}");
    for (order, to) in [(&a, "received"), (&b, "received"), (&b, "cancelled")] {
        assert!(told.contains(&(order.clone(), to.to_owned())), "{told:?}");
    }
    assert_eq!(
        orders::events(store, &Viewer::Shop(shop_tenant), &a)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Two instances delivering from one PostgreSQL schema at once send each event once.
#[tokio::test]
async fn two_instances_deliver_each_event_once_on_postgres() {
    let Some((first, second)) = common::postgres_pair().await else {
        return;
    };
    let app = api::router(AppState::new(first.clone(), config(&[])));
    auth::issue_key(&first, "factory-a", Role::Factory)
        .await
        .unwrap();
    let shop = auth::issue_key(&first, "shop-a", Role::Shop)
        .await
        .unwrap()
        .key;
    let (url, seen) = receiver(0).await;
    let resp = app
        .clone()
        .oneshot(register(
            &shop,
            format!(r#"{{"url":"{url}","secret":"{SECRET}"}}"#),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    for k in 0..6 {
        let resp = app
            .clone()
            .oneshot(place(&shop, &k.to_string()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let settings = fast();
    while seen.lock().unwrap().len() < 6 && Instant::now() < deadline {
        let (x, y) = tokio::join!(
            webhooks::deliver_due(&first, &settings),
            webhooks::deliver_due(&second, &settings)
        );
        x.unwrap();
        y.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e, _)| e.clone())
        .collect();
    assert_eq!(ids.len(), 6);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "each event once");
}
