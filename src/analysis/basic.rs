//! Numeric primitives every statistics family shares: mean, standard deviation, quantiles,
//! tie-averaged ranks and a five-number summary.
//!
//! Owns arithmetic on plain slices of `f64`; knows nothing of models, raters or rubrics.
//! Quantiles use linear interpolation between order statistics (Hyndman & Fan 1996 type 7),
//! the default of numpy's `percentile` and R's `quantile`; ranks average ties like
//! `scipy.stats.rankdata(method="average")`.

use serde::{Deserialize, Serialize};

/// Arithmetic mean; `None` for an empty slice.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation (denominator n - 1, numpy `ddof=1`); `None` below two values.
pub fn sd(values: &[f64]) -> Option<f64> {
    variance(values).map(f64::sqrt)
}

/// Sample variance (denominator n - 1); `None` below two values.
pub fn variance(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let ss: f64 = values.iter().map(|v| (v - m).powi(2)).sum();
    Some(ss / (values.len() - 1) as f64)
}

/// Quantile `q` in [0, 1] of already sorted values by linear interpolation (type 7).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = q.clamp(0.0, 1.0) * last as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(last);
    let fraction = position - below as f64;
    let low = *sorted.get(below)?;
    let high = *sorted.get(above)?;
    Some(low + (high - low) * fraction)
}

/// Values sorted ascending (NaN-free input assumed; NaN sorts last).
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut out = values.to_vec();
    out.sort_by(f64::total_cmp);
    out
}

/// Ranks 1..=n with ties given their average rank (`scipy.stats.rankdata`, method average).
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share ranks start+1..=end; their average:
        let average = (start + 1 + end) as f64 / 2.0;
        for &index in &order[start..end] {
            out[index] = average;
        }
        start = end;
    }
    out
}

/// Sizes of the groups of tied values (only groups larger than one matter to corrections).
pub fn tie_sizes(values: &[f64]) -> Vec<usize> {
    let sorted = sorted(values);
    let mut sizes = Vec::new();
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len() && sorted[end] == sorted[start] {
            end += 1;
        }
        sizes.push(end - start);
        start = end;
    }
    sizes
}

/// Pearson's product-moment correlation; `None` when either side has no spread.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(x)?, mean(y)?);
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    let mut syy = 0.0;
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    let denominator = (sxx * syy).sqrt();
    (denominator > 0.0).then(|| sxy / denominator)
}

/// Location and spread of a sample, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1); null below two values.
    pub sd: Option<f64>,
    /// Median (type-7 quantile 0.5).
    pub median: f64,
    /// First quartile (type-7 quantile 0.25).
    pub q1: f64,
    /// Third quartile (type-7 quantile 0.75).
    pub q3: f64,
    /// Interquartile range q3 - q1.
    pub iqr: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarise `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let sorted = sorted(values);
        let q1 = quantile_sorted(&sorted, 0.25)?;
        let q3 = quantile_sorted(&sorted, 0.75)?;
        Some(Self {
            n: values.len(),
            mean: mean(values)?,
            sd: sd(values),
            median: quantile_sorted(&sorted, 0.5)?,
            q1,
            q3,
            iqr: q3 - q1,
            min: *sorted.first()?,
            max: *sorted.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        // 10 is smallest (rank 1); the two 20s share ranks 2 and 3 -> 2.5; 30 is rank 4.
        assert_eq!(ranks(&[20.0, 10.0, 30.0, 20.0]), vec![2.5, 1.0, 4.0, 2.5]);
    }

    #[test]
    fn summary_by_hand() {
        // Values 1, 2, 4, 5: mean 3; squared deviations 4+1+1+4 = 10, /3 -> sd = sqrt(10/3).
        // Type-7 q1 at position 0.75 between 1 and 2 -> 1.75; q3 at 2.25 between 4 and 5 -> 4.25.
        let s = Summary::of(&[5.0, 1.0, 4.0, 2.0]).unwrap();
        assert_eq!(s.mean, 3.0);
        assert!((s.sd.unwrap() - (10.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!((s.q1, s.median, s.q3, s.iqr), (1.75, 3.0, 4.25, 2.5));
    }
}
