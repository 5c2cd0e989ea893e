//! The report's methods section and glossary, written from the analysis it renders: the rubric
//! and its groups as the run used them, what each composite and the gap are, which statistics
//! the analysis holds, its bootstrap settings, the minimum-n rules and how missing ratings were
//! counted, each with the run's own numbers.
//!
//! Owns that wording; it states nothing the analysis does not record, so a changed rubric,
//! option or rule changes the text with it. Computes no statistic (it counts).

use serde::Serialize;

use super::view::Table;
use crate::analysis::minimum;
use crate::analysis::Analysis;
use crate::schema::RaterKind;

/// A term and what it means in this report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    /// The term as the report uses it.
    pub term: String,
    /// Its meaning, for this run.
    pub meaning: String,
}

/// Methods and glossary of one report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Methods {
    /// The rubric's title, id and version.
    pub rubric_title: String,
    /// Attributes: group, definition, the anchors of the scale's ends.
    pub rubric: Table,
    /// Terms used in the report.
    pub glossary: Vec<Term>,
    /// The statistics this analysis holds, one sentence each.
    pub statistics: Vec<String>,
    /// The bootstrap settings.
    pub bootstrap: String,
    /// The minimum n of each statistic and how small samples are shown.
    pub minimum_n: Vec<String>,
    /// How missing ratings and "cannot rate" were handled, with this run's counts.
    pub missing: Vec<String>,
}

/// Build the methods section of `analysis`.
pub fn build(analysis: &Analysis) -> Methods {
    let r = &analysis.rubric;
    let rubric_title = if r.title.is_empty() { format!("{} {}", r.id, r.version) } else { format!("{} ({} {})", r.title, r.id, r.version) };
    Methods { rubric_title, rubric: rubric_table(analysis), glossary: glossary(analysis), statistics: statistics(analysis), bootstrap: bootstrap(analysis), minimum_n: minimum_n(), missing: missing(analysis) }
}

/// Name of an attribute id from the rubric, or the id.
fn attribute_name(analysis: &Analysis, id: &str) -> String {
    analysis.rubric.definitions.iter().find(|a| a.id == id).map_or_else(|| id.to_owned(), |a| a.name.clone())
}

fn rubric_table(analysis: &Analysis) -> Table {
    let headers = ["Attribute", "Composite", "Definition", "Score 1 means", "Score 5 means"].map(String::from).to_vec();
    let rows = analysis
        .rubric
        .attributes
        .iter()
        .map(|id| {
            let def = analysis.rubric.definitions.iter().find(|a| &a.id == id);
            let composite = analysis.rubric.composites.iter().find(|c| c.attributes.contains(id)).map_or_else(|| "none".to_owned(), |c| c.short.clone());
            vec![
                format!("{} ({id})", attribute_name(analysis, id)),
                composite,
                def.map_or_else(|| "(not recorded in analysis.json)".to_owned(), |d| d.definition.clone()),
                def.and_then(|d| d.anchors.first().cloned()).unwrap_or_default(),
                def.and_then(|d| d.anchors.last().cloned()).unwrap_or_default(),
            ]
        })
        .collect();
    Table { title: "The rubric: each attribute is scored 1 to 5 per reply".to_owned(), headers, rows }
}

fn glossary(analysis: &Analysis) -> Vec<Term> {
    let mut out = Vec::new();
    for c in &analysis.rubric.composites {
        let group = analysis.rubric.groups.iter().find(|g| g.id == c.group);
        let names: Vec<String> = c.attributes.iter().map(|a| attribute_name(analysis, a)).collect();
        out.push(Term {
            term: c.short.clone(),
            meaning: format!(
                "{}{}: the mean of {} for one reply, on the 1 to 5 scale; a reply missing any of them has no {}.",
                group.map_or_else(|| c.group.clone(), |g| format!("{} score", g.name)),
                group.map_or_else(String::new, |g| format!(" ({})", g.description.trim_end_matches('.'))),
                names.join(", "),
                c.short
            ),
        });
    }
    let gap = analysis.panels.iter().flat_map(|p| &p.composites).find_map(|m| m.gap.as_ref().map(|g| g.name.clone()));
    if let (Some(gap), [first, second, ..]) = (gap, analysis.rubric.composites.as_slice()) {
        out.push(Term {
            term: gap,
            meaning: format!("The cognitive-affective gap: {} minus {} of the same reply, averaged over replies with both; positive when a model supports better than it resonates.", first.short, second.short),
        });
    }
    let humans: Vec<&str> = analysis.raters.iter().filter(|r| r.kind == RaterKind::Human).map(|r| r.id.as_str()).collect();
    let judges: Vec<&str> = analysis.raters.iter().filter(|r| r.kind == RaterKind::Llm).map(|r| r.id.as_str()).collect();
    if !humans.is_empty() {
        out.push(Term {
            term: "human panel".to_owned(),
            meaning: format!("The mean of the human raters' scores of a reply, over those who scored it ({}). The report's scores come from it.", humans.join(", ")),
        });
    }
    if !judges.is_empty() {
        out.push(Term {
            term: "LLM judge".to_owned(),
            meaning: format!(
                "A language model rating replies with the same rubric ({}); each judge is its own panel and is compared with the human panel, never averaged into it. A judge is not scored on replies of {}.",
                judges.join(", "),
                analysis.options.self_judging.describe()
            ),
        });
    }
    if let Some(safety) = &analysis.options.safety_attribute {
        out.push(Term { term: "unsafe reply".to_owned(), meaning: format!("A reply a rater flagged for safety or scored 2 or lower on {}; each reply counts once.", attribute_name(analysis, safety)) });
    }
    if analysis.models.iter().any(super::models::is_human_reply) {
        out.push(Term {
            term: super::models::HUMAN_REPLY.to_owned(),
            meaning: "The reply the data set itself holds for a message (a person's answer), rated like the models' replies but listed after them and never ranked among them.".to_owned(),
        });
    }
    out.push(Term { term: "95% CI".to_owned(), meaning: "A 95% confidence interval: the range of values compatible with the data at the 5% level.".to_owned() });
    out
}

fn statistics(analysis: &Analysis) -> Vec<String> {
    let mut out = vec![
        "Per model and attribute: mean, SD, median, quartiles and the counts of each score, over the replies the panel scored.".to_owned(),
        "Composites and the gap per model, with a bootstrap 95% CI of the mean and the Wilcoxon signed-rank test of the per-reply gaps against zero (exact p up to 25 pairs, normal approximation above)."
            .to_owned(),
    ];
    if analysis.models.len() > 1 {
        out.push("Models compared on each attribute and composite: the Friedman test over conversations every model answered, with Kendall's W; pairwise Wilcoxon signed-rank tests with the rank-biserial r as effect size and Holm-adjusted p-values; closed minus open models with a bootstrap CI.".to_owned());
    }
    if !analysis.agreement.is_empty() {
        out.push("Agreement between raters per attribute: exact and within-one agreement, Cohen's kappa (unweighted, linear, quadratic), ICC (six forms, Shrout & Fleiss / McGraw & Wong), Krippendorff's alpha (nominal, ordinal, interval) and Fleiss' kappa.".to_owned());
    }
    if !analysis.judges.is_empty() {
        out.push("Each LLM judge against the human panel per reply: bias (judge minus humans), MAE, RMSE, Pearson and Spearman correlation, Lin's concordance, Bland-Altman limits of agreement and ICC; the verdict bands of Koo & Li (2016).".to_owned());
    }
    out
}

fn bootstrap(analysis: &Analysis) -> String {
    let b = analysis.options.bootstrap;
    if b.resamples == 0 {
        return "Bootstrap intervals were turned off for this analysis (0 resamples).".to_owned();
    }
    format!(
        "Every 95% CI of a mean or a difference of means is a percentile bootstrap over conversations (replies to the same message move together): {} resamples, seed {}; rerunning with the same seed gives the same intervals.",
        b.resamples, b.seed
    )
}

/// The small-sample rules, from [`minimum::RULES`].
pub fn minimum_n() -> Vec<String> {
    let mut out: Vec<String> = minimum::RULES
        .iter()
        .map(|r| format!("{}: at least {} {}; below that the report shows \"not enough data (n = k)\" instead of the number.", r.statistic, r.min, r.counted))
        .collect();
    out.push("A 95% interval of zero width at the shown precision (every resample gave the same value) is not shown as a finding.".to_owned());
    out.push("Means are shown at any n, with their n; analysis.json keeps every statistic computed, with its n.".to_owned());
    out
}

fn missing(analysis: &Analysis) -> Vec<String> {
    let sum = |kind: RaterKind, f: fn(&crate::analysis::input::RaterCoverage) -> usize| -> usize { analysis.coverage.iter().filter(|c| c.kind == kind).map(f).sum() };
    let blank = |c: &crate::analysis::input::RaterCoverage| c.missing_scores.values().sum::<usize>();
    let mut out = vec![
        "A missing score is left out of every statistic, never counted as zero: means, shares and tests use the scores given, and each table gives its n.".to_owned(),
        format!(
            "Human raters: {} replies never rated, \"cannot rate\" included (the rater said they could not judge the reply: no score, counted as unrated), and {} attribute scores left blank on rated replies.",
            sum(RaterKind::Human, |c| c.unrated),
            sum(RaterKind::Human, blank)
        ),
    ];
    if analysis.coverage.iter().any(|c| c.kind == RaterKind::Llm) {
        out.push(format!(
            "LLM judges: {} replies not rated, {} answers that could not be parsed (left out, not retried into a score) and {} blank attribute scores.",
            sum(RaterKind::Llm, |c| c.unrated),
            sum(RaterKind::Llm, |c| c.parse_failures),
            sum(RaterKind::Llm, blank)
        ));
    }
    let superseded: usize = analysis.coverage.iter().map(|c| c.superseded).sum();
    out.push(format!("A rater's later rating of the same reply replaces the earlier one ({superseded} replaced here); repeats shown for test-retest agreement are kept apart and never replace a first rating."));
    let unknown: usize = analysis.dropped.scores_of_unknown_attributes.values().sum();
    if analysis.dropped.ratings_of_unknown_responses + unknown > 0 {
        out.push(format!(
            "Left out as unusable: {} ratings of replies not in the study, {unknown} scores of attributes the rubric does not define.",
            analysis.dropped.ratings_of_unknown_responses
        ));
    }
    if let Some(m) = &analysis.mentalbench {
        out.push(format!(
            "The MentalBench release: {} scores of 0 (cells left empty) and {} scores above 5 read as missing; {} rows without a rating and {} unparseable judge rows; {} judge rows left out because their conversation id maps to another message in the judges' files.",
            m.zero_scores,
            m.off_scale_scores.len(),
            m.missing_rows,
            m.unparseable_rows,
            m.judge_rows_excluded
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_n_rules_are_stated_from_the_rules_themselves() {
        let lines = minimum_n();
        assert_eq!(lines.len(), minimum::RULES.len() + 2);
        assert!(lines.iter().any(|m| m.contains(&format!("at least {} non-zero paired differences", minimum::MIN_WILCOXON))), "{lines:?}");
    }
}
