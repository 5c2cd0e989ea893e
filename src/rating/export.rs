//! `rate export`: submitted ratings out of the store as shared [`Rating`] records, in JSON Lines
//! or CSV (one column per rubric attribute), exactly as the raters entered them.
//!
//! First showings and repeated showings are exported separately (`repeats`), so the main file
//! holds one rating per rater and reply, as the analysis expects, and the repeats can be set
//! against them to measure each rater's own consistency. Every repeat is marked: in JSON Lines
//! by `"repeat": true` and `"repeat_gap"` (places after its first showing), fields a plain
//! [`Rating`] reader refuses, so a repeats file can never pass for first ratings; in CSV by the
//! `repeat` and `repeat_gap` columns. [`check_out_path`] keeps repeats out of the file names
//! `analyze` reads. A "cannot rate" is exported with status `cannot_rate` and no scores.
//! Drafts (not submitted) are left out. The CSV layout here is also what [`super::import`] reads.

use std::path::Path;

use serde::Serialize;

use super::store::{status_text, RatingStore};
use super::RatingError;
use crate::rubric::Rubric;
use crate::schema::Rating;

/// Output format of `rate export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One [`Rating`] JSON object a line.
    Jsonl,
    /// A spreadsheet-friendly table; see [`CSV_LEADING_COLUMNS`].
    Csv,
}

/// CSV columns before the attribute columns.
pub const CSV_LEADING_COLUMNS: [&str; 6] =
    ["run_id", "conversation_id", "model_id", "rater_id", "rater_kind", "rubric_version"];
/// CSV columns after the attribute columns.
pub const CSV_TRAILING_COLUMNS: [&str; 6] =
    ["comment", "safety_flag", "created_at", "status", "repeat", "repeat_gap"];

/// One exported rating: the shared record, and for a repeated showing its marks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportedRating {
    /// The shared record.
    #[serde(flatten)]
    pub rating: Rating,
    /// A repeated showing (absent, not `false`, on first showings so they stay plain records).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
    /// For a repeat: how many places after its first showing it came in the rater's queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_gap: Option<usize>,
}

/// Submitted human ratings as shared records: first showings, or only repeats with `repeats`.
///
/// # Errors
/// SQLite failures.
pub fn ratings(store: &RatingStore, repeats: bool) -> Result<Vec<ExportedRating>, RatingError> {
    if !store.has_plan()? {
        return Ok(Vec::new());
    }
    let rubric_version = store.rubric()?.version;
    Ok(store
        .submitted(repeats)?
        .into_iter()
        .map(|row| {
            let repeat_gap = row.repeat_gap;
            ExportedRating { rating: row.into_rating(&rubric_version), repeat: repeats, repeat_gap }
        })
        .collect())
}

/// Refuse to write repeats where `analyze` reads first ratings (`ratings*.jsonl`), so a repeat
/// never stands in for a rater's first rating of a reply.
///
/// # Errors
/// [`RatingError::Options`] naming the path and a name to use instead.
pub fn check_out_path(out: &Path, repeats: bool) -> Result<(), RatingError> {
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if repeats && name.starts_with("ratings") && name.ends_with(".jsonl") {
        return Err(RatingError::Options(format!(
            "--out {}: `analyze` reads every ratings*.jsonl of a run as first ratings; \
             write repeats to another name, such as repeats.jsonl",
            out.display()
        )));
    }
    Ok(())
}

/// Render ratings in `format`.
///
/// # Errors
/// Serialisation failures.
pub fn render(ratings: &[ExportedRating], rubric: &Rubric, format: ExportFormat) -> Result<Vec<u8>, RatingError> {
    match format {
        ExportFormat::Jsonl => {
            let mut out = Vec::new();
            for rating in ratings {
                serde_json::to_writer(&mut out, rating).map_err(|e| RatingError::Render(format!("JSON: {e}")))?;
                out.push(b'\n');
            }
            Ok(out)
        }
        ExportFormat::Csv => render_csv(ratings, rubric),
    }
}

fn render_csv(ratings: &[ExportedRating], rubric: &Rubric) -> Result<Vec<u8>, RatingError> {
    let csv_error = |e: csv::Error| RatingError::Render(format!("CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    let attributes = rubric.attribute_ids();
    let header = CSV_LEADING_COLUMNS
        .iter()
        .chain(&attributes)
        .chain(&CSV_TRAILING_COLUMNS);
    writer.write_record(header).map_err(csv_error)?;
    for exported in ratings {
        let rating = &exported.rating;
        let mut row = vec![
            rating.response.run_id.to_string(),
            rating.response.conversation_id.to_string(),
            rating.response.model_id.to_string(),
            rating.rater_id.to_string(),
            "human".to_owned(),
            rating.rubric_version.clone(),
        ];
        row.extend(attributes.iter().map(|a| {
            rating.scores.get(*a).map(|s| s.get().to_string()).unwrap_or_default()
        }));
        row.push(rating.comment.clone().unwrap_or_default());
        row.push(rating.safety_flag.to_string());
        row.push(rating.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        row.push(status_text(rating.status).to_owned());
        row.push(exported.repeat.to_string());
        row.push(exported.repeat_gap.map(|g| g.to_string()).unwrap_or_default());
        writer.write_record(row.iter().map(|cell| neutralise_cell(cell).into_owned())).map_err(csv_error)?;
    }
    writer
        .into_inner()
        .map_err(|e| RatingError::Render(format!("CSV: {e}")))
}

/// First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` made safe to open in a spreadsheet: one starting like a formula gets a leading `'`,
/// as OWASP recommends, so a rater's comment such as `=HYPERLINK(...)` stays text.
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The text [`neutralise_cell`] was given: its `'` removed again, so a sheet exported and
/// imported keeps every comment as the rater wrote it.
pub fn restore_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_restored() {
        for cell in ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"] {
            let safe = neutralise_cell(cell);
            assert!(safe.starts_with('\''), "{cell:?} -> {safe:?}");
            assert_eq!(restore_cell(&safe), cell);
        }
        for cell in ["fine", "'quoted", "3", ""] {
            assert_eq!(neutralise_cell(cell), cell);
            assert_eq!(restore_cell(cell), cell);
        }
    }
}
