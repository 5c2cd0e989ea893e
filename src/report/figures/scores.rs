//! Composite scores per model with their bootstrap CIs (upper panel) and the
//! cognitive-affective gap with its paired bootstrap CI (lower panel).
//!
//! Models sit on a categorical x axis (key points at 0, 1, ...); each composite is offset
//! slightly so its error bar does not hide the other's.

use plotters::prelude::*;

use super::axis::Categories;
use super::{font, render, series_color, DrawResult, Figure, FigureError};

/// A mean with an optional 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Point estimate.
    pub mean: f64,
    /// 95% CI (low, high), when bootstrapped.
    pub ci: Option<(f64, f64)>,
}

/// One model's composites (in the order of the figure's composite names) and gap.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelScores {
    /// Model id.
    pub model: String,
    /// Each composite's mean, `None` where no reply had all its attributes.
    pub composites: Vec<Option<Estimate>>,
    /// The gap, `None` where no reply had both composites.
    pub gap: Option<Estimate>,
    /// The data set's own human reply, not a model: drawn after a dashed divider.
    pub human_reply: bool,
}

/// The composites-and-gap figure.
///
/// # Errors
/// A plotters backend failure.
pub fn composites(composite_names: &[String], gap_name: &str, rows: &[ModelScores]) -> Result<Figure, FigureError> {
    let id = "composites".to_owned();
    let width = 200 + 90 * u32::try_from(rows.len()).unwrap_or(1);
    let svg = render(&id, (width.max(520), 620), |root| draw(root, composite_names, gap_name, rows))?;
    Ok(Figure {
        id,
        title: format!("{} per model, and the gap {gap_name}", composite_names.join(" and ")),
        caption: format!(
            "Top: mean composite score per model with its 95% bootstrap CI over conversations. Bottom: mean per-reply {gap_name} with its paired bootstrap CI; above zero means the cognitive side scores higher."
        ),
        svg,
        compact: false,
    })
}

fn model_axis(rows: &[ModelScores]) -> Categories {
    Categories::new(rows.iter().map(|r| r.model.clone()).collect())
}

fn bounds<'a>(estimates: impl Iterator<Item = &'a Estimate>) -> Option<(f64, f64)> {
    estimates.flat_map(|e| [e.mean, e.ci.map_or(e.mean, |c| c.0), e.ci.map_or(e.mean, |c| c.1)]).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn draw(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, names: &[String], gap_name: &str, rows: &[ModelScores]) -> DrawResult {
    let (upper, lower) = root.split_vertically(360);
    // The legend sits above the chart, with the chart's own markers, never over a point.
    let (key, upper) = upper.split_vertically(24);
    let mut x = 55;
    for (c, name) in names.iter().enumerate() {
        key.draw(&Circle::new((x + 5, 14), 5, series_color(c).filled()))?;
        key.draw(&Text::new(name.clone(), (x + 14, 7), font(12)))?;
        x += 30 + 8 * i32::try_from(name.chars().count()).unwrap_or(0);
    }
    let n = rows.len().max(1);
    let (lo, hi) = bounds(rows.iter().flat_map(|r| r.composites.iter().flatten())).unwrap_or((1.0, 5.0));
    let mut chart = ChartBuilder::on(&upper)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(model_axis(rows), (lo - 0.2).max(0.8)..(hi + 0.2).min(5.2))?;
    chart.configure_mesh().disable_x_mesh().max_light_lines(1).y_desc("mean score (1-5)").y_label_formatter(&super::tick).label_style(font(11)).draw()?;
    let width = 0.5 / names.len().max(1) as f64;
    for c in 0..names.len() {
        let color = series_color(c);
        let offset = (c as f64 - (names.len() as f64 - 1.0) / 2.0) * width;
        let points: Vec<(f64, Estimate)> = rows.iter().enumerate().filter_map(|(i, r)| Some((i as f64 + offset, (*r.composites.get(c)?)?))).collect();
        chart.draw_series(points.iter().filter_map(|(x, e)| e.ci.map(|(l, h)| ErrorBar::new_vertical(*x, l, e.mean, h, color.stroke_width(2), 8))))?;
        chart.draw_series(points.iter().map(|(x, e)| Circle::new((*x, e.mean), 5, color.filled())))?;
    }

    let (glo, ghi) = bounds(rows.iter().filter_map(|r| r.gap.as_ref())).unwrap_or((-0.5, 0.5));
    let pad = ((ghi - glo) * 0.15).max(0.1);
    let mut gap = ChartBuilder::on(&lower)
        .caption(gap_name, font(15))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(model_axis(rows), (glo.min(0.0) - pad)..(ghi.max(0.0) + pad))?;
    gap.configure_mesh().disable_x_mesh().max_light_lines(1).y_desc("gap").y_label_formatter(&super::tick).label_style(font(11)).draw()?;
    gap.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (n as f64 - 0.5, 0.0)], BLACK.stroke_width(1))))?;
    if let Some(first) = rows.iter().position(|r| r.human_reply) {
        let x = first as f64 - 0.5;
        chart.draw_series(DashedLineSeries::new(vec![(x, (lo - 0.2).max(0.8)), (x, (hi + 0.2).min(5.2))], 5, 4, BLACK.mix(0.5).stroke_width(1)))?;
        gap.draw_series(DashedLineSeries::new(vec![(x, glo.min(0.0) - pad), (x, ghi.max(0.0) + pad)], 5, 4, BLACK.mix(0.5).stroke_width(1)))?;
    }
    let color = series_color(3);
    let points: Vec<(f64, Estimate)> = rows.iter().enumerate().filter_map(|(i, r)| Some((i as f64, r.gap?))).collect();
    gap.draw_series(points.iter().filter_map(|(x, e)| e.ci.map(|(l, h)| ErrorBar::new_vertical(*x, l, e.mean, h, color.stroke_width(2), 8))))?;
    gap.draw_series(points.iter().map(|(x, e)| Circle::new((*x, e.mean), 5, color.filled())))?;
    gap.draw_series(points.iter().map(|(x, e)| Text::new(crate::report::view::fixed(e.mean, 2, true), (*x + 0.08, e.mean), font(11))))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::test_support::{count, filled_circles};

    #[test]
    fn every_model_gets_two_composite_points_a_gap_and_a_label() {
        let e = |mean: f64| Some(Estimate { mean, ci: Some((mean - 0.2, mean + 0.2)) });
        let rows = vec![
            ModelScores { model: "gpt-4o".into(), composites: vec![e(4.6), e(4.1)], gap: e(0.5), human_reply: false },
            ModelScores { model: "qwen3-4b".into(), composites: vec![e(3.6), e(3.3)], gap: Some(Estimate { mean: 0.33, ci: None }), human_reply: true },
        ];
        let figure = composites(&["CSS".into(), "ARS".into()], "CSS - ARS", &rows).unwrap();
        // Circles: 2 models x 2 composites + 2 legend markers + 2 gap points.
        assert_eq!(filled_circles(&figure.svg), 8);
        // Error bars (each with a hollow centre circle): 4 composite CIs + 1 gap CI.
        assert_eq!(count(&figure.svg, "circle") - 8, 5);
        for label in ["gpt-4o", "qwen3-4b", "CSS", "ARS", "+0.50", "+0.33"] {
            assert!(figure.svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn a_model_without_composites_is_left_out_of_the_points() {
        let rows = vec![ModelScores { model: "m".into(), composites: vec![None, None], gap: None, human_reply: false }];
        let figure = composites(&["CSS".into(), "ARS".into()], "CSS - ARS", &rows).unwrap();
        assert_eq!(filled_circles(&figure.svg), 2, "legend markers only");
    }
}
