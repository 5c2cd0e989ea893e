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
    env.add_template("sections.html", include_str!("templates/sections.html"))?;
    env.add_template("sections.md", include_str!("templates/sections.md"))?;
    // A Markdown table cell must not contain a bare `|` or a line break, and reply text must
    // not become live HTML in a Markdown viewer.
    env.add_filter("cell", |value: String| value.replace('|', "\\|").replace('\n', " ").replace('<', "&lt;").replace('>', "&gt;"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::Figure;
    use crate::report::gallery::Omission;
    use crate::report::view::Table;

    fn view(model: &str) -> ReportView {
        let table = Table { title: "Scores per model".into(), headers: vec!["Model".into(), "CSS".into()], rows: vec![vec![model.into(), "4.00".into()]] };
        let mut view = ReportView {
            source: "run".into(),
            mhbench_version: "0".into(),
            rubric: "r 1".into(),
            primary_panel: "human (a, b)".into(),
            headlines: vec![format!("Highest CSS: {model} (4.00).")],
            scores: table.clone(),
            failures: table.clone(),
            worst: None,
            generation: None,
            coverage: table.clone(),
            agreement: Vec::new(),
            judges: None,
            reading_notes: Vec::new(),
            sensitivity: None,
            methods: crate::report::methods::Methods {
                rubric_title: "r".into(),
                rubric: table.clone(),
                glossary: Vec::new(),
                statistics: Vec::new(),
                bootstrap: "b".into(),
                minimum_n: vec!["Wilcoxon: at least 6 pairs.".into()],
                missing: Vec::new(),
            },
            examples: None,
            model_sections: Vec::new(),
            rater_sections: Vec::new(),
            sections: Vec::new(),
        };
        view.sections = crate::report::sections::sections(&view);
        view
    }

    fn gallery() -> Gallery {
        Gallery {
            figures: vec![Figure { id: "heatmap".into(), title: "Heat".into(), caption: "c".into(), svg: "<svg><rect/></svg>".into(), compact: false }],
            omitted: vec![Omission { title: "Bland-Altman".into(), reason: "no judge".into() }],
        }
    }

    #[test]
    fn html_escapes_values_but_inlines_the_svg() {
        let html = html(&view("<b>m</b>"), &gallery()).unwrap();
        assert!(html.contains("&lt;b&gt;m&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;m&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>m</b>"));
        assert!(html.contains("<svg><rect/></svg>"), "the figure is inlined as markup");
        assert!(html.contains("<li>Bland-Altman: no judge.</li>"));
    }

    #[test]
    fn every_listed_section_has_its_id_its_heading_and_a_contents_entry() {
        let view = view("m");
        let html = html(&view, &gallery()).unwrap();
        let md = markdown(&view, &gallery()).unwrap();
        assert_eq!(view.sections.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["findings", "figures", "failures", "agreement", "methods"]);
        for s in &view.sections {
            assert!(html.contains(&format!("<section id=\"{}\">\n<h2>{}</h2>", s.id, s.title)), "{} lacks its heading: {html}", s.id);
            assert!(html.contains(&format!("<li><a href=\"#{}\">{}</a></li>", s.id, s.title)), "{} is not in the contents", s.id);
            assert!(md.contains(&format!("<a id=\"{}\"></a>\n## {}", s.id, s.title)) && md.contains(&format!("](#{})", s.id)), "{} in the Markdown: {md}", s.id);
        }
        assert_eq!(html.matches("<section id=").count(), view.sections.len(), "no section outside the list");
    }

    #[test]
    fn markdown_links_figures_and_escapes_table_pipes() {
        let md = markdown(&view("a|<b>"), &gallery()).unwrap();
        assert!(md.contains("![Heat](figures/heatmap.svg)"), "{md}");
        assert!(md.contains("| a\\|&lt;b&gt; | 4.00 | "), "{md}");
        assert!(md.contains("- Bland-Altman: no judge."));
    }
}
