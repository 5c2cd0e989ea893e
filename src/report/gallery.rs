//! Which figures a report has: each is drawn when its data is in `analysis.json`,
//! and otherwise left out with a one-line reason, never drawn empty.
//!
//! Owns choosing and feeding the figure builders in [`super::figures`]; computes nothing
//! beyond reading the analysis' numbers into the builders' inputs.

use serde::Serialize;

use super::figures::bland_altman::bland_altman;
use super::figures::cost::{quality_cost, CostAxis, CostPoint};
use super::figures::distribution::distributions;
use super::figures::heatmap::heatmap;
use super::figures::profiles::{profiles, Profile};
use super::models;
use super::figures::scores::{composites, Estimate, ModelScores};
use super::figures::{Figure, FigureError};
use crate::analysis::performance::ModelPerformance;
use super::view::primary_panel;
use crate::analysis::descriptive::CellStats;
use crate::analysis::{Analysis, PanelAnalysis};
use crate::schema::ModelKind;

/// A figure left out and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Omission {
    /// The figure that would have been drawn.
    pub title: String,
    /// Why it was not.
    pub reason: String,
}

/// The drawn figures, in report order, and the omitted ones.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Gallery {
    /// Drawn figures.
    pub figures: Vec<Figure>,
    /// Figures left out.
    pub omitted: Vec<Omission>,
}

impl Gallery {
    fn add(&mut self, figure: Result<Figure, FigureError>) -> Result<(), FigureError> {
        self.figures.push(figure?);
        Ok(())
    }

    fn omit(&mut self, title: &str, reason: impl Into<String>) {
        self.omitted.push(Omission { title: title.to_owned(), reason: reason.into() });
    }
}

/// Draw every figure the data allows.
///
/// # Errors
/// A plotting backend failure.
pub fn build(analysis: &Analysis) -> Result<Gallery, FigureError> {
    let performance = analysis.performance.as_slice();
    let mut gallery = Gallery::default();
    let Some(panel) = primary_panel(analysis) else {
        gallery.omit("All score figures", "analysis.json has no rating panel");
        return Ok(gallery);
    };
    scores_figure(&mut gallery, analysis, panel)?;
    heatmap_figure(&mut gallery, analysis, panel)?;
    profiles_figure(&mut gallery, analysis)?;
    distribution_figure(&mut gallery, analysis, panel)?;
    bland_altman_figures(&mut gallery, analysis)?;
    cost_figures(&mut gallery, analysis, panel, performance)?;
    Ok(gallery)
}

fn composite_names(analysis: &Analysis) -> Vec<String> {
    analysis.rubric.composites.iter().map(|d| d.short.clone()).collect()
}

fn scores_figure(gallery: &mut Gallery, analysis: &Analysis, panel: &PanelAnalysis) -> Result<(), FigureError> {
    let mut ordered: Vec<&crate::analysis::composite::ModelComposites> = panel.composites.iter().collect();
    models::sort_by_source(analysis, &mut ordered, |m| &m.model);
    let rows: Vec<ModelScores> = ordered
        .into_iter()
        .map(|m| ModelScores {
            model: models::figure_label(analysis, &m.model),
            composites: m.composites.iter().map(|c| c.summary.as_ref().map(|s| Estimate { mean: s.mean, ci: c.mean_ci.map(|ci| (ci.ci95.low, ci.ci95.high)) })).collect(),
            gap: m.gap.as_ref().map(|g| Estimate { mean: g.mean, ci: g.mean_ci.map(|ci| (ci.ci95.low, ci.ci95.high)) }),
            human_reply: models::is_human_reply_id(analysis, &m.model),
        })
        .collect();
    if rows.iter().all(|r| r.composites.iter().all(Option::is_none)) {
        gallery.omit("Composite scores and gap", "no reply has every attribute of a composite scored");
        return Ok(());
    }
    let gap_name = panel.composites.iter().find_map(|m| m.gap.as_ref().map(|g| g.name.clone())).unwrap_or_else(|| "gap".to_owned());
    gallery.add(composites(&composite_names(analysis), &gap_name, &rows))
}

/// `value` of each model x attribute cell of `panel` (`None` where the panel has no such cell),
/// in report order ([`models::ordered`]) and the rubric's attribute order.
fn per_cell<T>(analysis: &Analysis, panel: &PanelAnalysis, value: impl Fn(Option<&CellStats>) -> T) -> Vec<Vec<T>> {
    models::ordered(analysis)
        .into_iter()
        .map(|m| {
            analysis
                .rubric
                .attributes
                .iter()
                .map(|a| value(panel.descriptives.iter().find(|c| c.model == m.id && &c.attribute == a)))
                .collect()
        })
        .collect()
}

/// Mean per model x attribute of `panel`, in the analysis' model and attribute order.
fn means(analysis: &Analysis, panel: &PanelAnalysis) -> Vec<Vec<Option<f64>>> {
    per_cell(analysis, panel, |c| c.and_then(|c| c.summary.as_ref()).map(|s| s.mean))
}

/// The reply sources' figure labels, in report order.
fn model_ids(analysis: &Analysis) -> Vec<String> {
    models::ordered(analysis).into_iter().map(|m| models::figure_label(analysis, &m.id)).collect()
}

fn heatmap_figure(gallery: &mut Gallery, analysis: &Analysis, panel: &PanelAnalysis) -> Result<(), FigureError> {
    let means = means(analysis, panel);
    if means.iter().flatten().all(Option::is_none) {
        gallery.omit("Mean score per model and attribute", "the panel scored no attribute");
        return Ok(());
    }
    gallery.add(heatmap(&model_ids(analysis), &analysis.rubric.attributes, &means))
}

fn profiles_figure(gallery: &mut Gallery, analysis: &Analysis) -> Result<(), FigureError> {
    let per_panel: Vec<Vec<Vec<Option<f64>>>> = analysis.panels.iter().map(|p| means(analysis, p)).collect();
    let panels: Vec<String> = analysis.panels.iter().map(|p| p.panel.id.clone()).collect();
    let shown: Vec<Profile> = models::ordered(analysis)
        .into_iter()
        .enumerate()
        .map(|(m, model)| Profile {
            title: models::figure_label(analysis, &model.id),
            human_reply: models::is_human_reply(model),
            means: per_panel.iter().map(|means| means.get(m).cloned().unwrap_or_default()).collect(),
        })
        .filter(|p| p.means.iter().flatten().any(Option::is_some))
        .collect();
    if shown.is_empty() {
        gallery.omit("Profiles per model", "no panel scored any attribute");
        return Ok(());
    }
    gallery.add(profiles(&analysis.rubric.attributes, &panels, &shown))
}

fn distribution_figure(gallery: &mut Gallery, analysis: &Analysis, panel: &PanelAnalysis) -> Result<(), FigureError> {
    let counts = per_cell(analysis, panel, |c| c.map_or([0; 5], |c| c.distribution));
    if counts.iter().flatten().all(|c| c.iter().sum::<usize>() == 0) {
        gallery.omit("Distribution of scores per model and attribute", "the panel gave no score");
        return Ok(());
    }
    gallery.add(distributions(&model_ids(analysis), &analysis.rubric.attributes, &counts))
}

fn bland_altman_figures(gallery: &mut Gallery, analysis: &Analysis) -> Result<(), FigureError> {
    if analysis.judges.is_empty() {
        let reason = if analysis.panels.iter().any(|p| p.panel.kind == crate::schema::RaterKind::Human) {
            "no LLM judge rated this run"
        } else {
            "no human ratings to compare the judges with"
        };
        gallery.omit("Bland-Altman plots of judges against humans", reason);
        return Ok(());
    }
    for judge in &analysis.judges {
        let measures: Vec<(String, crate::analysis::judge::BlandAltman)> =
            judge.measures.iter().filter_map(|m| Some((m.measure.clone(), m.items.as_ref()?.bland_altman.clone()?))).collect();
        if measures.is_empty() {
            gallery.omit(&format!("Bland-Altman: {}", judge.judge), "fewer than two replies scored by both the judge and the human panel");
        } else {
            gallery.add(bland_altman(&judge.judge, &measures))?;
        }
    }
    Ok(())
}

fn cost_figures(gallery: &mut Gallery, analysis: &Analysis, panel: &PanelAnalysis, performance: &[ModelPerformance]) -> Result<(), FigureError> {
    let names = composite_names(analysis);
    let scores_of = |model: &str| -> Vec<Option<f64>> {
        let found = panel.composites.iter().find(|m| m.model == model);
        (0..names.len()).map(|c| found.and_then(|m| m.composites.get(c)?.summary.as_ref().map(|s| s.mean))).collect()
    };
    let points = |cost: fn(&ModelPerformance) -> Option<f64>| -> Vec<CostPoint> {
        performance.iter().filter_map(|p| Some(CostPoint { model: p.model.clone(), cost: cost(p)?, scores: scores_of(&p.model) })).filter(|p| p.scores.iter().any(Option::is_some)).collect()
    };
    let has = |kind: ModelKind| performance.iter().any(|p| p.kind == kind);
    for axis in [CostAxis::TokensPerSecond, CostAxis::PeakMemoryMib, CostAxis::UsdPerThousandReplies] {
        let (title, kind, cost, unmeasured): (_, _, fn(&ModelPerformance) -> Option<f64>, _) = match axis {
            CostAxis::TokensPerSecond => ("Quality against speed (local models)", ModelKind::Local,
                |p| p.tokens_per_s, "no rated local-model reply reports token counts and times"),
            CostAxis::PeakMemoryMib => ("Quality against peak memory (local models)", ModelKind::Local,
                |p| p.peak_rss_bytes.map(|b| b as f64 / 1048576.0),
                "the run's manifest records no peak memory for a rated local model (runs before mhbench recorded it, or an OS without /proc/self/clear_refs)"),
            CostAxis::UsdPerThousandReplies => ("Quality against price (API models)", ModelKind::Api,
                |p| p.usd_per_1000_replies, "no rated API model has token counts and a price in the model registry"),
        };
        let measured = points(cost);
        if !measured.is_empty() {
            gallery.add(quality_cost(axis, &names, &measured))?;
        } else if performance.is_empty() {
            gallery.omit(title, "the folder has no responses/*.jsonl to measure speed or price from");
        } else if has(kind) {
            gallery.omit(title, unmeasured);
        } else {
            gallery.omit(title, if kind == ModelKind::Local { "the run has no local models" } else { "the run has no API models" });
        }
    }
    Ok(())
}
