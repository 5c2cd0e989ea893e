//! Small multiples of the reply sources' profiles: one small panel per model (the data set's own
//! human reply last, shaded), each a dot plot of the mean score per attribute, one dot colour
//! per rater panel, on shared axes (attributes down, 1..5 across), in one SVG. Replaces one
//! radar chart per model, which made near-identical shapes hard to compare.
//!
//! Attribute names are written once per row of panels (left column); the legend sits above
//! the panels with the same markers, so no label is drawn over data.

use plotters::prelude::*;

use super::axis::Categories;
use super::{font, render, series_color, DrawResult, Figure, FigureError};

/// One reply source's panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Panel title (the source's label).
    pub title: String,
    /// The data set's own human reply: shaded and set apart.
    pub human_reply: bool,
    /// Per rater panel (same order as the figure's panel names), the mean per attribute.
    pub means: Vec<Vec<Option<f64>>>,
}

/// Panels per row.
const COLUMNS: usize = 5;
/// Width of the attribute labels, left column only.
const LABELS: u32 = 120;
/// Width and height of the plotting part of one panel.
const PANEL_W: u32 = 150;
const ROW_H: u32 = 22;
const TITLE_H: u32 = 26;
const AXIS_H: u32 = 24;
const KEY_H: u32 = 28;
/// Shading of the data set's human reply's panel.
const HUMAN_REPLY_SHADE: RGBColor = RGBColor(247, 243, 250);

/// The small-multiples figure of `profiles` over `attributes`; `panels` names the dot colours.
///
/// # Errors
/// A plotters backend failure.
pub fn profiles(attributes: &[String], panels: &[String], profiles: &[Profile]) -> Result<Figure, FigureError> {
    let id = "profiles".to_owned();
    let columns = COLUMNS.min(profiles.len().max(1));
    let rows = profiles.len().div_ceil(columns).max(1);
    let panel_h = TITLE_H + AXIS_H + ROW_H * u32::try_from(attributes.len()).unwrap_or(1);
    let width = LABELS + (PANEL_W + 10) * u32::try_from(columns).unwrap_or(1) + 10;
    let height = KEY_H + panel_h * u32::try_from(rows).unwrap_or(1);
    let svg = render(&id, (width, height), |root| draw(root, attributes, panels, profiles, columns, panel_h))?;
    Ok(Figure {
        id,
        title: "Profiles per model on shared axes".to_owned(),
        caption: format!(
            "One panel per reply source: the mean score of each attribute (1 to 5, same scale in every panel), one dot per rater panel ({}). {}",
            panels.join(", "),
            if profiles.iter().any(|p| p.human_reply) { "The shaded panel is the data set's own human reply, not a model." } else { "" }
        ),
        svg,
        compact: false,
    })
}

fn draw(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, attributes: &[String], panels: &[String], profiles: &[Profile], columns: usize, panel_h: u32) -> DrawResult {
    let (key, grid) = root.split_vertically(KEY_H);
    // The legend: the same filled circles the panels use.
    let mut x = i32::try_from(LABELS).unwrap_or(0);
    for (p, name) in panels.iter().enumerate() {
        key.draw(&Circle::new((x + 5, 12), 5, series_color(p).filled()))?;
        key.draw(&Text::new(name.clone(), (x + 14, 5), font(12)))?;
        x += 24 + 7 * i32::try_from(name.chars().count()).unwrap_or(0);
    }
    let n = attributes.len().max(1);
    for (i, profile) in profiles.iter().enumerate() {
        let (row, column) = (i / columns, i % columns);
        let left = if column == 0 { 0 } else { LABELS + (PANEL_W + 10) * u32::try_from(column).unwrap_or(0) };
        let w = if column == 0 { LABELS + PANEL_W + 10 } else { PANEL_W + 10 };
        let top = panel_h * u32::try_from(row).unwrap_or(0);
        let area = grid.clone().shrink((left, top), (w, panel_h));
        if profile.human_reply {
            area.fill(&HUMAN_REPLY_SHADE)?;
        }
        // Attributes top-down: the axis is reversed so the first attribute is on top.
        let labels: Vec<String> = if column == 0 { attributes.iter().rev().cloned().collect() } else { vec![String::new(); n] };
        let mut chart = ChartBuilder::on(&area)
            .caption(profile.title.clone(), font(12))
            .margin_right(10)
            .y_label_area_size(if column == 0 { LABELS } else { 0 })
            .x_label_area_size(AXIS_H - 4)
            .build_cartesian_2d(0.8f64..5.2f64, Categories::new(labels))?;
        chart.configure_mesh().disable_y_mesh().x_labels(5).x_label_formatter(&|v| format!("{v:.0}")).max_light_lines(0).label_style(font(10)).draw()?;
        for (p, means) in profile.means.iter().enumerate() {
            let color = series_color(p);
            let dots = means.iter().enumerate().filter_map(|(a, v)| Some(((*v)?, (n - 1 - a) as f64)));
            chart.draw_series(dots.map(|(v, y)| Circle::new((v, y), 4, color.filled())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::test_support::filled_circles;

    #[test]
    fn one_panel_per_source_one_dot_per_panel_and_attribute_and_a_matching_legend() {
        let attributes: Vec<String> = ["guidance", "safety", "empathy"].map(String::from).to_vec();
        let panels = vec!["human".to_owned(), "llm:gpt-4o".to_owned()];
        let profile = |title: &str, human_reply| Profile { title: title.into(), human_reply, means: vec![vec![Some(4.0), Some(3.5), None], vec![Some(4.5), Some(4.0), Some(3.0)]] };
        let figure = profiles(&attributes, &panels, &[profile("gpt-4o", false), profile("original (human reply)", true)]).unwrap();
        // 2 sources x 5 scores given + 2 legend dots.
        assert_eq!(filled_circles(&figure.svg), 12);
        for label in ["gpt-4o", "original (human reply)", "guidance", "empathy", "human", "llm:gpt-4o"] {
            assert!(figure.svg.contains(label), "missing {label}");
        }
        assert_eq!(figure.svg.matches(">guidance<").count() + figure.svg.matches(">\nguidance\n<").count(), 1, "attribute names once per row of panels");
        assert!(figure.svg.contains("#F7F3FA") || figure.svg.contains("#f7f3fa"), "the human reply's panel is shaded");
        assert!(figure.caption.contains("not a model"));
    }
}
