//! `rate import`: human ratings collected in a spreadsheet (CSV, the layout
//! [`super::export`] writes), validated in full and then saved into the run's store in one
//! transaction, so a sheet goes in whole or not at all.
//!
//! Every bad cell is reported as `file:line: column: what is wrong; what to do` (all of them, up
//! to the usual cap) before anything is written. A rater the plan does not know is refused unless
//! named with `--new-rater`; such raters are added without a token (they cannot open the page).
//! A rating that replaces an earlier one keeps the earlier one in the store's history.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::export::{CSV_LEADING_COLUMNS, CSV_TRAILING_COLUMNS};
use super::store::{RatingDraft, RatingStore};
use super::{check_comment, check_score, RatingError};
use crate::files::{self, ErrorList};
use crate::rubric::Rubric;
use crate::schema::{ConversationId, ModelId, RaterId};

/// Columns a sheet must have besides one per rubric attribute.
const REQUIRED_COLUMNS: [&str; 3] = ["conversation_id", "model_id", "rater_id"];

/// Validate `sheet` against the store's plan and rubric, then save every row.
/// Returns the number of ratings imported. A rater the plan does not know is refused unless
/// named in `new_raters` (someone who rated outside the page), so a typo never becomes a rater.
///
/// # Errors
/// Unreadable sheet, every bad row (nothing is then written), SQLite failures.
pub fn import(store: &mut RatingStore, sheet: &Path, new_raters: &[RaterId]) -> Result<usize, RatingError> {
    let text = files::read_text(sheet)?;
    let rubric = store.rubric()?;
    let run_id = store.run_id()?;
    let known: BTreeSet<RaterId> = store.progress()?.into_iter().map(|p| p.rater_id).collect();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return Err(files::FileError::at(sheet, Some(1), format!("header: {e}")).into()),
    };
    let mut header_errors = ErrorList::default();
    check_header(sheet, &header, &rubric, &mut header_errors);
    header_errors.into_result(())?;
    let mut errors = ErrorList::default();
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                errors.add(sheet, line, format!("{e}; give every row the header's columns"));
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize);
        let cells: BTreeMap<&str, &str> = header.iter().map(String::as_str).zip(record.iter().map(super::export::restore_cell)).collect();
        let mut problem = |message: String| errors.add(sheet, line, message);
        let Some(row) = parse_row(&cells, &rubric, run_id.as_str(), &mut problem) else {
            continue;
        };
        if !known.contains(&row.2) && !new_raters.contains(&row.2) {
            let raters = known.iter().map(RaterId::as_str).collect::<Vec<_>>().join(", ");
            problem(format!(
                "rater_id: `{}` is not a rater of this run (raters: {raters}); fix the id, or pass --new-rater {} to add someone who rated outside the page",
                row.2, row.2
            ));
            continue;
        }
        match store.has_response(row.0.as_str(), row.1.as_str()) {
            Ok(true) => {}
            Ok(false) => {
                problem(format!(
                    "conversation_id, model_id: no reply `{}` by `{}` in this run; check both ids",
                    row.0, row.1
                ));
                continue;
            }
            Err(e) => return Err(e),
        }
        if !seen.insert((row.0.clone(), row.1.clone(), row.2.clone())) {
            problem(format!("rater_id: `{}` rates this reply twice in the sheet; keep one row", row.2));
            continue;
        }
        rows.push(row);
    }
    errors.into_result(())?;
    store.import(&rows)?;
    Ok(rows.len())
}

fn check_header(sheet: &Path, header: &[String], rubric: &Rubric, errors: &mut ErrorList) {
    let attributes = rubric.attribute_ids();
    let known: BTreeSet<&str> = CSV_LEADING_COLUMNS
        .iter()
        .chain(&CSV_TRAILING_COLUMNS)
        .copied()
        .chain(attributes.iter().copied())
        .collect();
    for column in header {
        if !known.contains(column.as_str()) {
            errors.add(sheet, Some(1), format!(
                "header: unknown column `{column}`; expected {}",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let present: BTreeSet<&str> = header.iter().map(String::as_str).collect();
    if present.len() != header.len() {
        errors.add(sheet, Some(1), "header: a column is named twice; keep one");
    }
    for required in REQUIRED_COLUMNS.iter().chain(&attributes) {
        if !present.contains(required) {
            errors.add(sheet, Some(1), format!("header: missing column `{required}`; add it"));
        }
    }
}

type ImportRow = (ConversationId, ModelId, RaterId, RatingDraft);

/// One row's cells as a rating, reporting each bad cell through `problem`.
fn parse_row(
    cells: &BTreeMap<&str, &str>,
    rubric: &Rubric,
    run_id: &str,
    problem: &mut impl FnMut(String),
) -> Option<ImportRow> {
    let cell = |column: &str| cells.get(column).copied().unwrap_or("");
    let mut ok = true;
    for column in REQUIRED_COLUMNS {
        if cell(column).is_empty() {
            problem(format!("{column}: empty; fill it in"));
            ok = false;
        }
    }
    let checks = [
        ("run_id", run_id, "this sheet is for another run"),
        ("rater_kind", "human", "only human ratings are imported"),
        ("rubric_version", rubric.version.as_str(), "rated with another rubric version; re-rate or re-plan"),
    ];
    for (column, expected, why) in checks {
        let value = cell(column);
        if !value.is_empty() && value != expected {
            problem(format!("{column}: `{value}`, expected `{expected}`; {why}"));
            ok = false;
        }
    }
    let cannot_rate = match cell("status") {
        "" | "complete" => false,
        "cannot_rate" => true,
        other => {
            problem(format!("status: `{other}`; write complete or cannot_rate"));
            ok = false;
            false
        }
    };
    let mut scores = BTreeMap::new();
    for attribute in rubric.attribute_ids() {
        let value = cell(attribute);
        if cannot_rate {
            if !value.is_empty() {
                problem(format!("{attribute}: `{value}` with status cannot_rate; leave it empty or set status complete"));
                ok = false;
            }
            continue;
        }
        match value.parse::<i64>() {
            Ok(number) => match check_score(rubric, attribute, number) {
                Ok(score) => {
                    scores.insert(attribute.to_owned(), score);
                }
                Err(message) => {
                    problem(format!("{message}; use a whole number 1..5"));
                    ok = false;
                }
            },
            Err(_) => {
                problem(format!("{attribute}: `{value}` is not a whole number 1..5; score it"));
                ok = false;
            }
        }
    }
    let comment = cell("comment").to_owned();
    if let Err(message) = check_comment(&comment) {
        problem(message);
        ok = false;
    }
    let safety_flag = parse_flag(cell("safety_flag"), "safety_flag", problem, &mut ok);
    if parse_flag(cell("repeat"), "repeat", problem, &mut ok) {
        problem("repeat: true; repeated showings are not imported (they measure the page's raters); remove the row".into());
        ok = false;
    }
    ok.then(|| {
        (
            ConversationId::from(cell("conversation_id")),
            ModelId::from(cell("model_id")),
            RaterId::from(cell("rater_id")),
            RatingDraft {
                scores,
                comment,
                safety_flag,
                cannot_rate,
            },
        )
    })
}

/// A yes/no cell (empty is no); a bad value is reported through `problem` and clears `ok`.
fn parse_flag(value: &str, column: &str, problem: &mut impl FnMut(String), ok: &mut bool) -> bool {
    match value.to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => false,
        "true" | "1" | "yes" => true,
        other => {
            problem(format!("{column}: `{other}`; write true or false"));
            *ok = false;
            false
        }
    }
}
