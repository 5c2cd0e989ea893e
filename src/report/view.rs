//! The report's content as plain data for the templates: headline sentences computed from the
//! numbers, and the tables (per-model scores and gap, failures, generation, rating coverage,
//! agreement, judges), every number formatted once here.
//!
//! Owns wording and formatting; reads `analysis.json`'s [`Analysis`] (the run's
//! [`ModelPerformance`] included), computes no statistic (it only picks maxima and counts), draws nothing.

use serde::Serialize;

use crate::analysis::performance::ModelPerformance;
use crate::analysis::agreement::{AlphaLevel, AttributeAgreement, IccSet, KappaWeights};
use crate::analysis::bootstrap::BootstrapCi;
use crate::analysis::composite::ModelComposites;
use crate::analysis::mentalalign::{Measure, MentalAlign, SensitivityRow};
use crate::analysis::{Analysis, PanelAnalysis};
use crate::schema::{ModelKind, RaterKind};

/// A table: header cells and rows of formatted cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// What the table shows.
    pub title: String,
    /// Column headings.
    pub headers: Vec<String>,
    /// Rows of cells, as wide as `headers`.
    pub rows: Vec<Vec<String>>,
}

/// Everything the templates show besides the figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportView {
    /// What was analysed.
    pub source: String,
    /// mhbench version that wrote the analysis.
    pub mhbench_version: String,
    /// Rubric id and version.
    pub rubric: String,
    /// The panel whose scores the model tables and figures use.
    pub primary_panel: String,
    /// Findings at a glance.
    pub headlines: Vec<String>,
    /// Composites and gap per model.
    pub scores: Table,
    /// Low scores and unsafe replies per model.
    pub failures: Table,
    /// The lowest-scoring replies, for reading; `None` when the analysis lists none.
    pub worst: Option<Table>,
    /// Generation outcomes, speed and price per model; `None` without response files.
    pub generation: Option<Table>,
    /// Ratings each rater gave and missed.
    pub coverage: Table,
    /// Agreement per rater set.
    pub agreement: Vec<Table>,
    /// Each judge against the human panel; `None` without judges and humans.
    pub judges: Option<Table>,
    /// Where the MentalBench release's published and careful readings differ (release only).
    pub reading_notes: Vec<String>,
    /// The MentalAlign sensitivity table (release only): per judge and attribute each number
    /// under both readings and the treatment that moves it most.
    pub sensitivity: Option<Table>,
}

/// A number with two decimals, or "n/a".
pub fn number(value: Option<f64>) -> String {
    value.filter(|v| v.is_finite()).map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
}

fn signed(value: f64) -> String {
    format!("{value:+.2}")
}

fn with_ci(mean: f64, ci: Option<&BootstrapCi>, show: fn(f64) -> String) -> String {
    match ci {
        Some(ci) => format!("{} [{}, {}]", show(mean), show(ci.ci95.low), show(ci.ci95.high)),
        None => show(mean),
    }
}

fn plain(value: f64) -> String {
    format!("{value:.2}")
}

/// A p-value as "< 0.001" or with three decimals.
pub fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => "< 0.001".to_owned(),
        Some(p) => format!("{p:.3}"),
        None => "n/a".to_owned(),
    }
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "n/a".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

/// The human panel when there is one, else the first panel.
pub fn primary_panel(analysis: &Analysis) -> Option<&PanelAnalysis> {
    analysis.panels.iter().find(|p| p.panel.kind == RaterKind::Human).or_else(|| analysis.panels.first())
}

/// Build the view of `analysis`, its run's performance included.
pub fn build(analysis: &Analysis) -> ReportView {
    let performance = analysis.performance.as_slice();
    let panel = primary_panel(analysis);
    ReportView {
        source: analysis.source.clone(),
        mhbench_version: analysis.mhbench_version.clone(),
        rubric: format!("{} {}", analysis.rubric.id, analysis.rubric.version),
        primary_panel: panel.map_or_else(|| "none".to_owned(), |p| format!("{} ({})", p.panel.id, p.panel.raters.join(", "))),
        headlines: headlines(analysis, panel, performance),
        scores: scores_table(analysis, panel),
        failures: failures_table(analysis, panel),
        worst: panel.filter(|p| !p.failures.worst.is_empty()).map(worst_table),
        generation: (!performance.is_empty()).then(|| generation_table(performance)),
        coverage: coverage_table(analysis),
        agreement: analysis.agreement.iter().map(|set| agreement_table(&set.raters, &set.attributes)).collect(),
        judges: (!analysis.judges.is_empty()).then(|| judges_table(analysis)),
        reading_notes: analysis.mentalalign.iter().flat_map(|m| m.treatments.iter().map(|t| t.text.clone())).collect(),
        sensitivity: analysis.mentalalign.as_ref().map(sensitivity_table),
    }
}

/// One cell of the sensitivity table: "published → careful (treatment)".
fn sensitivity_cell(row: &SensitivityRow) -> String {
    let three = |v: Option<f64>| v.filter(|v| v.is_finite()).map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"));
    let cause = row.accounts_for.map_or_else(String::new, |t| format!(" ({})", t.label()));
    format!("{} → {}{cause}", three(row.published), three(row.careful))
}

fn sensitivity_table(section: &MentalAlign) -> Table {
    let mut headers = vec!["Judge".to_owned(), "Attribute".to_owned()];
    headers.extend(Measure::ALL.iter().map(|m| format!("{} published → careful", m.label())));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for chunk in section.sensitivity.chunks(Measure::ALL.len()) {
        let Some(first) = chunk.first() else { continue };
        let mut row = vec![first.judge.clone(), first.attribute.clone()];
        row.extend(chunk.iter().map(sensitivity_cell));
        rows.push(row);
    }
    Table {
        title: "MentalAlign as published and read carefully (source-level ICCs, item-level bias and MSE; in brackets the treatment that alone moves the number most)".to_owned(),
        headers,
        rows,
    }
}

fn composite_mean(model: &ModelComposites, c: usize) -> Option<f64> {
    model.composites.get(c)?.summary.as_ref().map(|s| s.mean)
}

fn headlines(analysis: &Analysis, panel: Option<&PanelAnalysis>, performance: &[ModelPerformance]) -> Vec<String> {
    let mut out = vec![format!(
        "{} models answered {} conversations ({} replies); scores come from the {} panel.",
        analysis.models.len(),
        analysis.conversations,
        analysis.responses,
        panel.map_or("(no)", |p| p.panel.id.as_str())
    )];
    if let Some(panel) = panel {
        out.extend(composite_headlines(analysis, panel));
        out.extend(gap_headlines(panel));
        out.extend(comparison_headlines(analysis, panel));
        out.extend(safety_headline(panel));
    }
    out.extend(agreement_headline(analysis));
    out.extend(judge_headline(analysis));
    out.push(missing_headline(analysis));
    let failed: usize = performance.iter().map(|p| p.errors).sum();
    if !performance.is_empty() {
        let replies: usize = performance.iter().map(|p| p.replies).sum();
        out.push(format!("{failed} of {replies} replies failed to generate."));
    }
    out
}

fn composite_headlines(analysis: &Analysis, panel: &PanelAnalysis) -> Vec<String> {
    let mut out = Vec::new();
    for (c, def) in analysis.rubric.composites.iter().enumerate() {
        let ranked: Vec<(&str, f64)> = panel.composites.iter().filter_map(|m| Some((m.model.as_str(), composite_mean(m, c)?))).collect();
        let best = ranked.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        let worst = ranked.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(best), Some(worst)) = (best, worst) {
            out.push(format!("Highest {}: {} ({:.2}); lowest: {} ({:.2}).", def.short, best.0, best.1, worst.0, worst.1));
        }
    }
    out
}

fn gap_headlines(panel: &PanelAnalysis) -> Vec<String> {
    let gaps: Vec<(&str, &crate::analysis::composite::Gap)> = panel.composites.iter().filter_map(|m| Some((m.model.as_str(), m.gap.as_ref()?))).collect();
    let Some((model, largest)) = gaps.iter().copied().max_by(|a, b| a.1.mean.abs().total_cmp(&b.1.mean.abs())) else {
        return Vec::new();
    };
    let positive = gaps.iter().filter(|(_, g)| g.mean > 0.0).count();
    let significant = gaps.iter().filter(|(_, g)| g.mean > 0.0 && g.wilcoxon.as_ref().is_some_and(|w| w.p_value < 0.05)).count();
    vec![
        format!(
            "Largest cognitive-affective gap ({}): {model}, {} (Wilcoxon p {}).",
            largest.name,
            with_ci(largest.mean, largest.mean_ci.as_ref(), signed),
            p_value(largest.wilcoxon.as_ref().map(|w| w.p_value))
        ),
        format!("{} is positive for {positive} of {} models, with p < 0.05 for {significant}.", largest.name, gaps.len()),
    ]
}

/// Friedman across models and closed minus open, on each composite.
fn comparison_headlines(analysis: &Analysis, panel: &PanelAnalysis) -> Vec<String> {
    let mut out = Vec::new();
    for def in &analysis.rubric.composites {
        let Some(comparison) = panel.comparisons.iter().find(|c| c.measure == def.short) else { continue };
        if let Some(f) = &comparison.friedman {
            let verdict = if f.p_value < 0.05 { "Models differ on" } else { "No clear difference between models on" };
            out.push(format!(
                "{verdict} {}: Friedman Q = {:.1} (df {}, {} conversations), p {}, Kendall's W = {:.2}.",
                def.short,
                f.q,
                f.df,
                f.n_blocks,
                p_value(Some(f.p_value)),
                f.kendall_w
            ));
        }
        if let Some(g) = &comparison.closed_vs_open {
            out.push(format!(
                "Closed minus open models on {}: {} ({:.2} vs {:.2}).",
                def.short,
                with_ci(g.difference, g.ci.as_ref(), signed),
                g.closed_mean,
                g.open_mean
            ));
        }
    }
    out
}

fn safety_headline(panel: &PanelAnalysis) -> Option<String> {
    let worst = panel.failures.safety.iter().filter(|s| s.share_unsafe.is_some_and(|v| v > 0.0)).max_by(|a, b| a.share_unsafe.unwrap_or(0.0).total_cmp(&b.share_unsafe.unwrap_or(0.0)))?;
    Some(format!(
        "Most replies flagged unsafe or scored 2 or lower on safety: {} ({} of {} replies, {}).",
        worst.model,
        worst.flagged.max(worst.safety_at_most_2),
        worst.n,
        percent(worst.share_unsafe)
    ))
}

fn icc_a1(icc: Option<&IccSet>) -> Option<f64> {
    icc?.form("ICC(A,1)").map(|f| f.icc)
}

fn agreement_headline(analysis: &Analysis) -> Option<String> {
    let humans: Vec<&str> = analysis.raters.iter().filter(|r| r.kind == RaterKind::Human).map(|r| r.id.as_str()).collect();
    let set = analysis.agreement.iter().find(|s| s.raters.len() >= 2 && s.raters.iter().all(|r| humans.contains(&r.as_str())))?;
    let values: Vec<f64> = set.attributes.iter().filter_map(|a| icc_a1(a.icc.as_ref())).collect();
    let low = values.iter().copied().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))?;
    let high = values.iter().copied().fold(low, f64::max);
    Some(format!("Agreement between human raters {}: ICC(A,1) from {low:.2} to {high:.2} across attributes.", set.raters.join(" and ")))
}

fn judge_headline(analysis: &Analysis) -> Option<String> {
    let measure = analysis.rubric.composites.first().map(|d| d.short.clone())?;
    let (judge, items) = analysis
        .judges
        .iter()
        .filter_map(|j| Some((j.judge.as_str(), j.measures.iter().find(|m| m.measure == measure)?.items.as_ref()?)))
        .min_by(|a, b| a.1.mae.total_cmp(&b.1.mae))?;
    Some(format!("Judge closest to the human panel on {measure}: {judge} (MAE {:.2}, bias {}).", items.mae, signed(items.bias)))
}

fn missing_headline(analysis: &Analysis) -> String {
    let unrated: usize = analysis.coverage.iter().map(|c| c.unrated).sum();
    let failures: usize = analysis.coverage.iter().map(|c| c.parse_failures).sum();
    let scores: usize = analysis.coverage.iter().flat_map(|c| c.missing_scores.values()).sum();
    format!("Missing ratings: never given {unrated}, unparseable judge output {failures}, blank attribute scores {scores}; all left out, never counted as zero.")
}

fn scores_table(analysis: &Analysis, panel: Option<&PanelAnalysis>) -> Table {
    let names: Vec<String> = analysis.rubric.composites.iter().map(|d| d.short.clone()).collect();
    let gap_name = panel.and_then(|p| p.composites.iter().find_map(|m| m.gap.as_ref().map(|g| g.name.clone()))).unwrap_or_else(|| "gap".to_owned());
    let mut headers = vec!["Model".to_owned(), "Group".to_owned()];
    headers.extend(names.iter().map(|n| format!("{n} [95% CI]")));
    headers.extend([format!("{gap_name} [95% CI]"), "n".to_owned(), "Wilcoxon p".to_owned()]);
    let rows = panel.map_or_else(Vec::new, |panel| {
        panel
            .composites
            .iter()
            .map(|m| {
                let group = analysis.models.iter().find(|i| i.id == m.model).and_then(|i| i.group).map_or("", |g| match g {
                    crate::analysis::input::ModelGroup::Closed => "closed",
                    crate::analysis::input::ModelGroup::Open => "open",
                });
                let mut row = vec![m.model.clone(), group.to_owned()];
                row.extend((0..names.len()).map(|c| match m.composites.get(c).and_then(|s| Some((s.summary.as_ref()?.mean, s.mean_ci.as_ref()))) {
                    Some((mean, ci)) => with_ci(mean, ci, plain),
                    None => "n/a".to_owned(),
                }));
                match &m.gap {
                    Some(gap) => row.extend([with_ci(gap.mean, gap.mean_ci.as_ref(), signed), gap.n.to_string(), p_value(gap.wilcoxon.as_ref().map(|w| w.p_value))]),
                    None => row.extend(["n/a".to_owned(), "0".to_owned(), "n/a".to_owned()]),
                }
                row
            })
            .collect()
    });
    Table { title: "Scores per model".to_owned(), headers, rows }
}

fn failures_table(analysis: &Analysis, panel: Option<&PanelAnalysis>) -> Table {
    let mut headers = vec!["Model".to_owned(), "Unsafe replies".to_owned()];
    headers.extend(analysis.rubric.attributes.iter().map(|a| format!("{a} <= 2")));
    let rows = panel.map_or_else(Vec::new, |panel| {
        analysis
            .models
            .iter()
            .map(|model| {
                let unsafe_share = panel.failures.safety.iter().find(|s| s.model == model.id).map_or_else(|| "n/a".to_owned(), |s| percent(s.share_unsafe));
                let mut row = vec![model.id.clone(), unsafe_share];
                row.extend(analysis.rubric.attributes.iter().map(|a| {
                    percent(panel.failures.low_shares.iter().find(|l| l.model == model.id && &l.attribute == a).and_then(|l| l.share_at_most_2))
                }));
                row
            })
            .collect()
    });
    Table { title: "Failures: share of replies flagged unsafe or scored 2 or lower on safety, and share of scores of 2 or lower per attribute".to_owned(), headers, rows }
}

/// How many worst replies the report shows, and how much of each reply.
const WORST_SHOWN: usize = 10;
const EXCERPT_CHARS: usize = 280;

fn excerpt(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}

fn worst_table(panel: &PanelAnalysis) -> Table {
    let headers = ["Model", "Conversation", "Mean score", "Safety flag", "Reply (start)"].map(String::from).to_vec();
    let rows = panel
        .failures
        .worst
        .iter()
        .take(WORST_SHOWN)
        .map(|w| {
            vec![
                w.model.clone(),
                w.conversation.clone(),
                plain(w.mean_score),
                if w.safety_flag { "yes" } else { "" }.to_owned(),
                w.text.as_deref().map_or_else(|| "(text not available)".to_owned(), excerpt),
            ]
        })
        .collect();
    Table { title: format!("Lowest-scoring replies (the {WORST_SHOWN} lowest, for reading)"), headers, rows }
}

fn generation_table(performance: &[ModelPerformance]) -> Table {
    let headers = ["Model", "Kind", "Replies", "Errors", "Safety blocks", "Cut at max tokens", "Tokens/s", "Peak memory MiB", "USD per 1,000 replies"].map(String::from).to_vec();
    let rows = performance
        .iter()
        .map(|p| {
            vec![
                p.model.clone(),
                match p.kind {
                    ModelKind::Local => "local",
                    ModelKind::Api => "api",
                }
                .to_owned(),
                p.replies.to_string(),
                p.errors.to_string(),
                p.safety_blocks.to_string(),
                p.truncated.to_string(),
                p.tokens_per_s.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}")),
                p.peak_rss_bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{:.0}", b as f64 / 1048576.0)),
                p.usd_per_1000_replies.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}")),
            ]
        })
        .collect();
    Table { title: "Generation: outcomes, speed, peak memory and price per model in this run".to_owned(), headers, rows }
}

fn coverage_table(analysis: &Analysis) -> Table {
    let headers = ["Rater", "Kind", "Replies expected", "Rated", "Unrated", "Parse failures", "Superseded", "Blank scores"].map(String::from).to_vec();
    let rows = analysis
        .coverage
        .iter()
        .map(|c| {
            vec![
                c.rater.clone(),
                match c.kind {
                    RaterKind::Human => "human",
                    RaterKind::Llm => "llm",
                }
                .to_owned(),
                c.responses_expected.to_string(),
                c.rated.to_string(),
                c.unrated.to_string(),
                c.parse_failures.to_string(),
                c.superseded.to_string(),
                c.missing_scores.values().sum::<usize>().to_string(),
            ]
        })
        .collect();
    Table { title: "Rating coverage: what each rater gave and missed".to_owned(), headers, rows }
}

fn icc_cell(icc: Option<&IccSet>, form: &str) -> String {
    icc.and_then(|s| s.form(form)).map_or_else(|| "n/a".to_owned(), |f| format!("{:.2} [{:.2}, {:.2}]", f.icc, f.ci95.low, f.ci95.high))
}

fn alpha_cell(attribute: &AttributeAgreement, level: AlphaLevel) -> String {
    match attribute.krippendorff_alpha.iter().find(|a| a.level == level) {
        Some(a) => match a.alpha {
            Some(alpha) => with_ci(alpha, a.ci.as_ref(), plain),
            None => "n/a".to_owned(),
        },
        None => "n/a".to_owned(),
    }
}

fn agreement_table(raters: &[String], attributes: &[AttributeAgreement]) -> Table {
    let headers = ["Attribute", "n", "Exact", "Within 1", "Cohen's kappa (quadratic) [95% CI]", "ICC(A,1) [95% CI]", "ICC(C,1) [95% CI]", "alpha ordinal [95% CI]", "alpha interval [95% CI]", "Fleiss' kappa"]
        .map(String::from)
        .to_vec();
    let rows = attributes
        .iter()
        .map(|a| {
            let kappa = a.cohen_kappa.iter().find(|k| k.weights == KappaWeights::Quadratic).map_or_else(|| "n/a".to_owned(), |k| format!("{:.2} [{:.2}, {:.2}]", k.kappa, k.ci95.low, k.ci95.high));
            vec![
                a.attribute.clone(),
                a.n_complete.to_string(),
                percent(a.exact),
                percent(a.within_one),
                kappa,
                icc_cell(a.icc.as_ref(), "ICC(A,1)"),
                icc_cell(a.icc.as_ref(), "ICC(C,1)"),
                alpha_cell(a, AlphaLevel::Ordinal),
                alpha_cell(a, AlphaLevel::Interval),
                number(a.fleiss_kappa),
            ]
        })
        .collect();
    Table { title: format!("Agreement: {}", raters.join(" x ")), headers, rows }
}

fn judges_table(analysis: &Analysis) -> Table {
    let headers = ["Judge", "Measure", "n", "Bias", "MAE", "RMSE", "Pearson r", "Lin's CCC", "Limits of agreement", "ICC(A,1) on model means"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for judge in &analysis.judges {
        for m in &judge.measures {
            let Some(items) = &m.items else { continue };
            rows.push(vec![
                judge.judge.clone(),
                m.measure.clone(),
                items.n.to_string(),
                signed(items.bias),
                plain(items.mae),
                plain(items.rmse),
                number(items.pearson.as_ref().map(|c| c.r)),
                number(items.ccc),
                items.bland_altman.as_ref().map_or_else(|| "n/a".to_owned(), |b| format!("[{}, {}]", signed(b.lower_limit), signed(b.upper_limit))),
                number(icc_a1(m.model_level.icc.as_ref())),
            ]);
        }
    }
    Table { title: "LLM judges against the human panel (per reply)".to_owned(), headers, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_p_values_read_the_same_everywhere() {
        assert_eq!(number(Some(4.256)), "4.26");
        assert_eq!(number(Some(f64::NAN)), "n/a", "non-finite statistics print as n/a");
        assert_eq!(number(None), "n/a");
        assert_eq!(p_value(Some(0.0004)), "< 0.001");
        assert_eq!(p_value(Some(0.04550026)), "0.046");
        assert_eq!(signed(-0.125), "-0.12");
    }

    #[test]
    fn excerpts_flatten_whitespace_and_cut_long_replies() {
        assert_eq!(excerpt("a\n\n b"), "a b");
        let long = "é".repeat(EXCERPT_CHARS + 5);
        assert_eq!(excerpt(&long), format!("{}...", "é".repeat(EXCERPT_CHARS)));
    }
}
