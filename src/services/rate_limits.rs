//! The per-token rate limit, shared by both API dialects: a token has one allowance, whichever
//! dialect it calls.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::domain::ids::TokenId;
use crate::error::RateLimit;

type Keyed =
    RateLimiter<TokenId, DefaultKeyedStateStore<TokenId>, DefaultClock, StateInformationMiddleware>;

/// Requests per token per minute, replenished evenly (GCRA); `None` when switched off.
#[derive(Clone)]
pub struct RateLimits {
    inner: Option<Arc<Keyed>>,
    per_minute: u32,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(per_minute: u32) -> RateLimits {
        let inner = NonZeroU32::new(per_minute).map(|n| {
            Arc::new(
                RateLimiter::keyed(Quota::per_minute(n))
                    .with_middleware::<StateInformationMiddleware>(),
            )
        });
        RateLimits {
            inner,
            per_minute,
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` with what is left, or `Err` with when to come back.
    pub fn check(&self, token: TokenId) -> Option<Result<RateLimit, RateLimit>> {
        let limiter = self.inner.as_ref()?;
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let seconds_per_request = 60.0 / f64::from(self.per_minute);
        Some(match limiter.check_key(&token) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill =
                    (f64::from(self.per_minute - remaining) * seconds_per_request).ceil() as u64;
                Ok(RateLimit {
                    limit: self.per_minute,
                    remaining,
                    retry_after_secs: 0,
                    reset_at: now_unix + refill,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(RateLimit {
                    limit: self.per_minute,
                    remaining: 0,
                    retry_after_secs: retry_after.max(1),
                    reset_at: now_unix + (60.0f64).ceil() as u64,
                })
            }
        })
    }
}
