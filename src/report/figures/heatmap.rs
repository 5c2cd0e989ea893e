//! Models x attributes heatmap of mean scores, each cell coloured on the 1..5 scale and
//! labelled with its value; a cell without ratings is grey and labelled "n/a".

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Categories;
use super::{font, render, DrawResult, Figure, FigureError};

/// Colour of score `value` on 1..5 in the viridis map: dark purple at 1 to yellow at 5
/// (perceptually uniform and readable in grey and by most colour-blind readers).
fn scale_color(value: f64) -> RGBColor {
    ViridisRGB::get_color_normalized(value.clamp(1.0, 5.0), 1.0, 5.0)
}

/// Lightness of a colour (Rec. 709 luma, 0..255), to pick legible text on it.
fn luma(color: RGBColor) -> f64 {
    0.2126 * f64::from(color.0) + 0.7152 * f64::from(color.1) + 0.0722 * f64::from(color.2)
}

/// The heatmap; `means[model][attribute]`.
///
/// # Errors
/// A plotters backend failure.
pub fn heatmap(models: &[String], attributes: &[String], means: &[Vec<Option<f64>>]) -> Result<Figure, FigureError> {
    let id = "heatmap".to_owned();
    let width = 180 + 110 * u32::try_from(attributes.len()).unwrap_or(1);
    let height = 110 + 34 * u32::try_from(models.len()).unwrap_or(1);
    let svg = render(&id, (width, height), |root| draw(root, models, attributes, means))?;
    Ok(Figure {
        id,
        title: "Mean score per model and attribute".to_owned(),
        caption: "Each cell is the model's mean score on the attribute (1-5), coloured from dark purple (1) to yellow (5).".to_owned(),
        svg,
        compact: false,
    })
}

fn draw(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, models: &[String], attributes: &[String], means: &[Vec<Option<f64>>]) -> DrawResult {
    let nm = models.len();
    let x = Categories::new(attributes.to_vec());
    // Model 0 on top: the y axis counts upwards, so its labels go in reverse.
    let y = Categories::new(models.iter().rev().cloned().collect());
    let mut chart = ChartBuilder::on(root).margin(10).x_label_area_size(40).y_label_area_size(150).build_cartesian_2d(x, y)?;
    chart.configure_mesh().disable_mesh().label_style(font(12)).draw()?;
    for (m, row) in means.iter().enumerate() {
        let y = (nm - 1 - m) as f64;
        for (a, value) in row.iter().enumerate() {
            let x = a as f64;
            let cell = [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)];
            let (fill, label) = match value {
                Some(v) => (scale_color(*v), crate::report::view::fixed(*v, 2, false)),
                None => (RGBColor(220, 220, 220), "n/a".to_owned()),
            };
            chart.draw_series(std::iter::once(Rectangle::new(cell, fill.filled())))?;
            chart.draw_series(std::iter::once(Rectangle::new(cell, WHITE.stroke_width(2))))?;
            let ink = if luma(fill) < 128.0 { WHITE } else { BLACK };
            let style = font(12).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(label, (x, y), style)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_labelled_with_its_value() {
        let models = vec!["gpt-4o".to_owned(), "qwen3-4b".to_owned()];
        let attributes = vec!["guidance".to_owned(), "empathy".to_owned(), "safety".to_owned()];
        let means = vec![vec![Some(4.75), Some(4.5), Some(5.0)], vec![Some(3.0), None, Some(4.25)]];
        let figure = heatmap(&models, &attributes, &means).unwrap();
        for label in ["4.75", "4.50", "5.00", "3.00", "n/a", "4.25", "gpt-4o", "qwen3-4b", "guidance", "empathy", "safety"] {
            assert!(figure.svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn the_scale_runs_from_dark_to_light() {
        assert!(luma(scale_color(1.0)) < 80.0 && luma(scale_color(5.0)) > 180.0);
        assert!(luma(scale_color(2.0)) < luma(scale_color(4.0)));
    }
}
