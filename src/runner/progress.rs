//! Progress of one model's part of a run: an indicatif bar on a terminal, else a log line every
//! few seconds, both on stderr. Both move per reply and give a time left from the replies done
//! so far and the time they took ([`eta`]).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often the plain (non-terminal) reporter prints.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Time left for the `total - done` replies still to come at the pace of the `done` ones so far
/// (`elapsed` since the model started answering); `None` before the first reply, when there is
/// no pace to go on. Never negative: more replies done than planned leave nothing to wait for.
pub fn eta(done: usize, total: usize, elapsed: Duration) -> Option<Duration> {
    if done == 0 {
        return None;
    }
    let left = total.saturating_sub(done) as f64;
    Duration::try_from_secs_f64(elapsed.as_secs_f64() * left / done as f64).ok()
}

/// `ETA 1h 02m`, `ETA 3m 05s`, `ETA 12s`, or `ETA --` while [`eta`] has no pace yet.
pub fn format_eta(eta: Option<Duration>) -> String {
    let Some(eta) = eta else { return "ETA --".to_owned() };
    let seconds = eta.as_secs_f64().round() as u64;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("ETA {s}s"),
        (0, _) => format!("ETA {m}m {s:02}s"),
        _ => format!("ETA {h}h {m:02}m"),
    }
}

/// Reports replies done, tokens per second and time left for one model.
pub struct ModelProgress {
    model_id: String,
    total: usize,
    done: usize,
    tokens: u64,
    started: Instant,
    last_log: Instant,
    bar: Option<ProgressBar>,
}

impl ModelProgress {
    /// Start reporting on `total` pending replies of `model_id`.
    pub fn new(model_id: &str, total: usize, draw_bar: bool) -> Self {
        let bar = draw_bar.then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {msg}")
                    .expect("invariant: template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(model_id.to_owned());
            bar.set_message(format_eta(None));
            bar
        });
        Self {
            model_id: model_id.to_owned(),
            total,
            done: 0,
            tokens: 0,
            started: Instant::now(),
            last_log: Instant::now(),
            bar,
        }
    }

    /// Count one more reply with `tokens` generated tokens.
    pub fn advance(&mut self, tokens: u64) {
        self.done += 1;
        self.tokens += tokens;
        let elapsed = self.started.elapsed();
        let rate = self.tokens as f64 / elapsed.as_secs_f64().max(1e-9);
        let eta = format_eta(eta(self.done, self.total, elapsed));
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{rate:.1} tok/s, {eta}"));
                bar.inc(1);
            }
            None if self.last_log.elapsed() >= LOG_EVERY || self.done == self.total => {
                tracing::info!("{}: {}/{} replies, {rate:.1} tok/s, {eta}", self.model_id, self.done, self.total);
                self.last_log = Instant::now();
            }
            None => {}
        }
    }

    /// Clear the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_the_time_per_reply_so_far_times_the_replies_left() {
        assert_eq!(eta(0, 10, Duration::from_secs(30)), None, "no pace before the first reply");
        assert_eq!(eta(1, 10, Duration::from_secs(30)), Some(Duration::from_secs(270)));
        assert_eq!(eta(4, 10, Duration::from_secs(8)), Some(Duration::from_secs(12)));
        assert_eq!(eta(10, 10, Duration::from_secs(8)), Some(Duration::ZERO));
        assert_eq!(eta(12, 10, Duration::from_secs(8)), Some(Duration::ZERO), "never negative");
        // A first reply after a long prefill: the estimate stays finite and proportional.
        assert_eq!(eta(1, 1_000_000, Duration::from_secs(3600)), Some(Duration::from_secs(3600 * 999_999)));
    }

    #[test]
    fn eta_reads_as_hours_minutes_or_seconds() {
        assert_eq!(format_eta(None), "ETA --");
        assert_eq!(format_eta(Some(Duration::from_millis(12_400))), "ETA 12s");
        assert_eq!(format_eta(Some(Duration::from_secs(185))), "ETA 3m 05s");
        assert_eq!(format_eta(Some(Duration::from_secs(3 * 3600 + 2 * 60 + 59))), "ETA 3h 02m");
        assert_eq!(format_eta(Some(Duration::ZERO)), "ETA 0s");
    }
}
