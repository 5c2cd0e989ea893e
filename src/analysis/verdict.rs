//! A plain verdict per judge and measure: can this LLM judge stand in for the experts here, and
//! which way does it lean?
//!
//! Owns the reading of judge-vs-human numbers into words; computes nothing else (the numbers
//! come from [`super::judge`]). Rules, in order (thresholds are the constants below):
//! 1. Agreement is read from the item-level ICC(A,1) (two-way random, absolute agreement,
//!    single rater: one judge standing in for one expert, its bias counted against it) and its
//!    F-based 95% CI, on the bands of Koo & Li (2016, J Chiropr Med 15:155, "A guideline of
//!    selecting and reporting intraclass correlation coefficients"): below 0.5 poor, 0.5 to
//!    0.75 moderate, 0.75 to 0.9 good, above 0.9 excellent.
//! 2. Fewer than [`MIN_ITEMS`] replies rated by both (Koo & Li ask for at least 30), or no
//!    ICC at all: `undetermined`, too few items to say.
//! 3. A CI wider than [`MAX_CI_WIDTH`]: `undetermined`, unless even its upper bound is below
//!    0.5, which is poor whatever the width.
//! 4. Otherwise the band of the CI's *lower* bound, so a wide or low-reaching interval can
//!    never claim more than it has shown; the text adds the band the upper bound reaches.
//!    With one judge against one panel (k = 2), a large systematic bias by itself widens the
//!    ICC(A,1) CI (McGraw & Wong's Satterthwaite df shrink), so a judge that inflates heavily
//!    can be `undetermined` even with thousands of replies; rule 5 then says how far it leans.
//! 5. Bias (mean judge - human) with a 95% percentile bootstrap CI over conversations (the
//!    analysis's seeded [`Bootstrap`]; replies to one conversation move together):
//!    `none_detected` when the CI holds 0, `negligible` when |bias| < [`NEGLIGIBLE_BIAS`],
//!    else `inflates` or `deflates`; `unknown` when the bootstrap is off or undefined.

use serde::{Deserialize, Serialize};

use super::agreement::IccForm;
use super::bootstrap::{Bootstrap, Interval};
use super::judge::JudgeMeasure;

/// Fewest replies scored by both the judge and the experts for any agreement verdict
/// (Koo & Li 2016: "at least 30 heterogeneous samples").
pub const MIN_ITEMS: usize = 30;
/// Widest ICC 95% CI (high - low) that still gives a verdict: wider, it spans more than a
/// whole moderate band (0.25) and cannot tell adjacent bands apart.
pub const MAX_CI_WIDTH: f64 = 0.3;
/// Smallest |bias| in scale points called inflation or deflation; one tenth of a step on the
/// 1..5 scale is below what a rater could notice.
pub const NEGLIGIBLE_BIAS: f64 = 0.1;
/// The ICC form the verdict reads.
pub const VERDICT_ICC_FORM: &str = "ICC(A,1)";

/// How well a judge agrees with the experts (Koo & Li 2016 bands), or that it cannot be said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// Below 0.5.
    Poor,
    /// 0.5 to 0.75.
    Moderate,
    /// 0.75 to 0.9.
    Good,
    /// Above 0.9.
    Excellent,
    /// Too few items, or a CI too wide, to say.
    Undetermined,
}

impl Agreement {
    /// The band holding `icc` (bands are closed below: 0.5 is moderate, 0.9 excellent).
    pub fn band(icc: f64) -> Self {
        if icc >= 0.9 {
            Agreement::Excellent
        } else if icc >= 0.75 {
            Agreement::Good
        } else if icc >= 0.5 {
            Agreement::Moderate
        } else {
            Agreement::Poor
        }
    }

    fn word(self) -> &'static str {
        match self {
            Agreement::Poor => "poor",
            Agreement::Moderate => "moderate",
            Agreement::Good => "good",
            Agreement::Excellent => "excellent",
            Agreement::Undetermined => "undetermined",
        }
    }
}

/// Which way a judge's scores lean against the experts'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiasDirection {
    /// Scores higher than the experts.
    Inflates,
    /// Scores lower than the experts.
    Deflates,
    /// The CI excludes 0 but |bias| is below [`NEGLIGIBLE_BIAS`].
    Negligible,
    /// The CI holds 0.
    NoneDetected,
    /// No CI (bootstrap off or undefined) or no pairs.
    Unknown,
}

/// The verdict on one judge and one measure, with the numbers it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeVerdict {
    /// Attribute id or composite short name.
    pub measure: String,
    /// Replies both the judge and the experts scored (the ICC's rows).
    pub n: usize,
    /// ICC form read: [`VERDICT_ICC_FORM`].
    pub icc_form: String,
    /// The ICC, when defined.
    pub icc: Option<f64>,
    /// Its 95% CI.
    pub icc_ci95: Option<Interval>,
    /// The agreement band of the CI's lower bound, or undetermined.
    pub agreement: Agreement,
    /// Why the agreement is undetermined.
    pub undetermined_reason: Option<String>,
    /// Mean judge - human in scale points.
    pub bias: Option<f64>,
    /// Its 95% bootstrap CI over conversations.
    pub bias_ci95: Option<Interval>,
    /// Which way the judge leans.
    pub bias_direction: BiasDirection,
    /// The verdict in one sentence.
    pub text: String,
}

/// Read the verdict on `measure`, whose values per reply are `human` and `judge`
/// (`[model][conversation]`, the same the measure was computed from).
pub fn judge_verdict(measure: &JudgeMeasure, human: &[Vec<Option<f64>>], judge: &[Vec<Option<f64>>], bootstrap: Bootstrap) -> JudgeVerdict {
    let form = measure.item_icc.as_ref().and_then(|set| set.form(VERDICT_ICC_FORM));
    let n = measure.items.as_ref().map_or(0, |items| items.n);
    let (agreement, undetermined_reason) = call_agreement(n, form);
    let bias = measure.items.as_ref().map(|items| items.bias);
    let bias_ci95 = bias_ci(human, judge, bootstrap);
    let bias_direction = match (bias, bias_ci95) {
        (Some(bias), Some(ci)) => call_bias(bias, ci),
        _ => BiasDirection::Unknown,
    };
    let mut verdict = JudgeVerdict {
        measure: measure.measure.clone(),
        n,
        icc_form: VERDICT_ICC_FORM.to_owned(),
        icc: form.map(|f| f.icc),
        icc_ci95: form.map(|f| f.ci95),
        agreement,
        undetermined_reason,
        bias,
        bias_ci95,
        bias_direction,
        text: String::new(),
    };
    verdict.text = sentence(&verdict);
    verdict
}

/// The agreement call from `n` pairs and the ICC form (rules 2 to 4).
fn call_agreement(n: usize, form: Option<&IccForm>) -> (Agreement, Option<String>) {
    let Some(form) = form.filter(|f| f.icc.is_finite() && f.ci95.low.is_finite() && f.ci95.high.is_finite()) else {
        return (Agreement::Undetermined, Some(format!("too few items to say (n = {n}, no ICC)")));
    };
    if n < MIN_ITEMS {
        return (Agreement::Undetermined, Some(format!("too few items to say (n = {n} < {MIN_ITEMS})")));
    }
    let ci = form.ci95;
    if ci.high < 0.5 {
        return (Agreement::Poor, None);
    }
    if ci.high - ci.low > MAX_CI_WIDTH {
        let (low, high) = (Agreement::band(ci.low).word(), Agreement::band(ci.high).word());
        let reason = format!("CI too wide to say (wider than {MAX_CI_WIDTH}; anywhere from {low} to {high})");
        return (Agreement::Undetermined, Some(reason));
    }
    (Agreement::band(ci.low), None)
}

/// The bias call (rule 5).
fn call_bias(bias: f64, ci: Interval) -> BiasDirection {
    if ci.low <= 0.0 && 0.0 <= ci.high {
        BiasDirection::NoneDetected
    } else if bias.abs() < NEGLIGIBLE_BIAS {
        BiasDirection::Negligible
    } else if bias > 0.0 {
        BiasDirection::Inflates
    } else {
        BiasDirection::Deflates
    }
}

/// 95% percentile bootstrap CI of mean(judge - human), resampling conversations.
fn bias_ci(human: &[Vec<Option<f64>>], judge: &[Vec<Option<f64>>], bootstrap: Bootstrap) -> Option<Interval> {
    let conversations = human.first().map_or(0, Vec::len);
    // Per conversation: sum of differences and number of pairs, over every model.
    let mut clusters = vec![(0.0f64, 0usize); conversations];
    for (h, j) in human.iter().zip(judge) {
        for ((cluster, a), b) in clusters.iter_mut().zip(h).zip(j) {
            if let (Some(a), Some(b)) = (a, b) {
                cluster.0 += b - a;
                cluster.1 += 1;
            }
        }
    }
    let ci = bootstrap.ci(clusters.len(), |drawn| {
        let (sum, count) = drawn.iter().fold((0.0, 0usize), |(s, c), &i| (s + clusters[i].0, c + clusters[i].1));
        (count > 0).then(|| sum / count as f64)
    })?;
    Some(ci.ci95)
}

fn signed(x: f64) -> String {
    format!("{x:+.2}")
}

/// The verdict as one sentence.
fn sentence(v: &JudgeVerdict) -> String {
    let icc = match (v.icc, v.icc_ci95) {
        (Some(icc), Some(ci)) => format!("{} = {icc:.2}, 95% CI {:.2} to {:.2}, n = {}", v.icc_form, ci.low, ci.high, v.n),
        _ => format!("n = {}", v.n),
    };
    let agreement = match (v.agreement, &v.undetermined_reason) {
        (Agreement::Undetermined, Some(reason)) => format!("agreement with the experts undetermined, {reason} ({icc})"),
        (band, _) => {
            let reach = v.icc_ci95.map(|ci| Agreement::band(ci.high)).filter(|high| *high != band);
            let reach = reach.map(|high| format!(", CI reaches {}", high.word())).unwrap_or_default();
            format!("{} agreement with the experts ({icc}{reach})", band.word())
        }
    };
    let measure = &v.measure;
    let bias = match (v.bias, v.bias_ci95) {
        (Some(bias), Some(ci)) => {
            let ci = format!("95% CI {} to {}", signed(ci.low), signed(ci.high));
            match v.bias_direction {
                BiasDirection::Inflates => format!("inflates {measure} by {} ({ci})", signed(bias)),
                BiasDirection::Deflates => format!("deflates {measure} by {} ({ci})", signed(bias)),
                BiasDirection::Negligible => format!("negligible bias on {measure}: {} ({ci})", signed(bias)),
                _ => format!("no clear bias on {measure}: {} ({ci})", signed(bias)),
            }
        }
        (Some(bias), None) => format!("bias on {measure} {} (no CI: bootstrap off)", signed(bias)),
        (None, _) => "no bias without pairs".to_owned(),
    };
    format!("{agreement}; {bias}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(icc: f64, low: f64, high: f64) -> IccForm {
        IccForm { form: VERDICT_ICC_FORM.into(), icc, f: 1.0, df1: 1.0, df2: 1.0, p_value: 0.0, ci95: Interval { low, high } }
    }

    #[test]
    fn koo_li_bands_are_closed_below() {
        assert_eq!(Agreement::band(0.4999), Agreement::Poor);
        assert_eq!(Agreement::band(-0.2), Agreement::Poor);
        assert_eq!(Agreement::band(0.5), Agreement::Moderate);
        assert_eq!(Agreement::band(0.7499), Agreement::Moderate);
        assert_eq!(Agreement::band(0.75), Agreement::Good);
        assert_eq!(Agreement::band(0.8999), Agreement::Good);
        assert_eq!(Agreement::band(0.9), Agreement::Excellent);
    }

    #[test]
    fn verdict_is_the_band_of_the_ci_lower_bound() {
        // Point estimate 0.85 (good) but the CI reaches down to 0.70: only moderate is shown.
        assert_eq!(call_agreement(200, Some(&form(0.85, 0.70, 0.93))), (Agreement::Moderate, None));
        assert_eq!(call_agreement(200, Some(&form(0.85, 0.80, 0.89))), (Agreement::Good, None));
        assert_eq!(call_agreement(200, Some(&form(0.95, 0.92, 0.97))), (Agreement::Excellent, None));
        assert_eq!(call_agreement(200, Some(&form(0.55, 0.45, 0.64))), (Agreement::Poor, None));
    }

    #[test]
    fn too_few_items_or_a_wide_ci_is_undetermined() {
        let (call, reason) = call_agreement(29, Some(&form(0.95, 0.92, 0.97)));
        assert_eq!(call, Agreement::Undetermined);
        assert_eq!(reason.as_deref(), Some("too few items to say (n = 29 < 30)"));
        assert_eq!(call_agreement(30, Some(&form(0.95, 0.92, 0.97))).0, Agreement::Excellent);
        assert_eq!(call_agreement(500, None).0, Agreement::Undetermined);
        // 0.45 to 0.80 could be poor or good: no call.
        let (call, reason) = call_agreement(40, Some(&form(0.65, 0.45, 0.80)));
        assert_eq!(call, Agreement::Undetermined);
        assert_eq!(reason.as_deref(), Some("CI too wide to say (wider than 0.3; anywhere from poor to good)"));
        // 0.29 wide gets a call.
        assert_eq!(call_agreement(40, Some(&form(0.75, 0.60, 0.89))).0, Agreement::Moderate);
        // Wide, but wholly below 0.5: poor whatever the width.
        assert_eq!(call_agreement(40, Some(&form(0.1, -0.3, 0.45))), (Agreement::Poor, None));
    }

    #[test]
    fn bias_direction_needs_a_ci_clear_of_zero_and_a_noticeable_size() {
        let ci = |low, high| Interval { low, high };
        assert_eq!(call_bias(0.6, ci(0.5, 0.7)), BiasDirection::Inflates);
        assert_eq!(call_bias(-0.3, ci(-0.4, -0.2)), BiasDirection::Deflates);
        assert_eq!(call_bias(0.05, ci(0.02, 0.08)), BiasDirection::Negligible);
        assert_eq!(call_bias(0.3, ci(-0.1, 0.7)), BiasDirection::NoneDetected);
        assert_eq!(call_bias(0.0, ci(0.0, 0.1)), BiasDirection::NoneDetected);
    }

    #[test]
    fn bias_ci_resamples_conversations_and_holds_the_bias() {
        // Two models x 40 conversations; the judge is 1 higher on every reply of model 0 and
        // equal on model 1: bias 0.5 exactly, and every resample of conversations gives 0.5.
        let human = vec![vec![Some(3.0); 40], vec![Some(2.0); 40]];
        let judge = vec![vec![Some(4.0); 40], vec![Some(2.0); 40]];
        let ci = bias_ci(&human, &judge, Bootstrap { resamples: 50, seed: 3 }).unwrap();
        assert_eq!((ci.low, ci.high), (0.5, 0.5));
        assert!(bias_ci(&human, &judge, Bootstrap { resamples: 0, seed: 3 }).is_none());
    }

    #[test]
    fn verdict_reads_the_measure_and_needs_the_bootstrap_for_a_direction() {
        // Two models x 40 conversations; the judge adds 1 on every fourth conversation: bias
        // 10 / 40 = +0.25 on both models.
        let human: Vec<Vec<Option<f64>>> =
            (0..2).map(|m| (0..40).map(|c| Some(f64::from((c * 7 + m * 3) % 4 + 1))).collect()).collect();
        let judge: Vec<Vec<Option<f64>>> = human
            .iter()
            .map(|row| row.iter().enumerate().map(|(c, h)| h.map(|h| if c % 4 == 0 { h + 1.0 } else { h })).collect())
            .collect();
        let models: Vec<super::super::input::ModelInfo> = ["a", "b"]
            .iter()
            .map(|id| super::super::input::ModelInfo { id: (*id).into(), group: None, provider: None })
            .collect();
        let measure = super::super::judge::judge_measure("empathy", &models, &human, &judge);
        let on = judge_verdict(&measure, &human, &judge, Bootstrap { resamples: 200, seed: 1 });
        assert_eq!((on.n, on.bias), (80, Some(0.25)));
        assert_eq!(on.icc, measure.item_icc.as_ref().and_then(|s| s.form("ICC(A,1)")).map(|f| f.icc));
        assert_eq!(on.bias_direction, BiasDirection::Inflates, "{}", on.text);
        assert!(on.text.contains("inflates empathy by +0.25"), "{}", on.text);
        let off = judge_verdict(&measure, &human, &judge, Bootstrap { resamples: 0, seed: 1 });
        assert_eq!(off.bias_direction, BiasDirection::Unknown);
        assert!(off.text.ends_with("bias on empathy +0.25 (no CI: bootstrap off)"), "{}", off.text);
        assert_eq!(off.agreement, on.agreement, "agreement does not depend on the bootstrap");
    }

    #[test]
    fn sentence_says_why_it_cannot_say() {
        let verdict = JudgeVerdict {
            measure: "safety".into(),
            n: 12,
            icc_form: VERDICT_ICC_FORM.into(),
            icc: Some(0.8),
            icc_ci95: Some(Interval { low: 0.5, high: 0.94 }),
            agreement: Agreement::Undetermined,
            undetermined_reason: Some("too few items to say (n = 12 < 30)".into()),
            bias: Some(-0.05),
            bias_ci95: Some(Interval { low: -0.2, high: 0.1 }),
            bias_direction: BiasDirection::NoneDetected,
            text: String::new(),
        };
        assert_eq!(
            sentence(&verdict),
            "agreement with the experts undetermined, too few items to say (n = 12 < 30) (ICC(A,1) = 0.80, 95% CI 0.50 \
             to 0.94, n = 12); no clear bias on safety: -0.05 (95% CI -0.20 to +0.10)"
        );
    }

    #[test]
    fn sentence_names_band_reach_and_direction() {
        let verdict = JudgeVerdict {
            measure: "empathy".into(),
            n: 120,
            icc_form: VERDICT_ICC_FORM.into(),
            icc: Some(0.66),
            icc_ci95: Some(Interval { low: 0.55, high: 0.76 }),
            agreement: Agreement::Moderate,
            undetermined_reason: None,
            bias: Some(0.6),
            bias_ci95: Some(Interval { low: 0.52, high: 0.68 }),
            bias_direction: BiasDirection::Inflates,
            text: String::new(),
        };
        assert_eq!(
            sentence(&verdict),
            "moderate agreement with the experts (ICC(A,1) = 0.66, 95% CI 0.55 to 0.76, n = 120, CI reaches good); \
             inflates empathy by +0.60 (95% CI +0.52 to +0.68)"
        );
    }
}
