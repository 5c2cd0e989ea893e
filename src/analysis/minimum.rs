//! The fewest observations each statistic of the report needs. Below its minimum the report
//! shows "not enough data (n = k)" in place of the statistic, and the methods section states
//! these rules; `analysis.json` keeps every number computed, with its n, for whoever wants it.
//!
//! Owns the minimum-n rules; the report's view and the rating study's live agreement view read
//! them from here.

/// Fewest conversations (the resampled clusters) for a bootstrap 95% interval of a mean or of
/// a difference of means: with fewer, the percentile interval mostly reflects which few
/// values happen to be drawn.
pub const MIN_CI: usize = 10;

/// Fewest non-zero paired differences for the Wilcoxon signed-rank test. With 5 or fewer,
/// even the most extreme outcome has an exact two-sided p of at least 2/2^5 = 0.0625.
pub const MIN_WILCOXON: usize = 6;

/// Fewest conversations rated for every model for the Friedman test across models.
pub const MIN_FRIEDMAN: usize = 10;

/// Fewest units (replies, or score pairs) scored by every rater compared for an agreement
/// statistic (kappa, ICC, Krippendorff's alpha) or a judge-against-humans comparison.
pub const MIN_AGREEMENT: usize = 10;

/// Fewest models with a score before any is called highest or lowest.
pub const MIN_MODELS_RANKED: usize = 2;

/// Fewest conversations with both composites for the Pitman-Morgan test of a difference in
/// spread: its t rests on a correlation of sums and differences, which a handful of pairs
/// cannot pin down (the same floor as a bootstrap interval, whose paired CI it is shown with).
pub const MIN_SPREAD_TEST: usize = MIN_CI;

/// One rule as the methods section states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The statistic.
    pub statistic: &'static str,
    /// Its minimum n.
    pub min: usize,
    /// What is counted.
    pub counted: &'static str,
}

/// Every rule, in the order the methods section lists them.
pub const RULES: [Rule; 6] = [
    Rule { statistic: "bootstrap 95% interval of a mean or a difference of means", min: MIN_CI, counted: "conversations" },
    Rule { statistic: "Wilcoxon signed-rank test (exact p up to 25 pairs, normal approximation above)", min: MIN_WILCOXON, counted: "non-zero paired differences" },
    Rule { statistic: "Friedman test across models", min: MIN_FRIEDMAN, counted: "conversations rated for every model" },
    Rule { statistic: "agreement (kappa, ICC, Krippendorff's alpha) and judge-against-human comparisons", min: MIN_AGREEMENT, counted: "replies scored by every rater compared" },
    Rule { statistic: "highest and lowest model", min: MIN_MODELS_RANKED, counted: "models with a score" },
    Rule { statistic: "Pitman-Morgan test of a difference in spread between two composites", min: MIN_SPREAD_TEST, counted: "conversations with both composites" },
];

/// What the report shows in place of a statistic whose n is below its minimum.
pub fn not_enough(n: usize) -> String {
    format!("not enough data (n = {n})")
}
