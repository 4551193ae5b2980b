//! Requests with large bodies wait for their share of the body budget (`memory::BODY_BUDGET`).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::memory::{LARGEST_BODY, UNIT};

/// Holds a request until its body fits in the budget, and keeps that share until it is
/// answered.
pub async fn limit_bodies(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    let chunked = request
        .headers()
        .contains_key(axum::http::header::TRANSFER_ENCODING);
    let bytes = match declared {
        Some(length) => length,
        None if chunked => LARGEST_BODY,
        None => 0,
    };
    // Small bodies do not count: the budget is for the large ones, and a crowd of slow
    // requests with small bodies (a `.env` written to unreachable servers) must not hold up
    // the rest.
    if bytes <= UNIT {
        return next.run(request).await;
    }
    let units = bytes.min(LARGEST_BODY).div_ceil(UNIT) as u32;
    match app.request_bodies.acquire_many(units).await {
        Ok(_share) => next.run(request).await,
        // The semaphore is never closed; if it were, no budget is better than no answer.
        Err(_) => next.run(request).await,
    }
}
