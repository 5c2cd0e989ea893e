//! The one JSON reader of the project: exactly one JSON value per JSON Lines line (and per JSON
//! document), else an error naming `file:line` and the field.
//!
//! serde's streaming deserializer stops after the first value, so without a check a line holding
//! two records silently loses the second and garbage after a record passes unnoticed. Every
//! reader of data sets, response files, ratings, sources and manifests goes through here (via
//! [`crate::files`]), so the rule is enforced in one place. Blank (whitespace-only) lines are
//! skipped; a complete last record without a trailing newline is read like any other.

use std::fs;
use std::io::{self, BufRead};
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::files::{ErrorList, FileError};

/// A JSON value that did not read: where (1-based line within the text) and what, the message
/// starting with the field path where one is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonProblem {
    /// 1-based line within the parsed text.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parse `bytes` as exactly one JSON value of type `T`; anything but whitespace after it (a
/// second record, stray characters) is an error.
///
/// # Errors
/// Invalid JSON, a value that does not fit `T` (the message names the field), or text after
/// the value.
pub fn parse_one<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonProblem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(describe)?;
    deserializer.end().map_err(|e| trailing(bytes, &e))?;
    Ok(value)
}

/// Parse one JSON Lines line into `T`; the error starts with the field path.
///
/// # Errors
/// As [`parse_one`], as a message without the line (the caller knows it).
pub fn parse_line<T: DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    parse_one(line).map_err(|p| p.message)
}

/// Read a JSON Lines file of `T` with each record's 1-based line; blank lines are skipped.
///
/// # Errors
/// Unreadable file, or every bad line (up to [`crate::files::MAX_REPORTED_ERRORS`]) as
/// `path:line: field: what`.
pub fn read_numbered<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, FileError> {
    let file = fs::File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut records = Vec::new();
    let mut errors = ErrorList::default();
    for (index, line) in io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| FileError::io(path, e))?;
        let line_no = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(&line) {
            Ok(record) => records.push((line_no, record)),
            Err(message) => errors.add(path, Some(line_no), message),
        }
    }
    errors.into_result(records)
}

/// Read a JSON Lines file of `T`, one record a line; blank lines are skipped.
///
/// # Errors
/// As [`read_numbered`].
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, FileError> {
    Ok(read_numbered(path)?.into_iter().map(|(_, record)| record).collect())
}

/// The line and message of a deserialisation error, prefixed with the field path.
fn describe(error: serde_path_to_error::Error<serde_json::Error>) -> JsonProblem {
    let field = error.path().to_string();
    let inner = error.into_inner();
    let message = strip_position(&inner.to_string());
    let message = if field.is_empty() || field == "." { message } else { format!("{field}: {message}") };
    JsonProblem { line: inner.line().max(1), message }
}

/// What follows the value, named: a second JSON value (two records on one line) or garbage.
fn trailing(bytes: &[u8], error: &serde_json::Error) -> JsonProblem {
    let start = offset_of(bytes, error.line(), error.column().saturating_sub(1));
    let rest = bytes.get(start..).unwrap_or_default();
    let second_value = serde_json::Deserializer::from_slice(rest)
        .into_iter::<serde::de::IgnoredAny>()
        .next()
        .is_some_and(|v| v.is_ok());
    let what = if second_value {
        "a second JSON value follows the record; write one record per line"
    } else {
        "unexpected characters after the record; a line holds exactly one JSON value"
    };
    JsonProblem { line: error.line().max(1), message: format!("{what} (column {})", error.column()) }
}

/// Byte offset of 1-based `line` and 0-based `column` (a byte count) in `bytes`.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start = bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(line.saturating_sub(2))
        .map_or(0, |(i, _)| i + 1);
    if line <= 1 { column } else { line_start + column }
}

/// serde_json appends " at line L column C"; within a line only the message is useful.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        name: String,
    }

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.jsonl");
        fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn two_records_on_one_line_are_an_error_naming_the_line() {
        let (_dir, path) = write("{\"name\":\"a\"}\n{\"name\":\"b\"} {\"name\":\"c\"}\n");
        // Through the project's public reader, which every data set, rating and source uses.
        let err = crate::files::read_jsonl::<Item>(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}:2: a second JSON value follows the record; write one record per line (column 14)", path.display())
        );
    }

    #[test]
    fn garbage_after_a_record_is_an_error() {
        let (_dir, path) = write("{\"name\":\"a\"}xyz\n");
        let err = read::<Item>(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:1: unexpected characters after the record", path.display())), "{err}");
    }

    #[test]
    fn blank_lines_and_a_last_record_without_newline_are_read() {
        let (_dir, path) = write("\n{\"name\":\"a\"}  \r\n   \n{\"name\":\"b\"}");
        let records = read_numbered::<Item>(&path).unwrap();
        let lines: Vec<_> = records.iter().map(|(line, item)| (*line, item.name.as_str())).collect();
        assert_eq!(lines, [(2, "a"), (4, "b")]);
    }

    #[test]
    fn a_document_with_text_after_it_names_the_line() {
        let problem = parse_one::<Item>(b"{\n\"name\": \"a\"\n}\n]").unwrap_err();
        assert_eq!(problem.line, 4);
        assert!(problem.message.starts_with("unexpected characters after the record"), "{problem:?}");
    }
}
