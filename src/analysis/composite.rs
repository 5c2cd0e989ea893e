//! Composite scores per reply from the rubric's groups (CSS, ARS, ...), their variability per
//! model, and the gap between the first two groups (CSS - ARS) with a paired bootstrap CI and a
//! Wilcoxon signed-rank test.
//!
//! Owns composites only; which attributes form a group, and the groups' order, come from the
//! rubric (`crate::rubric::Rubric`), never from code. A composite is the mean of the group's
//! attribute scores for one reply (Badawi et al. 2026: CSS = mean(Guidance, Informativeness,
//! Safety), ARS = mean(Empathy, Helpfulness, Interpretation)); a reply missing any of the
//! group's attributes has no composite and is counted as missing. The gap's CI resamples
//! conversations, keeping each reply's two composites paired.

use serde::{Deserialize, Serialize};

use super::basic::{self, Summary};
use super::bootstrap::{Bootstrap, BootstrapCi};
use super::compare::{self, Wilcoxon};
use super::descriptive::mean_of_drawn;
use super::input::{PanelScores, RatingTable};
use crate::rubric::Rubric;

/// A rubric group's composite, resolved to attribute indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompositeDef {
    /// Group id (`cognitive`).
    pub group: String,
    /// Short name (`CSS`), used as the measure name.
    pub short: String,
    /// Attribute ids averaged.
    pub attributes: Vec<String>,
    #[serde(skip)]
    indices: Vec<usize>,
}

/// Composites in rubric group order (groups without attributes are skipped).
pub fn definitions(rubric: &Rubric, table: &RatingTable) -> Vec<CompositeDef> {
    rubric
        .groups
        .iter()
        .filter_map(|group| {
            let attributes: Vec<String> = rubric.attributes_in(&group.id).map(|a| a.id.clone()).collect();
            let indices: Vec<usize> = attributes
                .iter()
                .filter_map(|id| table.attributes.iter().position(|a| a == id))
                .collect();
            (!indices.is_empty()).then(|| CompositeDef {
                group: group.id.clone(),
                short: group.short.clone(),
                attributes,
                indices,
            })
        })
        .collect()
}

/// Composite of one reply, `None` unless every attribute of the group is scored.
pub fn composite(scores: &PanelScores, def: &CompositeDef, model: usize, conversation: usize) -> Option<f64> {
    let values: Option<Vec<f64>> = def.indices.iter().map(|&a| scores.score(model, conversation, a)).collect();
    basic::mean(&values?)
}

/// `composite` for every conversation of `model`.
pub fn per_conversation(scores: &PanelScores, def: &CompositeDef, model: usize) -> Vec<Option<f64>> {
    (0..scores.conversation_count()).map(|c| composite(scores, def, model, c)).collect()
}

/// One composite of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositeStats {
    /// Short name (`CSS`).
    pub composite: String,
    /// Replies with a complete composite.
    pub n: usize,
    /// Replies of the model without a complete composite.
    pub missing: usize,
    /// Location and spread across conversations (the composite's variability).
    pub summary: Option<Summary>,
    /// Coefficient of variation SD / mean across conversations.
    pub cv: Option<f64>,
    /// Bootstrap 95% CI of the mean over conversations.
    pub mean_ci: Option<BootstrapCi>,
}

/// The gap first composite minus second for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Name, e.g. `CSS - ARS`.
    pub name: String,
    /// Replies with both composites.
    pub n: usize,
    /// Mean of the per-reply gaps.
    pub mean: f64,
    /// SD of the per-reply gaps.
    pub sd: Option<f64>,
    /// Paired bootstrap 95% CI of the mean gap over conversations.
    pub mean_ci: Option<BootstrapCi>,
    /// Wilcoxon signed-rank test of the per-reply gaps against zero.
    pub wilcoxon: Option<Wilcoxon>,
}

/// Composites and gap of one model under one panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelComposites {
    /// Model id.
    pub model: String,
    /// One entry per rubric group.
    pub composites: Vec<CompositeStats>,
    /// First group minus second; null when the rubric has fewer than two groups or no reply
    /// has both.
    pub gap: Option<Gap>,
}

/// Composites and gap for every model.
pub fn composites(table: &RatingTable, scores: &PanelScores, defs: &[CompositeDef], bootstrap: Bootstrap) -> Vec<ModelComposites> {
    table
        .models
        .iter()
        .enumerate()
        .map(|(m, model)| {
            let responses = table.exists[m].iter().filter(|e| **e).count();
            let series: Vec<Vec<Option<f64>>> = defs.iter().map(|d| per_conversation(scores, d, m)).collect();
            let composites = defs
                .iter()
                .zip(&series)
                .map(|(def, values)| {
                    let present: Vec<f64> = values.iter().flatten().copied().collect();
                    let summary = Summary::of(&present);
                    let cv = summary.as_ref().and_then(|s| s.sd.filter(|_| s.mean != 0.0).map(|sd| sd / s.mean));
                    CompositeStats {
                        composite: def.short.clone(),
                        n: present.len(),
                        missing: responses.saturating_sub(present.len()),
                        summary,
                        cv,
                        mean_ci: bootstrap.ci(values.len(), |drawn| mean_of_drawn(values, drawn)),
                    }
                })
                .collect();
            let gap = match (defs, series.as_slice()) {
                ([first, second, ..], [a, b, ..]) => gap(&format!("{} - {}", first.short, second.short), a, b, bootstrap),
                _ => None,
            };
            ModelComposites { model: model.id.clone(), composites, gap }
        })
        .collect()
}

/// Per-conversation differences a - b where both exist.
pub fn paired_differences(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<Option<f64>> {
    a.iter().zip(b).map(|(x, y)| Some((*x)? - (*y)?)).collect()
}

fn gap(name: &str, a: &[Option<f64>], b: &[Option<f64>], bootstrap: Bootstrap) -> Option<Gap> {
    let differences = paired_differences(a, b);
    let present: Vec<f64> = differences.iter().flatten().copied().collect();
    Some(Gap {
        name: name.to_owned(),
        n: present.len(),
        mean: basic::mean(&present)?,
        sd: basic::sd(&present),
        mean_ci: bootstrap.ci(differences.len(), |drawn| mean_of_drawn(&differences, drawn)),
        wilcoxon: compare::wilcoxon(&present),
    })
}
