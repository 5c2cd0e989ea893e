//! How much each model's scores vary from conversation to conversation: per model the spread
//! (SD, coefficient of variation, IQR) of every attribute and composite, each with a bootstrap
//! 95% CI over conversations, and a test of whether the two first composites (CSS and ARS in
//! the MentalAlign rubric) differ in spread.
//!
//! Owns spread statistics only; the values per conversation come from `descriptive` and
//! `composite`. The study's headline is that models are cognitively reliable but affectively
//! unstable: that is a claim about spread, so it needs spread with its uncertainty, not only
//! means. Definitions:
//! - SD: sample standard deviation (n - 1) across conversations; CV = SD / mean; IQR: type-7
//!   quartiles (numpy `percentile`), as [`basic::Summary`].
//! - CIs: percentile bootstrap resampling conversations ([`Bootstrap`]), one pass for the three
//!   statistics; a resample whose statistic is undefined (fewer than two values) is left out.
//! - The difference in spread between two composites measured on the same replies is
//!   SD(second) - SD(first) over the conversations with both, with a *paired* bootstrap CI: each
//!   drawn conversation brings both composites, so their correlation is kept. It assumes nothing
//!   about the scores' distribution, which for Likert means is far from normal.
//! - Beside it, the Pitman-Morgan test (Pitman 1939, Morgan 1939) of equal variances of paired
//!   samples: var(X) = var(Y) exactly when the sum S = X + Y and the difference D = Y - X are
//!   uncorrelated, so the test is Pearson's r(S, D) with t = r sqrt((n - 2) / (1 - r^2)) on
//!   n - 2 df. It assumes bivariate normality; the report shows it with the bootstrap CI, and the
//!   CI is what a reader should lean on where the two disagree. Reference:
//!   `scipy.stats.pearsonr(x + y, y - x)` gives the same r and p (checked in the tests).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::basic::{self, Summary};
use super::bootstrap::{Bootstrap, BootstrapCi};
use super::composite::{self, CompositeDef};
use super::descriptive;
use super::input::{PanelScores, RatingTable};

/// The spread of one measure (attribute or composite) of one model across conversations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Attribute id or composite short name.
    pub measure: String,
    /// Conversations with a value.
    pub n: usize,
    /// Mean across conversations (the CV's denominator).
    pub mean: Option<f64>,
    /// Sample SD (n - 1); null below two values.
    pub sd: Option<f64>,
    /// Bootstrap 95% CI of the SD over conversations.
    pub sd_ci: Option<BootstrapCi>,
    /// Coefficient of variation SD / mean; null without an SD or with a zero mean.
    pub cv: Option<f64>,
    /// Bootstrap 95% CI of the CV.
    pub cv_ci: Option<BootstrapCi>,
    /// Interquartile range q3 - q1 (type 7).
    pub iqr: Option<f64>,
    /// Bootstrap 95% CI of the IQR.
    pub iqr_ci: Option<BootstrapCi>,
}

/// The Pitman-Morgan test of equal variances of two paired samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PitmanMorgan {
    /// Pairs.
    pub n: usize,
    /// var(second) / var(first).
    pub variance_ratio: f64,
    /// Pearson's r between the sums and the differences (second - first) of the pairs.
    pub r: f64,
    /// t = r sqrt((n - 2) / (1 - r^2)).
    pub t: f64,
    /// Degrees of freedom n - 2.
    pub df: usize,
    /// Two-sided p-value from Student's t.
    pub p_value: f64,
}

/// The difference in spread between two composites of one model, on the same replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpreadDifference {
    /// Name, e.g. `SD(ARS) - SD(CSS)`.
    pub name: String,
    /// The composite subtracted (`CSS`).
    pub first: String,
    /// The composite whose SD comes first (`ARS`).
    pub second: String,
    /// Conversations with both composites.
    pub n: usize,
    /// SD of the first composite over those conversations.
    pub sd_first: Option<f64>,
    /// SD of the second composite over those conversations.
    pub sd_second: Option<f64>,
    /// sd_second - sd_first; positive when the second varies more.
    pub difference: Option<f64>,
    /// Paired bootstrap 95% CI of the difference over conversations.
    pub ci: Option<BootstrapCi>,
    /// Pitman-Morgan test; null below three pairs, when either composite or the pairs' sums or
    /// differences do not vary, or when the pairs lie on one line.
    pub pitman_morgan: Option<PitmanMorgan>,
}

/// Every spread of one model under one panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVariability {
    /// Model id.
    pub model: String,
    /// One per attribute, rubric order.
    pub attributes: Vec<Spread>,
    /// One per composite, rubric group order.
    pub composites: Vec<Spread>,
    /// SD(second composite) - SD(first); null with fewer than two composites.
    pub difference: Option<SpreadDifference>,
}

/// SD, CV and IQR of `values`, each `None` where undefined.
pub fn sd_cv_iqr(values: &[f64]) -> [Option<f64>; 3] {
    let Some(summary) = Summary::of(values) else { return [None; 3] };
    let cv = summary.sd.filter(|_| summary.mean != 0.0).map(|sd| sd / summary.mean);
    [summary.sd, cv, (values.len() >= 2).then_some(summary.iqr)]
}

/// The spread of `values` (one per conversation, `None` where absent) with bootstrap CIs.
pub fn spread(measure: &str, values: &[Option<f64>], bootstrap: Bootstrap) -> Spread {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let [sd, cv, iqr] = sd_cv_iqr(&present);
    let cis = bootstrap.cis(values.len(), 3, |drawn| {
        let picked: Vec<f64> = drawn.iter().filter_map(|&c| values.get(c).copied().flatten()).collect();
        sd_cv_iqr(&picked).to_vec()
    });
    let [sd_ci, cv_ci, iqr_ci] = [cis[0], cis[1], cis[2]];
    Spread { measure: measure.to_owned(), n: present.len(), mean: basic::mean(&present), sd, sd_ci, cv, cv_ci, iqr, iqr_ci }
}

/// Pitman-Morgan test on pairs `(first, second)`; `None` below three pairs, when either sample
/// does not vary, or when the pairs lie on one line (|r| = 1): the test is undefined there, and
/// analysis.json never holds an infinite number.
pub fn pitman_morgan(pairs: &[(f64, f64)]) -> Option<PitmanMorgan> {
    let n = pairs.len();
    if n < 3 {
        return None;
    }
    let firsts: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let seconds: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let (v1, v2) = (basic::variance(&firsts)?, basic::variance(&seconds)?);
    if v1 <= 0.0 || v2 <= 0.0 {
        return None;
    }
    let sums: Vec<f64> = pairs.iter().map(|(a, b)| a + b).collect();
    let differences: Vec<f64> = pairs.iter().map(|(a, b)| b - a).collect();
    let r = basic::pearson(&sums, &differences)?;
    let denominator = 1.0 - r * r;
    if denominator <= 0.0 {
        return None;
    }
    let df = n - 2;
    let t = r * (df as f64 / denominator).sqrt();
    let student = StudentsT::new(0.0, 1.0, df as f64).ok()?;
    Some(PitmanMorgan { n, variance_ratio: v2 / v1, r, t, df, p_value: (2.0 * student.sf(t.abs())).min(1.0) })
}

/// SD(second) - SD(first) over the pairs present among `drawn` conversations.
fn sd_difference(first: &[Option<f64>], second: &[Option<f64>], drawn: impl Iterator<Item = usize>) -> Option<f64> {
    let (a, b): (Vec<f64>, Vec<f64>) = drawn.filter_map(|c| Some((first.get(c).copied().flatten()?, second.get(c).copied().flatten()?))).unzip();
    Some(basic::sd(&b)? - basic::sd(&a)?)
}

/// The difference in spread between composites `first` and `second` of one model.
pub fn spread_difference(names: (&str, &str), first: &[Option<f64>], second: &[Option<f64>], bootstrap: Bootstrap) -> SpreadDifference {
    let pairs: Vec<(f64, f64)> = first.iter().zip(second).filter_map(|(a, b)| Some(((*a)?, (*b)?))).collect();
    let (a, b): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let (sd_first, sd_second) = (basic::sd(&a), basic::sd(&b));
    SpreadDifference {
        name: format!("SD({}) - SD({})", names.1, names.0),
        first: names.0.to_owned(),
        second: names.1.to_owned(),
        n: pairs.len(),
        sd_first,
        sd_second,
        difference: sd_second.zip(sd_first).map(|(b, a)| b - a),
        ci: bootstrap.ci(first.len(), |drawn| sd_difference(first, second, drawn.iter().copied())),
        pitman_morgan: pitman_morgan(&pairs),
    }
}

/// Spreads of every model under one panel.
pub fn variability(table: &RatingTable, scores: &PanelScores, defs: &[CompositeDef], bootstrap: Bootstrap) -> Vec<ModelVariability> {
    table
        .models
        .iter()
        .enumerate()
        .map(|(m, model)| {
            let attributes = table.attributes.iter().enumerate().map(|(a, id)| spread(id, &descriptive::per_conversation(scores, m, a), bootstrap)).collect();
            let series: Vec<Vec<Option<f64>>> = defs.iter().map(|d| composite::per_conversation(scores, d, m)).collect();
            let composites = defs.iter().zip(&series).map(|(d, values)| spread(&d.short, values, bootstrap)).collect();
            let difference = match (defs, series.as_slice()) {
                ([a, b, ..], [x, y, ..]) => Some(spread_difference((&a.short, &b.short), x, y, bootstrap)),
                _ => None,
            };
            ModelVariability { model: model.id.clone(), attributes, composites, difference }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values: scripts/reference_variability.py (numpy 2 / scipy), printed there and
    // copied here with the data they come from.
    const X: [f64; 12] = [4.0, 3.6667, 4.3333, 5.0, 3.0, 4.0, 4.6667, 3.3333, 4.0, 4.3333, 3.6667, 5.0];
    const Y: [f64; 12] = [3.0, 4.6667, 2.3333, 5.0, 1.6667, 3.3333, 4.0, 2.0, 4.3333, 3.0, 2.6667, 4.6667];
    // numpy 2.4.6, scipy 1.17.1
    const REF_SD_X: f64 = 0.6215815609955759;
    const REF_CV_X: f64 = 0.1522240557540186;
    const REF_IQR_X: f64 = 0.7499500000000006;
    const REF_SD_Y: f64 = 1.1266596440631953;
    const REF_VAR_RATIO: f64 = 3.285407404062106;
    const REF_PM_R: f64 = 0.6544196269444085;
    const REF_PM_T: f64 = 2.736900094464087;
    const REF_PM_P: f64 = 0.02094388765748091;

    #[test]
    fn sd_cv_iqr_match_numpy() {
        // numpy: x.std(ddof=1), x.std(ddof=1)/x.mean(), np.subtract(*np.percentile(x, [75, 25])).
        let [sd, cv, iqr] = sd_cv_iqr(&X);
        let (sd, cv, iqr) = (sd.unwrap(), cv.unwrap(), iqr.unwrap());
        assert!((sd - REF_SD_X).abs() < 1e-12, "{sd}");
        assert!((cv - REF_CV_X).abs() < 1e-12, "{cv}");
        assert!((iqr - REF_IQR_X).abs() < 1e-12, "{iqr}");
        assert_eq!(sd_cv_iqr(&[3.0]), [None, None, None], "one value has no spread");
        assert_eq!(sd_cv_iqr(&[]), [None, None, None]);
    }

    #[test]
    fn pitman_morgan_matches_scipy_pearsonr_of_sums_and_differences() {
        let pairs: Vec<(f64, f64)> = X.iter().copied().zip(Y).collect();
        let pm = pitman_morgan(&pairs).unwrap();
        assert_eq!((pm.n, pm.df), (12, 10));
        assert!((pm.r - REF_PM_R).abs() < 1e-12, "{}", pm.r);
        assert!((pm.t - REF_PM_T).abs() < 1e-10, "{}", pm.t);
        assert!((pm.p_value - REF_PM_P).abs() < 1e-9, "{}", pm.p_value);
        assert!((pm.variance_ratio - REF_VAR_RATIO).abs() < 1e-12, "{}", pm.variance_ratio);
        // Equal spread by construction (Y a shifted X): the differences are constant, r is
        // undefined and there is no test.
        let shifted: Vec<(f64, f64)> = [1.0, 4.0, 2.0, 5.0, 3.0].iter().map(|x| (*x, x + 1.0)).collect();
        assert!(pitman_morgan(&shifted).is_none());
        assert!(pitman_morgan(&pairs[..2]).is_none(), "two pairs leave no degree of freedom");
        // A constant first sample, or pairs on one line (Y = 2X: r(S, D) = 1): no finite t.
        let constant: Vec<(f64, f64)> = Y.iter().map(|y| (3.5, *y)).collect();
        assert!(pitman_morgan(&constant).is_none());
        let line: Vec<(f64, f64)> = X.iter().map(|x| (*x, 2.0 * x)).collect();
        assert!(pitman_morgan(&line).is_none());
    }

    #[test]
    fn spread_difference_is_paired_and_its_ci_holds_the_estimate() {
        let first: Vec<Option<f64>> = X.iter().map(|v| Some(*v)).chain([Some(9.0), None]).collect();
        let second: Vec<Option<f64>> = Y.iter().map(|v| Some(*v)).chain([None, Some(9.0)]).collect();
        let d = spread_difference(("CSS", "ARS"), &first, &second, Bootstrap { resamples: 400, seed: 3 });
        assert_eq!((d.name.as_str(), d.n), ("SD(ARS) - SD(CSS)", 12), "unpaired conversations are left out");
        let diff = d.difference.unwrap();
        assert!((diff - (REF_SD_Y - REF_SD_X)).abs() < 1e-12, "{diff}");
        let ci = d.ci.unwrap().ci95;
        assert!(ci.low < diff && diff < ci.high, "{ci:?} {diff}");
        assert!(ci.low > 0.0, "Y is clearly more spread than X: {ci:?}");
        // Same seed, same interval: the statistic is deterministic given the draws.
        let again = spread_difference(("CSS", "ARS"), &first, &second, Bootstrap { resamples: 400, seed: 3 });
        assert_eq!(again, d);
    }

    #[test]
    fn spread_cis_bracket_the_estimates_and_none_without_bootstrap() {
        let values: Vec<Option<f64>> = Y.iter().map(|v| Some(*v)).collect();
        let s = spread("ARS", &values, Bootstrap { resamples: 400, seed: 9 });
        assert_eq!(s.n, 12);
        for (estimate, ci) in [(s.sd, s.sd_ci), (s.cv, s.cv_ci), (s.iqr, s.iqr_ci)] {
            let (estimate, ci) = (estimate.unwrap(), ci.unwrap().ci95);
            assert!(ci.low <= estimate && estimate <= ci.high, "{estimate} not in {ci:?}");
        }
        let off = spread("ARS", &values, Bootstrap { resamples: 0, seed: 9 });
        assert!(off.sd_ci.is_none() && off.sd.is_some());
    }
}
