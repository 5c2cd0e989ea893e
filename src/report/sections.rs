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
    pub id: String,
    /// Heading and table-of-contents entry.
    pub title: String,
}

/// The sections `view` has, in page order (a section without content is left out): the
/// statistics sections about the models follow the findings, those about the raters follow the
/// agreement ([`super::view::statistics`]).
pub fn sections(view: &ReportView) -> Vec<Section> {
    let fixed = |shown: bool, id: &str, title: &str| shown.then(|| Section { id: id.to_owned(), title: title.to_owned() });
    let listed = |list: &[super::view::statistics::Section]| {
        list.iter().map(|s| Section { id: s.id.clone(), title: s.title.clone() }).collect::<Vec<_>>()
    };
    let mut out: Vec<Section> = Vec::new();
    out.extend(fixed(true, "findings", "Findings at a glance"));
    out.extend(listed(&view.model_sections));
    out.extend(fixed(true, "figures", "Figures"));
    out.extend(fixed(view.examples.is_some(), "examples", "Example replies"));
    out.extend(fixed(true, "failures", "Failures and missing ratings"));
    out.extend(fixed(true, "agreement", "Agreement between raters"));
    out.extend(listed(&view.rater_sections));
    out.extend(fixed(view.sensitivity.is_some(), "mentalalign", "MentalAlign: the published reading against the careful one"));
    out.extend(fixed(true, "methods", "Methods and glossary"));
    out
}
