//! The analysis's view of a study: responses and ratings joined into one indexed table, with
//! every missing or unusable rating counted.
//!
//! Owns the join of `ResponseRecord`s (or a release's list of rated replies) with `Rating`s
//! through `ResponseRef`, the rubric's attribute order, rater panels and the coverage report.
//! Does not read files (see `command` and `mentalbench`) or compute statistics. Missing
//! ratings are never zero: a reply without a rating, a judge's parse failure and an attribute
//! left blank each stay `None` and are counted in [`RaterCoverage`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::registry::Makers;
use crate::rubric::Rubric;
pub use crate::schema::{ModelGroup, ModelInfo, ResponseEntry};
use crate::schema::{Rating, RaterKind, RatingStatus};

/// A rater who rated replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaterInfo {
    /// Rater id.
    pub id: String,
    /// Human or LLM.
    pub kind: RaterKind,
    /// For LLM judges, the judge model's vendor, where known.
    pub provider: Option<String>,
}

/// One rater's scores for one reply, indexed into the table.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRating {
    /// Index into [`RatingTable::raters`].
    pub rater: usize,
    /// Index into [`RatingTable::models`].
    pub model: usize,
    /// Index into [`RatingTable::conversations`].
    pub conversation: usize,
    /// Score per rubric attribute (rubric order); `None` where not given.
    pub scores: Vec<Option<u8>>,
    /// The rater flagged a safety concern.
    pub safety_flag: bool,
    /// The rater's comment or a judge's rationale.
    pub comment: Option<String>,
}

/// How completely one rater covered the replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaterCoverage {
    /// Rater id.
    pub rater: String,
    /// Human or LLM.
    pub kind: RaterKind,
    /// Replies in the study, each of which this rater was expected to rate.
    pub responses_expected: usize,
    /// Replies with a usable rating (at least one score).
    pub rated: usize,
    /// Replies with no usable rating: none at all, or one without a single score (for example
    /// the MentalBench rows coded all zeros).
    pub unrated: usize,
    /// Ratings recorded as a judge parse failure (no scores).
    pub parse_failures: usize,
    /// Ratings replaced by a later rating of the same reply by the same rater.
    pub superseded: usize,
    /// Per attribute id: rated replies whose score for it is missing.
    pub missing_scores: BTreeMap<String, usize>,
}

/// Ratings that could not be used at all, counted so nothing disappears silently.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    /// Ratings of a reply that is not among the study's responses.
    pub ratings_of_unknown_responses: usize,
    /// Scores for attribute ids the rubric does not define, by id.
    pub scores_of_unknown_attributes: BTreeMap<String, usize>,
}

/// Responses and ratings of one study, indexed for the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingTable {
    /// Attribute ids in rubric order.
    pub attributes: Vec<String>,
    /// Models in order of first appearance.
    pub models: Vec<ModelInfo>,
    /// Conversation ids in order of first appearance.
    pub conversations: Vec<String>,
    /// Raters sorted by id.
    pub raters: Vec<RaterInfo>,
    /// Which (model, conversation) replies exist: `exists[model][conversation]`.
    pub exists: Vec<Vec<bool>>,
    /// Reply text by (model, conversation), where known.
    pub texts: HashMap<(usize, usize), String>,
    /// Usable ratings, at most one per (rater, model, conversation).
    pub ratings: Vec<CellRating>,
    /// Coverage per rater (same order as `raters`).
    pub coverage: Vec<RaterCoverage>,
    /// Ratings that could not be joined.
    pub dropped: Dropped,
    /// Who the judges and rated models are, for the self-judging rule.
    pub makers: Makers,
}

impl RatingTable {
    /// Join `ratings` onto `responses` under `rubric`; `makers` names the judges' and the rated
    /// models' makers where known (the judges' vendors become [`RaterInfo::provider`]).
    ///
    /// A later rating (by `created_at`) of the same reply by the same rater replaces an
    /// earlier one; ratings of unknown replies and scores of unknown attributes are counted
    /// in [`Dropped`].
    pub fn build(
        rubric: &Rubric,
        responses: &[ResponseEntry],
        ratings: &[Rating],
        makers: &Makers,
    ) -> Self {
        let attributes: Vec<String> = rubric.attribute_ids().into_iter().map(String::from).collect();
        let mut models: Vec<ModelInfo> = Vec::new();
        let mut model_index: HashMap<String, usize> = HashMap::new();
        let mut conversations: Vec<String> = Vec::new();
        let mut conversation_index: HashMap<String, usize> = HashMap::new();
        let mut cells: Vec<(usize, usize, Option<String>)> = Vec::new();
        for entry in responses {
            let m = *model_index.entry(entry.model.id.clone()).or_insert_with(|| {
                models.push(entry.model.clone());
                models.len() - 1
            });
            let c = *conversation_index.entry(entry.conversation.clone()).or_insert_with(|| {
                conversations.push(entry.conversation.clone());
                conversations.len() - 1
            });
            cells.push((m, c, entry.text.clone()));
        }
        let mut exists = vec![vec![false; conversations.len()]; models.len()];
        let mut texts = HashMap::new();
        for (m, c, text) in cells {
            exists[m][c] = true;
            if let Some(text) = text {
                texts.insert((m, c), text);
            }
        }
        let responses_expected = exists.iter().flatten().filter(|e| **e).count();

        let mut rater_ids: Vec<(String, RaterKind)> =
            ratings.iter().map(|r| (r.rater_id.to_string(), r.rater_kind)).collect();
        rater_ids.sort_by(|a, b| a.0.cmp(&b.0));
        rater_ids.dedup_by(|a, b| a.0 == b.0);
        let raters: Vec<RaterInfo> = rater_ids
            .into_iter()
            .map(|(id, kind)| RaterInfo { provider: makers.judges.get(&id).and_then(|m| m.vendor.clone()), id, kind })
            .collect();
        let rater_index: HashMap<&str, usize> =
            raters.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
        let mut coverage: Vec<RaterCoverage> = raters
            .iter()
            .map(|r| RaterCoverage {
                rater: r.id.clone(),
                kind: r.kind,
                responses_expected,
                rated: 0,
                unrated: 0,
                parse_failures: 0,
                superseded: 0,
                missing_scores: attributes.iter().map(|a| (a.clone(), 0)).collect(),
            })
            .collect();

        let mut dropped = Dropped::default();
        let mut latest: HashMap<(usize, usize, usize), &Rating> = HashMap::new();
        for rating in ratings {
            let response = &rating.response;
            let (Some(&m), Some(&c), Some(&r)) = (
                model_index.get(response.model_id.as_str()),
                conversation_index.get(response.conversation_id.as_str()),
                rater_index.get(rating.rater_id.as_str()),
            ) else {
                dropped.ratings_of_unknown_responses += 1;
                continue;
            };
            if !exists[m][c] {
                dropped.ratings_of_unknown_responses += 1;
                continue;
            }
            if let Some(previous) = latest.insert((r, m, c), rating) {
                coverage[r].superseded += 1;
                if previous.created_at > rating.created_at {
                    latest.insert((r, m, c), previous);
                }
            }
        }
        let mut keys: Vec<_> = latest.keys().copied().collect();
        keys.sort_unstable();
        let mut table_ratings = Vec::new();
        for key in keys {
            let (r, m, c) = key;
            let rating = latest[&key];
            if rating.status == RatingStatus::ParseFailure {
                coverage[r].parse_failures += 1;
                continue;
            }
            for id in rating.scores.keys().filter(|id| !attributes.contains(id)) {
                *dropped.scores_of_unknown_attributes.entry(id.clone()).or_insert(0) += 1;
            }
            let scores: Vec<Option<u8>> =
                attributes.iter().map(|a| rating.scores.get(a).map(|s| s.get())).collect();
            if scores.iter().all(Option::is_none) {
                continue;
            }
            for (attribute, score) in attributes.iter().zip(&scores) {
                if score.is_none() {
                    *coverage[r].missing_scores.entry(attribute.clone()).or_insert(0) += 1;
                }
            }
            coverage[r].rated += 1;
            table_ratings.push(CellRating {
                rater: r,
                model: m,
                conversation: c,
                scores,
                safety_flag: rating.safety_flag,
                comment: rating.comment.clone(),
            });
        }
        for entry in &mut coverage {
            entry.unrated = responses_expected - entry.rated - entry.parse_failures;
        }
        Self {
            attributes,
            models,
            conversations,
            raters,
            exists,
            texts,
            ratings: table_ratings,
            coverage,
            dropped,
            makers: makers.clone(),
        }
    }

    /// Number of (model, conversation) replies.
    pub fn response_count(&self) -> usize {
        self.exists.iter().flatten().filter(|e| **e).count()
    }
}

/// Who a panel's scores come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Panel {
    /// `human` for all human raters together, else the LLM judge's rater id.
    pub id: String,
    /// Human or LLM.
    pub kind: RaterKind,
    /// Rater ids in the panel.
    pub raters: Vec<String>,
}

/// One panel's score per reply and attribute: the mean of its raters' scores where present.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelScores {
    /// The panel.
    pub panel: Panel,
    models: usize,
    conversations: usize,
    attributes: usize,
    values: Vec<Option<f64>>,
    flagged: Vec<bool>,
    /// Replies where only some of the panel's raters gave a score for some attribute.
    pub partially_rated: usize,
}

impl PanelScores {
    /// Scores of `panel` (rater indices `members`) from `table`.
    pub fn new(table: &RatingTable, panel: Panel, members: &[usize]) -> Self {
        let (nm, nc, na) = (table.models.len(), table.conversations.len(), table.attributes.len());
        let mut sums = vec![(0.0f64, 0usize); nm * nc * na];
        let mut flagged = vec![false; nm * nc];
        let mut raters_seen = vec![0usize; nm * nc];
        for cell in table.ratings.iter().filter(|c| members.contains(&c.rater)) {
            let response = cell.model * nc + cell.conversation;
            flagged[response] |= cell.safety_flag;
            raters_seen[response] += 1;
            for (a, score) in cell.scores.iter().enumerate() {
                if let Some(score) = score {
                    let slot = &mut sums[response * na + a];
                    slot.0 += f64::from(*score);
                    slot.1 += 1;
                }
            }
        }
        let mut partially_rated = 0;
        for (response, seen) in raters_seen.iter().enumerate() {
            let counts = &sums[response * na..(response + 1) * na];
            if *seen > 0 && counts.iter().any(|(_, n)| *n < members.len()) {
                partially_rated += 1;
            }
        }
        let values = sums.into_iter().map(|(s, n)| (n > 0).then(|| s / n as f64)).collect();
        Self { panel, models: nm, conversations: nc, attributes: na, values, flagged, partially_rated }
    }

    /// Score of `model` on `attribute` for `conversation`, if rated.
    pub fn score(&self, model: usize, conversation: usize, attribute: usize) -> Option<f64> {
        if model >= self.models || conversation >= self.conversations || attribute >= self.attributes {
            return None;
        }
        self.values[(model * self.conversations + conversation) * self.attributes + attribute]
    }

    /// Whether any panel rater flagged a safety concern in the reply.
    pub fn is_flagged(&self, model: usize, conversation: usize) -> bool {
        self.flagged.get(model * self.conversations + conversation).copied().unwrap_or(false)
    }

    /// Number of conversations (the bootstrap's clusters).
    pub fn conversation_count(&self) -> usize {
        self.conversations
    }
}

/// The panels of a table: all human raters together (if any), then each LLM judge alone.
pub fn panels(table: &RatingTable) -> Vec<(Panel, Vec<usize>)> {
    let mut out = Vec::new();
    let humans: Vec<usize> =
        (0..table.raters.len()).filter(|&r| table.raters[r].kind == RaterKind::Human).collect();
    if !humans.is_empty() {
        let raters = humans.iter().map(|&r| table.raters[r].id.clone()).collect();
        out.push((Panel { id: "human".into(), kind: RaterKind::Human, raters }, humans));
    }
    for (r, rater) in table.raters.iter().enumerate().filter(|(_, r)| r.kind == RaterKind::Llm) {
        let panel = Panel { id: rater.id.clone(), kind: RaterKind::Llm, raters: vec![rater.id.clone()] };
        out.push((panel, vec![r]));
    }
    out
}
