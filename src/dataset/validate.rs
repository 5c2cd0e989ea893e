//! The checks every data-set record passes before a model answers it: values that parse but
//! cannot be used (an unknown `schema_version`, an empty id, an id that contradicts its source,
//! an empty context, an id used twice) are named by `file:line: field`.
//!
//! Data sets are JSON Lines of [`Conversation`] written by `curate` or by hand; `generate` and
//! `curate --source sample` read them through [`read_set`], so a set that `curate` writes is
//! one `generate` accepts and a hand-edited set fails before any compute.

use std::collections::BTreeMap;
use std::path::Path;

use crate::files::{ErrorList, FileError};
use crate::schema::{Conversation, ConversationId, SCHEMA_VERSION};

/// Read a data set, refusing any record [`problems`] finds fault with, and an empty file.
///
/// # Errors
/// Unreadable file, invalid JSON lines, bad values or repeated ids (each as `path:line: field:
/// what`), or a file with no records.
pub fn read_set(path: &Path) -> Result<Vec<Conversation>, FileError> {
    let numbered = crate::jsonl::read_numbered::<Conversation>(path)?;
    if numbered.is_empty() {
        return Err(FileError::at(path, None, "no conversations; the data set is empty"));
    }
    let mut errors = ErrorList::default();
    let mut first_line: BTreeMap<&ConversationId, usize> = BTreeMap::new();
    for (line, conversation) in &numbered {
        for problem in problems(conversation) {
            errors.add(path, Some(*line), problem);
        }
        if let Some(first) = first_line.insert(&conversation.id, *line) {
            errors.add(path, Some(*line), format!("id: `{}` is already the id of line {first}", conversation.id));
            first_line.insert(&conversation.id, first);
        }
    }
    errors.into_result(())?;
    Ok(numbered.into_iter().map(|(_, conversation)| conversation).collect())
}

/// What is wrong with one record's values, each message starting with its field.
pub fn problems(conversation: &Conversation) -> Vec<String> {
    let mut problems = Vec::new();
    if conversation.schema_version != SCHEMA_VERSION {
        problems.push(format!(
            "schema_version: {} is not a version this mhbench reads (it reads {SCHEMA_VERSION})",
            conversation.schema_version
        ));
    }
    if conversation.source_id.trim().is_empty() {
        problems.push("source_id: empty; give the row's id in its source".to_owned());
    }
    let expected = ConversationId::new(conversation.source, &conversation.source_id);
    if conversation.id.0.trim().is_empty() {
        problems.push(format!("id: empty; write `{expected}`"));
    } else if conversation.id != expected {
        problems.push(format!(
            "id: `{}` contradicts source `{}` and source_id `{}`; write `{expected}`",
            conversation.id, conversation.source, conversation.source_id
        ));
    }
    if conversation.context.trim().is_empty() {
        problems.push("context: empty or only whitespace; there is nothing to answer".to_owned());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with(lines: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("set.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        (dir, path)
    }

    #[test]
    fn bad_values_are_named_by_line_and_field() {
        let (_dir, path) = set_with(&[
            r#"{"schema_version":1,"id":"sample:1","source":"sample","source_id":"1","context":"  \t "}"#,
            r#"{"schema_version":1,"id":"","source":"sample","source_id":"2","context":"ok"}"#,
            r#"{"schema_version":1,"id":"counselchat:3","source":"sample","source_id":"3","context":"ok"}"#,
            r#"{"schema_version":9,"id":"sample:4","source":"sample","source_id":"4","context":"ok"}"#,
            r#"{"schema_version":1,"id":"sample:4","source":"sample","source_id":"4","context":"again"}"#,
        ]);
        let err = read_set(&path).unwrap_err().to_string();
        let p = path.display();
        for expected in [
            format!("{p}:1: context: empty or only whitespace"),
            format!("{p}:2: id: empty; write `sample:2`"),
            format!("{p}:3: id: `counselchat:3` contradicts source `sample` and source_id `3`; write `sample:3`"),
            format!("{p}:4: schema_version: 9 is not a version this mhbench reads (it reads 1)"),
            format!("{p}:5: id: `sample:4` is already the id of line 4"),
        ] {
            assert!(err.contains(&expected), "missing `{expected}` in:\n{err}");
        }
    }

    #[test]
    fn an_empty_set_is_an_error() {
        let (_dir, path) = set_with(&["", "  "]);
        let err = read_set(&path).unwrap_err().to_string();
        assert!(err.ends_with("no conversations; the data set is empty"), "{err}");
    }

    #[test]
    fn the_shipped_sample_set_passes() {
        let set = read_set(Path::new("datasets/sample.jsonl")).unwrap();
        assert!(!set.is_empty());
    }
}
