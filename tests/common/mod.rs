//! Shared test set-up: databases of both kinds, isolated per test, and an app with keys.
#![allow(dead_code)] // each test binary uses a different part of this module

use atelier::api::{self, AppState};
use atelier::auth::{self, Role};
use atelier::config::Config;
use atelier::store::Store;
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use: `ATELIER_TEST_POSTGRES_URL`, default the local one. Set it to
/// `off` to skip the PostgreSQL half of the storage tests on a machine without PostgreSQL.
pub fn postgres_url() -> Option<String> {
    match std::env::var("ATELIER_TEST_POSTGRES_URL") {
        Ok(v) if v == "off" => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => Some("postgres://postgres@127.0.0.1:5432/test".to_owned()),
    }
}

/// A fresh, empty, migrated store: an SQLite file in a temp folder, or a new PostgreSQL schema
/// that no other test (or test run) sees.
pub async fn store(db: Db) -> Option<(Store, Option<tempfile::TempDir>)> {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            Some((Store::connect(&url).await.expect("sqlite store"), Some(dir)))
        }
        Db::Postgres => {
            let base = postgres_url()?;
            let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {base} is unreachable ({e}); set ATELIER_TEST_POSTGRES_URL=off to skip"));
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .await
                .expect("create schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            Some((Store::connect(&url).await.expect("postgres store"), None))
        }
    }
}

/// Two stores (two connection pools, as two service instances have) on one fresh PostgreSQL
/// schema; `None` when PostgreSQL is switched off.
pub async fn postgres_pair() -> Option<(Store, Store)> {
    let base = postgres_url()?;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is unreachable ({e}); set ATELIER_TEST_POSTGRES_URL=off to skip"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let first = Store::connect(&url).await.expect("postgres store");
    let second = Store::connect(&url).await.expect("second postgres store");
    Some((first, second))
}

/// Configuration for tests: defaults, with the given overrides.
pub fn config(overrides: &[(&str, &str)]) -> Config {
    let map: std::collections::HashMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned()).expect("test config")
}

/// An app over a fresh SQLite store.
pub struct TestApp {
    pub state: AppState,
    pub app: axum::Router,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn new(overrides: &[(&str, &str)]) -> Self {
        Self::with_router(overrides, axum::Router::new()).await
    }

    /// Like [`TestApp::new`], letting the test add routes (e.g. a slow or panicking one).
    pub async fn with_router(overrides: &[(&str, &str)], extra: axum::Router<AppState>) -> Self {
        let (store, dir) = store(Db::Sqlite).await.expect("sqlite");
        let state = AppState::new(store, config(overrides));
        let app = api::router_with(state.clone(), extra);
        Self {
            state,
            app,
            _dir: dir,
        }
    }

    pub async fn key(&self, tenant: &str, role: Role) -> String {
        auth::issue_key(&self.state.store, tenant, role)
            .await
            .expect("issue key")
            .key
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.expect("infallible")
    }

    /// The OpenAPI document as `GET /openapi.json` serves it.
    pub async fn openapi(&self) -> String {
        let req = request("GET", "/openapi.json", None).body(Body::empty());
        text(self.send(req.expect("request")).await).await
    }

    /// Loads the real models into the app, as `serve` does at start-up.
    pub async fn load_models(&self) {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.load_models(&models_dir()))
            .await
            .expect("loader thread")
            .expect("loading the models");
    }
}

/// The real MediaPipe models, fetched (and verified) when missing.
pub fn models_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    atelier::models::ensure(&atelier::models::FetchOptions::new(&dir))
        .expect("fetching the models");
    dir
}

/// Reads a response body as JSON.
pub async fn json(resp: Response<Body>) -> serde_json::Value {
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// Reads a response body as text.
pub async fn text(resp: Response<Body>) -> String {
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A request builder with an optional bearer key.
pub fn request(method: &str, uri: &str, key: Option<&str>) -> axum::http::request::Builder {
    let b = Request::builder().method(method).uri(uri);
    match key {
        Some(k) => b.header("authorization", format!("Bearer {k}")),
        None => b,
    }
}

/// Asserts a problem+json response of `status` and returns its document.
pub async fn problem(resp: Response<Body>, status: u16) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let doc = json(resp).await;
    assert_eq!(doc["status"], status);
    assert!(
        doc["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/")),
        "{doc}"
    );
    assert!(
        doc["title"].is_string() && doc["detail"].is_string(),
        "{doc}"
    );
    doc
}

/// Runs the futures concurrently (each on its own task) and returns their outputs in order.
pub async fn futures_join<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
