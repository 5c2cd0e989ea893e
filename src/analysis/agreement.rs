//! Agreement between raters on one attribute: exact and within-one agreement, Cohen's kappa
//! (unweighted, linear, quadratic) with standard errors, the six ICC forms with F-based CIs,
//! Krippendorff's alpha (nominal, ordinal, interval) with a bootstrap CI, and Fleiss' kappa.
//!
//! Owns the coefficients on a units x raters matrix (`None` = not rated); does not pick which
//! raters to compare (see `mod.rs`). Formulas and the reference each is tested against:
//! - Cohen (1960) kappa and Cohen (1968) weighted kappa with agreement weights 1 - |i-j|/(K-1)
//!   (linear) or 1 - (i-j)^2/(K-1)^2 (quadratic) over the full 1..5 scale; asymptotic variance
//!   of Fleiss, Cohen & Everitt (1969), both under the alternative (SE, for the CI) and under
//!   kappa = 0 (for z and p): `statsmodels.stats.inter_rater.cohens_kappa`.
//! - ICC(1,1), ICC(A,1), ICC(C,1), ICC(1,k), ICC(A,k), ICC(C,k) from the two-way ANOVA mean
//!   squares (Shrout & Fleiss 1979 cases 1-3; McGraw & Wong 1996 for the A/C naming and the
//!   ICC(A,1) CI with Satterthwaite's df): `pingouin.intraclass_corr`. Complete units only.
//! - Krippendorff's alpha from the coincidence matrix with nominal, ordinal and interval
//!   difference functions (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"):
//!   the `krippendorff` package. Units with fewer than two values are not pairable and skipped.
//!   Its CI is a percentile bootstrap over units (not Krippendorff's own resampling scheme).
//! - Fleiss (1971) kappa for more than two raters: `statsmodels.stats.inter_rater.fleiss_kappa`.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, FisherSnedecor, Normal};

use super::bootstrap::{Bootstrap, BootstrapCi, Interval};
use super::compare::two_sided_normal_p;
use crate::schema::Score;

/// Kappa weighting scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KappaWeights {
    /// Only exact agreement counts.
    Unweighted,
    /// Partial credit 1 - |i - j| / (K - 1).
    Linear,
    /// Partial credit 1 - (i - j)^2 / (K - 1)^2.
    Quadratic,
}

/// Cohen's kappa with its asymptotic inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kappa {
    /// Weighting used.
    pub weights: KappaWeights,
    /// The coefficient.
    pub kappa: f64,
    /// Standard error under the alternative (Fleiss, Cohen & Everitt 1969).
    pub se: f64,
    /// Standard error under kappa = 0.
    pub se_null: f64,
    /// kappa +- 1.959964 * se.
    pub ci95: Interval,
    /// kappa / se_null; `None` when se_null is 0 (no spread under kappa = 0: untestable).
    pub z: Option<f64>,
    /// Two-sided p-value of z; `None` with z.
    pub p_value: Option<f64>,
}

const CATEGORIES: usize = (Score::MAX - Score::MIN + 1) as usize;

fn z_975() -> f64 {
    Normal::new(0.0, 1.0).expect("invariant: the standard normal is valid").inverse_cdf(0.975)
}

/// Cohen's kappa of paired scores on the 1..5 scale; `None` without pairs or when expected
/// agreement is 1 (no spread).
pub fn cohen_kappa(pairs: &[(u8, u8)], weights: KappaWeights) -> Option<Kappa> {
    let mut p = [[0.0f64; CATEGORIES]; CATEGORIES];
    let mut n = 0.0;
    for &(a, b) in pairs {
        let i = usize::from(a.checked_sub(Score::MIN)?);
        let j = usize::from(b.checked_sub(Score::MIN)?);
        *p.get_mut(i)?.get_mut(j)? += 1.0;
        n += 1.0;
    }
    if n == 0.0 {
        return None;
    }
    let span = (CATEGORIES - 1) as f64;
    let w = |i: usize, j: usize| -> f64 {
        let d = i.abs_diff(j) as f64;
        match weights {
            KappaWeights::Unweighted => f64::from(u8::from(i == j)),
            KappaWeights::Linear => 1.0 - d / span,
            KappaWeights::Quadratic => 1.0 - (d / span).powi(2),
        }
    };
    let mut row = [0.0; CATEGORIES];
    let mut col = [0.0; CATEGORIES];
    for i in 0..CATEGORIES {
        for j in 0..CATEGORIES {
            p[i][j] /= n;
            row[i] += p[i][j];
            col[j] += p[i][j];
        }
    }
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..CATEGORIES {
        for j in 0..CATEGORIES {
            observed += w(i, j) * p[i][j];
            expected += w(i, j) * row[i] * col[j];
        }
    }
    if (1.0 - expected).abs() < f64::EPSILON {
        return None;
    }
    let kappa = (observed - expected) / (1.0 - expected);
    // Weighted mean agreement of row category i against the column margin, and vice versa.
    let w_row: Vec<f64> = (0..CATEGORIES).map(|i| (0..CATEGORIES).map(|j| col[j] * w(i, j)).sum()).collect();
    let w_col: Vec<f64> = (0..CATEGORIES).map(|j| (0..CATEGORIES).map(|i| row[i] * w(i, j)).sum()).collect();
    let (mut term, mut term_null) = (0.0, 0.0);
    for i in 0..CATEGORIES {
        for j in 0..CATEGORIES {
            term += p[i][j] * (w(i, j) - (w_row[i] + w_col[j]) * (1.0 - kappa)).powi(2);
            term_null += row[i] * col[j] * (w(i, j) - (w_row[i] + w_col[j])).powi(2);
        }
    }
    let factor = 1.0 / ((1.0 - expected).powi(2) * n);
    let se = ((term - (kappa - expected * (1.0 - kappa)).powi(2)) * factor).max(0.0).sqrt();
    let se_null = ((term_null - expected.powi(2)) * factor).max(0.0).sqrt();
    let half = z_975() * se;
    let z = (se_null > 0.0).then(|| kappa / se_null).filter(|z| z.is_finite());
    Some(Kappa {
        weights,
        kappa,
        se,
        se_null,
        ci95: Interval { low: kappa - half, high: kappa + half },
        z,
        p_value: z.map(two_sided_normal_p),
    })
}

/// One ICC form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IccForm {
    /// `ICC(1,1)`, `ICC(A,1)`, `ICC(C,1)`, `ICC(1,k)`, `ICC(A,k)` or `ICC(C,k)`.
    pub form: String,
    /// The coefficient.
    pub icc: f64,
    /// F statistic of its test.
    pub f: f64,
    /// Numerator degrees of freedom.
    pub df1: f64,
    /// Denominator degrees of freedom.
    pub df2: f64,
    /// p-value of the F test.
    pub p_value: f64,
    /// 95% CI from the F distribution (McGraw & Wong 1996, Table 7).
    pub ci95: Interval,
}

/// All six ICC forms of one units x raters matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IccSet {
    /// Units (rows) used: those rated by every rater.
    pub n: usize,
    /// Raters (columns).
    pub k: usize,
    /// The six forms, in the order above.
    pub forms: Vec<IccForm>,
}

impl IccSet {
    /// The form named `name` (`ICC(A,1)`).
    pub fn form(&self, name: &str) -> Option<&IccForm> {
        self.forms.iter().find(|f| f.form == name)
    }
}

/// Two-way ANOVA mean squares of an n x k table (rows: rated targets, columns: raters), the
/// ingredients of every ICC form (McGraw & Wong 1996, Table 4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSquares {
    /// Targets (rows).
    pub n: usize,
    /// Raters (columns).
    pub k: usize,
    /// Between targets, MSR = k * sum (row mean - grand)^2 / (n - 1).
    pub rows: f64,
    /// Between raters, MSC = n * sum (column mean - grand)^2 / (k - 1).
    pub columns: f64,
    /// Residual, MSE = SS_error / ((n - 1)(k - 1)).
    pub error: f64,
    /// Within targets, MSW = (SS_columns + SS_error) / (n (k - 1)).
    pub within: f64,
}

impl MeanSquares {
    /// McGraw & Wong's ICC(C,1), consistency of single measures: (MSR - MSE) / (MSR + (k-1) MSE);
    /// `None` when the denominator is 0.
    pub fn icc_c1(&self) -> Option<f64> {
        let denominator = self.rows + (self.k as f64 - 1.0) * self.error;
        (denominator != 0.0).then(|| (self.rows - self.error) / denominator)
    }

    /// McGraw & Wong's ICC(A,1), absolute agreement of single measures:
    /// (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n); `None` when the denominator is 0.
    pub fn icc_a1(&self) -> Option<f64> {
        let (n, k) = (self.n as f64, self.k as f64);
        let denominator = self.rows + (k - 1.0) * self.error + k * (self.columns - self.error) / n;
        (denominator != 0.0).then(|| (self.rows - self.error) / denominator)
    }
}

/// The mean squares of `rows` (each of equal length k); `None` below 2 rows or 2 columns, or
/// for ragged rows.
pub fn mean_squares(rows: &[Vec<f64>]) -> Option<MeanSquares> {
    let k = rows.first()?.len();
    let n = rows.len();
    if n < 2 || k < 2 || rows.iter().any(|r| r.len() != k) {
        return None;
    }
    let (nf, kf) = (n as f64, k as f64);
    let grand = rows.iter().flatten().sum::<f64>() / (nf * kf);
    let row_means: Vec<f64> = rows.iter().map(|r| r.iter().sum::<f64>() / kf).collect();
    let col_means: Vec<f64> = (0..k).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / nf).collect();
    let ss_total: f64 = rows.iter().flatten().map(|v| (v - grand).powi(2)).sum();
    let ss_rows = kf * row_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_cols = nf * col_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_error = ss_total - ss_rows - ss_cols;
    Some(MeanSquares {
        n,
        k,
        rows: ss_rows / (nf - 1.0),
        columns: ss_cols / (kf - 1.0),
        error: ss_error / ((nf - 1.0) * (kf - 1.0)),
        within: (ss_cols + ss_error) / (nf * (kf - 1.0)),
    })
}

/// The six ICC forms of complete `rows` (each one value per rater); `None` below two rows or
/// two raters, or when the mean squares are degenerate.
pub fn icc(rows: &[Vec<f64>]) -> Option<IccSet> {
    let squares = mean_squares(rows)?;
    let MeanSquares { n, k, rows: msb, columns: msj, error: mse, within: msw } = squares;
    let (nf, kf) = (n as f64, k as f64);
    if !(msb > 0.0 && mse > 0.0 && msw > 0.0) {
        return None;
    }
    let icc1 = (msb - msw) / (msb + (kf - 1.0) * msw);
    let (icc2, icc3) = (squares.icc_a1()?, squares.icc_c1()?);
    let icc1k = (msb - msw) / msb;
    let icc2k = (msb - mse) / (msb + (msj - mse) / nf);
    let icc3k = (msb - mse) / msb;

    let df1 = nf - 1.0;
    let df_within = nf * (kf - 1.0);
    let df_error = (nf - 1.0) * (kf - 1.0);
    let f1 = msb / msw;
    let f3 = msb / mse;
    let upper = |a: f64, b: f64| FisherSnedecor::new(a, b).ok().map(|d| d.inverse_cdf(0.975));
    let sf = |x: f64, a: f64, b: f64| FisherSnedecor::new(a, b).ok().map(|d| d.sf(x));
    // Cases 1 and 3 (Shrout & Fleiss 1979, eqs. for ICC(1,1) and ICC(3,1)).
    let f1l = f1 / upper(df1, df_within)?;
    let f1u = f1 * upper(df_within, df1)?;
    let f3l = f3 / upper(df1, df_error)?;
    let f3u = f3 * upper(df_error, df1)?;
    let single = |fl: f64, fu: f64| Interval { low: (fl - 1.0) / (fl + kf - 1.0), high: (fu - 1.0) / (fu + kf - 1.0) };
    let average = |fl: f64, fu: f64| Interval { low: 1.0 - 1.0 / fl, high: 1.0 - 1.0 / fu };
    // Case 2 (McGraw & Wong 1996, Table 7, with Satterthwaite's approximate df v).
    let fj = msj / mse;
    let a = kf * icc2 * fj + nf * (1.0 + (kf - 1.0) * icc2) - kf * icc2;
    let vn = df_error * a.powi(2);
    let vd = df1 * kf.powi(2) * icc2.powi(2) * fj.powi(2) + (nf * (1.0 + (kf - 1.0) * icc2) - kf * icc2).powi(2);
    let v = vn / vd;
    let f2u = upper(df1, v)?;
    let f2l = upper(v, df1)?;
    let l2 = nf * (msb - f2u * mse) / (f2u * (kf * msj + (kf * nf - kf - nf) * mse) + nf * msb);
    let u2 = nf * (f2l * msb - mse) / (kf * msj + (kf * nf - kf - nf) * mse + nf * f2l * msb);
    let to_k = |x: f64| x * kf / (1.0 + x * (kf - 1.0));
    let p1 = sf(f1, df1, df_within)?;
    let p3 = sf(f3, df1, df_error)?;
    let form = |form: &str, icc: f64, f: f64, df2: f64, p_value: f64, ci95: Interval| IccForm {
        form: form.to_owned(),
        icc,
        f,
        df1,
        df2,
        p_value,
        ci95,
    };
    Some(IccSet {
        n,
        k,
        forms: vec![
            form("ICC(1,1)", icc1, f1, df_within, p1, single(f1l, f1u)),
            form("ICC(A,1)", icc2, f3, df_error, p3, Interval { low: l2, high: u2 }),
            form("ICC(C,1)", icc3, f3, df_error, p3, single(f3l, f3u)),
            form("ICC(1,k)", icc1k, f1, df_within, p1, average(f1l, f1u)),
            form("ICC(A,k)", icc2k, f3, df_error, p3, Interval { low: to_k(l2), high: to_k(u2) }),
            form("ICC(C,k)", icc3k, f3, df_error, p3, average(f3l, f3u)),
        ],
    })
}

/// Krippendorff's alpha difference function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlphaLevel {
    /// Any two different values differ by 1.
    Nominal,
    /// Differences by the ranks' cumulative frequencies.
    Ordinal,
    /// Squared numeric difference.
    Interval,
}

/// The coincidence matrix of a units x raters matrix, split by unit so it can be resampled.
#[derive(Debug, Clone, PartialEq)]
pub struct Coincidences {
    values: Vec<f64>,
    units: Vec<Vec<(usize, usize, f64)>>,
}

impl Coincidences {
    /// Pairable units of `units` (each a row of optional values, one per rater).
    pub fn new(units: &[Vec<Option<f64>>]) -> Self {
        let mut values: Vec<f64> = units.iter().flatten().flatten().copied().collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let index = |v: f64| values.partition_point(|x| *x < v);
        let mut out = Vec::new();
        for unit in units {
            let present: Vec<usize> = unit.iter().flatten().map(|v| index(*v)).collect();
            let m = present.len();
            if m < 2 {
                continue;
            }
            let mut counts: Vec<(usize, f64)> = Vec::new();
            for c in present {
                match counts.iter_mut().find(|(v, _)| *v == c) {
                    Some(entry) => entry.1 += 1.0,
                    None => counts.push((c, 1.0)),
                }
            }
            let scale = 1.0 / (m as f64 - 1.0);
            let mut entries = Vec::new();
            for &(c, nc) in &counts {
                for &(k, nk) in &counts {
                    let pairs = if c == k { nc * (nc - 1.0) } else { nc * nk };
                    if pairs > 0.0 {
                        entries.push((c, k, pairs * scale));
                    }
                }
            }
            out.push(entries);
        }
        Self { values, units: out }
    }

    /// Pairable units.
    pub fn unit_count(&self) -> usize {
        self.units.len()
    }

    /// Alpha at each level for the multiset of units `drawn` (indices into pairable units).
    pub fn alpha(&self, drawn: &[usize], levels: &[AlphaLevel]) -> Vec<Option<f64>> {
        let v = self.values.len();
        let mut o = vec![0.0; v * v];
        for &u in drawn {
            for &(c, k, weight) in self.units.get(u).map(Vec::as_slice).unwrap_or_default() {
                o[c * v + k] += weight;
            }
        }
        let marginals: Vec<f64> = (0..v).map(|c| o[c * v..(c + 1) * v].iter().sum()).collect();
        let n: f64 = marginals.iter().sum();
        levels
            .iter()
            .map(|&level| {
                let delta = |c: usize, k: usize| self.delta(level, &marginals, c, k);
                let (mut observed, mut expected) = (0.0, 0.0);
                for c in 0..v {
                    for k in 0..v {
                        let d = delta(c, k);
                        observed += o[c * v + k] * d;
                        expected += marginals[c] * marginals[k] * d;
                    }
                }
                (expected > 0.0 && n > 1.0).then(|| 1.0 - (n - 1.0) * observed / expected)
            })
            .collect()
    }

    fn delta(&self, level: AlphaLevel, marginals: &[f64], c: usize, k: usize) -> f64 {
        match level {
            AlphaLevel::Nominal => f64::from(u8::from(c != k)),
            AlphaLevel::Interval => (self.values[c] - self.values[k]).powi(2),
            AlphaLevel::Ordinal => {
                let (lo, hi) = (c.min(k), c.max(k));
                let between: f64 = marginals[lo..=hi].iter().sum();
                (between - (marginals[lo] + marginals[hi]) / 2.0).powi(2)
            }
        }
    }
}

/// Krippendorff's alpha at one level with its bootstrap CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alpha {
    /// Difference function.
    pub level: AlphaLevel,
    /// The coefficient; null when there is no variation at all.
    pub alpha: Option<f64>,
    /// Percentile bootstrap 95% CI over units.
    pub ci: Option<BootstrapCi>,
}

/// Alpha at the nominal, ordinal and interval levels of `units`.
pub fn krippendorff_alpha(units: &[Vec<Option<f64>>], bootstrap: Bootstrap) -> (usize, Vec<Alpha>) {
    let levels = [AlphaLevel::Nominal, AlphaLevel::Ordinal, AlphaLevel::Interval];
    let coincidences = Coincidences::new(units);
    let all: Vec<usize> = (0..coincidences.unit_count()).collect();
    let point = coincidences.alpha(&all, &levels);
    let cis = bootstrap.cis(coincidences.unit_count(), levels.len(), |drawn| coincidences.alpha(drawn, &levels));
    let alphas = levels
        .iter()
        .zip(point)
        .zip(cis)
        .map(|((&level, alpha), ci)| Alpha { level, alpha, ci })
        .collect();
    (coincidences.unit_count(), alphas)
}

/// Fleiss' kappa of complete units (each one score per rater, same rater count); `None` below
/// two raters or without variation.
pub fn fleiss_kappa(units: &[Vec<u8>]) -> Option<f64> {
    let raters = units.first()?.len();
    if raters < 2 || units.iter().any(|u| u.len() != raters) {
        return None;
    }
    let r = raters as f64;
    let mut category_totals = [0.0f64; CATEGORIES];
    let mut agreement_sum = 0.0;
    for unit in units {
        let mut counts = [0.0f64; CATEGORIES];
        for &score in unit {
            *counts.get_mut(usize::from(score.checked_sub(Score::MIN)?))? += 1.0;
        }
        agreement_sum += (counts.iter().map(|c| c * c).sum::<f64>() - r) / (r * (r - 1.0));
        for (total, c) in category_totals.iter_mut().zip(counts) {
            *total += c;
        }
    }
    let total: f64 = category_totals.iter().sum();
    let p_mean = agreement_sum / units.len() as f64;
    let p_expected: f64 = category_totals.iter().map(|c| (c / total).powi(2)).sum();
    (p_expected < 1.0).then(|| (p_mean - p_expected) / (1.0 - p_expected))
}

/// Agreement of a rater set on one attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeAgreement {
    /// Attribute id.
    pub attribute: String,
    /// Units (replies) scored by every rater of the set: the base of all but alpha.
    pub n_complete: usize,
    /// Units scored by at least one but not all raters (left out except by alpha).
    pub n_incomplete: usize,
    /// Share of complete units where all raters gave the same score.
    pub exact: Option<f64>,
    /// Share of complete units where scores span at most one point.
    pub within_one: Option<f64>,
    /// Cohen's kappa, unweighted, linear and quadratic (two raters only).
    pub cohen_kappa: Vec<Kappa>,
    /// The six ICC forms.
    pub icc: Option<IccSet>,
    /// Units with at least two scores (alpha's base).
    pub n_pairable: usize,
    /// Krippendorff's alpha at three levels.
    pub krippendorff_alpha: Vec<Alpha>,
    /// Fleiss' kappa (more than two raters only).
    pub fleiss_kappa: Option<f64>,
}

/// All agreement statistics for `units` (rows: replies; columns: raters; scores 1..5).
pub fn agreement(attribute: &str, units: &[Vec<Option<u8>>], bootstrap: Bootstrap) -> AttributeAgreement {
    let raters = units.first().map_or(0, Vec::len);
    let complete: Vec<Vec<u8>> = units.iter().filter_map(|u| u.iter().copied().collect::<Option<Vec<u8>>>()).collect();
    let touched = units.iter().filter(|u| u.iter().any(Option::is_some)).count();
    let n = complete.len();
    let spread = |u: &Vec<u8>| u.iter().max().copied().unwrap_or(0) - u.iter().min().copied().unwrap_or(0);
    let share = |count: usize| (n > 0).then(|| count as f64 / n as f64);
    let cohen_kappa = if raters == 2 {
        let pairs: Vec<(u8, u8)> = complete.iter().filter_map(|u| Some((*u.first()?, *u.get(1)?))).collect();
        [KappaWeights::Unweighted, KappaWeights::Linear, KappaWeights::Quadratic]
            .iter()
            .filter_map(|&w| cohen_kappa(&pairs, w))
            .collect()
    } else {
        Vec::new()
    };
    let as_f64: Vec<Vec<f64>> = complete.iter().map(|u| u.iter().map(|&s| f64::from(s)).collect()).collect();
    let optional: Vec<Vec<Option<f64>>> = units.iter().map(|u| u.iter().map(|s| s.map(f64::from)).collect()).collect();
    let (n_pairable, krippendorff_alpha) = krippendorff_alpha(&optional, bootstrap);
    AttributeAgreement {
        attribute: attribute.to_owned(),
        n_complete: n,
        n_incomplete: touched - n,
        exact: share(complete.iter().filter(|u| spread(u) == 0).count()),
        within_one: share(complete.iter().filter(|u| spread(u) <= 1).count()),
        cohen_kappa,
        icc: icc(&as_f64),
        n_pairable,
        krippendorff_alpha,
        fleiss_kappa: if raters > 2 { fleiss_kappa(&complete) } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohen_kappa_by_hand() {
        // Pairs (1,1), (2,2), (2,1), (1,2), (1,1): table [[2,1],[1,1]] over categories 1 and 2.
        // po = 3/5 = 0.6; row margins (0.6, 0.4), column margins (0.6, 0.4);
        // pe = 0.36 + 0.16 = 0.52; kappa = (0.6 - 0.52) / (1 - 0.52) = 0.08 / 0.48 = 1/6.
        let k = cohen_kappa(&[(1, 1), (2, 2), (2, 1), (1, 2), (1, 1)], KappaWeights::Unweighted).unwrap();
        assert!((k.kappa - 1.0 / 6.0).abs() < 1e-12, "{}", k.kappa);
    }

    #[test]
    fn alpha_perfect_agreement_is_one() {
        let units = vec![vec![Some(1.0), Some(1.0)], vec![Some(3.0), Some(3.0)], vec![Some(5.0), None]];
        let (pairable, alphas) = krippendorff_alpha(&units, Bootstrap { resamples: 0, seed: 0 });
        assert_eq!(pairable, 2);
        assert!(alphas.iter().all(|a| a.alpha == Some(1.0)));
    }
}
