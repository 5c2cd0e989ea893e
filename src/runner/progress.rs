//! Progress of one model's part of a run: an indicatif bar on a terminal, else a log line every
//! few seconds, both on stderr.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often the plain (non-terminal) reporter prints.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Reports replies done and tokens per second for one model.
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
                ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                    .expect("invariant: template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(model_id.to_owned());
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

    /// Count `replies` more replies with `tokens` generated tokens.
    pub fn advance(&mut self, replies: usize, tokens: u64) {
        self.done += replies;
        self.tokens += tokens;
        let rate = self.tokens as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{rate:.1} tok/s"));
                bar.inc(replies as u64);
            }
            None if self.last_log.elapsed() >= LOG_EVERY || self.done == self.total => {
                tracing::info!("{}: {}/{} replies, {rate:.1} tok/s", self.model_id, self.done, self.total);
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
