//! Retrying one request: which failures are worth another attempt, how long to wait, and the
//! attempt loop itself.
//!
//! Retries 429, 500, 502, 503, 504 and Anthropic's 529 (overloaded), timeouts and dropped
//! connections, with exponential backoff and full jitter (AWS Architecture Blog, "Exponential
//! Backoff and Jitter", 2015): before retry n, sleep uniformly in `[0, min(max, base * 2^n)]`.
//! A `Retry-After` header (delta-seconds or HTTP-date, RFC 9110 §10.2.3) or OpenAI's
//! `retry-after-ms` replaces the jittered wait. 400/404/422 and other client errors are not
//! retried; 401/403 (and a provider's own bad-key or out-of-quota answer) end the model's run.
//! A complete 2xx body is never retried, even when unreadable: the provider may have billed it.
//! This file does not read bodies' meaning; the provider files do.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::header::HeaderMap;

use super::client::{describe_error_body, display_url, Attempt, HttpResponse, WireCall};
use super::{AccountRefusal, Shared};
use crate::registry::ApiLimits;

/// The longest `Retry-After` obeyed; a server asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// How many times to retry and how long to wait between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff window before the first retry.
    pub backoff_base: Duration,
    /// Largest backoff window.
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// The policy a model's `limits` describe.
    pub fn from_limits(limits: &ApiLimits) -> Self {
        Self {
            max_retries: limits.max_retries,
            backoff_base: Duration::from_millis(limits.backoff_base_ms),
            backoff_max: Duration::from_millis(limits.backoff_max_ms),
        }
    }

    /// Upper end of the jitter window before retry `retry` (0 for the first retry).
    pub fn backoff_window(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.backoff_base.saturating_mul(factor).min(self.backoff_max)
    }

    /// How long to sleep before retry `retry`: the server's `Retry-After` when it sent one
    /// (capped at [`MAX_RETRY_AFTER`]), else a uniform draw from the backoff window.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_RETRY_AFTER);
        }
        let window_ms = u64::try_from(self.backoff_window(retry).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=window_ms))
    }
}

/// Whether a status means "try again later": rate limited, or a transient server fault.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 529)
}

/// The wait a response asks for, from `retry-after-ms` (OpenAI) or `Retry-After` in seconds or
/// as an HTTP-date relative to `now`; a date in the past means no wait.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|t| t.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers must send, is valid
    // RFC 2822.
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some((date.with_timezone(&Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// How a request's attempts ended.
pub(super) enum Outcome {
    /// A 2xx status with a complete body.
    Answered {
        /// The response.
        response: HttpResponse,
        /// Attempts made, this one included.
        attempts: u32,
    },
    /// A client error that another attempt would not change (400, 404, 422, ...), or a body
    /// over the size limit.
    Rejected {
        /// Status code.
        status: u16,
        /// The provider's message or what the body was.
        detail: String,
    },
    /// The key was refused or the account is out of quota: no request of this model can
    /// succeed.
    AccountRefused {
        /// Status code.
        status: u16,
        /// The provider's message.
        detail: String,
        /// Which refusal.
        why: AccountRefusal,
    },
    /// Every attempt failed with a retryable fault.
    GaveUp {
        /// The last fault.
        last: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// Send `call` until it is answered, refused, or out of retries, obeying the model's rate
/// budgets before every attempt. A body larger than `max_body` bytes is refused unread and not retried.
pub(super) async fn send_with_retries(shared: &Shared, call: &WireCall, tokens: u32, max_body: usize) -> Outcome {
    let mut attempts = 0u32;
    loop {
        shared.limits.acquire(tokens).await;
        attempts += 1;
        let (fault, asked_wait) = match shared.client.send(call, max_body).await {
            Attempt::TooLarge { status, detail } => return Outcome::Rejected { status, detail },
            Attempt::Answered(response) => {
                let status = response.status.as_u16();
                if response.status.is_success() {
                    return Outcome::Answered { response, attempts };
                }
                let detail = describe_error_body(&response.headers, &response.body);
                if let Some(why) = shared.wire.account_refusal(status, &response.body) {
                    return Outcome::AccountRefused { status, detail, why };
                }
                if !is_retryable_status(status) {
                    return Outcome::Rejected { status, detail };
                }
                (format!("HTTP {status}: {detail}"), retry_after(&response.headers, Utc::now()))
            }
            Attempt::Dropped { reason } => (reason, None),
        };
        let fault = shared.scrub(&fault);
        if attempts > shared.retry.max_retries {
            return Outcome::GaveUp { last: fault, attempts };
        }
        let delay = shared.retry.delay(attempts - 1, asked_wait);
        tracing::warn!(
            provider = %shared.provider,
            url = %display_url(&call.url),
            attempt = attempts,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "{fault}; retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1_000),
        }
    }

    #[test]
    fn backoff_window_doubles_then_caps() {
        let p = policy();
        let windows: Vec<u128> = (0..6).map(|n| p.backoff_window(n).as_millis()).collect();
        assert_eq!(windows, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(p.backoff_window(200).as_millis(), 1_000);
    }

    #[test]
    fn jittered_delay_stays_inside_the_window() {
        let p = policy();
        for _ in 0..200 {
            assert!(p.delay(2, None) <= Duration::from_millis(400));
        }
    }

    #[test]
    fn retry_after_wins_over_jitter_and_is_capped() {
        let p = policy();
        assert_eq!(p.delay(0, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(p.delay(0, Some(Duration::from_secs(100_000))), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_milliseconds() {
        let now = DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT").unwrap().to_utc();
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1_500)));
    }

    #[test]
    fn only_rate_limits_and_transient_server_faults_are_retried() {
        for status in [429, 500, 502, 503, 504, 529] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 422, 501] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }
}
