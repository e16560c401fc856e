//! The HTTP front (axum): `/health`, `/metrics` (Prometheus text); the REST API is merged in
//! from [`crate::web`]. A thin driver: it renders state owned elsewhere.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What `/health` reports; updated by the server as calls come and go.
#[derive(Debug, Default)]
pub struct Health {
    pub active_calls: AtomicUsize,
    pub draining: AtomicBool,
}

#[derive(Clone)]
struct HttpState {
    health: Arc<Health>,
    prometheus: PrometheusHandle,
}

pub fn router(health: Arc<Health>, prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route("/health", get(health_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(HttpState { health, prometheus })
}

async fn health_handler(State(s): State<HttpState>) -> impl IntoResponse {
    let draining = s.health.draining.load(Ordering::Relaxed);
    let body = serde_json::json!({
        "status": if draining { "draining" } else { "ok" },
        "active_calls": s.health.active_calls.load(Ordering::Relaxed),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let code = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body))
}

async fn metrics_handler(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.prometheus.render(),
    )
}

/// Bind and serve until `cancel`; returns the bound address at once.
pub async fn spawn(
    listen: SocketAddr,
    router: Router,
    cancel: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let result = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok((addr, task))
}
