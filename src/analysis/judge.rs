//! How closely an LLM judge tracks the human panel on one measure: error, correlation,
//! concordance, Bland-Altman limits, item-level ICC and ICC on per-model means.
//!
//! Owns judge-vs-human statistics on paired values `[model][conversation]`; does not run
//! judges (see `judge` the module) or choose the panels. Formulas and references:
//! - bias = mean(judge - human); MAE, MSE, RMSE of the differences (numpy arithmetic).
//! - Pearson r with a two-sided t-test on n - 2 df, and Spearman's rho as Pearson on average
//!   ranks with the same t-test: `scipy.stats.pearsonr`, `scipy.stats.spearmanr`.
//! - Lin's (1989) concordance correlation 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2) with
//!   1/n moments (numpy arithmetic; no reference package implements it).
//! - Bland & Altman (1986): mean difference and limits mean +- 1.96 SD (SD with n - 1).
//! - ICC forms as in `agreement::icc` (pingouin), on (human, judge) per reply and on per-model
//!   means (one row per generator model). The caller leaves out the replies a judge may not be
//!   scored on ([`crate::registry::SelfJudging`]) before calling, so every number here is free
//!   of self-judging.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::agreement::{self, IccSet};
use super::basic;
use super::input::ModelInfo;

/// A correlation with its two-sided p-value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// The coefficient.
    pub r: f64,
    /// Two-sided p-value from Student's t on n - 2 df.
    pub p_value: Option<f64>,
}

/// Bland-Altman agreement of judge - human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlandAltman {
    /// Mean difference.
    pub bias: f64,
    /// SD of the differences (n - 1).
    pub sd: f64,
    /// bias - 1.96 SD.
    pub lower_limit: f64,
    /// bias + 1.96 SD.
    pub upper_limit: f64,
    /// The plotted pairs: each distinct (mean, difference) with how many replies share it, so
    /// a report can draw the plot without the per-reply data (scores on a Likert scale repeat).
    pub points: Vec<BlandAltmanPoint>,
}

/// One point of a Bland-Altman plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlandAltmanPoint {
    /// (human + judge) / 2.
    pub mean: f64,
    /// judge - human.
    pub difference: f64,
    /// Replies with exactly these values.
    pub count: usize,
}

/// Distinct (mean, difference) pairs of `human` and `judge` with their counts, ordered by
/// mean, then difference.
fn bland_altman_points(human: &[f64], judge: &[f64]) -> Vec<BlandAltmanPoint> {
    let mut pairs: Vec<(f64, f64)> = human.iter().zip(judge).map(|(h, j)| ((h + j) / 2.0, j - h)).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut points: Vec<BlandAltmanPoint> = Vec::new();
    for (mean, difference) in pairs {
        match points.last_mut() {
            Some(last) if last.mean == mean && last.difference == difference => last.count += 1,
            _ => points.push(BlandAltmanPoint { mean, difference, count: 1 }),
        }
    }
    points
}

/// Item-level agreement of paired values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedAgreement {
    /// Pairs used.
    pub n: usize,
    /// Mean of the human values.
    pub human_mean: f64,
    /// Mean of the judge values.
    pub judge_mean: f64,
    /// mean(judge - human).
    pub bias: f64,
    /// Mean absolute difference.
    pub mae: f64,
    /// Mean squared difference.
    pub mse: f64,
    /// Root of the MSE.
    pub rmse: f64,
    /// Pearson correlation.
    pub pearson: Option<Correlation>,
    /// Spearman rank correlation.
    pub spearman: Option<Correlation>,
    /// Lin's concordance correlation coefficient.
    pub ccc: Option<f64>,
    /// Bland-Altman bias and limits of agreement.
    pub bland_altman: Option<BlandAltman>,
}

fn correlation(r: f64, n: usize) -> Correlation {
    let df = n as f64 - 2.0;
    let p_value = (df > 0.0 && r.abs() < 1.0)
        .then(|| {
            let t = r * (df / (1.0 - r * r)).sqrt();
            StudentsT::new(0.0, 1.0, df).ok().map(|d| 2.0 * d.sf(t.abs()))
        })
        .flatten()
        .or((r.abs() == 1.0 && df > 0.0).then_some(0.0));
    Correlation { r, p_value }
}

/// Lin's CCC of paired values; `None` below two pairs or without any spread.
pub fn ccc(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (basic::mean(x)?, basic::mean(y)?);
    let sxx = x.iter().map(|v| (v - mx).powi(2)).sum::<f64>() / n;
    let syy = y.iter().map(|v| (v - my).powi(2)).sum::<f64>() / n;
    let sxy = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum::<f64>() / n;
    let denominator = sxx + syy + (mx - my).powi(2);
    (x.len() >= 2 && denominator > 0.0).then(|| 2.0 * sxy / denominator)
}

/// Agreement of `judge` with `human` (same length, paired); `None` without pairs.
pub fn paired_agreement(human: &[f64], judge: &[f64]) -> Option<PairedAgreement> {
    let differences: Vec<f64> = judge.iter().zip(human).map(|(j, h)| j - h).collect();
    let bias = basic::mean(&differences)?;
    let mse = basic::mean(&differences.iter().map(|d| d * d).collect::<Vec<_>>())?;
    let n = differences.len();
    Some(PairedAgreement {
        n,
        human_mean: basic::mean(human)?,
        judge_mean: basic::mean(judge)?,
        bias,
        mae: basic::mean(&differences.iter().map(|d| d.abs()).collect::<Vec<_>>())?,
        mse,
        rmse: mse.sqrt(),
        pearson: basic::pearson(human, judge).map(|r| correlation(r, n)),
        spearman: basic::pearson(&basic::ranks(human), &basic::ranks(judge)).map(|r| correlation(r, n)),
        ccc: ccc(human, judge),
        bland_altman: basic::sd(&differences).map(|sd| BlandAltman {
            bias,
            sd,
            lower_limit: bias - 1.96 * sd,
            upper_limit: bias + 1.96 * sd,
            points: bland_altman_points(human, judge),
        }),
    })
}

/// Agreement on per-model means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelLevel {
    /// (model, human mean, judge mean) over the replies both scored.
    pub means: Vec<ModelMeans>,
    /// ICC forms with one row per model, columns human and judge.
    pub icc: Option<IccSet>,
    /// Pearson correlation of the model means.
    pub pearson: Option<Correlation>,
    /// Spearman correlation of the model means (rank agreement of the leaderboards).
    pub spearman: Option<Correlation>,
}

/// One model's mean under each panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeans {
    /// Model id.
    pub model: String,
    /// Replies both panels scored.
    pub n: usize,
    /// Human panel mean.
    pub human: f64,
    /// Judge mean.
    pub judge: f64,
}

/// Judge vs human on one measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeMeasure {
    /// Attribute id or composite short name.
    pub measure: String,
    /// Item-level (reply-level) agreement.
    pub items: Option<PairedAgreement>,
    /// ICC of (human, judge) per reply.
    pub item_icc: Option<IccSet>,
    /// Agreement on per-model means (every model with paired replies).
    pub model_level: ModelLevel,
}

/// Compare a judge's values with the human panel's on one measure (`[model][conversation]`).
pub fn judge_measure(
    measure: &str,
    models: &[ModelInfo],
    human: &[Vec<Option<f64>>],
    judge: &[Vec<Option<f64>>],
) -> JudgeMeasure {
    let pairs: Vec<Vec<(f64, f64)>> = human
        .iter()
        .zip(judge)
        .map(|(h, j)| h.iter().zip(j).filter_map(|(a, b)| Some(((*a)?, (*b)?))).collect())
        .collect();
    let flat: Vec<(f64, f64)> = pairs.iter().flatten().copied().collect();
    let (h, j): (Vec<f64>, Vec<f64>) = flat.iter().copied().unzip();
    let rows: Vec<Vec<f64>> = flat.iter().map(|(a, b)| vec![*a, *b]).collect();
    JudgeMeasure {
        measure: measure.to_owned(),
        items: paired_agreement(&h, &j),
        item_icc: agreement::icc(&rows),
        model_level: model_level(models, &pairs),
    }
}

fn model_level(models: &[ModelInfo], pairs: &[Vec<(f64, f64)>]) -> ModelLevel {
    let mut means = Vec::new();
    for (model, pairs) in models.iter().zip(pairs) {
        let (h, j): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        if let (Some(human), Some(judge)) = (basic::mean(&h), basic::mean(&j)) {
            means.push(ModelMeans { model: model.id.clone(), n: pairs.len(), human, judge });
        }
    }
    let h: Vec<f64> = means.iter().map(|m| m.human).collect();
    let j: Vec<f64> = means.iter().map(|m| m.judge).collect();
    let rows: Vec<Vec<f64>> = means.iter().map(|m| vec![m.human, m.judge]).collect();
    ModelLevel {
        icc: agreement::icc(&rows),
        pearson: basic::pearson(&h, &j).map(|r| correlation(r, h.len())),
        spearman: basic::pearson(&basic::ranks(&h), &basic::ranks(&j)).map(|r| correlation(r, h.len())),
        means,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_agreement_by_hand() {
        // human 1, 2, 3; judge 2, 2, 5: differences 1, 0, 2 -> bias 1, MAE 1, MSE 5/3.
        // CCC: means 2 and 3; s_xx = 2/3, s_yy = 2, s_xy = (-1*-1 + 0 + 1*2)/3 = 1;
        // 2*1 / (2/3 + 2 + 1) = 2 / (11/3) = 6/11.
        let a = paired_agreement(&[1.0, 2.0, 3.0], &[2.0, 2.0, 5.0]).unwrap();
        assert_eq!((a.bias, a.mae), (1.0, 1.0));
        assert!((a.mse - 5.0 / 3.0).abs() < 1e-15);
        assert!((a.ccc.unwrap() - 6.0 / 11.0).abs() < 1e-15);
    }

    #[test]
    fn bland_altman_points_count_repeated_pairs() {
        // (1, 2) twice and (3, 3) once: means 1.5 and 3, differences 1 and 0.
        let a = paired_agreement(&[1.0, 3.0, 1.0], &[2.0, 3.0, 2.0]).unwrap();
        let points = a.bland_altman.unwrap().points;
        assert_eq!(
            points,
            [
                BlandAltmanPoint { mean: 1.5, difference: 1.0, count: 2 },
                BlandAltmanPoint { mean: 3.0, difference: 0.0, count: 1 },
            ]
        );
    }
}
