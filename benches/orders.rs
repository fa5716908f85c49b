//! Order creation under load: 50 clients at once, each creating orders one after another through
//! the HTTP router (in process, SQLite store as shipped). Criterion times one wave of 50
//! concurrent creations; every request's own latency is recorded and the p50/p99 printed at the
//! end (target: p99 under 10 ms). Run `cargo bench --bench orders`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atelier::api::{self, AppState};
use atelier::auth::{self, Role};
use atelier::config::Config;
use atelier::store::Store;
use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt;

/// The allocator the `atelier` binary runs with, so that the bench times what is served.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Clients creating orders at the same time.
const CLIENTS: usize = 50;

const ORDER: &str = r#"{"customer_ref":"C-7","measurements":{"chest_girth":98.5,"neck_girth":39,"shoulder_breadth":44,"back_waist_length":45,"arm_length":62,"upper_arm_girth":32,"wrist_girth":17.5,"across_back":39},"garment":"shirt","options":{"chest_ease":10},"fabric":"poplin-white","quantity":2,"due_date":"2026-12-20","factory":"factory-a"}"#;

fn orders(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let (app, key) = runtime.block_on(async {
        let store = Store::connect(&url).await.expect("store");
        let config = Config::from_lookup(|k| match k {
            "DATABASE_URL" => Some(url.clone()),
            "ATELIER_RATE_LIMIT_PER_MINUTE" => Some("0".into()),
            _ => None,
        })
        .expect("config");
        // Orders are routed to a factory, which must exist.
        auth::issue_key(&store, "factory-a", Role::Factory)
            .await
            .expect("factory key");
        let key = auth::issue_key(&store, "shop-a", Role::Shop)
            .await
            .expect("key")
            .key;
        (api::router(AppState::new(store, config)), key)
    });
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut group = c.benchmark_group("orders");
    group.sample_size(10);
    group.bench_function("create_50_concurrent", |b| {
        b.iter_custom(|waves| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..waves {
                    let clients: Vec<_> = (0..CLIENTS)
                        .map(|_| {
                            let (app, key) = (app.clone(), key.clone());
                            let (latencies, next) = (latencies.clone(), next.clone());
                            tokio::spawn(async move {
                                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let request = Request::post("/v1/orders")
                                    .header("authorization", format!("Bearer {key}"))
                                    .header("content-type", "application/json")
                                    .header("idempotency-key", format!("bench-{n}"))
                                    .body(Body::from(ORDER))
                                    .expect("request");
                                let sent = Instant::now();
                                let response = app.oneshot(request).await.expect("infallible");
                                let status = response.status();
                                if status != 201 {
                                    let body =
                                        axum::body::to_bytes(response.into_body(), 1 << 16).await;
                                    panic!("order not created ({status}): {body:?}");
                                }
                                if let Ok(mut l) = latencies.lock() {
                                    l.push(sent.elapsed());
                                }
                            })
                        })
                        .collect();
                    for client in clients {
                        client.await.expect("client");
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort();
    let at = |q: f64| all.get(((all.len() as f64 - 1.0) * q) as usize).copied();
    if let (Some(p50), Some(p99)) = (at(0.5), at(0.99)) {
        eprintln!(
            "order creation, {CLIENTS} concurrent clients, {} requests: p50 {:.2} ms, p99 {:.2} ms",
            all.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}

criterion_group!(benches, orders);
criterion_main!(benches);
