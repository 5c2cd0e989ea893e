//! Loader for the MentalBench / MentalAlign-70k release (`ratings.csv`, `contexts.csv` in
//! `../shared/data/mentalbench/`, see its README): rows become `Rating` records and the rated
//! replies become response entries, so the release is analysed like any run.
//!
//! Owns the release's conventions and nothing else:
//! - `judge = human_expert` rows are human ratings (rater `human_expert`); other judges are LLM
//!   raters `llm:<judge>`.
//! - A score of 0 is off the 1..5 scale; the release uses it for cells the expert left empty
//!   (33 human rows are all zeros). It becomes a missing score and is counted, never averaged.
//! - Any other whole number off the scale (the human sheet has a few 6s) is also missing; each
//!   such cell is listed as `ratings.csv:<line>: <attribute> = <value>` in the load report.
//! - `parse_status = missing` rows give no rating; `unparseable` rows become parse failures.
//! - The human file and the judge files map 19 ConvIDs to different contexts
//!   (`contexts.csv`, `id_context_consistent = false`); judge ratings of those ConvIDs are
//!   left out (counted) so a judge is never compared with a human on a different conversation.
//! - Closed models: claude, gemini, gpt4o, gpt4omini; open: ds_llama, ds_qwen, llama_3,
//!   qwen_2, qwen_3; `original` is the data set's human reference and in neither group.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::input::{ModelGroup, ModelInfo, ResponseEntry};
use crate::files::{ErrorList, FileError};
use crate::schema::{
    ConversationId, ModelId, RaterId, RaterKind, Rating, RatingStatus, ResponseRef, RunId, Score, Source, SCHEMA_VERSION,
};

/// The rater id of the release's human experts.
pub const HUMAN_RATER: &str = "human_expert";
const SCORE_COLUMNS: [&str; 7] = ["guidance", "informativeness", "relevance", "safety", "empathy", "helpfulness", "understanding"];

/// What loading changed or left out, for `analysis.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Rows read from ratings.csv.
    pub rows: usize,
    /// Rows with `parse_status = missing` (no rating).
    pub missing_rows: usize,
    /// Rows with `parse_status = unparseable` (parse failures).
    pub unparseable_rows: usize,
    /// Scores of 0 treated as missing.
    pub zero_scores: usize,
    /// Empty score cells of rows that are neither missing nor unparseable.
    pub empty_scores: usize,
    /// Whole-number scores above 5, treated as missing, as `ratings.csv:<line>: <attribute> = <value>`.
    pub off_scale_scores: Vec<String>,
    /// ConvIDs whose context differs between the human and judge files.
    pub inconsistent_conversations: Vec<String>,
    /// Judge rows left out because their ConvID is inconsistent.
    pub judge_rows_excluded: usize,
}

/// The release as response entries and ratings.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Every rated reply (conversation x model).
    pub responses: Vec<ResponseEntry>,
    /// Ratings, human and LLM.
    pub ratings: Vec<Rating>,
    /// Provider of each LLM rater id.
    pub rater_providers: BTreeMap<String, String>,
    /// What loading did.
    pub report: LoadReport,
}

fn model_info(id: &str) -> ModelInfo {
    let (group, provider) = match id {
        "claude" => (Some(ModelGroup::Closed), Some("anthropic")),
        "gemini" => (Some(ModelGroup::Closed), Some("google")),
        "gpt4o" | "gpt4omini" => (Some(ModelGroup::Closed), Some("openai")),
        "ds_llama" | "ds_qwen" => (Some(ModelGroup::Open), Some("deepseek")),
        "llama_3" => (Some(ModelGroup::Open), Some("meta")),
        "qwen_2" | "qwen_3" => (Some(ModelGroup::Open), Some("alibaba")),
        _ => (None, None),
    };
    ModelInfo { id: id.to_owned(), group, provider: provider.map(String::from) }
}

fn judge_provider(judge: &str) -> Option<&'static str> {
    if judge.starts_with("claude") {
        Some("anthropic")
    } else if judge.starts_with("gemini") {
        Some("google")
    } else if judge.starts_with("gpt") || judge.starts_with("o4") || judge.starts_with("o3") {
        Some("openai")
    } else {
        None
    }
}

/// Load `dir/ratings.csv` (and `dir/contexts.csv` when present).
///
/// # Errors
/// Unreadable files, a missing column, or a score that is not a whole number, each as
/// `path:line: field: what`; every bad line is listed (capped by `ErrorList`).
pub fn load(dir: &Path) -> Result<Release, FileError> {
    let inconsistent = inconsistent_conversations(&dir.join("contexts.csv"))?;
    let path = dir.join("ratings.csv");
    let mut reader = csv::Reader::from_path(&path).map_err(|e| FileError::at(&path, None, e.to_string()))?;
    let headers = reader.headers().map_err(|e| FileError::at(&path, Some(1), e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut errors = ErrorList::default();
    let mut indices = BTreeMap::new();
    for name in ["conv_id", "judge", "response_model", "explanation", "parse_status"].iter().chain(&SCORE_COLUMNS) {
        match column(name) {
            Some(i) => {
                indices.insert(*name, i);
            }
            None => errors.add(&path, Some(1), format!("{name}: column missing; expected the release's header")),
        }
    }
    let indices = errors.into_result(indices)?;
    let mut errors = ErrorList::default();
    let mut report = LoadReport { inconsistent_conversations: inconsistent.iter().cloned().collect(), ..LoadReport::default() };
    let mut responses = Vec::new();
    let mut seen = BTreeSet::new();
    let mut ratings = Vec::new();
    let mut rater_providers = BTreeMap::new();
    let run_id = RunId::from("mentalbench");
    let created_at = DateTime::UNIX_EPOCH;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.add(&path, e.position().map(|p| p.line() as usize), e.to_string());
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize);
        let field = |name: &str| indices.get(name).and_then(|&i| record.get(i)).unwrap_or("").trim();
        report.rows += 1;
        let (conv, judge, model) = (field("conv_id"), field("judge"), field("response_model"));
        if seen.insert((conv.to_owned(), model.to_owned())) {
            responses.push(ResponseEntry {
                model: model_info(model),
                conversation: ConversationId::new(Source::Mentalbench, conv).to_string(),
                text: None,
            });
        }
        let is_human = judge == HUMAN_RATER;
        if !is_human && inconsistent.contains(conv) {
            report.judge_rows_excluded += 1;
            continue;
        }
        let status = field("parse_status");
        if status == "missing" {
            report.missing_rows += 1;
            continue;
        }
        let parse_failure = status == "unparseable";
        let mut scores = BTreeMap::new();
        for name in SCORE_COLUMNS.into_iter().filter(|_| !parse_failure) {
            match parse_score(field(name)) {
                Ok(Some(0)) => report.zero_scores += 1,
                Ok(Some(value)) => match Score::new(value) {
                    Some(score) => {
                        scores.insert(name.to_owned(), score);
                    }
                    None => report.off_scale_scores.push(format!("ratings.csv:{}: {name} = {value}", line.unwrap_or(0))),
                },
                Ok(None) => report.empty_scores += 1,
                Err(message) => errors.add(&path, line, format!("{name}: {message}")),
            }
        }
        report.unparseable_rows += usize::from(parse_failure);
        let rater_id = if is_human { HUMAN_RATER.to_owned() } else { format!("llm:{judge}") };
        if let Some(provider) = judge_provider(judge).filter(|_| !is_human) {
            rater_providers.insert(rater_id.clone(), provider.to_owned());
        }
        let explanation = Some(field("explanation").to_owned()).filter(|e| !e.is_empty());
        ratings.push(Rating {
            schema_version: SCHEMA_VERSION,
            response: ResponseRef {
                run_id: run_id.clone(),
                conversation_id: ConversationId::new(Source::Mentalbench, conv),
                model_id: ModelId::from(model),
            },
            rater_id: RaterId(rater_id),
            rater_kind: if is_human { RaterKind::Human } else { RaterKind::Llm },
            rubric_version: "mentalbench".to_owned(),
            status: if parse_failure { RatingStatus::ParseFailure } else { RatingStatus::Complete },
            scores: if parse_failure { BTreeMap::new() } else { scores },
            comment: explanation.clone().filter(|_| !parse_failure),
            safety_flag: false,
            raw_output: explanation.filter(|_| parse_failure),
            judge_params: None,
            created_at,
        });
    }
    errors.into_result(Release { responses, ratings, rater_providers, report })
}

/// A score cell: empty is `None`; `3` and `3.0` are 3; anything else (or off 0..5) is an error.
fn parse_score(text: &str) -> Result<Option<i64>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let value: f64 = text.parse().map_err(|_| format!("`{text}` is not a number; expected a whole score 1..5 (0 = empty)"))?;
    if value.fract() != 0.0 || !(0.0..=100.0).contains(&value) {
        return Err(format!("`{text}` is not a whole score 1..5 (0 = empty)"));
    }
    Ok(Some(value as i64))
}

/// ConvIDs with `id_context_consistent = false` in contexts.csv; none if the file is absent.
fn inconsistent_conversations(path: &Path) -> Result<BTreeSet<String>, FileError> {
    if !path.is_file() {
        return Ok(BTreeSet::new());
    }
    let mut reader = csv::Reader::from_path(path).map_err(|e| FileError::at(path, None, e.to_string()))?;
    let headers = reader.headers().map_err(|e| FileError::at(path, Some(1), e.to_string()))?.clone();
    let (Some(id), Some(flag)) = (
        headers.iter().position(|h| h == "conv_id"),
        headers.iter().position(|h| h == "id_context_consistent"),
    ) else {
        return Err(FileError::at(path, Some(1), "conv_id, id_context_consistent: columns missing"));
    };
    let mut out = BTreeSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| FileError::at(path, e.position().map(|p| p.line() as usize), e.to_string()))?;
        if record.get(flag).map(str::trim) == Some("false") || record.get(flag).map(str::trim) == Some("False") {
            out.insert(record.get(id).unwrap_or("").trim().to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    #[test]
    fn loads_ratings_and_counts_what_it_leaves_out() {
        let release = load(&fixture("mentalbench_release")).unwrap();
        let report = &release.report;
        assert_eq!(report.rows, 10);
        // Row 3 (line 3) is all zeros: seven zero scores, no usable rating.
        assert_eq!(report.zero_scores, 7);
        assert_eq!(report.off_scale_scores, ["ratings.csv:6: informativeness = 6"]);
        assert_eq!(report.empty_scores, 1, "the partial row's empty helpfulness");
        assert_eq!((report.missing_rows, report.unparseable_rows), (1, 1));
        assert_eq!(report.inconsistent_conversations, ["3"]);
        assert_eq!(report.judge_rows_excluded, 1, "gpt-4o's rating of ConvID 3");
        assert_eq!(release.responses.len(), 5);
        // 10 rows - 1 missing - 1 excluded = 8 ratings (the zero row stays, without scores).
        assert_eq!(release.ratings.len(), 8);
        let failure = release.ratings.iter().find(|r| r.status == RatingStatus::ParseFailure).unwrap();
        assert_eq!(failure.rater_id.as_str(), "llm:gpt-4o");
        assert!(failure.scores.is_empty() && failure.raw_output.is_some());
        assert_eq!(release.rater_providers.get("llm:gpt-4o").map(String::as_str), Some("openai"));
        let zero_row = release.ratings.iter().find(|r| r.response.model_id.as_str() == "qwen_3" && r.rater_kind == RaterKind::Human).unwrap();
        assert!(zero_row.scores.is_empty(), "zeros are missing, never scores");
    }

    #[test]
    fn names_file_line_and_field_of_bad_scores() {
        let err = load(&fixture("mentalbench_release/broken")).unwrap_err().to_string();
        let path = fixture("mentalbench_release/broken/ratings.csv");
        let path = path.display();
        assert!(err.contains(&format!("{path}:3: guidance: `4.5` is not a whole score 1..5 (0 = empty)")), "{err}");
        assert!(err.contains(&format!("{path}:3: helpfulness: `four` is not a number; expected a whole score 1..5 (0 = empty)")), "{err}");
    }
}
