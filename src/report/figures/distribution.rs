//! Stacked rating distributions: one panel per attribute, one horizontal bar per model split
//! into the shares of scores 1..5.

use plotters::prelude::*;

use super::axis::Categories;
use super::{font, grid, grid_size, render, DrawResult, Figure, FigureError};

/// Colours of scores 1..5, red (1) through grey (3) to green (5).
const SCORE_COLORS: [RGBColor; 5] = [RGBColor(202, 0, 32), RGBColor(244, 165, 130), RGBColor(200, 200, 200), RGBColor(146, 197, 222), RGBColor(5, 113, 176)];

/// The figure; `counts[model][attribute]` holds how many ratings gave 1, 2, 3, 4, 5.
///
/// # Errors
/// A plotters backend failure.
pub fn distributions(models: &[String], attributes: &[String], counts: &[Vec<[usize; 5]>]) -> Result<Figure, FigureError> {
    let id = "distributions".to_owned();
    let panel_height = 70 + 24 * u32::try_from(models.len()).unwrap_or(1);
    let (width, height) = grid_size(attributes.len(), 2, (460, panel_height), 40);
    let svg = render(&id, (width, height), |root| draw(root, models, attributes, counts))?;
    Ok(Figure {
        id,
        title: "Distribution of scores per model and attribute".to_owned(),
        caption: "Share of ratings at each score, 1 (red) to 5 (blue), per model; bars stack to 100% of the model's ratings on that attribute.".to_owned(),
        svg,
        compact: false,
    })
}

fn draw(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, models: &[String], attributes: &[String], counts: &[Vec<[usize; 5]>]) -> DrawResult {
    let (legend, body) = root.split_vertically(40);
    for (s, color) in SCORE_COLORS.iter().enumerate() {
        let x = 20 + 60 * i32::try_from(s).unwrap_or(0);
        legend.draw(&Rectangle::new([(x, 12), (x + 14, 26)], color.filled()))?;
        legend.draw(&Text::new(format!("{}", s + 1), (x + 18, 12), font(12)))?;
    }
    let panels = body.split_evenly(grid(attributes.len(), 2));
    let nm = models.len();
    for ((a, attribute), panel) in attributes.iter().enumerate().zip(&panels) {
        let y = Categories::new(models.iter().rev().cloned().collect());
        let mut chart = ChartBuilder::on(panel).caption(attribute, font(14)).margin(8).x_label_area_size(25).y_label_area_size(130).build_cartesian_2d(0f64..1f64, y)?;
        chart.configure_mesh().disable_y_mesh().max_light_lines(1).x_labels(5).x_label_formatter(&|v| format!("{}%", crate::report::view::fixed(v * 100.0, 0, false))).label_style(font(11)).draw()?;
        for (m, row) in counts.iter().enumerate() {
            let Some(cell) = row.get(a) else { continue };
            let total: usize = cell.iter().sum();
            if total == 0 {
                continue;
            }
            let y = (nm - 1 - m) as f64;
            let mut start = 0.0;
            for (score, count) in cell.iter().enumerate() {
                let share = *count as f64 / total as f64;
                if share > 0.0 {
                    chart.draw_series(std::iter::once(Rectangle::new([(start, y - 0.35), (start + share, y + 0.35)], SCORE_COLORS[score].filled())))?;
                }
                start += share;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::test_support::count;

    #[test]
    fn one_segment_per_nonzero_score_and_a_panel_per_attribute() {
        let models = vec!["a".to_owned(), "b".to_owned()];
        let attributes = vec!["guidance".to_owned(), "empathy".to_owned(), "safety".to_owned()];
        // a: guidance 1,2,3,4,5 all present (5 segments), others only 5s (1 segment each);
        // b: two scores per attribute (2 segments each).
        let counts = vec![vec![[1, 1, 1, 1, 1], [0, 0, 0, 0, 4], [0, 0, 0, 0, 4]], vec![[2, 0, 0, 2, 0], [0, 1, 1, 0, 0], [0, 0, 0, 3, 1]]];
        let figure = distributions(&models, &attributes, &counts).unwrap();
        let background = count(&distributions(&models, &attributes, &vec![vec![[0; 5]; 3]; 2]).unwrap().svg, "rect");
        assert_eq!(count(&figure.svg, "rect") - background, 5 + 1 + 1 + 2 * 3);
        for label in ["guidance", "empathy", "safety"] {
            assert!(figure.svg.contains(label), "missing panel {label}");
        }
    }
}
