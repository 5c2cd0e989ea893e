//! The report's sections in page order: the one list the table of contents and every section
//! heading are drawn from, so a section added here shows in both.
//!
//! Owns section ids and titles; the templates render `<section id=...>` for each id and take
//! its heading from here.

use serde::Serialize;

use super::view::ReportView;

/// One section of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// HTML id and Markdown anchor.
    pub id: &'static str,
    /// Heading and table-of-contents entry.
    pub title: &'static str,
}

/// The sections `view` has, in page order (a section without content is left out).
pub fn sections(view: &ReportView) -> Vec<Section> {
    let all = [
        (true, "findings", "Findings at a glance"),
        (true, "figures", "Figures"),
        (view.examples.is_some(), "examples", "Example replies"),
        (true, "failures", "Failures and missing ratings"),
        (true, "agreement", "Agreement between raters"),
        (view.sensitivity.is_some(), "mentalalign", "MentalAlign: the published reading against the careful one"),
        (true, "methods", "Methods and glossary"),
    ];
    all.into_iter().filter(|(shown, ..)| *shown).map(|(_, id, title)| Section { id, title }).collect()
}
