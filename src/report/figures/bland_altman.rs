//! Bland-Altman plots of one LLM judge against the human panel: one panel per measure, the
//! per-reply mean of both on x and judge - human on y, with the bias line and the 95% limits
//! of agreement. Repeated pairs (common on a Likert scale) are one circle whose area grows with
//! their count.

use plotters::prelude::*;

use super::{font, grid, grid_size, render, series_color, slug, DrawResult, Figure, FigureError};
use crate::analysis::judge::BlandAltman;

/// The plots of `judge`, one per `(measure, agreement)`.
///
/// # Errors
/// A plotters backend failure.
pub fn bland_altman(judge: &str, measures: &[(String, BlandAltman)]) -> Result<Figure, FigureError> {
    let id = format!("bland-altman-{}", slug(judge));
    let (width, height) = grid_size(measures.len(), 3, (340, 280), 0);
    let svg = render(&id, (width, height), |root| draw(root, measures))?;
    Ok(Figure {
        id,
        title: format!("Bland-Altman: {judge} against the human panel"),
        caption: "Per reply: x is the mean of judge and human panel, y is judge - human. Solid line: bias; dashed lines: bias +- 1.96 SD (limits of agreement). Circle area grows with the number of replies at that point.".to_owned(),
        svg,
        compact: false,
    })
}

fn draw(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, measures: &[(String, BlandAltman)]) -> DrawResult {
    let panels = root.split_evenly(grid(measures.len(), 3));
    for ((measure, ba), panel) in measures.iter().zip(&panels) {
        let max_count = ba.points.iter().map(|p| p.count).max().unwrap_or(1) as f64;
        let spread = ba.points.iter().map(|p| p.difference.abs()).fold(ba.upper_limit.abs().max(ba.lower_limit.abs()), f64::max) + 0.3;
        let mut chart = ChartBuilder::on(panel)
            // The bias is named in the caption, not written inside the plot over the points.
            .caption(format!("{measure}: bias {}", crate::report::view::fixed(ba.bias, 2, true)), font(14))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.8f64..5.2f64, -spread..spread)?;
        chart.configure_mesh().max_light_lines(1).x_desc("mean").y_desc("judge - human").x_label_formatter(&super::tick).y_label_formatter(&super::tick).label_style(font(10)).draw()?;
        let color = series_color(0);
        chart.draw_series(ba.points.iter().map(|p| {
            let radius = 2.0 + 8.0 * (p.count as f64 / max_count).sqrt();
            Circle::new((p.mean, p.difference), radius.round() as i32, color.mix(0.45).filled())
        }))?;
        let line = |y: f64| vec![(0.8, y), (5.2, y)];
        chart.draw_series(std::iter::once(PathElement::new(line(ba.bias), series_color(3).stroke_width(2))))?;
        for limit in [ba.lower_limit, ba.upper_limit] {
            chart.draw_series(DashedLineSeries::new(line(limit), 6, 4, series_color(3).stroke_width(1)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::judge::BlandAltmanPoint;
    use crate::report::figures::test_support::count;

    fn agreement(points: usize) -> BlandAltman {
        BlandAltman {
            bias: 0.4,
            sd: 0.5,
            lower_limit: 0.4 - 0.98,
            upper_limit: 0.4 + 0.98,
            points: (0..points).map(|i| BlandAltmanPoint { mean: 1.0 + i as f64 * 0.5, difference: 0.5, count: i + 1 }).collect(),
        }
    }

    #[test]
    fn a_panel_per_measure_with_every_point() {
        let measures = vec![("guidance".to_owned(), agreement(3)), ("CSS".to_owned(), agreement(5))];
        let figure = bland_altman("llm:gpt-4o", &measures).unwrap();
        assert_eq!(figure.id, "bland-altman-llm-gpt-4o");
        assert_eq!(count(&figure.svg, "circle"), 8);
        assert!(figure.svg.contains("guidance") && figure.svg.contains("CSS"));
        assert_eq!(figure.svg.matches("bias +0.40").count(), 2);
        assert!(figure.svg.contains(">guidance: bias +0.40<") || figure.svg.contains(">\nguidance: bias +0.40\n<"), "the bias sits in the caption, off the data");
    }
}
