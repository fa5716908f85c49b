//! The HTTP API (axum): one router per audience, the `/v1` guard, problem+json errors, metrics and
//! the OpenAPI document. Nothing below this module knows HTTP.

mod admin;
mod auth;
mod health;
mod inference;
mod markers;
mod measurements;
pub mod metrics;
mod openapi;
mod orders;
mod patterns;
mod plans;
pub mod problem;
mod records;
mod shades;
mod webhooks;

pub use openapi::ApiDoc;

use std::future::Future;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Role;
use crate::body::model::BodyModel;
use crate::config::Config;
use crate::runtime::batcher::BatchConfig;
use crate::store::Store;
use crate::vision::Vision;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Writes new orders, many per transaction.
    pub orders: crate::orders::Intake,
    vision: Arc<OnceLock<Arc<Vision>>>,
    body_model: Arc<OnceLock<Arc<BodyModel>>>,
    rate_limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// Bounds the heavy (blocking) tasks running at once, see [`AppState::heavy_task_limit`].
    pub(crate) heavy_tasks: Arc<tokio::sync::Semaphore>,
    /// Requests waiting for a heavy-task slot.
    pub(crate) heavy_waiting: Arc<std::sync::atomic::AtomicUsize>,
    /// Marker plans running in the background on this instance, see [`plans`].
    pub(crate) plan_lane: plans::PlanLane,
}

impl AppState {
    /// State over `store` with `config`; vision routes answer 503 until [`Self::load_models`] has run.
    pub fn new(store: Store, config: Config) -> Self {
        // Install the metrics recorder before the first request is counted.
        metrics::handle();
        let rate_limiter = NonZeroU32::new(config.rate_limit_per_minute)
            .map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n))));
        let heavy_tasks = Arc::new(tokio::sync::Semaphore::new(Self::heavy_task_limit(&config)));
        Self {
            heavy_tasks,
            heavy_waiting: Arc::default(),
            plan_lane: plans::PlanLane::new(),
            orders: crate::orders::Intake::new(store.clone()),
            store,
            config: Arc::new(config),
            vision: Arc::new(OnceLock::new()),
            body_model: Arc::new(OnceLock::new()),
            rate_limiter,
        }
    }

    /// Winds down the background marker plans when the service stops: the one nesting ends its
    /// search and stores its best marker so far, waiting ones are marked interrupted. Waits up
    /// to `grace` for that; call it after the server has stopped taking requests.
    pub async fn close_plans(&self, grace: std::time::Duration) {
        self.plan_lane.close(grace).await;
    }

    /// Loads the vision pipelines (the five MediaPipe models in `models_dir`, on the CPU, each
    /// behind its batching queue as configured) and the
    /// bundled body model once and shares them with every request, which makes `/readyz` ready. Slow
    /// (model parsing): call it from a blocking thread (`tokio::task::spawn_blocking`) after the
    /// models are fetched and verified. Calling it again keeps the first loaded set.
    pub fn load_models(&self, models_dir: &Path) -> Result<(), crate::vision::Error> {
        self.load_models_on(models_dir, &candle_core::Device::Cpu)
    }

    /// Heavy tasks (decoding, pipelines, drafting) allowed to run at once: one per core, plus a
    /// full batch when batching is on, since a batch only forms when that many requests are
    /// waiting on a model at the same time. More would share the same cores and hold more
    /// decoded images in memory.
    pub fn heavy_task_limit(config: &Config) -> usize {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let batch = config.batching.max_batch;
        cores + if batch > 1 { batch } else { 0 }
    }

    /// [`Self::load_models`] on a given candle device.
    pub fn load_models_on(
        &self,
        models_dir: &Path,
        device: &candle_core::Device,
    ) -> Result<(), crate::vision::Error> {
        if self.vision.get().is_none() {
            // The bounded queue a caller meets is the admission one in `inference::blocking`
            // (ATELIER_QUEUE_CAPACITY). A request runs at most two pipelines at once (front and
            // side photos), so model queues of twice the heavy-task limit never refuse what
            // admission let through; their bound only backs it up.
            let batching = BatchConfig {
                queue_capacity: 2 * Self::heavy_task_limit(&self.config),
                ..self.config.batching
            };
            let vision = Vision::load_batched(models_dir, device, batching)?;
            let _ = self.vision.set(Arc::new(vision));
        }
        if let Err(e) = self.body_model() {
            tracing::error!(error = %e, "the bundled body model does not load");
        }
        Ok(())
    }

    /// The loaded vision pipelines, if [`Self::load_models`] has run.
    pub fn vision(&self) -> Option<Arc<Vision>> {
        self.vision.get().cloned()
    }

    /// The bundled ANSUR II body model, parsed on first use and shared afterwards.
    pub fn body_model(&self) -> Result<Arc<BodyModel>, crate::body::Error> {
        if let Some(m) = self.body_model.get() {
            return Ok(m.clone());
        }
        let model = Arc::new(BodyModel::bundled()?);
        Ok(self.body_model.get_or_init(|| model).clone())
    }

    /// Whether the vision models are loaded (what `/readyz` reports).
    pub fn models_ready(&self) -> bool {
        self.vision.get().is_some()
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routes a group of roles may use, guarded by key authentication.
fn guarded(state: &AppState, allowed: auth::Allowed, routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(from_fn_with_state((state.clone(), allowed), auth::guard))
}

/// The whole application: public service routes, the guarded `/v1` API and every cross-cutting layer.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] plus `extra` routes, which get the same layers (timeouts, panic handling, problem
/// responses, metrics): for embedding the service, and for the tests' slow and panicking handlers.
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let any_role = guarded(
        &state,
        &Role::ALL,
        Router::new()
            .route("/v1/me", get(admin::me))
            .route("/v1/fabrics", get(orders::fabrics))
            .route("/v1/garments", get(patterns::garments)),
    );
    let shops = guarded(
        &state,
        &[Role::Shop],
        Router::new()
            .route(
                "/v1/measurement-records",
                post(records::create).get(records::list),
            )
            .route("/v1/measurement-records/{id}", get(records::get))
            .route("/v1/measurements/estimate", post(measurements::estimate))
            .route("/v1/measurements", post(measurements::measure)),
    );
    let counters = guarded(
        &state,
        &[Role::Counter],
        Router::new().route("/v1/shade-matches", post(shades::create)),
    );
    let order_desk = guarded(
        &state,
        &[Role::Shop],
        Router::new()
            .route("/v1/orders", post(orders::create).get(orders::list))
            .route("/v1/orders/{id}", get(orders::get))
            .route("/v1/orders/{id}/cancel", post(orders::cancel))
            .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
            .route("/v1/webhooks/{id}", axum::routing::delete(webhooks::remove)),
    );
    let shared = guarded(
        &state,
        &[Role::Shop, Role::Factory],
        Router::new()
            .route("/v1/orders/{id}/events", get(orders::events))
            .route("/v1/patterns", post(patterns::create)),
    );
    let factories = guarded(
        &state,
        &[Role::Factory],
        Router::new()
            .route("/v1/factory/orders", get(orders::factory_list))
            .route("/v1/factory/orders/{id}", get(orders::factory_get))
            .route("/v1/factory/orders/{id}/state", post(orders::factory_move))
            .route(
                "/v1/factory/markers",
                post(markers::plan).get(markers::list),
            )
            .route("/v1/factory/markers/{id}", get(markers::get))
            .route("/v1/factory/markers/{id}/claim", post(markers::claim))
            .route("/v1/factory/markers/{id}/cut-file", get(markers::cut_file))
            .route("/v1/factory/plans", get(plans::list))
            .route("/v1/factory/plans/{id}", get(plans::get))
            .route("/v1/factory/plans/{id}/stop", post(plans::stop)),
    );
    let admins = guarded(
        &state,
        &[Role::Admin],
        Router::new()
            .route("/v1/admin/keys", post(admin::create_key))
            .route("/v1/admin/tenants", get(admin::tenants)),
    );

    let config = state.config.clone();
    // Route-level layers see the matched route, so a 413 is labelled by route in the metrics.
    let per_route = ServiceBuilder::new()
        .layer(from_fn(metrics::tag_route))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/problems/{slug}", get(health::problem_type))
        .merge(any_role)
        .merge(shops)
        .merge(counters)
        .merge(order_desk)
        .merge(shared)
        .merge(factories)
        .merge(admins)
        .merge(extra)
        .route_layer(per_route)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    let id = req.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
                }))
                .layer(from_fn(metrics::track))
                .layer(from_fn(problem::normalise))
                .layer(CatchPanicLayer::custom(problem::panic_response))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout)),
        )
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting connections and
/// lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// Most rows one listing returns.
const MAX_PAGE: i64 = 500;

/// A listing's `limit` query parameter: `default` when absent, otherwise 1 to [`MAX_PAGE`].
fn page_limit(requested: Option<i64>, default: i64) -> Result<i64, problem::ApiError> {
    let limit = requested.unwrap_or(default);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(problem::ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ))
    }
}
