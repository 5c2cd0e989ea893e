//! Requests-per-minute and tokens-per-minute budgets of one API model.
//!
//! Each budget is a token bucket holding at most one minute's allowance and refilling
//! continuously at allowance / 60 s, so a run starts with a burst and then settles at the
//! provider's rate. Every attempt (retries included) draws from the budgets before it is sent.
//! Concurrency is bounded elsewhere (a semaphore in `mod.rs`); this file only paces.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::registry::ApiLimits;

/// The budgets of one model; absent budgets never wait.
pub(super) struct RateLimits {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

impl RateLimits {
    /// The budgets `limits` asks for.
    pub fn new(limits: &ApiLimits) -> Self {
        Self {
            requests: limits.requests_per_minute.map(Bucket::per_minute),
            tokens: limits.tokens_per_minute.map(Bucket::per_minute),
        }
    }

    /// Wait until one request of about `tokens` tokens fits both budgets, and draw it.
    pub async fn acquire(&self, tokens: u32) {
        if let Some(bucket) = &self.requests {
            bucket.acquire(1.0).await;
        }
        if let Some(bucket) = &self.tokens {
            bucket.acquire(f64::from(tokens)).await;
        }
    }
}

/// A refilling allowance.
struct Bucket {
    level: Mutex<Level>,
}

impl Bucket {
    fn per_minute(allowance: u32) -> Self {
        Self { level: Mutex::new(Level::full(f64::from(allowance), Instant::now())) }
    }

    async fn acquire(&self, amount: f64) {
        loop {
            let wait = {
                // A poisoned lock only means another task panicked mid-update; the level is
                // still a number, so go on with it.
                let mut level = self.level.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                level.take(amount, Instant::now())
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

/// A bucket's content at an instant.
#[derive(Debug, Clone, PartialEq)]
struct Level {
    capacity: f64,
    available: f64,
    at: Instant,
}

impl Level {
    fn full(capacity: f64, now: Instant) -> Self {
        Self { capacity, available: capacity, at: now }
    }

    /// Draw `amount` (at most the capacity, so an oversized request still goes through once the
    /// bucket is full), or say how long until it would fit.
    fn take(&mut self, amount: f64, now: Instant) -> Option<Duration> {
        let per_second = self.capacity / 60.0;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.available = (self.available + elapsed * per_second).min(self.capacity);
        self.at = now;
        let amount = amount.min(self.capacity);
        if self.available >= amount {
            self.available -= amount;
            None
        } else {
            Some(Duration::from_secs_f64((amount - self.available) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_one_minute_then_paces() {
        let start = Instant::now();
        let mut level = Level::full(60.0, start);
        for _ in 0..60 {
            assert_eq!(level.take(1.0, start), None);
        }
        // 60 per minute refills one per second.
        assert_eq!(level.take(1.0, start), Some(Duration::from_secs(1)));
        assert_eq!(level.take(1.0, start + Duration::from_millis(1_000)), None);
    }

    #[test]
    fn tokens_wait_for_their_share_of_the_minute() {
        let start = Instant::now();
        let mut level = Level::full(6_000.0, start);
        assert_eq!(level.take(6_000.0, start), None);
        // 6000 per minute is 100 per second: 500 tokens need 5 s.
        assert_eq!(level.take(500.0, start), Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_request_larger_than_the_budget_waits_for_a_full_bucket_only() {
        let start = Instant::now();
        let mut level = Level::full(100.0, start);
        assert_eq!(level.take(1_000.0, start), None);
        assert_eq!(level.take(1_000.0, start), Some(Duration::from_secs(60)));
    }
}
