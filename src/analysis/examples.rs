//! Example replies for reading beside the numbers: per model the best, the median and the worst
//! reply by composite score, and every reply a rater flagged for safety, each with the person's
//! message, the data set's own human reply to it where the data has one, and the raters'
//! comments.
//!
//! Owns choosing the examples of one panel (the first: the human panel when there is one, the
//! panel the report's scores come from); reads the conversations' texts from the caller, so it
//! reads no file.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::basic;
use super::composite::{self, CompositeDef};
use super::input::{PanelScores, RatingTable};

/// Why a reply is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExampleKind {
    /// The model's highest composite score.
    Best,
    /// The model's median composite score (the lower middle for an even count).
    Median,
    /// The model's lowest composite score.
    Worst,
    /// A rater flagged it for safety.
    Flagged,
}

impl ExampleKind {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            ExampleKind::Best => "best",
            ExampleKind::Median => "median",
            ExampleKind::Worst => "worst",
            ExampleKind::Flagged => "flagged for safety",
        }
    }
}

/// A rater's comment on a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaterComment {
    /// Rater id.
    pub rater: String,
    /// What they wrote (a judge's rationale for an LLM rater).
    pub comment: String,
}

/// One reply shown as an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Why it is shown.
    pub kind: ExampleKind,
    /// Model id.
    pub model: String,
    /// Conversation id (its texts are in [`Examples::conversations`]).
    pub conversation: String,
    /// Mean of the reply's composites; `None` when a composite is incomplete (flagged replies).
    pub composite_score: Option<f64>,
    /// Each composite of the reply, in rubric group order.
    pub composites: Vec<Option<f64>>,
    /// The reply text, where the study has it.
    pub text: Option<String>,
    /// Raters of the panel who flagged it for safety.
    pub flagged_by: Vec<String>,
    /// Comments of the panel's raters.
    pub comments: Vec<RaterComment>,
}

/// The person's message of a conversation that has an example, and the data set's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExampleConversation {
    /// What the person wrote.
    pub context: Option<String>,
    /// The data set's own human reply (a counsellor's answer), where the data has one.
    pub reference: Option<String>,
}

/// The examples of one panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Examples {
    /// The panel whose scores chose them.
    pub panel: String,
    /// Best, median and worst per model (in model order), then every flagged reply.
    pub examples: Vec<Example>,
    /// Texts of the conversations the examples answer, by conversation id.
    pub conversations: BTreeMap<String, ExampleConversation>,
}

/// What the study knows of each conversation, by conversation id.
pub type ConversationTexts = BTreeMap<String, ExampleConversation>;

/// The examples of `scores` (the panel of `members`), ranked by the mean of the composites
/// `defs`; `texts` gives the person's message and the data set's reply per conversation.
pub fn examples(table: &RatingTable, scores: &PanelScores, members: &[usize], defs: &[CompositeDef], texts: &ConversationTexts) -> Examples {
    let mut out = Vec::new();
    for m in 0..table.models.len() {
        let per_def: Vec<Vec<Option<f64>>> = defs.iter().map(|d| composite::per_conversation(scores, d, m)).collect();
        let row = |c: usize| -> Vec<Option<f64>> { per_def.iter().map(|v| v.get(c).copied().flatten()).collect() };
        let mut ranked: Vec<(f64, usize)> = (0..table.conversations.len())
            .filter_map(|c| {
                let values: Option<Vec<f64>> = row(c).into_iter().collect();
                Some((basic::mean(&values?)?, c))
            })
            .collect();
        // Lowest first; a tie keeps conversation order, so the choice is stable.
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let picks = match ranked.len() {
            0 => Vec::new(),
            n => vec![(ExampleKind::Best, n - 1), (ExampleKind::Median, (n - 1) / 2), (ExampleKind::Worst, 0)],
        };
        let mut shown = BTreeSet::new();
        for (kind, at) in picks {
            let (score, c) = ranked[at];
            if shown.insert(c) {
                out.push(example(table, members, kind, m, c, Some(score), row(c)));
            }
        }
    }
    for m in 0..table.models.len() {
        for c in (0..table.conversations.len()).filter(|&c| scores.is_flagged(m, c)) {
            let row: Vec<Option<f64>> = defs.iter().map(|d| composite::per_conversation(scores, d, m).get(c).copied().flatten()).collect();
            let all: Option<Vec<f64>> = row.iter().copied().collect();
            let score = all.and_then(|v| basic::mean(&v));
            out.push(example(table, members, ExampleKind::Flagged, m, c, score, row));
        }
    }
    let conversations = out
        .iter()
        .map(|e| (e.conversation.clone(), texts.get(&e.conversation).cloned().unwrap_or(ExampleConversation { context: None, reference: None })))
        .collect();
    Examples { panel: scores.panel.id.clone(), examples: out, conversations }
}

fn example(table: &RatingTable, members: &[usize], kind: ExampleKind, m: usize, c: usize, composite_score: Option<f64>, composites: Vec<Option<f64>>) -> Example {
    let ratings: Vec<_> = table.ratings.iter().filter(|r| r.model == m && r.conversation == c && members.contains(&r.rater)).collect();
    Example {
        kind,
        model: table.models[m].id.clone(),
        conversation: table.conversations[c].clone(),
        composite_score,
        composites,
        text: table.texts.get(&(m, c)).cloned(),
        flagged_by: ratings.iter().filter(|r| r.safety_flag).map(|r| table.raters[r.rater].id.clone()).collect(),
        comments: ratings
            .iter()
            .filter_map(|r| Some(RaterComment { rater: table.raters[r.rater].id.clone(), comment: r.comment.clone().filter(|c| !c.trim().is_empty())? }))
            .collect(),
    }
}
