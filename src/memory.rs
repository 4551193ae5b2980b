//! Keeping a long-running server's memory bounded: the allocator's settings, and the budget
//! for the large request bodies held at once (`http::bodies` holds requests to it).

use tokio::sync::Semaphore;

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
pub const UNIT: usize = 64 * 1024;
/// What a body of unknown length may grow to (axum's limit on a request body).
pub const LARGEST_BODY: usize = 2 * 1024 * 1024;

pub fn body_budget() -> Semaphore {
    Semaphore::new(BODY_BUDGET / UNIT)
}
