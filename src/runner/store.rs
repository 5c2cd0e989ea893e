//! Append-only JSON Lines logs that survive being killed: the response files of a run
//! (`responses/<model_id>.jsonl`). Judges' ratings go to the rating store instead
//! (`crate::rating::store`).
//!
//! Records are appended a batch at a time with one write and an fsync, so after a crash the file
//! holds whole records plus, at worst, one torn last line. Opening a log repairs that tail
//! (truncating to the last complete line) and indexes the keys already written, so a resumed run
//! neither loses nor repeats a record.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::files::{self, ErrorList, FileError};
use crate::schema::{ConversationId, ResponseRecord};

/// A record with a key that may appear at most once in its log.
pub trait Keyed: Serialize + DeserializeOwned {
    /// The unique key.
    type Key: Ord + Clone + Display;
    /// This record's key.
    fn key(&self) -> Self::Key;
}

impl Keyed for ResponseRecord {
    type Key = ConversationId;
    fn key(&self) -> ConversationId {
        self.conversation_id.clone()
    }
}

/// An open log, positioned for appending.
#[derive(Debug)]
pub struct AppendLog<R: Keyed> {
    path: PathBuf,
    file: File,
    done: BTreeSet<R::Key>,
    record: PhantomData<R>,
}

/// What opening a log had to repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repair {
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: usize,
}

impl<R: Keyed> AppendLog<R> {
    /// Open (or create) `path`, repair a torn tail, and index the keys written.
    ///
    /// # Errors
    /// I/O failures; a complete line that is not a valid record, or a key written twice (both
    /// mean the file was edited by hand: fix or remove the named lines).
    pub fn open(path: &Path) -> Result<(Self, Repair), FileError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| FileError::io(dir, e))?;
        }
        let bytes = read_or_empty(path)?;
        let complete_len = complete_prefix_len(&bytes);
        let repair = Repair { torn_bytes: bytes.len() - complete_len };
        let done = index_keys::<R>(path, &bytes[..complete_len])?;
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| FileError::io(path, e))?;
        if repair.torn_bytes > 0 {
            file.set_len(complete_len as u64).map_err(|e| FileError::io(path, e))?;
            file.sync_all().map_err(|e| FileError::io(path, e))?;
        }
        Ok((Self { path: path.to_owned(), file, done, record: PhantomData }, repair))
    }

    /// Whether `key` already has a record.
    pub fn is_done(&self, key: &R::Key) -> bool {
        self.done.contains(key)
    }

    /// Append `records` durably: one write, then fsync.
    ///
    /// # Errors
    /// I/O failure, or a record whose key is already written (a bug upstream; refused rather
    /// than written twice).
    pub fn append(&mut self, records: &[R]) -> Result<(), FileError> {
        let mut buffer = Vec::new();
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let key = record.key();
            if self.done.contains(&key) || keys.contains(&key) {
                return Err(FileError::at(&self.path, None, format!("refusing a second record for {key}")));
            }
            serde_json::to_writer(&mut buffer, record).map_err(|e| FileError::at(&self.path, None, e.to_string()))?;
            buffer.push(b'\n');
            keys.push(key);
        }
        self.file.write_all(&buffer).map_err(|e| FileError::io(&self.path, e))?;
        self.file.sync_data().map_err(|e| FileError::io(&self.path, e))?;
        self.done.extend(keys);
        Ok(())
    }
}

/// The response file of one model in a run.
pub type ResponseFile = AppendLog<ResponseRecord>;

fn read_or_empty(path: &Path) -> Result<Vec<u8>, FileError> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(FileError::io(path, e)),
    }
}

/// Length of the prefix that ends with a newline: everything but a torn last line.
fn complete_prefix_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

fn index_keys<R: Keyed>(path: &Path, bytes: &[u8]) -> Result<BTreeSet<R::Key>, FileError> {
    let mut done = BTreeSet::new();
    let mut errors = ErrorList::default();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match files::parse_json_line::<R>(line) {
            Ok(record) => {
                let key = record.key();
                if !done.insert(key.clone()) {
                    errors.add(path, Some(i + 1), format!("{key} already has a record above"));
                }
            }
            Err(message) => errors.add(path, Some(i + 1), message),
        }
    }
    errors.into_result(done)
}

/// Keys written in a log, without repairing it (for `--dry-run`): a torn last line is ignored,
/// as `AppendLog::open` would cut it.
///
/// # Errors
/// Unreadable file or invalid complete lines.
pub fn written_keys<R: Keyed>(path: &Path) -> Result<BTreeSet<R::Key>, FileError> {
    let bytes = read_or_empty(path)?;
    index_keys::<R>(path, &bytes[..complete_prefix_len(&bytes)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ResponseRecord {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/records/records.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut r: ResponseRecord = serde_json::from_value(v["response"].clone()).unwrap();
        r.conversation_id = ConversationId(id.to_owned());
        r
    }

    #[test]
    fn reopening_cuts_a_torn_tail_and_keeps_whole_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let (mut log, _) = ResponseFile::open(&path).unwrap();
        log.append(&[record("a"), record("b")]).unwrap();
        drop(log);
        let mut bytes = fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(b"{\"schema_version\":1,\"run_");
        fs::write(&path, &bytes).unwrap();
        let (log, repair) = ResponseFile::open(&path).unwrap();
        assert_eq!(repair.torn_bytes, bytes.len() - whole);
        assert!(log.is_done(&ConversationId("a".into())) && log.is_done(&ConversationId("b".into())));
        assert_eq!(fs::read(&path).unwrap().len(), whole);
    }

    #[test]
    fn refuses_a_second_record_for_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = ResponseFile::open(&dir.path().join("r.jsonl")).unwrap();
        log.append(&[record("a")]).unwrap();
        let err = log.append(&[record("a")]).unwrap_err().to_string();
        assert!(err.contains("refusing a second record for a"), "{err}");
        let err = log.append(&[record("c"), record("c")]).unwrap_err().to_string();
        assert!(err.contains("refusing a second record for c"), "{err}");
    }

    #[test]
    fn a_corrupt_middle_line_is_named_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let good = serde_json::to_string(&record("a")).unwrap();
        fs::write(&path, format!("{good}\nnot json\n")).unwrap();
        let err = ResponseFile::open(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:2: ", path.display())), "{err}");
    }
}
