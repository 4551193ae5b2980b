//! Keeping a long-running server's memory bounded: the allocator's settings, and a budget for
//! the request bodies held at once.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::app::AppState;

/// Large blocks (an Argon2id derivation's 19 MiB, a 2 MB body) are mapped on their own and
/// given back when freed. By default glibc raises that threshold after the first such block
/// is freed, and from then on keeps them in per-thread heaps that it never returns: after a
/// burst, the server stayed at its peak.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; called before the server runs.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// The large request bodies held at once, in bytes: beyond it, requests with bodies over
/// 64 KiB wait for earlier ones to be answered; the others are never held up.
pub const BODY_BUDGET: usize = 8 * 1024 * 1024;
/// The budget's unit.
const UNIT: usize = 64 * 1024;
/// What a body of unknown length may grow to (axum's limit on a request body).
const LARGEST_BODY: usize = 2 * 1024 * 1024;

pub fn body_budget() -> Semaphore {
    Semaphore::new(BODY_BUDGET / UNIT)
}

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
    if units == 0 {
        return next.run(request).await;
    }
    match app.request_bodies.acquire_many(units).await {
        Ok(_share) => next.run(request).await,
        // The semaphore is never closed; if it were, no budget is better than no answer.
        Err(_) => next.run(request).await,
    }
}
