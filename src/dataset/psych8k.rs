//! Loader for Psych8K (EmoCareAI/Psych8k on Hugging Face, gated): one JSON list of objects with
//! `instruction`, `input` and `output`.
//!
//! One [`Conversation`] per element: `input` is the patient's description, `output` the
//! counsellor's reference response; the instruction is a fixed sentence and is not kept. Ids are
//! the 0-based position in the list. The set may not be redistributed: commit only manifests
//! (row ids and hashes), never its text.

use std::path::Path;

use serde::Deserialize;

use super::instruction_pair;
use crate::files::{parse_json_document, read_text, FileError};
use crate::schema::{Conversation, Source};

/// The Hugging Face dataset repository of Psych8K (gated: request access, then set `HF_TOKEN`).
pub const HUB_REPO: &str = "EmoCareAI/Psych8k";
/// The data file of [`HUB_REPO`], as a third-party manifest names it (not verified here, since
/// the set is gated; pass a local file with `--psych8k` if the name differs).
pub const HUB_FILE: &str = "Alexander_Street_shareGPT_2.0.json";

/// One element of the list.
#[derive(Debug, Deserialize)]
struct Psych8kRow {
    input: String,
    output: String,
}

/// Load every element of a Psych8K JSON file, in order.
///
/// # Errors
/// The file is unreadable or not UTF-8, is not a JSON list, or an element lacks `input` or
/// `output` (named with line and position, e.g. `[12].input`).
pub fn load(path: &Path) -> Result<Vec<Conversation>, FileError> {
    let text = read_text(path)?;
    let rows: Vec<Psych8kRow> = parse_json_document(path, &text)?;
    let subset = "psych8k";
    Ok(rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            instruction_pair(
                Source::Psych8k,
                &index.to_string(),
                &row.input,
                &row.output,
                subset,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_names_line_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, "[\n {\"instruction\": \"i\", \"input\": \"a\", \"output\": \"b\"},\n {\"instruction\": \"i\", \"input\": \"c\"}\n]\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}:3: [1]: missing field `output`", path.display())
        );
    }
}
