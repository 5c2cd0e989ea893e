//! The append-only response file of one model in a run (`responses/<model_id>.jsonl`), written
//! so that it survives being killed, and the index of what it already answers, for resuming.
//! Judges' ratings go to the rating store instead (`crate::rating::store`).
//!
//! Records are appended one reply at a time with one write and an fsync, so after a crash the
//! file holds whole records plus, at worst, one torn last line. Opening a file repairs that tail
//! (cutting a torn line; a complete last record that only lacks its newline is kept and the
//! newline added) and indexes the pairs already answered, keyed by (run, conversation, model):
//! a record of another model does not answer this model's conversation, and a record of another
//! run is refused by `path:line`, so a resumed run neither loses, repeats nor borrows a reply.
//! A failed reply (`finish_reason: error`) is not an answer: by default a rerun drops it from
//! the file and asks again ([`FailedReplies::Retry`]); `--keep-failed` keeps it as final.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::files::{self, ErrorList, FileError};
use crate::schema::{ConversationId, FinishReason, ModelId, ResponseRecord, RunId};

/// What a response record answers: one conversation, by one model, in one run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PairKey {
    /// The run.
    pub run: RunId,
    /// The conversation answered.
    pub conversation: ConversationId,
    /// The model that answered.
    pub model: ModelId,
}

impl PairKey {
    /// The pair `record` answers.
    pub fn of(record: &ResponseRecord) -> Self {
        Self { run: record.run_id.clone(), conversation: record.conversation_id.clone(), model: record.model_id.clone() }
    }
}

/// `` `conversation` by `model` in run `run` ``.
impl fmt::Display for PairKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` by `{}` in run `{}`", self.conversation, self.model, self.run)
    }
}

/// What a rerun does with replies recorded as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailedReplies {
    /// Drop them from the file and ask again (the default: a failure is rarely final).
    #[default]
    Retry,
    /// Keep them as the pair's answer (`generate --keep-failed`).
    Keep,
}

/// An open response file, positioned for appending.
#[derive(Debug)]
pub struct ResponseFile {
    path: PathBuf,
    run: RunId,
    file: File,
    answered: BTreeSet<PairKey>,
}

/// What opening a response file had to repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repair {
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: usize,
    /// Whether a complete last record lacked its newline (added).
    pub newline_added: bool,
    /// Failed replies dropped from the file to be asked again ([`FailedReplies::Retry`]).
    pub failed_dropped: usize,
}

impl ResponseFile {
    /// Open (or create) the response file `path` of run `run`, repair its tail, drop its failed
    /// replies unless `failed` keeps them, and index the pairs it answers.
    ///
    /// # Errors
    /// I/O failures; a complete line that is not a valid record, a record of another run, or a
    /// pair answered twice (each named by `path:line`: the file was edited or belongs to
    /// another run; fix or move the named lines).
    pub fn open(path: &Path, run: &RunId, failed: FailedReplies) -> Result<(Self, Repair), FileError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| FileError::io(dir, e))?;
        }
        let bytes = read_or_empty(path)?;
        let (complete_len, newline_added) = complete_len(&bytes);
        let Index { answered, kept, failed_dropped } = index(path, run, &bytes[..complete_len], failed)?;
        if failed_dropped > 0 {
            // Rewritten whole (atomically) without the failed lines; the torn tail goes with them.
            let mut kept = kept;
            if kept.last().is_some_and(|&b| b != b'\n') {
                kept.push(b'\n');
            }
            files::write_atomic(path, &kept)?;
            let file = OpenOptions::new().append(true).open(path).map_err(|e| FileError::io(path, e))?;
            let repair = Repair { torn_bytes: bytes.len() - complete_len, newline_added, failed_dropped };
            return Ok((Self { path: path.to_owned(), run: run.clone(), file, answered }, repair));
        }
        let repair = Repair { torn_bytes: bytes.len() - complete_len, newline_added, failed_dropped };
        let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| FileError::io(path, e))?;
        if repair.torn_bytes > 0 {
            file.set_len(complete_len as u64).map_err(|e| FileError::io(path, e))?;
            file.sync_all().map_err(|e| FileError::io(path, e))?;
        }
        if newline_added {
            file.write_all(b"\n").and_then(|()| file.sync_data()).map_err(|e| FileError::io(path, e))?;
        }
        Ok((Self { path: path.to_owned(), run: run.clone(), file, answered }, repair))
    }

    /// Whether `model` has answered `conversation` in this run.
    pub fn is_answered(&self, conversation: &ConversationId, model: &ModelId) -> bool {
        self.answered.contains(&PairKey { run: self.run.clone(), conversation: conversation.clone(), model: model.clone() })
    }

    /// Append `records` durably: one write, then fsync.
    ///
    /// # Errors
    /// I/O failure, or a record of another run or of a pair already answered (a bug upstream;
    /// refused rather than written).
    pub fn append(&mut self, records: &[ResponseRecord]) -> Result<(), FileError> {
        let mut buffer = Vec::new();
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let key = PairKey::of(record);
            if key.run != self.run {
                return Err(FileError::at(&self.path, None, format!("refusing a record of another run: {key}")));
            }
            if self.answered.contains(&key) || keys.contains(&key) {
                return Err(FileError::at(&self.path, None, format!("refusing a second record for {key}")));
            }
            serde_json::to_writer(&mut buffer, record).map_err(|e| FileError::at(&self.path, None, e.to_string()))?;
            buffer.push(b'\n');
            keys.push(key);
        }
        self.file.write_all(&buffer).map_err(|e| FileError::io(&self.path, e))?;
        self.file.sync_data().map_err(|e| FileError::io(&self.path, e))?;
        self.answered.extend(keys);
        Ok(())
    }
}

fn read_or_empty(path: &Path) -> Result<Vec<u8>, FileError> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(FileError::io(path, e)),
    }
}

/// Length of the part to keep, and whether it lacks its final newline: everything up to the
/// last newline, plus a last line with no newline when it is a whole record (a writer killed
/// between the record and its newline, or a file edited by hand); a torn line is left out.
fn complete_len(bytes: &[u8]) -> (usize, bool) {
    let through_newline = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let tail = &bytes[through_newline..];
    if !tail.iter().all(u8::is_ascii_whitespace) && files::parse_json_line::<ResponseRecord>(tail).is_ok() {
        (bytes.len(), true)
    } else {
        (through_newline, false)
    }
}

/// What the whole lines of a response file answer.
struct Index {
    /// The pairs answered.
    answered: BTreeSet<PairKey>,
    /// The lines kept (all but dropped failed replies), as they were.
    kept: Vec<u8>,
    /// Failed replies left out of `answered` and `kept`.
    failed_dropped: usize,
}

/// The pairs answered by the records in `bytes` (whole lines of `path`), each checked to be of
/// run `run` and answered once; with [`FailedReplies::Retry`] a failed reply answers nothing
/// and its line is left out of `kept`.
fn index(path: &Path, run: &RunId, bytes: &[u8], failed: FailedReplies) -> Result<Index, FileError> {
    let mut answered = BTreeSet::new();
    let mut kept = Vec::with_capacity(bytes.len());
    let mut failed_dropped = 0;
    let mut errors = ErrorList::default();
    for (i, whole) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let line = whole.strip_suffix(b"\n").unwrap_or(whole);
        if line.iter().all(u8::is_ascii_whitespace) {
            kept.extend_from_slice(whole);
            continue;
        }
        match files::parse_json_line::<ResponseRecord>(line) {
            Ok(record) if &record.run_id != run => errors.add(path, Some(i + 1), format!(
                "run_id: `{}` is not this run (`{run}`); the file holds another run's replies: move it out of the folder, or pass --new-run",
                record.run_id
            )),
            Ok(record) if failed == FailedReplies::Retry && record.finish_reason == FinishReason::Error => failed_dropped += 1,
            Ok(record) => {
                let key = PairKey::of(&record);
                if !answered.insert(key.clone()) {
                    errors.add(path, Some(i + 1), format!("conversation_id: {key} already has a record above; keep one"));
                }
                kept.extend_from_slice(whole);
            }
            Err(message) => errors.add(path, Some(i + 1), message),
        }
    }
    errors.into_result(Index { answered, kept, failed_dropped })
}

/// The pairs a response file of run `run` answers, without repairing it (for `--dry-run`): a
/// torn last line is ignored, as [`ResponseFile::open`] would cut it, and so are failed replies
/// unless `failed` keeps them.
///
/// # Errors
/// As [`ResponseFile::open`], without the writes.
pub fn answered(path: &Path, run: &RunId, failed: FailedReplies) -> Result<BTreeSet<PairKey>, FileError> {
    let bytes = read_or_empty(path)?;
    Ok(index(path, run, &bytes[..complete_len(&bytes).0], failed)?.answered)
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

    fn conversation(id: &str) -> ConversationId {
        ConversationId(id.to_owned())
    }

    #[test]
    fn reopening_cuts_a_torn_tail_and_keeps_whole_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let a = record("a");
        let (mut log, _) = ResponseFile::open(&path, &a.run_id, FailedReplies::Retry).unwrap();
        log.append(&[record("a"), record("b")]).unwrap();
        drop(log);
        let mut bytes = fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(b"{\"schema_version\":1,\"run_");
        fs::write(&path, &bytes).unwrap();
        let (log, repair) = ResponseFile::open(&path, &a.run_id, FailedReplies::Retry).unwrap();
        assert_eq!(repair, Repair { torn_bytes: bytes.len() - whole, newline_added: false, failed_dropped: 0 });
        assert!(log.is_answered(&conversation("a"), &a.model_id) && log.is_answered(&conversation("b"), &a.model_id));
        assert_eq!(fs::read(&path).unwrap().len(), whole);
    }

    /// Killed between a record and its newline: the record stands (not cut and regenerated)
    /// and the newline is added, so the next append starts a line of its own.
    #[test]
    fn a_complete_last_record_without_its_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let a = record("a");
        let line = serde_json::to_string(&a).unwrap();
        fs::write(&path, &line).unwrap();
        let (mut log, repair) = ResponseFile::open(&path, &a.run_id, FailedReplies::Retry).unwrap();
        assert_eq!(repair, Repair { torn_bytes: 0, newline_added: true, failed_dropped: 0 });
        assert!(log.is_answered(&conversation("a"), &a.model_id));
        log.append(&[record("b")]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with(&format!("{line}\n")) && text.ends_with('\n'));
    }

    #[test]
    fn refuses_a_second_record_for_a_pair() {
        let dir = tempfile::tempdir().unwrap();
        let a = record("a");
        let (mut log, _) = ResponseFile::open(&dir.path().join("r.jsonl"), &a.run_id, FailedReplies::Retry).unwrap();
        log.append(&[record("a")]).unwrap();
        let err = log.append(&[record("a")]).unwrap_err().to_string();
        assert!(err.contains(&format!("refusing a second record for `a` by `{}` in run `{}`", a.model_id, a.run_id)), "{err}");
        let err = log.append(&[record("c"), record("c")]).unwrap_err().to_string();
        assert!(err.contains("refusing a second record for `c` by "), "{err}");
    }

    /// Resume is keyed by (run, conversation, model): another model's reply to `a` (left in
    /// this file by a rename or a hand edit) does not answer `a` for this model.
    #[test]
    fn another_models_reply_does_not_answer_for_this_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut other = record("a");
        other.model_id = ModelId("someone-else".to_owned());
        files::write_jsonl(&path, &[other.clone()]).unwrap();
        let mine = record("a");
        assert_ne!(mine.model_id, other.model_id);
        let (mut log, _) = ResponseFile::open(&path, &mine.run_id, FailedReplies::Retry).unwrap();
        assert!(!log.is_answered(&conversation("a"), &mine.model_id));
        assert!(log.is_answered(&conversation("a"), &other.model_id));
        log.append(&[mine.clone()]).unwrap();
        assert!(log.is_answered(&conversation("a"), &mine.model_id));
        assert_eq!(answered(&path, &mine.run_id, FailedReplies::Retry).unwrap().len(), 2);
    }

    /// A record of another run is refused by `path:line`, on open and on append.
    #[test]
    fn records_of_another_run_are_refused_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut foreign = record("b");
        foreign.run_id = RunId("other-run".to_owned());
        files::write_jsonl(&path, &[record("a"), foreign.clone()]).unwrap();
        let run = record("a").run_id;
        let err = ResponseFile::open(&path, &run, FailedReplies::Retry).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:2: run_id: `other-run` is not this run (`{run}`)", path.display())), "{err}");
        assert!(answered(&path, &run, FailedReplies::Retry).unwrap_err().to_string().contains(":2: run_id: `other-run`"));
        let (mut log, _) = ResponseFile::open(&dir.path().join("fresh.jsonl"), &run, FailedReplies::Retry).unwrap();
        let err = log.append(&[foreign]).unwrap_err().to_string();
        assert!(err.contains("refusing a record of another run: `b` by "), "{err}");
    }

    #[test]
    fn a_corrupt_middle_line_is_named_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let a = record("a");
        let good = serde_json::to_string(&a).unwrap();
        fs::write(&path, format!("{good}\nnot json\n")).unwrap();
        let err = ResponseFile::open(&path, &a.run_id, FailedReplies::Retry).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:2: ", path.display())), "{err}");
    }

    /// A failed reply answers nothing by default: the rerun drops its line (the other lines
    /// kept byte for byte) and asks again; with `Keep` it stays the pair's answer.
    #[test]
    fn failed_replies_are_dropped_and_asked_again_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut failed = record("b");
        failed.finish_reason = FinishReason::Error;
        failed.error = Some("HTTP 503 after 3 tries".to_owned());
        failed.text = String::new();
        let (a, c) = (record("a"), record("c"));
        files::write_jsonl(&path, &[a.clone(), failed.clone(), c.clone()]).unwrap();
        let before = fs::read_to_string(&path).unwrap();
        let (model, run) = (a.model_id.clone(), a.run_id.clone());

        assert!(answered(&path, &run, FailedReplies::Keep).unwrap().iter().any(|k| k.conversation.as_str() == "b"));
        assert!(!answered(&path, &run, FailedReplies::Retry).unwrap().iter().any(|k| k.conversation.as_str() == "b"));
        let (log, repair) = ResponseFile::open(&path, &run, FailedReplies::Keep).unwrap();
        assert!(log.is_answered(&conversation("b"), &model) && repair.failed_dropped == 0);
        drop(log);
        assert_eq!(fs::read_to_string(&path).unwrap(), before);

        let (mut log, repair) = ResponseFile::open(&path, &run, FailedReplies::Retry).unwrap();
        assert_eq!(repair.failed_dropped, 1);
        assert!(!log.is_answered(&conversation("b"), &model) && log.is_answered(&conversation("c"), &model));
        let lines: Vec<&str> = before.lines().collect();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{}\n{}\n", lines[0], lines[2]));
        log.append(&[record("b")]).unwrap();
        drop(log);
        let (log, repair) = ResponseFile::open(&path, &run, FailedReplies::Retry).unwrap();
        assert_eq!(repair.failed_dropped, 0);
        assert!(["a", "b", "c"].iter().all(|id| log.is_answered(&conversation(id), &model)));
    }
}
