//! The admin listener, on its own address (never the proxy port): `GET /healthz` (the process
//! answers), `GET /readyz` (configuration loaded, upstream credentials resolvable, not draining),
//! `GET /metrics` (Prometheus text format), plus routes other modules contribute (the reload API).
//!
//! To add endpoints, build a `Router` (with its own state) and pass it to [`router`] as `extra`, or
//! add it where [`crate::Guard::admin_router`] assembles the admin application.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{header, HeaderValue, StatusCode};
use tokio::net::TcpListener;

use crate::ops::ServeSettings;
use crate::state::Shared;
use crate::telemetry::metrics;

/// Readiness must answer quickly even when the credential chain is slow (a probe has its own timeout).
const CREDENTIALS_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Histogram buffers are drained this often so memory stays flat between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the admin handlers read: the guard's shared state.
#[derive(Clone)]
pub struct AdminState {
    pub(crate) shared: Arc<Shared>,
}

impl AdminState {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The admin application: the built-in endpoints merged with `extra`.
pub fn router(state: AdminState, extra: Router) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .route("/admin/quotas", get(crate::quota::admin::quotas))
        .with_state(state)
        .merge(extra)
}

/// Serves the admin application until `shutdown`, with the proxy port's connection settings (header
/// read and idle timeouts: idle admin connections must not pile up). The admin port stays up while
/// the proxy drains, so probes and scrapes see the drain.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "admin listening (/healthz, /readyz, /metrics)");
    let upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            metrics::run_upkeep();
        }
    });
    let result = crate::connections::serve(listener, None, app, settings, || {}, shutdown).await;
    upkeep.abort();
    result
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let snapshot = state.shared.live.load();
    let mut problems = Vec::new();
    if state.shared.ops.is_draining() {
        problems.push("shutting down".to_owned());
    }
    match tokio::time::timeout(CREDENTIALS_CHECK_TIMEOUT, state.shared.credentials.get()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => problems.push(format!("upstream credentials: {err}")),
        Err(_) => problems.push("upstream credentials: no answer within 2 s".to_owned()),
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": problems.is_empty(),
        "config_version": snapshot.version,
        "problems": problems,
        // Not a readiness problem (the built-in table still routes), but visible to operators.
        "control_plane": state.shared.control_plane.status(),
    });
    (status, Json(body)).into_response()
}

async fn render_metrics(State(state): State<AdminState>) -> Response {
    let version = state.shared.live.load().version.clone();
    let mut response = metrics::render(&version).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `bedrock-guard health`: one GET to the admin listener, exit 0 on 200. Loopback HTTP only.
pub fn probe(admin: std::net::SocketAddr, live: bool) -> std::process::ExitCode {
    let path = if live { "/healthz" } else { "/readyz" };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bedrock-guard health: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let url = format!("http://{admin}{path}");
    let result = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(3))
            .build()?;
        client.get(&url).send().await
    });
    match result {
        Ok(response) if response.status() == StatusCode::OK => std::process::ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("bedrock-guard health: {url} answered {}", response.status());
            std::process::ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("bedrock-guard health: {url}: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
