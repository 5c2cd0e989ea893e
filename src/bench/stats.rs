//! Summary statistics of repeated bench samples: mean, sample SD and percentiles.
//!
//! Percentiles interpolate linearly between order statistics (numpy's default `linear` method,
//! and llama-bench's convention), so p50 of an even count is the midpoint of the middle pair.

use serde::{Deserialize, Serialize};

/// Mean, spread and tail of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one sample.
    pub sd: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Summary {
    /// Summarise `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let n = samples.len();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self { n, mean, sd, p50: percentile(&sorted, 0.5), p90: percentile(&sorted, 0.9), p99: percentile(&sorted, 0.99) })
    }
}

/// The coefficient of variation (SD / mean) of a test's repetitions above which `bench` warns
/// that the machine was busy. On an idle machine the repetitions of one test differ by timer,
/// cache and clock noise of a few percent (llama-bench's tables: SD of 1 to 3% of the mean); a
/// process competing for the cores takes whole scheduler slices from some repetitions and not
/// others, which moves them by tens of percent. 10% sits well above the first and below the second.
pub const BUSY_CV: f64 = 0.10;

impl Summary {
    /// SD / mean; `None` with fewer than two samples (no spread to speak of) or a mean of 0.
    pub fn cv(&self) -> Option<f64> {
        (self.n >= 2 && self.mean > 0.0).then(|| self.sd / self.mean)
    }

    /// Whether the samples spread more than an idle machine's repetitions do ([`BUSY_CV`]).
    pub fn looks_busy(&self) -> bool {
        self.cv().is_some_and(|cv| cv > BUSY_CV)
    }
}

/// Linear-interpolated percentile `q` in [0, 1] of non-empty sorted data.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let weight = position - lower as f64;
    sorted[lower] * (1.0 - weight) + sorted[upper] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_on_a_hand_sized_case() {
        // numpy: mean 2.5, std(ddof=1) = sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3) = 1.2909944,
        // percentile 50 = 2.5, 90 -> position 2.7 -> 3 + 0.7 * 1 = 3.7, 99 -> 2.97 -> 3.97.
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.n, s.mean, s.p50), (4, 2.5, 2.5));
        assert!((s.sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((s.p90 - 3.7).abs() < 1e-12 && (s.p99 - 3.97).abs() < 1e-12);
        assert!(Summary::of(&[]).is_none());
        assert_eq!(Summary::of(&[7.0]).unwrap().sd, 0.0);
    }

    #[test]
    fn a_spread_above_ten_percent_of_the_mean_looks_busy() {
        // SD 10 around 100: CV exactly 10%, the quiet side of the line.
        let quiet = Summary::of(&[100.0, 110.0, 90.0]).unwrap();
        assert!((quiet.cv().unwrap() - 0.10).abs() < 1e-12);
        assert!(!quiet.looks_busy());
        // One repetition in three slowed by a competing process.
        let busy = Summary::of(&[100.0, 101.0, 70.0]).unwrap();
        assert!(busy.cv().unwrap() > 0.17, "{:?}", busy.cv());
        assert!(busy.looks_busy());
        // A single sample, or nothing measured, says nothing about the machine.
        assert_eq!(Summary::of(&[5.0]).unwrap().cv(), None);
        assert!(!Summary::of(&[5.0]).unwrap().looks_busy());
        assert_eq!(Summary::of(&[0.0, 0.0]).unwrap().cv(), None);
    }
}
