//! Quality against cost: each model's composite means against what its replies cost to make,
//! tokens per second or peak resident memory for local models, US dollars per 1,000 replies
//! for API models.

use plotters::prelude::*;

use super::{font, render, series_color, DrawResult, Figure, FigureError};

/// One model's point: its cost measure and composite means.
#[derive(Debug, Clone, PartialEq)]
pub struct CostPoint {
    /// Model id.
    pub model: String,
    /// The x value (tokens/s, MiB of peak memory or USD per 1,000 replies).
    pub cost: f64,
    /// Composite means in the figure's order; `None` where missing.
    pub scores: Vec<Option<f64>>,
}

/// Which cost a figure's x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostAxis {
    /// Completion tokens per second of generation, local models.
    TokensPerSecond,
    /// Estimated US dollars per 1,000 replies at the registry's prices, API models.
    UsdPerThousandReplies,
    /// Peak resident memory (MiB) while the model loaded and generated the run, local models.
    PeakMemoryMib,
}

impl CostAxis {
    fn id(self) -> &'static str {
        match self {
            CostAxis::TokensPerSecond => "quality-speed",
            CostAxis::UsdPerThousandReplies => "quality-price",
            CostAxis::PeakMemoryMib => "quality-memory",
        }
    }

    fn label(self) -> &'static str {
        match self {
            CostAxis::TokensPerSecond => "completion tokens per second of wall time",
            CostAxis::UsdPerThousandReplies => "USD per 1,000 replies",
            CostAxis::PeakMemoryMib => "peak resident memory (MiB)",
        }
    }
}

/// The quality-against-cost figure for `points` on `axis`.
///
/// # Errors
/// A plotters backend failure.
pub fn quality_cost(axis: CostAxis, composite_names: &[String], points: &[CostPoint]) -> Result<Figure, FigureError> {
    let id = axis.id().to_owned();
    let svg = render(&id, (620, 420), |root| draw(root, axis, composite_names, points))?;
    let (title, how) = match axis {
        CostAxis::TokensPerSecond => ("Quality against speed (local models)", "measured in this run as `generate` prints it: completion tokens over the wall-clock time the model was generating (replies sharing a batch count their time once)"),
        CostAxis::UsdPerThousandReplies => ("Quality against price (API models)", "the reported token counts of this run's replies priced at models.toml's per-token prices"),
        CostAxis::PeakMemoryMib => ("Quality against peak memory (local models)", "the peak resident memory of the mhbench process while it loaded the model and generated this run's replies (manifest.json `peak_rss_bytes`)"),
    };
    Ok(Figure {
        id,
        title: title.to_owned(),
        caption: format!("Mean {} per model (one marker each) against {}; x is {how}.", composite_names.join(" and "), axis.label()),
        svg,
        compact: false,
    })
}

fn draw(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, axis: CostAxis, names: &[String], points: &[CostPoint]) -> DrawResult {
    let max_cost = points.iter().map(|p| p.cost).fold(0.0, f64::max);
    let scores = points.iter().flat_map(|p| p.scores.iter().flatten().copied());
    let (lo, hi) = scores.fold((5.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi { (1.0, 5.0) } else { ((lo - 0.3).max(0.8), (hi + 0.3).min(5.2)) };
    let mut chart = ChartBuilder::on(root)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..(max_cost * 1.25).max(1e-9), lo..hi)?;
    chart.configure_mesh().max_light_lines(1).x_desc(axis.label()).y_desc("mean score (1-5)").x_label_formatter(&super::tick).y_label_formatter(&super::tick).label_style(font(11)).draw()?;
    for (c, name) in names.iter().enumerate() {
        let color = series_color(c);
        let drawn: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((p.cost, (*p.scores.get(c)?)?))).collect();
        let marker = move |(x, y): (f64, f64)| -> DynElement<SVGBackend, (f64, f64)> {
            if c % 2 == 0 {
                Circle::new((x, y), 6, color.filled()).into_dyn()
            } else {
                TriangleMarker::new((x, y), 7, color.filled()).into_dyn()
            }
        };
        chart
            .draw_series(drawn.iter().map(|p| marker(*p)))?
            .label(name.clone())
            // The key shows the marker the points use (a circle for even composites, a
            // triangle for odd ones).
            .legend(move |(x, y)| -> DynElement<SVGBackend, (i32, i32)> {
                if c % 2 == 0 {
                    Circle::new((x + 6, y), 5, color.filled()).into_dyn()
                } else {
                    TriangleMarker::new((x + 6, y), 6, color.filled()).into_dyn()
                }
            });
    }
    for p in points {
        let top = p.scores.iter().flatten().copied().fold(f64::MIN, f64::max);
        if top > f64::MIN {
            chart.draw_series(std::iter::once(Text::new(p.model.clone(), (p.cost, top + (hi - lo) * 0.03), font(11))))?;
        }
    }
    chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).background_style(WHITE.mix(0.85)).border_style(RGBColor(200, 200, 200)).label_font(font(11)).draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::test_support::count;

    #[test]
    fn each_model_gets_a_marker_per_composite_and_its_name() {
        let points = vec![
            CostPoint { model: "gpt-4o".into(), cost: 4.2, scores: vec![Some(4.6), Some(4.1)] },
            CostPoint { model: "gpt-4o-mini".into(), cost: 0.3, scores: vec![Some(4.2), None] },
        ];
        let figure = quality_cost(CostAxis::UsdPerThousandReplies, &["CSS".into(), "ARS".into()], &points).unwrap();
        assert_eq!(figure.id, "quality-price");
        // Circles: CSS for both models + its legend marker; triangles (polygons): ARS of gpt-4o
        // + its legend marker, the key showing the marker the points use.
        assert_eq!(count(&figure.svg, "circle"), 3);
        assert_eq!(count(&figure.svg, "polygon"), 2);
        assert!(figure.svg.contains("gpt-4o-mini") && figure.svg.contains("USD per 1,000 replies"));
    }

    #[test]
    fn memory_axis_has_its_own_id_label_and_caption() {
        let points = vec![CostPoint { model: "gemma-3-270m".into(), cost: 462.0, scores: vec![Some(2.1), Some(1.9)] }];
        let figure = quality_cost(CostAxis::PeakMemoryMib, &["CSS".into(), "ARS".into()], &points).unwrap();
        assert_eq!(figure.id, "quality-memory");
        assert_eq!(figure.title, "Quality against peak memory (local models)");
        assert!(figure.caption.contains("peak_rss_bytes"), "{}", figure.caption);
        assert!(figure.svg.contains("peak resident memory (MiB)") && figure.svg.contains("gemma-3-270m"));
        assert_eq!(count(&figure.svg, "polygon"), 2, "the ARS point and its legend marker");
    }
}
