//! Per model x attribute descriptive statistics of one panel's scores: n, mean, SD, median,
//! IQR, the rating distribution and a bootstrap 95% CI of the mean over conversations.
//!
//! Owns the per-cell summaries only; composites, failures and tests live in their own files.
//! The CI resamples conversations with replacement (percentile bootstrap, Efron & Tibshirani
//! 1993), so replies to the same conversation move together. Reference: numpy
//! `mean`/`std(ddof=1)`/`percentile` (checked in tests against `reference.json`).

use serde::{Deserialize, Serialize};

use super::basic::{self, Summary};
use super::bootstrap::{Bootstrap, BootstrapCi};
use super::input::{PanelScores, RatingTable};

/// Descriptive statistics of one model on one attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellStats {
    /// Model id.
    pub model: String,
    /// Attribute id.
    pub attribute: String,
    /// Replies of this model in the study.
    pub responses: usize,
    /// Replies without a score from this panel on this attribute (left out, never zero).
    pub missing: usize,
    /// Summary of the panel scores; null when no reply was scored.
    pub summary: Option<Summary>,
    /// Bootstrap 95% CI of the mean over conversations; null when bootstrap is off.
    pub mean_ci: Option<BootstrapCi>,
    /// Count of individual ratings at 1, 2, 3, 4, 5 (index 0 is score 1) from the panel's raters.
    pub distribution: [usize; 5],
}

/// The panel score of `model` on `attribute`, one entry per conversation (None where absent).
pub fn per_conversation(scores: &PanelScores, model: usize, attribute: usize) -> Vec<Option<f64>> {
    (0..scores.conversation_count()).map(|c| scores.score(model, c, attribute)).collect()
}

/// Mean of the present values among the drawn conversations (a bootstrap statistic).
pub fn mean_of_drawn(values: &[Option<f64>], drawn: &[usize]) -> Option<f64> {
    let picked: Vec<f64> = drawn.iter().filter_map(|&c| values.get(c).copied().flatten()).collect();
    basic::mean(&picked)
}

/// Statistics for every model x attribute of `scores`; `members` are the panel's rater indices
/// (for the distribution of individual ratings).
pub fn describe(
    table: &RatingTable,
    scores: &PanelScores,
    members: &[usize],
    bootstrap: Bootstrap,
) -> Vec<CellStats> {
    let na = table.attributes.len();
    // distributions[model * na + attribute][score - 1], from the panel raters' own ratings.
    let mut distributions = vec![[0usize; 5]; table.models.len() * na];
    for cell in table.ratings.iter().filter(|c| members.contains(&c.rater)) {
        for (a, score) in cell.scores.iter().enumerate() {
            let slot = score.and_then(|s| usize::from(s).checked_sub(1));
            if let Some(count) = slot.and_then(|s| distributions.get_mut(cell.model * na + a)?.get_mut(s)) {
                *count += 1;
            }
        }
    }
    let mut out = Vec::new();
    for (m, model) in table.models.iter().enumerate() {
        let responses = table.exists[m].iter().filter(|e| **e).count();
        for (a, attribute) in table.attributes.iter().enumerate() {
            let values = per_conversation(scores, m, a);
            let present: Vec<f64> = values.iter().flatten().copied().collect();
            let distribution = distributions.get(m * na + a).copied().unwrap_or_default();
            out.push(CellStats {
                model: model.id.clone(),
                attribute: attribute.clone(),
                responses,
                missing: responses.saturating_sub(present.len()),
                summary: Summary::of(&present),
                mean_ci: bootstrap.ci(values.len(), |drawn| mean_of_drawn(&values, drawn)),
                distribution,
            });
        }
    }
    out
}
