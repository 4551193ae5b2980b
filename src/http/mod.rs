//! HTTP: the two API dialects, health, request logs and graceful shutdown.

pub mod auth;
mod bodies;
pub mod envoyer;
pub mod events;
pub mod gitlab;
pub mod openapi;
pub(crate) mod params;

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::{DefaultOnRequest, TraceLayer};
use tracing::{Level, Span};

use crate::app::AppState;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(envoyer::token_router(app.clone()))
        .nest("/api/v4", gitlab::router(app.clone()))
        .nest("/api", envoyer::router(app.clone()))
        .merge(openapi::docs_router())
        .merge(crate::web::router(app.clone()))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            bodies::limit_bodies,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::metrics::track_requests,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %loggable_path(req.uri().path()),
                    )
                })
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(log_response),
        )
}

/// Marks a successful response to a request too routine for the info log: heartbeat
/// check-ins, which machines send in bulk and which show on the heartbeat anyway.
#[derive(Debug, Clone, Copy)]
pub struct RoutineRequest;

fn log_response(response: &Response, latency: Duration, span: &Span) {
    let _entered = span.enter();
    let status = response.status().as_u16();
    let latency = format_args!("{} ms", latency.as_millis());
    if response.extensions().get::<RoutineRequest>().is_some() {
        tracing::debug!(%latency, status, "finished processing request");
    } else {
        tracing::info!(%latency, status, "finished processing request");
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// A path fit for logs: query strings (which may carry tokens) are never logged, and the token
/// segment of token-authenticated URLs is masked.
pub fn loggable_path(path: &str) -> String {
    for prefix in ["/deploy/", "/heartbeat/", "/webhooks/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}***{tail}");
        }
    }
    path.to_owned()
}

/// Serves until SIGINT or SIGTERM, then lets requests in flight finish.
pub async fn serve(listener: TcpListener, app: AppState) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
    // Give in-flight requests a bounded time; axum waits for them after this returns.
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        tracing::warn!("requests still running 30 s after shutdown began; exiting");
        std::process::exit(1);
    });
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn token_urls_are_masked_in_logs() {
        assert_eq!(loggable_path("/deploy/abcdef"), "/deploy/***");
        assert_eq!(loggable_path("/webhooks/abcdef"), "/webhooks/***");
        assert_eq!(
            loggable_path("/heartbeat/xyz/extra"),
            "/heartbeat/***/extra"
        );
        assert_eq!(loggable_path("/api/projects/1"), "/api/projects/1");
    }
}
