//! Radar chart of one model: one polygon per panel (human panel, each judge) over the rubric's
//! attributes on the 1..5 scale.
//!
//! plotters has no polar coordinates, so the chart is a square Cartesian plane with no mesh:
//! rings at each scale point, one spoke per attribute (clockwise from the top), and polygons
//! through each panel's means. Score 1 sits at the centre and 5 on the outer ring.

use std::f64::consts::{FRAC_PI_2, TAU};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{font, legend, render, series_color, slug, DrawResult, Figure, FigureError};

/// One polygon: a panel's mean per attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct RadarSeries {
    /// Legend label (panel id).
    pub name: String,
    /// Mean score per attribute, in the rubric's order.
    pub means: Vec<f64>,
}

/// Where score `value` on spoke `i` of `n` lies on the plane.
fn spoke_point(i: usize, n: usize, value: f64) -> (f64, f64) {
    let angle = FRAC_PI_2 - TAU * i as f64 / n as f64;
    let radius = (value - 1.0) / 4.0;
    (radius * angle.cos(), radius * angle.sin())
}

/// A radar chart of `model` over `attributes`, one polygon per series.
///
/// # Errors
/// A plotters backend failure.
pub fn radar(model: &str, attributes: &[String], series: &[RadarSeries]) -> Result<Figure, FigureError> {
    let id = format!("radar-{}", slug(model));
    let legend_height = 12 + 18 * u32::try_from(series.len()).unwrap_or(0);
    let svg = render(&id, (420, 420 + legend_height), |root| {
        let (chart, key) = root.split_vertically(420);
        draw(&chart, model, attributes, series)?;
        let entries: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(s, one)| (one.name.clone(), series_color(s))).collect();
        legend(&key, &entries)
    })?;
    Ok(Figure {
        id,
        title: format!("Profile of {model}"),
        caption: format!(
            "Mean score per attribute (centre 1, outer ring 5), one polygon per panel: {}.",
            series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        svg,
        compact: true,
    })
}

fn draw(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, model: &str, attributes: &[String], series: &[RadarSeries]) -> DrawResult {
    let n = attributes.len().max(3);
    let mut chart = ChartBuilder::on(root).caption(model, font(16)).margin(10).build_cartesian_2d(-1.45f64..1.45f64, -1.3f64..1.3f64)?;
    let grid = RGBColor(200, 200, 200);
    for ring in 2..=5 {
        let outline: Vec<(f64, f64)> = (0..=n).map(|i| spoke_point(i % n, n, f64::from(ring))).collect();
        chart.draw_series(std::iter::once(PathElement::new(outline, grid)))?;
        let (x, y) = spoke_point(0, n, f64::from(ring));
        chart.draw_series(std::iter::once(Text::new(ring.to_string(), (x + 0.03, y), font(10).color(&RGBColor(120, 120, 120)))))?;
    }
    for (i, attribute) in attributes.iter().enumerate() {
        chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), spoke_point(i, n, 5.0)], grid)))?;
        let (x, y) = spoke_point(i, n, 5.55);
        let anchor = Pos::new(if x.abs() < 0.05 { HPos::Center } else if x > 0.0 { HPos::Left } else { HPos::Right }, VPos::Center);
        chart.draw_series(std::iter::once(Text::new(attribute.clone(), (x, y), font(12).pos(anchor))))?;
    }
    for (s, one) in series.iter().enumerate() {
        let color = series_color(s);
        let points: Vec<(f64, f64)> = one.means.iter().enumerate().map(|(i, v)| spoke_point(i, n, *v)).collect();
        chart.draw_series(std::iter::once(Polygon::new(points.clone(), color.mix(0.12).filled())))?;
        let mut outline = points;
        outline.extend(outline.first().copied());
        chart.draw_series(std::iter::once(PathElement::new(outline, color.stroke_width(2))))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::test_support::count;

    fn attributes() -> Vec<String> {
        ["guidance", "informativeness", "safety", "empathy", "helpfulness", "interpretation"].map(String::from).to_vec()
    }

    #[test]
    fn one_polygon_per_panel_and_a_label_per_attribute() {
        let series = vec![
            RadarSeries { name: "human".into(), means: vec![4.0, 3.5, 5.0, 3.0, 4.0, 3.2] },
            RadarSeries { name: "llm:gpt-4o".into(), means: vec![4.5, 4.0, 5.0, 4.0, 4.5, 4.0] },
        ];
        let figure = radar("qwen3-4b", &attributes(), &series).unwrap();
        assert_eq!(figure.id, "radar-qwen3-4b");
        assert_eq!(count(&figure.svg, "polygon"), 2, "one filled polygon per panel");
        for label in attributes().iter().chain(["human".to_owned(), "llm:gpt-4o".to_owned(), "qwen3-4b".to_owned()].iter()) {
            assert!(figure.svg.contains(&format!(">{label}<")) || figure.svg.contains(&format!(">\n{label}\n<")), "missing label {label}");
        }
    }

    #[test]
    fn score_one_is_the_centre_and_five_the_rim() {
        assert_eq!(spoke_point(0, 6, 1.0), (0.0, 0.0));
        let (x, y) = spoke_point(0, 6, 5.0);
        assert!(x.abs() < 1e-12 && (y - 1.0).abs() < 1e-12, "first spoke points up");
    }
}
