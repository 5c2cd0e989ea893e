//! SVG figures of the report, drawn with plotters' SVG backend: one builder per figure kind,
//! each taking plain numbers and returning a [`Figure`].
//!
//! Owns drawing; it computes no statistics (those come from `analysis.json`) and decides
//! nothing about which figures a report has (see `report::view`). Text is measured with DejaVu
//! Sans from the `dejavu` crate, registered with plotters' ab_glyph font loader, so drawing
//! needs no font on the machine; the SVG names the family `sans-serif` and the browser renders
//! it with its own.

pub mod axis;
pub mod bland_altman;
pub mod cost;
pub mod distribution;
pub mod heatmap;
pub mod profiles;
pub mod scores;

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle, RGBColor};
use serde::Serialize;

/// One drawn figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// File stem and HTML id (`profiles`, `bland-altman-llm-gpt-4o`), unique within a report.
    pub id: String,
    /// Heading shown above it.
    pub title: String,
    /// What it shows and how to read it.
    pub caption: String,
    /// The SVG document.
    pub svg: String,
    /// Small enough to sit beside others of its kind (half the page width on screen).
    pub compact: bool,
}

/// Why a figure could not be drawn (a plotting backend failure, never missing data).
#[derive(Debug, thiserror::Error)]
#[error("figure {id}: {message}")]
pub struct FigureError {
    /// The figure's id.
    pub id: String,
    /// What the backend said.
    pub message: String,
}

/// What a drawing closure returns; plotters' errors are boxed.
pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The family every figure's text uses.
pub(crate) const FONT: &str = "sans-serif";

/// Colours for series, in order (Tableau 10).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of series `i`, cycling through [`PALETTE`].
pub(crate) fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Register DejaVu Sans under [`FONT`] once; plotters needs it to measure text.
fn register_fonts() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for style in [FontStyle::Normal, FontStyle::Bold] {
                let bytes = match style {
                    FontStyle::Bold => dejavu::sans::bold(),
                    _ => dejavu::sans::regular(),
                };
                register_font(FONT, style, bytes).map_err(|_| "the embedded DejaVu Sans font is invalid".to_owned())?;
            }
            Ok(())
        })
        .clone()
}

/// Draw a `width` x `height` pixel SVG with `draw` and return its text.
///
/// # Errors
/// A plotters backend failure, named by figure `id`.
pub(crate) fn render(id: &str, size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult) -> Result<String, FigureError> {
    let fail = |message: String| FigureError { id: id.to_owned(), message };
    register_fonts().map_err(fail)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
}

/// A file-safe id from free text (`gpt-4o` → `gpt-4o`, `llm:gpt-4o` → `llm-gpt-4o`).
pub fn slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// A grid of `count` panels at most `columns` wide, as (rows, columns).
pub(crate) fn grid(count: usize, columns: usize) -> (usize, usize) {
    let columns = columns.clamp(1, count.max(1));
    (count.div_ceil(columns).max(1), columns)
}

/// Pixels of such a grid of `panel`-sized panels under a `header` strip.
pub(crate) fn grid_size(count: usize, columns: usize, panel: (u32, u32), header: u32) -> (u32, u32) {
    let (rows, columns) = grid(count, columns);
    let as_u32 = |n: usize| u32::try_from(n).unwrap_or(1);
    (panel.0 * as_u32(columns), header + panel.1 * as_u32(rows))
}

/// An axis tick: at most three decimals, trailing zeros dropped, and never `-0` (plotters' own
/// formatter prints `-0.0` for a tick at a rounding error below zero).
pub(crate) fn tick(value: &f64) -> String {
    let text = format!("{value:.3}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    if text == "-0" { "0".to_owned() } else { text }
}

/// Text style of the given pixel size in [`FONT`].
pub(crate) fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

#[cfg(test)]
pub(crate) mod test_support {
    /// How often `tag` opens in `svg` (`<polygon`, `<text`, ...).
    pub fn count(svg: &str, tag: &str) -> usize {
        svg.matches(&format!("<{tag}")).count()
    }

    /// How many `<circle` elements are filled (plotters' error bars draw hollow ones).
    pub fn filled_circles(svg: &str) -> usize {
        svg.lines().filter(|l| l.starts_with("<circle") && !l.contains("fill=\"none\"")).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_never_read_negative_zero() {
        assert_eq!(tick(&-1e-17), "0");
        assert_eq!(tick(&-0.0), "0");
        assert_eq!(tick(&0.05), "0.05");
        assert_eq!(tick(&-0.1), "-0.1");
        assert_eq!(tick(&250.0), "250");
    }

    #[test]
    fn slug_keeps_ids_file_safe() {
        assert_eq!(slug("llm:GPT-4o mini"), "llm-gpt-4o-mini");
    }

    #[test]
    fn render_draws_an_svg_document_with_measured_text() {
        let svg = render("t", (200, 100), |root| {
            root.draw(&Text::new("hello <world>", (10, 10), font(12)))?;
            Ok(())
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("hello &lt;world&gt;"), "text is escaped: {svg}");
    }
}
