//! The report's example replies: per reply source the best, median and worst reply by
//! composite score, then every reply a rater flagged for safety, each under the person's message,
//! with the data set's own human reply to that message set apart, and the raters' comments.
//!
//! Owns the wording of that section; the choice of replies is `analysis.json`'s
//! ([`crate::analysis::examples`]).

use serde::Serialize;

use super::models;
use super::view::{number, Table};
use crate::analysis::examples::{Example, ExampleKind, Examples};
use crate::analysis::Analysis;

/// One reply as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExampleView {
    /// Why it is shown and its scores (`best: CSS 4.50, ARS 4.00`).
    pub heading: String,
    /// The reply source, labelled.
    pub source: String,
    /// Conversation id.
    pub conversation: String,
    /// What the person wrote, or why it is not shown.
    pub message: String,
    /// The data set's own human reply to the message, where the data has one and the example
    /// is not that reply itself.
    pub human_reply: Option<String>,
    /// The reply, or why it is not shown.
    pub reply: String,
    /// Who flagged it for safety, if anyone.
    pub flagged_by: Option<String>,
    /// `rater: comment` lines.
    pub comments: Vec<String>,
}

/// The examples of one reply source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExampleGroup {
    /// The reply source, labelled.
    pub title: String,
    /// It is the data set's own human reply.
    pub human_reply: bool,
    /// Best, median, worst (fewer when it has fewer scored replies).
    pub examples: Vec<ExampleView>,
}

/// The example section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExamplesView {
    /// How the examples were chosen.
    pub intro: String,
    /// Per model, then the data set's human reply.
    pub groups: Vec<ExampleGroup>,
    /// Every reply a rater flagged for safety.
    pub flagged: Vec<ExampleView>,
    /// What to say when no reply was flagged.
    pub flagged_note: String,
    /// Why texts are missing, when the data has none.
    pub note: Option<String>,
    /// Without texts: the chosen replies as one compact table instead of empty cards.
    pub table: Option<Table>,
}

/// The example section of `analysis`; `None` when it has no examples.
pub fn build(analysis: &Analysis) -> Option<ExamplesView> {
    let examples = analysis.examples.as_ref()?;
    let composites: Vec<&str> = analysis.rubric.composites.iter().map(|c| c.short.as_str()).collect();
    let intro = format!(
        "Replies chosen by the {} panel's mean of {} per reply: the highest, the median and the lowest of each reply source, then every reply a rater flagged for safety. Each is shown under the person's message{}.",
        examples.panel,
        composites.join(" and "),
        if examples.conversations.values().any(|c| c.reference.is_some()) { ", beside the data set's own human reply to it" } else { "" }
    );
    let has_text = examples.examples.iter().any(|e| e.text.is_some()) || examples.conversations.values().any(|c| c.context.is_some());
    let note = (!has_text).then(|| "The data holds no reply texts and no messages (the MentalBench release publishes scores only), so the examples name their conversation and scores alone.".to_owned());
    let mut sources: Vec<&str> = Vec::new();
    for e in examples.examples.iter().filter(|e| e.kind != ExampleKind::Flagged) {
        if !sources.contains(&e.model.as_str()) {
            sources.push(&e.model);
        }
    }
    models::sort_by_source(analysis, &mut sources, |s| s);
    if note.is_some() {
        let headers = ["Reply source", "Best", "Median", "Worst"].map(String::from).to_vec();
        let rows = sources
            .iter()
            .map(|source| {
                let mut row = vec![models::label(analysis, source)];
                for kind in [ExampleKind::Best, ExampleKind::Median, ExampleKind::Worst] {
                    row.push(examples.examples.iter().find(|e| e.kind == kind && e.model == *source).map_or_else(|| "(same reply as above)".to_owned(), |e| format!("{}: {}", e.conversation, scores(&composites, e))));
                }
                row
            })
            .collect();
        let flagged = examples.examples.iter().filter(|e| e.kind == ExampleKind::Flagged).count();
        let table = Table { title: format!("The chosen replies by conversation ({flagged} flagged for safety)"), headers, rows };
        return Some(ExamplesView { intro, groups: Vec::new(), flagged: Vec::new(), flagged_note: String::new(), note, table: Some(table) });
    }
    let groups = sources
        .iter()
        .map(|source| ExampleGroup {
            title: models::label(analysis, source),
            human_reply: models::is_human_reply_id(analysis, source),
            examples: examples.examples.iter().filter(|e| e.kind != ExampleKind::Flagged && e.model == *source).map(|e| view(analysis, examples, &composites, e)).collect(),
        })
        .collect();
    let flagged: Vec<ExampleView> = examples.examples.iter().filter(|e| e.kind == ExampleKind::Flagged).map(|e| view(analysis, examples, &composites, e)).collect();
    let flagged_note = if flagged.is_empty() { format!("No rater of the {} panel flagged a reply for safety.", examples.panel) } else { String::new() };
    Some(ExamplesView { intro, groups, flagged, flagged_note, note, table: None })
}

fn scores(composites: &[&str], e: &Example) -> String {
    composites.iter().zip(&e.composites).map(|(name, v)| format!("{name} {}", number(*v))).collect::<Vec<_>>().join(", ")
}

fn view(analysis: &Analysis, examples: &Examples, composites: &[&str], e: &Example) -> ExampleView {
    let conversation = examples.conversations.get(&e.conversation);
    let source = models::label(analysis, &e.model);
    let heading = match e.kind {
        ExampleKind::Flagged => format!("{source}, {}: {}", e.conversation, scores(composites, e)),
        kind => format!("{}: {}", kind.label(), scores(composites, e)),
    };
    ExampleView {
        heading,
        source,
        conversation: e.conversation.clone(),
        message: conversation.and_then(|c| c.context.clone()).unwrap_or_else(|| "(the message is not in the data)".to_owned()),
        human_reply: if models::is_human_reply_id(analysis, &e.model) { None } else { conversation.and_then(|c| c.reference.clone()) },
        reply: e.text.clone().unwrap_or_else(|| "(the reply text is not in the data)".to_owned()),
        flagged_by: (!e.flagged_by.is_empty()).then(|| e.flagged_by.join(", ")),
        comments: e.comments.iter().map(|c| format!("{}: {}", c.rater, c.comment)).collect(),
    }
}
