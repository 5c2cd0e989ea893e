//! The report's statistics sections beside the means: per-attribute means, variability (spread
//! and the difference in spread between the composites), pairwise model comparisons,
//! breakdowns by source and topic; and beside rater agreement, the judges' plain verdicts and
//! each rater's test-retest agreement.
//!
//! Owns the wording and layout of those sections as [`Section`]s (an HTML id, a title, notes and
//! tables) that one small template piece renders (`templates/sections.html`, `sections.md`); the
//! numbers come formatted by the parent's helpers under the minimum-n rules of
//! [`crate::analysis::minimum`]. Computes no statistic.

use serde::Serialize;

use super::{fixed, not_enough, p_value, percent, plain, signed, with_ci, Table};
use crate::analysis::bootstrap::BootstrapCi;
use crate::analysis::compare::MeasureComparison;
use crate::analysis::minimum::{MIN_AGREEMENT, MIN_CI, MIN_FRIEDMAN, MIN_SPREAD_TEST, MIN_WILCOXON};
use crate::analysis::variability::{Spread, SpreadDifference};
use crate::analysis::verdict::{Agreement, BiasDirection};
use crate::analysis::{Analysis, PanelAnalysis};

/// One section of the report: its HTML id (for a table of contents), title, notes and tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// `id` attribute of the `<section>` (`variability`, ...).
    pub id: String,
    /// Heading.
    pub title: String,
    /// Paragraphs before the tables: what is shown and how to read it.
    pub notes: Vec<String>,
    /// A bulleted list after the notes (sentences too long for a table cell).
    pub items: Vec<String>,
    /// The tables.
    pub tables: Vec<Table>,
}

/// Sections about the models, shown after the findings: attribute means, variability,
/// pairwise comparisons, breakdowns.
pub fn model_sections(analysis: &Analysis, panel: Option<&PanelAnalysis>) -> Vec<Section> {
    let Some(panel) = panel else { return Vec::new() };
    vec![attribute_means(analysis, panel), variability(panel), comparisons(analysis, panel), breakdowns(analysis, panel)]
}

/// Sections about the raters, shown after agreement: judges' verdicts, test-retest agreement.
pub fn rater_sections(analysis: &Analysis) -> Vec<Section> {
    vec![verdicts(analysis), test_retest(analysis)]
}

fn panel_note(panel: &PanelAnalysis) -> String {
    format!("Scores of the {} panel.", panel.panel.id)
}

fn attribute_means(analysis: &Analysis, panel: &PanelAnalysis) -> Section {
    let mut headers = vec!["Model".to_owned()];
    headers.extend(analysis.rubric.attributes.iter().map(|a| format!("{a} [95% CI]")));
    let rows = analysis
        .models
        .iter()
        .map(|model| {
            let mut row = vec![model.id.clone()];
            row.extend(analysis.rubric.attributes.iter().map(|a| {
                let cell = panel.descriptives.iter().find(|d| d.model == model.id && &d.attribute == a);
                match cell.and_then(|d| Some((d.summary.as_ref()?, d.mean_ci.as_ref()))) {
                    Some((s, ci)) => format!("{} (n = {})", with_ci(s.mean, ci, s.n, plain), s.n),
                    None => "n/a".to_owned(),
                }
            }));
            row
        })
        .collect();
    Section {
        id: "attribute-means".to_owned(),
        title: "Mean score per attribute".to_owned(),
        notes: vec![
            panel_note(panel),
            format!("Mean over the replies scored, with a percentile bootstrap 95% CI over conversations (shown from {MIN_CI} conversations)."),
        ],
        items: Vec::new(),
        tables: vec![Table { title: "Mean per model and attribute".to_owned(), headers, rows }],
    }
}

/// A spread estimate with its CI under the [`MIN_CI`] rule; "n/a" where undefined.
fn spread_cell(estimate: Option<f64>, ci: Option<&BootstrapCi>, n: usize) -> String {
    match estimate.filter(|v| v.is_finite()) {
        Some(v) => with_ci(v, ci, n, plain),
        None if n < 2 => not_enough(n),
        None => "n/a".to_owned(),
    }
}

fn difference_cells(d: Option<&SpreadDifference>) -> [String; 2] {
    let Some(d) = d else { return ["n/a".to_owned(), "n/a".to_owned()] };
    let difference = match d.difference {
        Some(v) => with_ci(v, d.ci.as_ref(), d.n, signed),
        None => not_enough(d.n),
    };
    let test = match &d.pitman_morgan {
        _ if d.n < MIN_SPREAD_TEST => not_enough(d.n),
        Some(pm) => format!("{} (r = {}, t = {}, df {})", p_value(Some(pm.p_value)), plain(pm.r), fixed(pm.t, 2, false), pm.df),
        None => "n/a (no variation in the sums or differences)".to_owned(),
    };
    [difference, test]
}

fn variability(panel: &PanelAnalysis) -> Section {
    let difference_name = panel.variability.iter().find_map(|m| m.difference.as_ref().map(|d| d.name.clone()));
    let spread_headers = |first: &str| {
        let mut headers = vec!["Model".to_owned(), first.to_owned(), "n".to_owned()];
        headers.extend(["SD [95% CI]", "CV [95% CI]", "IQR [95% CI]"].map(String::from));
        headers
    };
    let spread_rows = |pick: fn(&crate::analysis::variability::ModelVariability) -> &[Spread]| -> Vec<Vec<String>> {
        panel
            .variability
            .iter()
            .flat_map(|m| {
                pick(m).iter().map(|s| {
                    let mut row = vec![m.model.clone(), s.measure.clone(), s.n.to_string()];
                    row.extend(spread_cells(s));
                    row
                })
            })
            .collect()
    };
    let mut tables = vec![Table { title: "Spread of the composites per model".to_owned(), headers: spread_headers("Composite"), rows: spread_rows(|m| &m.composites) }];
    let mut notes = vec![
        panel_note(panel),
        "Spread across conversations of each model's scores: SD (sample, n - 1), coefficient of variation CV = SD / mean, \
         and interquartile range IQR (type-7 quartiles), each with a percentile bootstrap 95% CI over conversations."
            .to_owned(),
    ];
    if let Some(name) = &difference_name {
        notes.push(format!(
            "{name}: the difference in spread between the composites on the same replies (conversations with both), positive when \
             the second varies more, with a paired bootstrap 95% CI (each drawn conversation brings both composites). The \
             Pitman-Morgan test of equal paired variances (Pearson's r between the pairs' sums and differences, t on n - 2 df) \
             assumes normal scores; where it and the CI disagree, trust the CI. Shown from {MIN_SPREAD_TEST} conversations."
        ));
        notes.push(spread_summary(name, panel));
        let rows = panel
            .variability
            .iter()
            .filter_map(|m| {
                let d = m.difference.as_ref()?;
                let mut row = vec![m.model.clone(), d.n.to_string()];
                row.extend(difference_cells(Some(d)));
                Some(row)
            })
            .collect();
        let headers = vec!["Model".to_owned(), "n".to_owned(), format!("{name} [95% CI]"), "Pitman-Morgan p".to_owned()];
        tables.push(Table { title: format!("Difference in spread: {name}"), headers, rows });
    }
    tables.push(Table { title: "Spread of each attribute per model".to_owned(), headers: spread_headers("Attribute"), rows: spread_rows(|m| &m.attributes) });
    Section { id: "variability".to_owned(), title: "Variability: how much each model's scores spread".to_owned(), notes, items: Vec::new(), tables }
}

fn spread_cells(s: &Spread) -> [String; 3] {
    [spread_cell(s.sd, s.sd_ci.as_ref(), s.n), spread_cell(s.cv, s.cv_ci.as_ref(), s.n), spread_cell(s.iqr, s.iqr_ci.as_ref(), s.n)]
}

/// One sentence: for how many models the second composite spreads more, and for how many the CI
/// says so.
fn spread_summary(name: &str, panel: &PanelAnalysis) -> String {
    let differences: Vec<&SpreadDifference> = panel.variability.iter().filter_map(|m| m.difference.as_ref()).filter(|d| d.difference.is_some()).collect();
    let positive = differences.iter().filter(|d| d.difference.is_some_and(|v| v > 0.0)).count();
    let shown: Vec<&&SpreadDifference> = differences.iter().filter(|d| d.n >= MIN_CI && d.ci.is_some()).collect();
    let above = shown.iter().filter(|d| d.ci.is_some_and(|ci| ci.ci95.low > 0.0)).count();
    let below = shown.iter().filter(|d| d.ci.is_some_and(|ci| ci.ci95.high < 0.0)).count();
    if shown.is_empty() {
        let n = differences.iter().map(|d| d.n).max().unwrap_or(0);
        return format!("{name} is positive for {positive} of {} models; its 95% CI: {}.", differences.len(), not_enough(n));
    }
    format!(
        "{name} is positive for {positive} of {} models; its 95% CI lies above zero for {above} and below zero for {below} of the {} models with enough conversations.",
        differences.len(),
        shown.len()
    )
}

fn comparison_table(c: &MeasureComparison) -> Table {
    let friedman = match &c.friedman {
        Some(f) if f.n_blocks < MIN_FRIEDMAN => format!("Friedman test across models: {}", not_enough(f.n_blocks)),
        Some(f) => format!(
            "Friedman Q = {} (df {}, {} conversations), p {}, Kendall's W = {}",
            fixed(f.q, 1, false),
            f.df,
            f.n_blocks,
            p_value(Some(f.p_value)),
            plain(f.kendall_w)
        ),
        None => "Friedman test across models: n/a".to_owned(),
    };
    let headers = ["Model A", "Model B", "n pairs", "Mean A - B", "Rank-biserial r", "Wilcoxon p", "Holm p"].map(String::from).to_vec();
    let rows = c
        .pairwise
        .iter()
        .map(|p| {
            let (r, raw, holm) = match &p.wilcoxon {
                Some(w) if w.n < MIN_WILCOXON => (not_enough(w.n), not_enough(w.n), not_enough(w.n)),
                Some(w) => (
                    signed(w.rank_biserial),
                    format!("{}{}", p_value(Some(w.p_value)), if w.exact { " (exact)" } else { "" }),
                    p_value(p.p_holm),
                ),
                None => ("n/a".to_owned(), "n/a (all differences zero)".to_owned(), "n/a".to_owned()),
            };
            vec![p.model_a.clone(), p.model_b.clone(), p.n_pairs.to_string(), signed(p.mean_difference), r, raw, holm]
        })
        .collect();
    Table { title: format!("{}: {friedman}", c.measure), headers, rows }
}

fn comparisons(analysis: &Analysis, panel: &PanelAnalysis) -> Section {
    // Composites first: the study's claims rest on them; then the attributes in rubric order.
    let order = analysis.rubric.composites.iter().map(|d| &d.short).chain(&analysis.rubric.attributes);
    let tables: Vec<Table> = order
        .filter_map(|name| panel.comparisons.iter().find(|c| &c.measure == name))
        .filter(|c| !c.pairwise.is_empty())
        .map(comparison_table)
        .collect();
    let mut notes = vec![
        panel_note(panel),
        format!(
            "Every pair of models on each measure, on the conversations both were scored on: the mean difference, the matched-pairs \
             rank-biserial correlation (effect size, -1 to 1, positive when A scores higher), the Wilcoxon signed-rank p (exact up to \
             25 pairs) and that p Holm-corrected across the pairs of the measure. Shown from {MIN_WILCOXON} non-zero differences; \
             the Friedman test across all models from {MIN_FRIEDMAN} conversations rated for every model."
        ),
    ];
    if tables.is_empty() {
        notes.push("Only one model: nothing to compare.".to_owned());
    }
    Section { id: "comparisons".to_owned(), title: "Pairwise model comparisons".to_owned(), notes, items: Vec::new(), tables }
}

fn breakdowns(analysis: &Analysis, panel: &PanelAnalysis) -> Section {
    let composites: Vec<&str> = analysis.rubric.composites.iter().map(|d| d.short.as_str()).collect();
    let found = analysis.breakdowns.iter().find(|b| b.panel == panel.panel.id);
    let mut headers = vec!["Group".to_owned(), "Conversations".to_owned(), "Model".to_owned()];
    headers.extend(composites.iter().map(|c| format!("{c} [95% CI]")));
    let tables: Vec<Table> = found
        .map(|b| {
            b.breakdowns
                .iter()
                .map(|breakdown| {
                    let rows = breakdown
                        .groups
                        .iter()
                        .flat_map(|g| {
                            g.models.iter().map(|m| {
                                let mut row = vec![g.label.clone(), g.conversations.to_string(), m.model.clone()];
                                row.extend(m.composites.iter().map(|c| match c.mean {
                                    Some(mean) => format!("{} (n = {})", with_ci(mean, c.mean_ci.as_ref(), g.conversations.min(c.n), plain), c.n),
                                    None => "n/a".to_owned(),
                                }));
                                row
                            })
                        })
                        .collect();
                    Table { title: format!("Composite means by {}", breakdown.by), headers: headers.clone(), rows }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut notes = vec![panel_note(panel)];
    if tables.is_empty() {
        notes.push(if analysis.mentalbench.is_some() {
            "The MentalBench release does not label which data set or topic each context came from, so there is no breakdown.".to_owned()
        } else {
            "The run's conversations (conversations.jsonl) were not found or carry no source or topic, so there is no breakdown.".to_owned()
        });
    } else {
        notes.push(format!(
            "Each composite's mean per model within the conversations of one source data set or one topic, with a percentile bootstrap \
             95% CI over that group's conversations (shown from {MIN_CI} conversations)."
        ));
    }
    Section { id: "breakdowns".to_owned(), title: "Composites by source data set and topic".to_owned(), notes, items: Vec::new(), tables }
}

fn verdicts(analysis: &Analysis) -> Section {
    let headers = ["Judge", "Measure", "n", "Agreement", "Bias"].map(String::from).to_vec();
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for j in &analysis.judges {
        for v in &j.verdicts {
            let agreement = match v.agreement {
                Agreement::Poor => "poor",
                Agreement::Moderate => "moderate",
                Agreement::Good => "good",
                Agreement::Excellent => "excellent",
                Agreement::Undetermined => "undetermined",
            };
            let bias = match v.bias_direction {
                BiasDirection::Inflates => "inflates",
                BiasDirection::Deflates => "deflates",
                BiasDirection::Negligible => "negligible",
                BiasDirection::NoneDetected => "none detected",
                BiasDirection::Unknown => "unknown",
            };
            rows.push(vec![j.judge.clone(), v.measure.clone(), v.n.to_string(), agreement.to_owned(), bias.to_owned()]);
            items.push(format!("{} / {}: {}", j.judge, v.measure, v.text));
        }
    }
    let notes = if rows.is_empty() {
        vec!["No LLM judge was compared with human raters, so there is no verdict.".to_owned()]
    } else {
        vec![format!(
            "Can each LLM judge stand in for the experts? Agreement is the Koo & Li (2016) band (poor < 0.5 <= moderate < 0.75 <= good \
             < 0.9 <= excellent) of the lower bound of the item-level {} 95% CI, undetermined below {} paired replies or when the CI \
             is wider than {}; bias = judge - experts with a conversation-bootstrap CI. Each verdict in full below the table, as \
             `mhbench analyze` prints it.",
            crate::analysis::verdict::VERDICT_ICC_FORM,
            crate::analysis::verdict::MIN_ITEMS,
            crate::analysis::verdict::MAX_CI_WIDTH
        )]
    };
    let tables = if rows.is_empty() { Vec::new() } else { vec![Table { title: "Judges' verdicts at a glance".to_owned(), headers, rows }] };
    Section { id: "verdicts".to_owned(), title: "Judges' verdicts".to_owned(), notes, items, tables }
}

fn test_retest(analysis: &Analysis) -> Section {
    let headers = ["Rater", "Attribute", "Pairs", "Exact", "Within 1", "Mean |difference|", "Cohen's kappa (quadratic)"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for (rater, by_attribute) in &analysis.test_retest {
        for attribute in &analysis.rubric.attributes {
            let Some(cell) = by_attribute.get(attribute) else { continue };
            let mut row = vec![rater.clone(), attribute.clone(), cell.n.to_string()];
            match &cell.stats {
                Some(s) => row.extend([
                    percent(Some(s.exact)),
                    percent(Some(s.within_one)),
                    plain(s.mean_abs_diff),
                    s.kappa_quadratic.map_or_else(|| "n/a (scores do not vary)".to_owned(), plain),
                ]),
                None => row.extend(std::iter::repeat_n(not_enough(cell.n), 4)),
            }
            rows.push(row);
        }
    }
    let notes = if rows.is_empty() {
        vec!["No repeated ratings: the study had no repeated items (`rate plan --repeat-share`), or none was rated again, so there \
              is no test-retest agreement."
            .to_owned()]
    } else {
        vec![format!(
            "Each rater against themselves: every repeated showing of a reply set against the same rater's first rating of it, per \
             attribute. Shown from {MIN_AGREEMENT} pairs; a \"cannot rate\" makes no pair."
        )]
    };
    let tables = if rows.is_empty() { Vec::new() } else { vec![Table { title: "Test-retest agreement per rater and attribute".to_owned(), headers, rows }] };
    Section { id: "test-retest".to_owned(), title: "Test-retest agreement of each rater".to_owned(), notes, items: Vec::new(), tables }
}
