//! The report's content as plain data for the templates: headline sentences computed from the
//! numbers, and the tables (per-model scores and gap, failures, generation, rating coverage,
//! agreement, judges), every number formatted once here.
//!
//! Owns wording and formatting; reads `analysis.json`'s [`Analysis`] (the run's
//! [`ModelPerformance`] included), computes no statistic (it only picks maxima and counts), draws nothing.

pub mod statistics;

use serde::Serialize;

use crate::analysis::performance::ModelPerformance;
use crate::analysis::agreement::{AlphaLevel, AttributeAgreement, IccSet, KappaWeights};
use crate::analysis::bootstrap::BootstrapCi;
use crate::analysis::composite::ModelComposites;
use crate::analysis::mentalalign::{Measure, MentalAlign, SensitivityRow};
use crate::analysis::minimum::{not_enough, MIN_AGREEMENT, MIN_CI, MIN_FRIEDMAN, MIN_MODELS_RANKED, MIN_WILCOXON};
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
    /// Methods and glossary, written from the analysis ([`super::methods`]).
    pub methods: super::methods::Methods,
    /// Example replies with the person's message ([`super::examples`]); `None` without any.
    pub examples: Option<super::examples::ExamplesView>,
    /// The sections shown, in page order: the table of contents and every heading
    /// ([`super::sections`]).
    pub sections: Vec<super::sections::Section>,
    /// Sections beside the means: attribute means, variability, comparisons, breakdowns.
    pub model_sections: Vec<statistics::Section>,
    /// Sections beside rater agreement: judges' verdicts, test-retest agreement.
    pub rater_sections: Vec<statistics::Section>,
}

/// `value` with `decimals` places, with `plus` always signed; a value that rounds to zero
/// prints as zero (`0.00`, `+0.00`), never `-0.00`.
pub fn fixed(value: f64, decimals: usize, plus: bool) -> String {
    let rounds_to_zero = format!("{:.*}", decimals, value.abs()).bytes().all(|b| b == b'0' || b == b'.');
    let value = if rounds_to_zero { 0.0 } else { value };
    if plus {
        format!("{value:+.decimals$}")
    } else {
        format!("{value:.decimals$}")
    }
}

/// A number with two decimals, or "n/a".
pub fn number(value: Option<f64>) -> String {
    value.filter(|v| v.is_finite()).map_or_else(|| "n/a".to_owned(), plain)
}

fn signed(value: f64) -> String {
    fixed(value, 2, true)
}

fn plain(value: f64) -> String {
    fixed(value, 2, false)
}

/// An estimate with its 95% interval: the interval left out with the reason when it is of zero
/// width at the shown precision (no spread is not a finding).
fn interval(estimate: f64, low: f64, high: f64, show: fn(f64) -> String) -> String {
    if show(low) == show(high) {
        format!("{} (95% CI of zero width: no spread to report)", show(estimate))
    } else {
        format!("{} [{}, {}]", show(estimate), show(low), show(high))
    }
}

/// A mean over `n` conversations with its bootstrap interval, under the [`MIN_CI`] rule.
fn with_ci(mean: f64, ci: Option<&BootstrapCi>, n: usize, show: fn(f64) -> String) -> String {
    match ci {
        _ if n < MIN_CI => format!("{} (95% CI: {})", show(mean), not_enough(n)),
        Some(ci) => interval(mean, ci.ci95.low, ci.ci95.high, show),
        None => show(mean),
    }
}

/// A Wilcoxon p-value under the [`MIN_WILCOXON`] rule, saying when it is exact.
fn wilcoxon_p(w: Option<&crate::analysis::compare::Wilcoxon>) -> String {
    match w {
        Some(w) if w.n < MIN_WILCOXON => not_enough(w.n),
        Some(w) if w.exact => format!("{} (exact)", p_value(Some(w.p_value))),
        Some(w) => p_value(Some(w.p_value)),
        None => "n/a".to_owned(),
    }
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
    share.map_or_else(|| "n/a".to_owned(), |s| format!("{}%", fixed(s * 100.0, 0, false)))
}

/// The human panel when there is one, else the first panel.
pub fn primary_panel(analysis: &Analysis) -> Option<&PanelAnalysis> {
    analysis.panels.iter().find(|p| p.panel.kind == RaterKind::Human).or_else(|| analysis.panels.first())
}

/// Build the view of `analysis`, its run's performance included.
pub fn build(analysis: &Analysis) -> ReportView {
    let performance = analysis.performance.as_slice();
    let panel = primary_panel(analysis);
    let mut view = ReportView {
        source: analysis.source.clone(),
        mhbench_version: analysis.mhbench_version.clone(),
        rubric: format!("{} {}", analysis.rubric.id, analysis.rubric.version),
        primary_panel: panel.map_or_else(|| "none".to_owned(), |p| format!("{} ({})", p.panel.id, p.panel.raters.join(", "))),
        headlines: headlines(analysis, panel, performance),
        scores: scores_table(analysis, panel),
        failures: failures_table(analysis, panel),
        worst: panel.filter(|p| !p.failures.worst.is_empty()).map(|p| worst_table(analysis, p)),
        generation: (!performance.is_empty()).then(|| generation_table(performance)),
        coverage: coverage_table(analysis),
        agreement: analysis.agreement.iter().map(|set| agreement_table(&set.raters, &set.attributes)).collect(),
        judges: (!analysis.judges.is_empty()).then(|| judges_table(analysis)),
        reading_notes: analysis.mentalalign.iter().flat_map(|m| m.treatments.iter().map(|t| t.text.clone())).collect(),
        sensitivity: analysis.mentalalign.as_ref().map(sensitivity_table),
        methods: super::methods::build(analysis),
        examples: super::examples::build(analysis),
        model_sections: statistics::model_sections(analysis, panel),
        rater_sections: statistics::rater_sections(analysis),
        sections: Vec::new(),
    };
    view.sections = super::sections::sections(&view);
    view
}

/// One cell of the sensitivity table: "published → careful (treatment)".
fn sensitivity_cell(row: &SensitivityRow) -> String {
    let three = |v: Option<f64>| v.filter(|v| v.is_finite()).map_or_else(|| "n/a".to_owned(), |v| fixed(v, 3, false));
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
    let human_replies = analysis.models.iter().filter(|m| super::models::is_human_reply(m)).count();
    let mut out = vec![format!(
        "{} models{} answered {} conversations ({} replies); scores come from the {} panel.",
        analysis.models.len() - human_replies,
        if human_replies > 0 { " and the data set's own human reply" } else { "" },
        analysis.conversations,
        analysis.responses,
        panel.map_or("(no)", |p| p.panel.id.as_str())
    )];
    if let Some(panel) = panel {
        out.extend(composite_headlines(analysis, panel));
        out.extend(human_reply_headline(analysis, panel));
        out.extend(gap_headlines(analysis, panel));
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
        let ranked: Vec<(&str, f64)> = panel
            .composites
            .iter()
            .filter(|m| !super::models::is_human_reply_id(analysis, &m.model))
            .filter_map(|m| Some((m.model.as_str(), composite_mean(m, c)?)))
            .collect();
        if ranked.len() < MIN_MODELS_RANKED {
            if let [(model, mean)] = ranked.as_slice() {
                out.push(format!("{}: {model} {} (one model: nothing to rank).", def.short, plain(*mean)));
            }
            continue;
        }
        let best = ranked.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        let worst = ranked.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(best), Some(worst)) = (best, worst) {
            out.push(format!("Highest {}: {} ({}); lowest: {} ({}).", def.short, best.0, plain(best.1), worst.0, plain(worst.1)));
        }
    }
    out
}

/// The data set's own human reply's composites, said apart from the models' ranking.
fn human_reply_headline(analysis: &Analysis, panel: &PanelAnalysis) -> Vec<String> {
    panel
        .composites
        .iter()
        .filter(|m| super::models::is_human_reply_id(analysis, &m.model))
        .map(|m| {
            let values: Vec<String> = analysis.rubric.composites.iter().enumerate().map(|(c, def)| format!("{} {}", def.short, number(composite_mean(m, c)))).collect();
            format!("The data set's own human reply ({}), not a model and not ranked among them: {}.", m.model, values.join(", "))
        })
        .collect()
}

fn gap_headlines(analysis: &Analysis, panel: &PanelAnalysis) -> Vec<String> {
    let gaps: Vec<(&str, &crate::analysis::composite::Gap)> = panel
        .composites
        .iter()
        .filter(|m| !super::models::is_human_reply_id(analysis, &m.model))
        .filter_map(|m| Some((m.model.as_str(), m.gap.as_ref()?)))
        .collect();
    let Some((model, largest)) = gaps.iter().copied().max_by(|a, b| a.1.mean.abs().total_cmp(&b.1.mean.abs())) else {
        return Vec::new();
    };
    let positive = gaps.iter().filter(|(_, g)| g.mean > 0.0).count();
    let significant = gaps
        .iter()
        .filter(|(_, g)| g.mean > 0.0 && g.wilcoxon.as_ref().is_some_and(|w| w.n >= MIN_WILCOXON && w.p_value < 0.05))
        .count();
    vec![
        format!(
            "Largest cognitive-affective gap ({}): {model}, {} ({}).",
            largest.name,
            with_ci(largest.mean, largest.mean_ci.as_ref(), largest.n, signed),
            match largest.wilcoxon.as_ref() {
                Some(w) if w.n < MIN_WILCOXON => format!("Wilcoxon test: {}", not_enough(w.n)),
                w => format!("Wilcoxon p {}", wilcoxon_p(w)),
            }
        ),
        format!("{} is positive for {positive} of {} models, with p < 0.05 for {significant}.", largest.name, gaps.len()),
    ]
}

/// Friedman across models and closed minus open, on each composite.
fn comparison_headlines(analysis: &Analysis, panel: &PanelAnalysis) -> Vec<String> {
    let mut out = Vec::new();
    for def in &analysis.rubric.composites {
        let Some(comparison) = panel.comparisons.iter().find(|c| c.measure == def.short) else { continue };
        match &comparison.friedman {
            Some(f) if f.n_blocks < MIN_FRIEDMAN => {
                out.push(format!("Friedman test across models on {}: {}.", def.short, not_enough(f.n_blocks)));
            }
            Some(f) => {
                let verdict = if f.p_value < 0.05 { "Models differ on" } else { "No clear difference between models on" };
                out.push(format!(
                    "{verdict} {}: Friedman Q = {} (df {}, {} conversations), p {}, Kendall's W = {}.",
                    def.short,
                    fixed(f.q, 1, false),
                    f.df,
                    f.n_blocks,
                    p_value(Some(f.p_value)),
                    plain(f.kendall_w)
                ));
            }
            None => {}
        }
        if let Some(g) = &comparison.closed_vs_open {
            out.push(format!(
                "Closed minus open models on {}: {} ({} vs {}).",
                def.short,
                with_ci(g.difference, g.ci.as_ref(), g.closed_n.min(g.open_n), signed),
                plain(g.closed_mean),
                plain(g.open_mean)
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
        worst.unsafe_replies,
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
    let values: Vec<f64> = set
        .attributes
        .iter()
        .filter(|a| a.icc.as_ref().is_some_and(|i| i.n >= MIN_AGREEMENT))
        .filter_map(|a| icc_a1(a.icc.as_ref()))
        .collect();
    let raters = set.raters.join(" and ");
    let Some(low) = values.iter().copied().reduce(f64::min) else {
        let n = set.attributes.iter().map(|a| a.n_complete).max()?;
        return Some(format!("Agreement between human raters {raters}: ICC(A,1) {}.", not_enough(n)));
    };
    let high = values.iter().copied().fold(low, f64::max);
    Some(format!("Agreement between human raters {raters}: ICC(A,1) from {} to {} across attributes.", plain(low), plain(high)))
}

fn judge_headline(analysis: &Analysis) -> Option<String> {
    let measure = analysis.rubric.composites.first().map(|d| d.short.clone())?;
    let compared: Vec<_> = analysis
        .judges
        .iter()
        .filter_map(|j| Some((j.judge.as_str(), j.measures.iter().find(|m| m.measure == measure)?.items.as_ref()?)))
        .collect();
    let Some((judge, items)) = compared.iter().filter(|(_, i)| i.n >= MIN_AGREEMENT).min_by(|a, b| a.1.mae.total_cmp(&b.1.mae)) else {
        let n = compared.iter().map(|(_, i)| i.n).max()?;
        return Some(format!("Judge closest to the human panel on {measure}: {}.", not_enough(n)));
    };
    Some(format!("Judge closest to the human panel on {measure}: {judge} (MAE {}, bias {}).", plain(items.mae), signed(items.bias)))
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
        let mut ordered: Vec<&ModelComposites> = panel.composites.iter().collect();
        super::models::sort_by_source(analysis, &mut ordered, |m| &m.model);
        ordered
            .into_iter()
            .map(|m| {
                let group = analysis.models.iter().find(|i| i.id == m.model).map_or("", super::models::group);
                let mut row = vec![super::models::label(analysis, &m.model), group.to_owned()];
                row.extend((0..names.len()).map(|c| match m.composites.get(c).and_then(|s| Some((s.summary.as_ref()?.mean, s.mean_ci.as_ref(), s.n))) {
                    Some((mean, ci, n)) => with_ci(mean, ci, n, plain),
                    None => "n/a".to_owned(),
                }));
                match &m.gap {
                    Some(gap) => row.extend([with_ci(gap.mean, gap.mean_ci.as_ref(), gap.n, signed), gap.n.to_string(), wilcoxon_p(gap.wilcoxon.as_ref())]),
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
        super::models::ordered(analysis)
            .into_iter()
            .map(|model| {
                let unsafe_share = panel.failures.safety.iter().find(|s| s.model == model.id).map_or_else(|| "n/a".to_owned(), |s| percent(s.share_unsafe));
                let mut row = vec![super::models::label(analysis, &model.id), unsafe_share];
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

fn worst_table(analysis: &Analysis, panel: &PanelAnalysis) -> Table {
    let headers = ["Model", "Conversation", "Mean score", "Safety flag", "Reply (start)"].map(String::from).to_vec();
    let rows = panel
        .failures
        .worst
        .iter()
        .take(WORST_SHOWN)
        .map(|w| {
            vec![
                super::models::label(analysis, &w.model),
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
    let headers = ["Model", "Kind", "Replies", "Errors", "Safety blocks", "Cut at max tokens", "Tokens/s of wall time", "Wall time s", "Median s per reply", "Peak memory MiB", "USD per 1,000 replies"].map(String::from).to_vec();
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
                p.tokens_per_s.map_or_else(|| "n/a".to_owned(), |v| fixed(v, 1, false)),
                p.wall_s.map_or_else(|| "n/a".to_owned(), |v| fixed(v, 1, false)),
                p.median_reply_s.map_or_else(|| "n/a".to_owned(), |v| fixed(v, 2, false)),
                p.peak_rss_bytes.map_or_else(|| "n/a".to_owned(), |b| fixed(b as f64 / 1048576.0, 0, false)),
                p.usd_per_1000_replies.map_or_else(|| "n/a".to_owned(), |v| fixed(v, 2, false)),
            ]
        })
        .collect();
    Table {
        title: "Generation: outcomes, speed, peak memory and price per model in this run. Tokens/s of wall time: \
                completion tokens over the wall-clock time the model was generating (replies that shared a batch \
                count their time once), as `generate` and `bench` report it. Median s per reply: per-row latency, \
                request to complete reply (a batched reply waits on its batch)."
            .to_owned(),
        headers,
        rows,
    }
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

/// An ICC form with its interval, under the [`MIN_AGREEMENT`] rule.
fn icc_cell(icc: Option<&IccSet>, form: &str) -> String {
    match icc {
        Some(set) if set.n < MIN_AGREEMENT => not_enough(set.n),
        _ => icc.and_then(|s| s.form(form)).map_or_else(|| "n/a".to_owned(), |f| interval(f.icc, f.ci95.low, f.ci95.high, plain)),
    }
}

/// Krippendorff's alpha with its interval, under the [`MIN_AGREEMENT`] rule on the units any
/// rater scored.
fn alpha_cell(attribute: &AttributeAgreement, level: AlphaLevel) -> String {
    let units = attribute.n_complete + attribute.n_incomplete;
    match attribute.krippendorff_alpha.iter().find(|a| a.level == level) {
        Some(_) if units < MIN_AGREEMENT => not_enough(units),
        Some(a) => match (a.alpha, &a.ci) {
            (Some(alpha), Some(ci)) => interval(alpha, ci.ci95.low, ci.ci95.high, plain),
            (Some(alpha), None) => plain(alpha),
            (None, _) => "n/a".to_owned(),
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
            let kappa = match a.cohen_kappa.iter().find(|k| k.weights == KappaWeights::Quadratic) {
                Some(_) if a.n_complete < MIN_AGREEMENT => not_enough(a.n_complete),
                Some(k) => interval(k.kappa, k.ci95.low, k.ci95.high, plain),
                None => "n/a".to_owned(),
            };
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
                if a.n_complete < MIN_AGREEMENT && a.fleiss_kappa.is_some() { not_enough(a.n_complete) } else { number(a.fleiss_kappa) },
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
            let few = items.n < MIN_AGREEMENT;
            let gated = |text: String| if few { not_enough(items.n) } else { text };
            let models = m.model_level.icc.as_ref().map_or(0, |i| i.n);
            rows.push(vec![
                judge.judge.clone(),
                m.measure.clone(),
                items.n.to_string(),
                signed(items.bias),
                plain(items.mae),
                plain(items.rmse),
                gated(number(items.pearson.as_ref().map(|c| c.r))),
                gated(number(items.ccc)),
                gated(items.bland_altman.as_ref().map_or_else(|| "n/a".to_owned(), |b| format!("[{}, {}]", signed(b.lower_limit), signed(b.upper_limit)))),
                match icc_a1(m.model_level.icc.as_ref()) {
                    Some(_) if models < MIN_AGREEMENT => not_enough(models),
                    value => number(value),
                },
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
    fn nothing_prints_as_negative_zero() {
        assert_eq!(signed(-0.001), "+0.00");
        assert_eq!(plain(-0.004), "0.00");
        assert_eq!(fixed(-0.04, 1, false), "0.0");
        assert_eq!(fixed(-0.00001, 4, false), "0.0000");
        assert_eq!(percent(Some(-0.001)), "0%");
        assert_eq!(number(Some(-1e-9)), "0.00");
        assert_eq!(fixed(-0.06, 1, false), "-0.1", "a real negative keeps its sign");
    }

    #[test]
    fn small_samples_show_their_n_instead_of_a_statistic_and_no_zero_width_interval() {
        use crate::analysis::bootstrap::{BootstrapCi, Interval};
        let ci = |low: f64, high: f64| BootstrapCi { ci95: Interval { low, high }, resamples_used: 1000, resamples_undefined: 0 };
        assert_eq!(with_ci(2.6667, Some(&ci(2.6667, 2.6667)), 2, signed), "+2.67 (95% CI: not enough data (n = 2))");
        assert_eq!(with_ci(2.6667, Some(&ci(2.6667, 2.6667)), MIN_CI, signed), "+2.67 (95% CI of zero width: no spread to report)");
        assert_eq!(with_ci(2.5, Some(&ci(2.25, 2.75)), MIN_CI, plain), "2.50 [2.25, 2.75]");
        let w = crate::analysis::compare::wilcoxon(&[2.67]);
        assert_eq!(wilcoxon_p(w.as_ref()), "not enough data (n = 1)");
        let w = crate::analysis::compare::wilcoxon(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(wilcoxon_p(w.as_ref()), "0.031 (exact)");
    }

    #[test]
    fn the_safety_headline_counts_each_unsafe_reply_once_with_its_share() {
        use crate::analysis::failure::{Failures, SafetyFailures};
        use crate::analysis::input::Panel;
        // Two replies flagged (safety 5) and two others scored 2: four unsafe replies of six.
        let safety = SafetyFailures { model: "m".into(), n: 6, flagged: 2, safety_at_most_2: 2, unsafe_replies: 4, share_unsafe: Some(4.0 / 6.0) };
        let panel = PanelAnalysis {
            panel: Panel { id: "human".into(), kind: RaterKind::Human, raters: vec!["alice".into()] },
            partially_rated: 0,
            descriptives: Vec::new(),
            composites: Vec::new(),
            failures: Failures { low_shares: Vec::new(), safety: vec![safety], worst: Vec::new() },
            comparisons: Vec::new(),
            variability: Vec::new(),
        };
        assert_eq!(
            safety_headline(&panel).unwrap(),
            "Most replies flagged unsafe or scored 2 or lower on safety: m (4 of 6 replies, 67%)."
        );
    }

    #[test]
    fn excerpts_flatten_whitespace_and_cut_long_replies() {
        assert_eq!(excerpt("a\n\n b"), "a b");
        let long = "é".repeat(EXCERPT_CHARS + 5);
        assert_eq!(excerpt(&long), format!("{}...", "é".repeat(EXCERPT_CHARS)));
    }
}
