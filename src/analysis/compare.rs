//! Model comparisons: the Wilcoxon signed-rank test, the Friedman test blocked by
//! conversation, Holm's step-down correction and the closed-vs-open group difference.
//!
//! Owns rank tests on per-conversation measures (an attribute or a composite, one value per
//! model and conversation); does not choose which measures to compare (see `mod.rs`).
//! References, each matched in tests against `reference.json`:
//! - Wilcoxon (1945) signed-rank with zeros dropped (Wilcoxon's method), average ranks for ties
//!   and the tie-corrected normal approximation without continuity correction, as
//!   `scipy.stats.wilcoxon(d, zero_method="wilcox", correction=False, method="approx")`;
//!   matched-pairs rank-biserial correlation (Kerby 2014) as pingouin `wilcoxon`'s `RBC`.
//! - Friedman (1937) chi-square with the tie correction, as `scipy.stats.friedmanchisquare`;
//!   Kendall's W corrected for ties as pingouin `friedman`.
//! - Holm (1979) step-down adjusted p-values, as `statsmodels.stats.multitest.multipletests(
//!   method="holm")`.
//! - Closed vs open: difference of mean scores with a percentile bootstrap that resamples
//!   whole conversations (a cluster bootstrap, Field & Welsh 2007).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use super::basic;
use super::bootstrap::{Bootstrap, BootstrapCi};
use super::input::ModelGroup;

/// Result of a Wilcoxon signed-rank test on paired differences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wilcoxon {
    /// Non-zero differences used.
    pub n: usize,
    /// Zero differences dropped.
    pub n_zero: usize,
    /// Sum of ranks of positive differences.
    pub w_plus: f64,
    /// Sum of ranks of negative differences.
    pub w_minus: f64,
    /// min(W+, W-), scipy's two-sided statistic.
    pub statistic: f64,
    /// (W+ - n(n+1)/4) / SE with the tie-corrected SE; positive when differences lean positive.
    pub z: f64,
    /// Two-sided p-value from the normal approximation.
    pub p_value: f64,
    /// Matched-pairs rank-biserial correlation (W+ - W-) / (W+ + W-), in [-1, 1].
    pub rank_biserial: f64,
    /// Whether `p_value` is exact (the permutation distribution of W+ over all 2^n sign
    /// assignments of the observed ranks, ties included; up to [`EXACT_WILCOXON_MAX_N`] pairs)
    /// rather than the normal approximation.
    pub exact: bool,
}

/// Most non-zero pairs for which [`wilcoxon`] computes its p-value exactly; above it the
/// tie-corrected normal approximation is close (and is what scipy reports for tied data).
pub const EXACT_WILCOXON_MAX_N: usize = 25;

/// Wilcoxon signed-rank test of `differences`; `None` when every difference is zero.
pub fn wilcoxon(differences: &[f64]) -> Option<Wilcoxon> {
    let nonzero: Vec<f64> = differences.iter().copied().filter(|d| *d != 0.0).collect();
    let n = nonzero.len();
    if n == 0 {
        return None;
    }
    let magnitudes: Vec<f64> = nonzero.iter().map(|d| d.abs()).collect();
    let ranks = basic::ranks(&magnitudes);
    let w_plus: f64 = nonzero.iter().zip(&ranks).filter(|(d, _)| **d > 0.0).map(|(_, r)| r).sum();
    let w_minus: f64 = nonzero.iter().zip(&ranks).filter(|(d, _)| **d < 0.0).map(|(_, r)| r).sum();
    let nf = n as f64;
    let expected = nf * (nf + 1.0) / 4.0;
    let ties: f64 = basic::tie_sizes(&magnitudes).iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
    let variance = (nf * (nf + 1.0) * (2.0 * nf + 1.0) - 0.5 * ties) / 24.0;
    let z = (w_plus - expected) / variance.sqrt();
    let exact = n <= EXACT_WILCOXON_MAX_N;
    let p_value = if exact { exact_signed_rank_p(&ranks, w_plus) } else { two_sided_normal_p(z) };
    Some(Wilcoxon {
        n,
        n_zero: differences.len() - n,
        w_plus,
        w_minus,
        statistic: w_plus.min(w_minus),
        z,
        p_value,
        rank_biserial: (w_plus - w_minus) / (w_plus + w_minus),
        exact,
    })
}

/// Exact two-sided p of the signed-rank statistic `w_plus` given `ranks` (midranks for ties):
/// under the null each rank's sign is + or - with probability 1/2, independently. Counts the
/// 2^n sign assignments by their W+ (in half ranks, so midranks stay integers) and doubles
/// the smaller tail, capped at 1.
fn exact_signed_rank_p(ranks: &[f64], w_plus: f64) -> f64 {
    let halves: Vec<usize> = ranks.iter().map(|r| (r * 2.0).round() as usize).collect();
    let total: usize = halves.iter().sum();
    // counts[s]: assignments whose W+ is s half ranks (f64: exact up to 2^53 assignments).
    let mut counts = vec![0.0f64; total + 1];
    counts[0] = 1.0;
    for &h in &halves {
        for s in (h..=total).rev() {
            counts[s] += counts[s - h];
        }
    }
    let observed = (w_plus * 2.0).round() as usize;
    let all = 2f64.powi(ranks.len() as i32);
    let lower: f64 = counts[..=observed].iter().sum();
    let upper: f64 = counts[observed..].iter().sum();
    (2.0 * lower.min(upper) / all).min(1.0)
}

/// Two-sided p-value of a standard normal statistic.
pub fn two_sided_normal_p(z: f64) -> f64 {
    let normal = Normal::new(0.0, 1.0).expect("invariant: the standard normal is valid");
    (2.0 * normal.sf(z.abs())).min(1.0)
}

/// Result of a Friedman test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Friedman {
    /// Blocks (conversations) with a value for every model.
    pub n_blocks: usize,
    /// Treatments (models).
    pub k: usize,
    /// Tie-corrected chi-square statistic Q.
    pub q: f64,
    /// Degrees of freedom k - 1.
    pub df: usize,
    /// p-value from the chi-square distribution.
    pub p_value: f64,
    /// Kendall's W = Q / (n (k - 1)), corrected for ties.
    pub kendall_w: f64,
}

/// Friedman test on complete `blocks`, each holding one value per treatment; `None` below two
/// blocks or two treatments, or when every block is all ties.
pub fn friedman(blocks: &[Vec<f64>]) -> Option<Friedman> {
    let k = blocks.first()?.len();
    let n = blocks.len();
    if n < 2 || k < 2 || blocks.iter().any(|b| b.len() != k) {
        return None;
    }
    let mut rank_sums = vec![0.0; k];
    let mut ties = 0.0;
    for block in blocks {
        for (sum, rank) in rank_sums.iter_mut().zip(basic::ranks(block)) {
            *sum += rank;
        }
        ties += basic::tie_sizes(block).iter().map(|&t| (t as f64).powi(3) - t as f64).sum::<f64>();
    }
    let (nf, kf) = (n as f64, k as f64);
    let ss: f64 = rank_sums.iter().map(|r| r * r).sum();
    // Q = [12/(n k (k+1)) sum R_j^2 - 3 n (k+1)] / [1 - sum(t^3 - t) / (n k (k^2 - 1))]
    let uncorrected = 12.0 / (nf * kf * (kf + 1.0)) * ss - 3.0 * nf * (kf + 1.0);
    let correction = 1.0 - ties / (nf * kf * (kf * kf - 1.0));
    if correction <= 0.0 {
        return None;
    }
    let q = uncorrected / correction;
    let chi2 = ChiSquared::new(kf - 1.0).ok()?;
    Some(Friedman { n_blocks: n, k, q, df: k - 1, p_value: chi2.sf(q), kendall_w: q / (nf * (kf - 1.0)) })
}

/// Holm step-down adjusted p-values, in the input's order.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (position, &index) in order.iter().enumerate() {
        let scaled = ((m - position) as f64 * p_values[index]).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[index] = running_max;
    }
    adjusted
}

/// One model-vs-model Wilcoxon comparison on conversations both were scored on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseComparison {
    /// First model.
    pub model_a: String,
    /// Second model; differences are a - b.
    pub model_b: String,
    /// Conversations with a value for both.
    pub n_pairs: usize,
    /// Mean of a - b.
    pub mean_difference: f64,
    /// The signed-rank test; null when all differences are zero.
    pub wilcoxon: Option<Wilcoxon>,
    /// Holm-adjusted p-value across all pairs of this measure.
    pub p_holm: Option<f64>,
}

/// Comparison of all models on one measure (attribute or composite).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureComparison {
    /// Attribute id or composite short name.
    pub measure: String,
    /// Friedman across all models, blocked by conversation (complete blocks only).
    pub friedman: Option<Friedman>,
    /// Conversations left out of Friedman because some model lacked a value.
    pub incomplete_blocks: usize,
    /// Every pair of models.
    pub pairwise: Vec<PairwiseComparison>,
    /// Closed minus open models.
    pub closed_vs_open: Option<GroupDifference>,
}

/// Mean score of closed models minus that of open models, with a conversation-cluster CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDifference {
    /// Mean over all scored replies of closed models.
    pub closed_mean: f64,
    /// Mean over all scored replies of open models.
    pub open_mean: f64,
    /// closed_mean - open_mean.
    pub difference: f64,
    /// Scored replies of closed models.
    pub closed_n: usize,
    /// Scored replies of open models.
    pub open_n: usize,
    /// Percentile CI resampling whole conversations.
    pub ci: Option<BootstrapCi>,
}

/// Compare models on `measure`, given as `values[model][conversation]`.
pub fn compare_models(
    measure: &str,
    model_ids: &[String],
    groups: &[Option<ModelGroup>],
    values: &[Vec<Option<f64>>],
    bootstrap: Bootstrap,
) -> MeasureComparison {
    let conversations = values.first().map_or(0, Vec::len);
    let mut blocks = Vec::new();
    for c in 0..conversations {
        let block: Option<Vec<f64>> = values.iter().map(|m| m.get(c).copied().flatten()).collect();
        if let Some(block) = block {
            blocks.push(block);
        }
    }
    let mut pairwise = Vec::new();
    for a in 0..values.len() {
        for b in a + 1..values.len() {
            let differences: Vec<f64> = values[a]
                .iter()
                .zip(&values[b])
                .filter_map(|(x, y)| Some((*x)? - (*y)?))
                .collect();
            let Some(mean_difference) = basic::mean(&differences) else { continue };
            pairwise.push(PairwiseComparison {
                model_a: model_ids.get(a).cloned().unwrap_or_default(),
                model_b: model_ids.get(b).cloned().unwrap_or_default(),
                n_pairs: differences.len(),
                mean_difference,
                wilcoxon: wilcoxon(&differences),
                p_holm: None,
            });
        }
    }
    let tested: Vec<usize> = (0..pairwise.len()).filter(|&i| pairwise[i].wilcoxon.is_some()).collect();
    let p: Vec<f64> = tested.iter().filter_map(|&i| pairwise[i].wilcoxon.as_ref().map(|w| w.p_value)).collect();
    for (&i, adjusted) in tested.iter().zip(holm(&p)) {
        pairwise[i].p_holm = Some(adjusted);
    }
    MeasureComparison {
        measure: measure.to_owned(),
        friedman: friedman(&blocks),
        incomplete_blocks: conversations - blocks.len(),
        pairwise,
        closed_vs_open: closed_vs_open(groups, values, bootstrap),
    }
}

/// Closed minus open mean over the drawn conversations; `None` if a group has no value.
fn group_means(groups: &[Option<ModelGroup>], values: &[Vec<Option<f64>>], drawn: &[usize]) -> Option<(f64, f64, usize, usize)> {
    let mut sums = [(0.0, 0usize); 2];
    for (group, model) in groups.iter().zip(values) {
        let slot = match group {
            Some(ModelGroup::Closed) => 0,
            Some(ModelGroup::Open) => 1,
            None => continue,
        };
        for &c in drawn {
            if let Some(v) = model.get(c).copied().flatten() {
                sums[slot].0 += v;
                sums[slot].1 += 1;
            }
        }
    }
    let [(cs, cn), (os, on)] = sums;
    (cn > 0 && on > 0).then(|| (cs / cn as f64, os / on as f64, cn, on))
}

fn closed_vs_open(groups: &[Option<ModelGroup>], values: &[Vec<Option<f64>>], bootstrap: Bootstrap) -> Option<GroupDifference> {
    let conversations = values.first().map_or(0, Vec::len);
    let all: Vec<usize> = (0..conversations).collect();
    let (closed_mean, open_mean, closed_n, open_n) = group_means(groups, values, &all)?;
    let ci = bootstrap.ci(conversations, |drawn| group_means(groups, values, drawn).map(|(c, o, _, _)| c - o));
    Some(GroupDifference { closed_mean, open_mean, difference: closed_mean - open_mean, closed_n, open_n, ci })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilcoxon_by_hand() {
        // d = 1, -2, 3, 0, 4: the zero is dropped (n = 4); |d| ranks 1, 2, 3, 4 (no ties).
        // W+ = 1 + 3 + 4 = 8, W- = 2; E = 4*5/4 = 5; var = 4*5*9/24 = 7.5;
        // z = (8 - 5)/sqrt(7.5) = 1.0954451150103321; rbc = (8 - 2)/10 = 0.6.
        let w = wilcoxon(&[1.0, -2.0, 3.0, 0.0, 4.0]).unwrap();
        assert_eq!((w.n, w.n_zero, w.w_plus, w.w_minus, w.statistic), (4, 1, 8.0, 2.0, 2.0));
        assert!((w.z - 1.0954451150103321).abs() < 1e-15);
        assert!((w.rank_biserial - 0.6).abs() < 1e-15);
        // Exact: of the 16 sign assignments of ranks 1..4, W+ >= 8 for {1,3,4}, {2,3,4}, {1,2,3,4}
        // (W+ 8, 9, 10): 3/16, doubled = 0.375 (the normal approximation says 0.273).
        assert!(w.exact);
        assert!((w.p_value - 0.375).abs() < 1e-15, "{}", w.p_value);
    }

    #[test]
    fn wilcoxon_p_is_exact_for_small_n_with_ties_and_normal_for_large_n() {
        // One pair: a single sign, p = 2 * 1/2 = 1 (the normal approximation gave 0.32).
        let one = wilcoxon(&[2.67]).unwrap();
        assert_eq!((one.n, one.exact, one.p_value), (1, true, 1.0));
        // Six positive differences: only the all-plus assignment reaches W+ = 21: 2/64.
        let six = wilcoxon(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert!((six.p_value - 2.0 / 64.0).abs() < 1e-15);
        // Ties: |d| = 1, 1, 2 -> midranks 1.5, 1.5, 3; all positive: W+ = 6 only when every sign
        // is +: 1/8, doubled 0.25.
        let tied = wilcoxon(&[1.0, 1.0, 2.0]).unwrap();
        assert!((tied.p_value - 0.25).abs() < 1e-15);
        let many: Vec<f64> = (1..=26).map(|i| if i % 3 == 0 { -(i as f64) } else { i as f64 }).collect();
        let large = wilcoxon(&many).unwrap();
        assert!(!large.exact);
        assert_eq!(large.p_value, two_sided_normal_p(large.z));
    }

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.02, 0.04 times 3, 2, 1 -> 0.03, 0.04, 0.04 (running max).
        assert_eq!(holm(&[0.04, 0.01, 0.02]), vec![0.04, 0.03, 0.04]);
    }

    #[test]
    fn wilcoxon_of_all_zero_differences_is_none() {
        assert!(wilcoxon(&[0.0, 0.0]).is_none());
    }
}
