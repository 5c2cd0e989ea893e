//! Fill the report's templates (`templates/index.html`, `templates/report.md`, compiled in)
//! with the [`ReportView`] and the [`Gallery`].
//!
//! Owns the minijinja environment; the HTML template autoescapes every value except the SVG
//! figures, which plotters wrote (it escapes the text it draws).

use minijinja::{context, Environment};

use super::gallery::Gallery;
use super::view::ReportView;

/// Template name of the HTML page (its `.html` suffix turns on HTML escaping).
const HTML: &str = "index.html";
/// Template name of the Markdown file.
const MARKDOWN: &str = "report.md";

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template(HTML, include_str!("templates/index.html"))?;
    env.add_template(MARKDOWN, include_str!("templates/report.md"))?;
    // A Markdown table cell must not contain a bare `|` or a line break.
    env.add_filter("cell", |value: String| value.replace('|', "\\|").replace('\n', " "));
    Ok(env)
}

fn render(name: &str, view: &ReportView, gallery: &Gallery) -> Result<String, minijinja::Error> {
    environment()?.get_template(name)?.render(context! { view => view, gallery => gallery })
}

/// The self-contained HTML page.
///
/// # Errors
/// A template error (a defect of the shipped templates).
pub fn html(view: &ReportView, gallery: &Gallery) -> Result<String, minijinja::Error> {
    render(HTML, view, gallery)
}

/// The Markdown report; figures are linked as `figures/<id>.svg`.
///
/// # Errors
/// A template error (a defect of the shipped templates).
pub fn markdown(view: &ReportView, gallery: &Gallery) -> Result<String, minijinja::Error> {
    render(MARKDOWN, view, gallery)
}
