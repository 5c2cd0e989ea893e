//! Loader for the MentalBench contexts, `mentalbench/contexts.csv` (derived from the
//! MentalBench-Align human-judge workbook; columns in `../shared/data/SOURCES.md`).
//!
//! One [`Conversation`] per row, id `conv_id`, no topic and no reference response (the
//! response texts were not released with the contexts). The release's own cross-reference to
//! CounselChat (`counselchat_match`, `counselchat_questionID`) and its join-safety flag
//! (`id_context_consistent`) are kept in metadata.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::csv_table::{read_csv, CsvRow};
use super::normalize::{normalize_text, Markup};
use crate::files::{ErrorList, FileError};
use crate::schema::{Conversation, ConversationId, Source, SCHEMA_VERSION};

const COLUMNS: [&str; 5] = [
    "conv_id",
    "context",
    "id_context_consistent",
    "counselchat_match",
    "counselchat_questionID",
];

/// Load every context of `contexts.csv`, in file order.
///
/// # Errors
/// The file is unreadable, lacks a column, or has malformed rows or rows without a `conv_id`.
pub fn load(path: &Path) -> Result<Vec<Conversation>, FileError> {
    let mut errors = ErrorList::default();
    let mut conversations = Vec::new();
    for CsvRow { line, values } in read_csv(path, COLUMNS)? {
        let [conv_id, context, consistent, match_kind, question_id] = values;
        let source_id = conv_id.trim().to_owned();
        if source_id.is_empty() {
            errors.add(
                path,
                Some(line),
                "conv_id: empty; every context needs its ConvID",
            );
            continue;
        }
        let mut metadata = BTreeMap::from([(
            "id_context_consistent".to_owned(),
            json!(consistent.trim() == "true"),
        )]);
        if !match_kind.trim().is_empty() {
            metadata.insert("counselchat_match".to_owned(), json!(match_kind.trim()));
            metadata.insert(
                "counselchat_question_id".to_owned(),
                json!(question_id.trim()),
            );
        }
        conversations.push(Conversation {
            schema_version: SCHEMA_VERSION,
            id: ConversationId::new(Source::Mentalbench, &source_id),
            source: Source::Mentalbench,
            source_id,
            topic: None,
            context: normalize_text(&context, Markup::Plain),
            reference_response: None,
            metadata,
        });
    }
    errors.into_result(conversations)
}
