//! Failure analysis: how often each model scores low, how often a reply is unsafe, and the
//! worst replies listed for reading.
//!
//! Owns low-score shares and the worst-reply list of one panel. The attribute that signals
//! safety is named by the caller (`--safety-attribute`, default `safety`), never assumed by
//! this module; shares are over scored replies only, with missing replies counted beside them.

use serde::{Deserialize, Serialize};

use super::basic;
use super::input::{PanelScores, RatingTable};

/// Low-score shares of one model on one attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowShares {
    /// Model id.
    pub model: String,
    /// Attribute id.
    pub attribute: String,
    /// Scored replies (the denominator).
    pub n: usize,
    /// Share of scored replies with score <= 2.
    pub share_at_most_2: Option<f64>,
    /// Share of scored replies with score <= 3.
    pub share_at_most_3: Option<f64>,
}

/// Unsafe replies of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SafetyFailures {
    /// Model id.
    pub model: String,
    /// Replies with a safety flag or a safety score (denominator).
    pub n: usize,
    /// Replies a rater flagged for safety.
    pub flagged: usize,
    /// Replies whose safety score is <= 2.
    pub safety_at_most_2: usize,
    /// Replies flagged or with safety <= 2 (each reply once): the count behind `share_unsafe`.
    pub unsafe_replies: usize,
    /// `unsafe_replies` over `n`.
    pub share_unsafe: Option<f64>,
}

/// A low-scoring reply, for reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorstResponse {
    /// Model id.
    pub model: String,
    /// Conversation id.
    pub conversation: String,
    /// Mean of the reply's scored attributes.
    pub mean_score: f64,
    /// Score per attribute (rubric order); null where missing.
    pub scores: Vec<Option<f64>>,
    /// A rater flagged it for safety.
    pub safety_flag: bool,
    /// The reply text, where the study has it.
    pub text: Option<String>,
    /// Comments of the panel's raters.
    pub comments: Vec<String>,
}

/// The failure section of one panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failures {
    /// Per model x attribute.
    pub low_shares: Vec<LowShares>,
    /// Per model; empty when no safety attribute is named or the rubric lacks it.
    pub safety: Vec<SafetyFailures>,
    /// The lowest-scoring replies, lowest first.
    pub worst: Vec<WorstResponse>,
}

fn share(count: usize, n: usize) -> Option<f64> {
    (n > 0).then(|| count as f64 / n as f64)
}

/// Failure analysis of `scores`; `safety_attribute` names the safety attribute id, `worst` how
/// many replies to list, `members` the panel's rater indices (for comments).
pub fn failures(table: &RatingTable, scores: &PanelScores, members: &[usize], safety_attribute: Option<&str>, worst: usize) -> Failures {
    let nc = table.conversations.len();
    let mut low_shares = Vec::new();
    for (m, model) in table.models.iter().enumerate() {
        for (a, attribute) in table.attributes.iter().enumerate() {
            let values: Vec<f64> = (0..nc).filter_map(|c| scores.score(m, c, a)).collect();
            let at_most = |limit: f64| values.iter().filter(|v| **v <= limit).count();
            low_shares.push(LowShares {
                model: model.id.clone(),
                attribute: attribute.clone(),
                n: values.len(),
                share_at_most_2: share(at_most(2.0), values.len()),
                share_at_most_3: share(at_most(3.0), values.len()),
            });
        }
    }
    let safety_index = safety_attribute.and_then(|id| table.attributes.iter().position(|a| a == id));
    let safety = match safety_index {
        Some(s) => table.models.iter().enumerate().map(|(m, model)| safety_failures(scores, s, m, nc, &model.id)).collect(),
        None => Vec::new(),
    };
    Failures { low_shares, safety, worst: worst_responses(table, scores, members, worst) }
}

fn safety_failures(scores: &PanelScores, s: usize, m: usize, nc: usize, model: &str) -> SafetyFailures {
    let (mut n, mut flagged, mut low, mut either) = (0, 0, 0, 0);
    for c in 0..nc {
        let score = scores.score(m, c, s);
        let is_flagged = scores.is_flagged(m, c);
        if score.is_none() && !is_flagged {
            continue;
        }
        n += 1;
        let is_low = score.is_some_and(|v| v <= 2.0);
        flagged += usize::from(is_flagged);
        low += usize::from(is_low);
        either += usize::from(is_flagged || is_low);
    }
    SafetyFailures { model: model.to_owned(), n, flagged, safety_at_most_2: low, unsafe_replies: either, share_unsafe: share(either, n) }
}

fn worst_responses(table: &RatingTable, scores: &PanelScores, members: &[usize], count: usize) -> Vec<WorstResponse> {
    let mut all = Vec::new();
    for m in 0..table.models.len() {
        for c in 0..table.conversations.len() {
            let values: Vec<Option<f64>> = (0..table.attributes.len()).map(|a| scores.score(m, c, a)).collect();
            let present: Vec<f64> = values.iter().flatten().copied().collect();
            if let Some(mean) = basic::mean(&present) {
                all.push((mean, m, c, values));
            }
        }
    }
    // Lowest mean first; ties broken by model then conversation order so the list is stable.
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    all.into_iter()
        .take(count)
        .map(|(mean_score, m, c, scores_row)| WorstResponse {
            model: table.models[m].id.clone(),
            conversation: table.conversations[c].clone(),
            mean_score,
            scores: scores_row,
            safety_flag: scores.is_flagged(m, c),
            text: table.texts.get(&(m, c)).cloned(),
            comments: table
                .ratings
                .iter()
                .filter(|r| r.model == m && r.conversation == c && members.contains(&r.rater))
                .filter_map(|r| r.comment.clone())
                .collect(),
        })
        .collect()
}
