//! Loader for the EmoCare team's counselling question bench (ChatPsychiatrist
//! `counselling_bench/question.jsonl`): a stand-in while Psych8K is gated, NOT Psych8K rows.
//!
//! Each line is `{"question_id": N, "turns": ["<one user message>"], "category": "generic"}`.
//! One [`Conversation`] per line, id `question_id`, no topic (the category is always `generic`
//! and is kept in metadata), no reference response (the bench has none).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::normalize::{normalize_text, Markup};
use crate::files::{read_jsonl, FileError};
use crate::schema::{Conversation, ConversationId, Source, SCHEMA_VERSION};

/// One line of the bench file.
#[derive(Debug, Deserialize)]
struct BenchLine {
    question_id: u64,
    turns: OneTurn,
    #[serde(default)]
    category: Option<String>,
}

/// `turns` holding exactly one user message, since a [`Conversation`] is one user turn.
#[derive(Debug)]
struct OneTurn(String);

impl<'de> Deserialize<'de> for OneTurn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let turns = Vec::<String>::deserialize(deserializer)?;
        match <[String; 1]>::try_from(turns) {
            Ok([turn]) => Ok(OneTurn(turn)),
            Err(turns) => Err(serde::de::Error::custom(format!(
                "expected one user turn, found {}",
                turns.len()
            ))),
        }
    }
}

/// Load every question of the bench file, in file order.
///
/// # Errors
/// The file is unreadable, or lines are not JSON, lack a field, or hold other than one turn
/// (all listed with line and field).
pub fn load(path: &Path) -> Result<Vec<Conversation>, FileError> {
    Ok(read_jsonl::<BenchLine>(path)?
        .into_iter()
        .map(|line| {
            let source_id = line.question_id.to_string();
            let metadata = line
                .category
                .map(|c| BTreeMap::from([("category".to_owned(), json!(c))]))
                .unwrap_or_default();
            Conversation {
                schema_version: SCHEMA_VERSION,
                id: ConversationId::new(Source::EmocareBench, &source_id),
                source: Source::EmocareBench,
                source_id,
                topic: None,
                context: normalize_text(&line.turns.0, Markup::Plain),
                reference_response: None,
                metadata,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_lines_with_more_than_one_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.jsonl");
        std::fs::write(
            &path,
            "{\"question_id\": 1, \"turns\": [\"a\", \"b\"], \"category\": \"generic\"}\n",
        )
        .unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:1: turns: expected one user turn, found 2",
                path.display()
            )
        );
    }
}
