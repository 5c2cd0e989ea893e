//! Reading and writing the files users hand to mhbench, with errors that name the place.
//!
//! Every stage reads TOML or JSON Lines written by a person or by an earlier stage. This module
//! is the one place that turns a parse failure into `path:line: field: what is wrong`, collects
//! several bad lines before failing, hashes files for manifests and writes files atomically.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// How many bad lines a reader reports before it stops listing them.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// A problem at a place in a user's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// What is wrong, starting with the field where known.
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Why a file could not be read: unreadable, or one or more bad places in it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The content is wrong at one or more places.
    #[error("{}", format_located(.0, *.1))]
    Invalid(Vec<Located>, usize),
}

fn format_located(errors: &[Located], total: usize) -> String {
    let mut out = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    if total > errors.len() {
        out.push_str(&format!("\n... and {} more errors", total - errors.len()));
    }
    out
}

impl FileError {
    /// One bad place.
    pub fn at(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        FileError::Invalid(
            vec![Located {
                path: path.to_owned(),
                line,
                message: message.into(),
            }],
            1,
        )
    }

    /// An I/O failure on `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        FileError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Collects bad places, keeping the first [`MAX_REPORTED_ERRORS`] and counting the rest.
#[derive(Debug, Default)]
pub struct ErrorList {
    kept: Vec<Located>,
    total: usize,
}

impl ErrorList {
    /// Record one bad place.
    pub fn push(&mut self, located: Located) {
        self.total += 1;
        if self.kept.len() < MAX_REPORTED_ERRORS {
            self.kept.push(located);
        }
    }

    /// Record `message` at `path:line`.
    pub fn add(&mut self, path: &Path, line: Option<usize>, message: impl Into<String>) {
        self.push(Located {
            path: path.to_owned(),
            line,
            message: message.into(),
        });
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// `Ok(value)` when nothing was recorded, else every recorded place as one error.
    ///
    /// # Errors
    /// [`FileError::Invalid`] when any place was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, FileError> {
        if self.total == 0 {
            Ok(value)
        } else {
            Err(FileError::Invalid(self.kept, self.total))
        }
    }
}

/// Read a whole file as UTF-8 text.
///
/// # Errors
/// The file is unreadable, or not UTF-8 (the error names the line of the first bad byte).
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let bytes = fs::read(path).map_err(|e| FileError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = line_of_offset(e.as_bytes(), offset);
        FileError::at(path, Some(line), "invalid UTF-8; save the file as UTF-8")
    })
}

/// 1-based line holding byte `offset` of `bytes`.
pub fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    let end = offset.min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Parse a TOML file into `T`, naming line and field on failure.
///
/// # Errors
/// Unreadable file, bad TOML, or a value that does not fit `T`.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let text = read_text(path)?;
    parse_toml(path, &text)
}

/// Parse TOML `text` read from `path` into `T`.
///
/// # Errors
/// Bad TOML, or a value that does not fit `T`; the message names line and field.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, FileError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| toml_error(path, text, &e, ""))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        toml_error(path, text, e.inner(), &field)
    })
}

fn toml_error(path: &Path, text: &str, error: &toml::de::Error, field: &str) -> FileError {
    let line = error
        .span()
        .map(|span| line_of_offset(text.as_bytes(), span.start));
    let message = error.message().trim_end().to_owned();
    let message = if field.is_empty() || field == "." {
        message
    } else {
        format!("{field}: {message}")
    };
    FileError::at(path, line, message)
}

/// Read a JSON Lines file of `T`, one record a line; blank lines are skipped.
///
/// # Errors
/// Unreadable file, or every bad line (up to [`MAX_REPORTED_ERRORS`]) with line and field.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, FileError> {
    let numbered = read_jsonl_numbered(path)?;
    Ok(numbered.into_iter().map(|(_, record)| record).collect())
}

/// Like [`read_jsonl`], with each record's 1-based line, for checks that run after parsing
/// (unknown ids, duplicates) and must still name `path:line`.
///
/// # Errors
/// As [`read_jsonl`].
pub fn read_jsonl_numbered<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, FileError> {
    let file = fs::File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut records = Vec::new();
    let mut errors = ErrorList::default();
    for (index, line) in io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| FileError::io(path, e))?;
        let line_no = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_json_line(&line) {
            Ok(record) => records.push((line_no, record)),
            Err(message) => errors.add(path, Some(line_no), message),
        }
    }
    errors.into_result(records)
}

/// Parse one JSON line into `T`; the error starts with the field path.
///
/// # Errors
/// Invalid JSON or a value that does not fit `T`, as a message naming the field.
pub fn parse_json_line<T: DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| describe_json_error(e).1)
}

/// Parse a whole JSON document `text` read from `path` into `T`, naming line and field on failure.
///
/// # Errors
/// Invalid JSON or a value that does not fit `T`: `path:line: field: what`.
pub fn parse_json_document<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, FileError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let (line, message) = describe_json_error(e);
        FileError::at(path, Some(line), message)
    })
}

/// The 1-based line of a JSON error and its message, prefixed with the field path.
fn describe_json_error(error: serde_path_to_error::Error<serde_json::Error>) -> (usize, String) {
    let field = error.path().to_string();
    let inner = error.into_inner();
    let message = strip_json_position(&inner.to_string());
    let message = if field.is_empty() || field == "." {
        message
    } else {
        format!("{field}: {message}")
    };
    (inner.line().max(1), message)
}

/// serde_json appends " at line 1 column N"; within a JSONL line only the column is useful.
fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Hex SHA-256 of a file's bytes.
///
/// # Errors
/// The file is unreadable.
pub fn sha256_file(path: &Path) -> Result<String, FileError> {
    let mut file = fs::File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|e| FileError::io(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// What `<file>.sha256` records: the file's hash and the size and modification time it had
/// when hashed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RecordedHash {
    sha256: String,
    size: u64,
    modified_ns: u128,
}

/// Where [`sha256_file_recorded`] keeps the hash of `path`: `<path>.sha256` beside it.
pub fn recorded_hash_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Hex SHA-256 of a large file (model weights), hashed once: the hash is recorded in
/// `<path>.sha256` with the file's size and modification time and read back while both still
/// match, so loading a model does not read gigabytes to hash them again. A changed file (other
/// size or time) is hashed anew. The record is skipped when the folder is read-only.
///
/// # Errors
/// The file is unreadable.
pub fn sha256_file_recorded(path: &Path) -> Result<String, FileError> {
    let (size, modified_ns) = size_and_time(path)?;
    let record_path = recorded_hash_path(path);
    let recorded = fs::read(&record_path).ok().and_then(|bytes| serde_json::from_slice::<RecordedHash>(&bytes).ok());
    if let Some(recorded) = recorded.filter(|r| r.size == size && r.modified_ns == modified_ns) {
        return Ok(recorded.sha256);
    }
    let sha256 = sha256_file(path)?;
    let record = RecordedHash { sha256: sha256.clone(), size, modified_ns };
    if let Ok(json) = serde_json::to_vec(&record) {
        if let Err(e) = write_atomic(&record_path, &json) {
            tracing::debug!("not recording the hash: {e}");
        }
    }
    Ok(sha256)
}

fn size_and_time(path: &Path) -> Result<(u64, u128), FileError> {
    let meta = fs::metadata(path).map_err(|e| FileError::io(path, e))?;
    let modified = meta.modified().map_err(|e| FileError::io(path, e))?;
    let since_epoch = modified.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok((meta.len(), since_epoch.as_nanos()))
}

/// Hex SHA-256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Write `bytes` to `path` so that readers see the old file or the new one, never a mix:
/// write a temporary file beside it, fsync, rename.
///
/// # Errors
/// Any I/O failure; the old file is then left untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| FileError::io(dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            d.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&temp);
        FileError::io(path, e)
    })
}

/// Write records as JSON Lines, atomically.
///
/// # Errors
/// Serialisation or I/O failure.
pub fn write_jsonl<T: serde::Serialize>(path: &Path, records: &[T]) -> Result<(), FileError> {
    let mut out = Vec::new();
    for record in records {
        serde_json::to_writer(&mut out, record)
            .map_err(|e| FileError::at(path, None, e.to_string()))?;
        out.push(b'\n');
    }
    write_atomic(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        count: u32,
    }

    #[test]
    fn jsonl_errors_name_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.jsonl");
        fs::write(
            &path,
            "{\"name\":\"a\",\"count\":1}\n\n{\"name\":\"b\",\"count\":-1}\n{\"name\":\"c\"}\n",
        )
        .unwrap();
        let err = read_jsonl::<Item>(&path).unwrap_err().to_string();
        let p = path.display();
        assert_eq!(
            err,
            format!(
                "{p}:3: count: invalid value: integer `-1`, expected u32\n{p}:4: missing field `count`"
            )
        );
    }

    #[test]
    fn toml_errors_name_line_and_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            items: Vec<Item>,
        }
        let text = "[[items]]\nname = \"a\"\ncount = 1\n\n[[items]]\nname = \"b\"\ncount = \"x\"\n";
        let err = parse_toml::<Doc>(Path::new("m.toml"), text).unwrap_err().to_string();
        assert!(err.starts_with("m.toml:7: items[1].count: "), "{err}");
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        fs::write(&path, b"a,b\nc,\xff\n").unwrap();
        let err = read_text(&path).unwrap_err().to_string();
        assert!(err.ends_with(":2: invalid UTF-8; save the file as UTF-8"), "{err}");
    }

    #[test]
    fn a_recorded_hash_is_reused_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.gguf");
        fs::write(&path, b"weights").unwrap();
        let first = sha256_file_recorded(&path).unwrap();
        assert_eq!(first, sha256_bytes(b"weights"));
        assert!(recorded_hash_path(&path).is_file());
        // A record that matches size and time is trusted: prove it by planting another hash.
        let record: RecordedHash = serde_json::from_slice(&fs::read(recorded_hash_path(&path)).unwrap()).unwrap();
        let planted = RecordedHash { sha256: "planted".into(), ..record };
        fs::write(recorded_hash_path(&path), serde_json::to_vec(&planted).unwrap()).unwrap();
        assert_eq!(sha256_file_recorded(&path).unwrap(), "planted");
        // Another size: hashed anew and recorded again.
        fs::write(&path, b"other weights").unwrap();
        assert_eq!(sha256_file_recorded(&path).unwrap(), sha256_bytes(b"other weights"));
        assert_eq!(sha256_file_recorded(&path).unwrap(), sha256_bytes(b"other weights"));
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
