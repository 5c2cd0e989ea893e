//! A categorical axis for plotters: labels at 0, 1, 2, ... with continuous coordinates in
//! between, so markers can be offset within a category (grouped points, error bars, cells).
//!
//! plotters' segmented coordinates cannot place an offset point, and its `with_key_points`
//! wrapper over `f64` has no label formatter, hence this small `Ranged` of our own.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

/// Categories at integer positions; the axis spans -0.5 ..= n - 0.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Categories {
    labels: Vec<String>,
}

impl Categories {
    /// An axis with `labels` at 0, 1, ...; pass them reversed for a y axis read top-down.
    pub fn new(labels: Vec<String>) -> Self {
        Categories { labels }
    }

    fn count(&self) -> f64 {
        self.labels.len().max(1) as f64
    }
}

impl Ranged for Categories {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value + 0.5) / self.count();
        limit.0 + (f64::from(limit.1 - limit.0) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.labels.len()).map(|i| i as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        -0.5..self.count() - 0.5
    }
}

impl ValueFormatter<f64> for Categories {
    fn format(value: &f64) -> String {
        value.to_string()
    }

    fn format_ext(&self, value: &f64) -> String {
        let i = value.round();
        if (value - i).abs() < 1e-9 && i >= 0.0 {
            self.labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sit_at_category_centres() {
        let axis = Categories::new(vec!["a".into(), "b".into()]);
        assert_eq!(axis.map(&0.0, (0, 200)), 50);
        assert_eq!(axis.map(&1.0, (0, 200)), 150);
        assert_eq!((axis.format_ext(&1.0), axis.format_ext(&0.5)), ("b".to_owned(), String::new()));
    }
}
