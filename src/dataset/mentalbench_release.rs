//! The MentalBench / MentalAlign-70k release (`ratings.csv`, `contexts.csv` in
//! `../shared/data/mentalbench/`, see its README) read into records: rows become `Rating`
//! records and the rated replies [`ResponseEntry`]s, so `analysis` treats the release like any run.
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

use crate::files::{ErrorList, FileError};
use crate::registry::{Maker, Makers};
use crate::schema::{
    ConversationId, ModelGroup, ModelId, ModelInfo, ResponseEntry, RaterId, RaterKind, Rating, RatingStatus, ResponseRef, RunId, Score, Source, SCHEMA_VERSION,
};

/// The rater id of the release's human experts.
pub const HUMAN_RATER: &str = "human_expert";

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
    /// Who each LLM rater (by rater id) and each rated model is, for the self-judging rule.
    pub makers: Makers,
    /// What loading did.
    pub report: LoadReport,
    /// ratings.csv line by line, for the readings of [`crate::analysis::mentalalign`].
    pub rows: Vec<RawRow>,
    /// ConvIDs whose context differs between the human and judge sheets.
    pub inconsistent: BTreeSet<String>,
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

/// The judge's maker: the rated model the authors count as the judge itself (Claude-3.7-Sonnet
/// judges `claude`, Claude-3.5-Haiku; GPT-4o `gpt4o`; Gemini-2.5-Flash `gemini`, Gemini-2.0-Flash;
/// o4-mini `gpt4omini`) and its vendor. `None` for a judge the release does not have.
pub fn judge_maker(judge: &str) -> Option<Maker> {
    let (model, vendor) = if judge.starts_with("claude") {
        ("claude", "anthropic")
    } else if judge.starts_with("gemini") {
        ("gemini", "google")
    } else if judge.starts_with("gpt-4o") {
        ("gpt4o", "openai")
    } else if judge.starts_with("o4-mini") {
        ("gpt4omini", "openai")
    } else {
        return None;
    };
    Some(Maker { model: model.to_owned(), vendor: Some(vendor.to_owned()) })
}

/// A rated source's maker: its id and the vendor the release's model list gives.
pub fn source_maker(id: &str) -> Maker {
    Maker { model: id.to_owned(), vendor: model_info(id).provider }
}

/// The release's seven score columns, in `ratings.csv` order.
pub const SCORE_COLUMNS: [&str; 7] = ["guidance", "informativeness", "relevance", "safety", "empathy", "helpfulness", "understanding"];

/// One line of `ratings.csv` as written, before any reading rule (zeros and off-scale values
/// kept), so the careful and the published readings start from the same cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    /// Line in ratings.csv (1 = header).
    pub line: usize,
    /// ConvID.
    pub conv: String,
    /// `human_expert` or the LLM judge's name.
    pub judge: String,
    /// Rated source (`original`, `claude`, ...).
    pub model: String,
    /// `ok`, `regex_fallback`, `partial`, `missing` or `unparseable`.
    pub status: String,
    /// The seven scores ([`SCORE_COLUMNS`] order); `None` for an empty cell.
    pub scores: [Option<i64>; 7],
    /// The judge's explanation (or raw text of an unparseable answer).
    pub explanation: String,
    /// Whether the authors' reader parses the original cell (see [`authors_can_read`]);
    /// `None` when the original workbooks are not beside ratings.csv.
    pub authors_readable: Option<bool>,
}

/// Every line of `path` (a release `ratings.csv`).
///
/// # Errors
/// Unreadable file, a missing column, or a score that is not a whole number, each as
/// `path:line: field: what`; every bad line is listed (capped by `ErrorList`).
pub fn read_rows(path: &Path) -> Result<Vec<RawRow>, FileError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| FileError::at(path, None, e.to_string()))?;
    let headers = reader.headers().map_err(|e| FileError::at(path, Some(1), e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut errors = ErrorList::default();
    let mut indices = BTreeMap::new();
    for name in ["conv_id", "judge", "response_model", "explanation", "parse_status"].iter().chain(&SCORE_COLUMNS) {
        match column(name) {
            Some(i) => {
                indices.insert(*name, i);
            }
            None => errors.add(path, Some(1), format!("{name}: column missing; expected the release's header")),
        }
    }
    let indices = errors.into_result(indices)?;
    let mut errors = ErrorList::default();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.add(path, e.position().map(|p| p.line() as usize), e.to_string());
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |name: &str| indices.get(name).and_then(|&i| record.get(i)).unwrap_or("").trim().to_owned();
        let mut scores = [None; 7];
        for (slot, name) in scores.iter_mut().zip(SCORE_COLUMNS) {
            match parse_score(&field(name)) {
                Ok(value) => *slot = value,
                Err(message) => errors.add(path, Some(line), format!("{name}: {message}")),
            }
        }
        rows.push(RawRow {
            line,
            conv: field("conv_id"),
            judge: field("judge"),
            model: field("response_model"),
            status: field("parse_status"),
            scores,
            explanation: field("explanation"),
            authors_readable: None,
        });
    }
    errors.into_result(rows)
}

/// Load `dir/ratings.csv` (and `dir/contexts.csv` when present) the careful way (see the
/// module docs).
///
/// # Errors
/// Unreadable files, a missing column, or a score that is not a whole number, each as
/// `path:line: field: what`; every bad line is listed (capped by `ErrorList`).
pub fn load(dir: &Path) -> Result<Release, FileError> {
    let inconsistent = inconsistent_conversations(&dir.join("contexts.csv"))?;
    let mut rows = read_rows(&dir.join("ratings.csv"))?;
    if let Some(readable) = original_cells(&dir.join("original"))? {
        for row in &mut rows {
            row.authors_readable = readable.get(&(row.judge.clone(), row.conv.clone(), row.model.clone())).copied();
        }
    }
    let mut report = LoadReport { inconsistent_conversations: inconsistent.iter().cloned().collect(), ..LoadReport::default() };
    let mut responses = Vec::new();
    let mut seen = BTreeSet::new();
    let mut ratings = Vec::new();
    let mut makers = Makers::default();
    for row in &rows {
        report.rows += 1;
        let (conv, judge, model) = (row.conv.as_str(), row.judge.as_str(), row.model.as_str());
        if seen.insert((conv.to_owned(), model.to_owned())) {
            makers.models.entry(model.to_owned()).or_insert_with(|| source_maker(model));
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
        if row.status == "missing" {
            report.missing_rows += 1;
            continue;
        }
        let parse_failure = row.status == "unparseable";
        report.unparseable_rows += usize::from(parse_failure);
        let scores = if parse_failure { BTreeMap::new() } else { careful_scores(row, &mut report) };
        let rater_id = if is_human { HUMAN_RATER.to_owned() } else { format!("llm:{judge}") };
        if let Some(maker) = judge_maker(judge).filter(|_| !is_human) {
            makers.judges.insert(rater_id.clone(), maker);
        }
        ratings.push(rating(row, rater_id, is_human, parse_failure, scores));
    }
    Ok(Release { responses, ratings, makers, report, rows, inconsistent })
}

/// The row's scores on the 1..5 scale; zeros, empty cells and other off-scale values are
/// counted in `report` and left out.
fn careful_scores(row: &RawRow, report: &mut LoadReport) -> BTreeMap<String, Score> {
    let mut scores = BTreeMap::new();
    for (name, value) in SCORE_COLUMNS.into_iter().zip(row.scores) {
        match value {
            Some(0) => report.zero_scores += 1,
            Some(value) => match Score::new(value) {
                Some(score) => {
                    scores.insert(name.to_owned(), score);
                }
                None => report.off_scale_scores.push(format!("ratings.csv:{}: {name} = {value}", row.line)),
            },
            None => report.empty_scores += 1,
        }
    }
    scores
}

fn rating(row: &RawRow, rater_id: String, is_human: bool, parse_failure: bool, scores: BTreeMap<String, Score>) -> Rating {
    let explanation = Some(row.explanation.clone()).filter(|e| !e.is_empty());
    Rating {
        schema_version: SCHEMA_VERSION,
        response: ResponseRef {
            run_id: RunId::from("mentalbench"),
            conversation_id: ConversationId::new(Source::Mentalbench, &row.conv),
            model_id: ModelId::from(row.model.as_str()),
        },
        rater_id: RaterId(rater_id),
        rater_kind: if is_human { RaterKind::Human } else { RaterKind::Llm },
        rubric_version: "mentalbench".to_owned(),
        status: if parse_failure { RatingStatus::ParseFailure } else { RatingStatus::Complete },
        scores,
        comment: explanation.clone().filter(|_| !parse_failure),
        safety_flag: false,
        raw_output: explanation.filter(|_| parse_failure),
        judge_params: None,
        created_at: DateTime::UNIX_EPOCH,
    }
}

/// Whether the authors' analysis reads a rating cell (their `_parse_rating`): strip the
/// surrounding whitespace and, when the cell starts with a ```json fence, every fence; then
/// the whole text must be one JSON object. Prose around the JSON, or broken JSON, is not read.
pub fn authors_can_read(cell: &str) -> bool {
    let text = cell.trim();
    let text = if text.starts_with("```json") { text.replace("```json", "").replace("```", "") } else { text.to_owned() };
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text.trim()).is_ok()
}

/// For every rating cell of the original workbooks in `dir` (`Human_judge.xlsx` and the
/// `*_llm_judge.xlsx`): (rater as in ratings.csv, ConvID, source) -> [`authors_can_read`].
/// The judge's name is its sheet's name up to the first `_`, as ratings.csv took it. `None`
/// when `dir` holds no workbook.
///
/// # Errors
/// A workbook that does not open or lacks its ConvID column.
pub fn original_cells(dir: &Path) -> Result<Option<BTreeMap<(String, String, String), bool>>, FileError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(None) };
    let mut books: Vec<std::path::PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "xlsx")).collect();
    books.sort();
    if books.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    for book in &books {
        read_book(book, &mut out)?;
    }
    Ok(Some(out))
}

fn read_book(path: &Path, out: &mut BTreeMap<(String, String, String), bool>) -> Result<(), FileError> {
    use calamine::Reader;
    let mut workbook = calamine::open_workbook_auto(path).map_err(|e| FileError::at(path, None, e.to_string()))?;
    let sheet = workbook.sheet_names().first().cloned().unwrap_or_default();
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| FileError::at(path, None, "no sheet"))?
        .map_err(|e| FileError::at(path, None, e.to_string()))?;
    let mut rows = range.rows();
    let header: Vec<String> = rows.next().map(|r| r.iter().map(|c| cell_text(c).trim().to_owned()).collect()).unwrap_or_default();
    let id = header.iter().position(|h| h == "ConvID").ok_or_else(|| FileError::at(path, Some(1), "ConvID: column missing"))?;
    let columns: Vec<(usize, String, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let (rater, source) = match (h.strip_prefix("human_response_"), h.strip_prefix("judge_response_")) {
                (Some(source), _) => (HUMAN_RATER.to_owned(), source),
                (_, Some(source)) => (sheet.split('_').next().unwrap_or_default().to_owned(), source),
                _ => return None,
            };
            Some((i, rater, source.to_owned()))
        })
        .collect();
    for row in rows {
        let conv = cell_text(&row[id]).trim().to_owned();
        for (i, rater, source) in &columns {
            out.insert((rater.clone(), conv.clone(), source.clone()), row.get(*i).is_some_and(|c| authors_can_read(&cell_text(c))));
        }
    }
    Ok(())
}

/// A workbook cell as text; whole numbers without a decimal point (ConvIDs).
fn cell_text(cell: &calamine::Data) -> String {
    match cell {
        calamine::Data::String(s) => s.clone(),
        calamine::Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
        calamine::Data::Empty => String::new(),
        other => other.to_string(),
    }
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
pub fn inconsistent_conversations(path: &Path) -> Result<BTreeSet<String>, FileError> {
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
        let judge = release.makers.judges.get("llm:gpt-4o").unwrap();
        assert_eq!((judge.model.as_str(), judge.vendor.as_deref()), ("gpt4o", Some("openai")));
        let zero_row = release.ratings.iter().find(|r| r.response.model_id.as_str() == "qwen_3" && r.rater_kind == RaterKind::Human).unwrap();
        assert!(zero_row.scores.is_empty(), "zeros are missing, never scores");
    }

    #[test]
    fn the_authors_reader_takes_a_whole_object_with_or_without_a_fence() {
        assert!(authors_can_read("{\"Guidance\": 3}"));
        assert!(authors_can_read("  ```json\n{\"Guidance\": 3}\n```  "));
        assert!(!authors_can_read("Let me assess each attribute:\n\n{\"Guidance\": 3}"), "prose before the JSON");
        assert!(!authors_can_read("Here it is:\n```json\n{\"Guidance\": 3}\n```"), "the fence must come first");
        assert!(!authors_can_read("{\"Explanation\": \"an \"unescaped\" quote\"}"), "broken JSON");
        assert!(!authors_can_read(""));
        assert!(!authors_can_read("[3, 4]"), "not an object");
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
