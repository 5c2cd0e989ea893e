//! A run folder, `results/<run>/`: every path in it and the one validated reader of what it holds.
//!
//! `generate` writes a run (`manifest.json`, `conversations.jsonl`, `responses/<model>.jsonl`),
//! `rate` and `judge` add `ratings.sqlite`, a person may drop exported `ratings*.jsonl` files in
//! it, `analyze` writes `analysis.json` and `report` writes `report/`. Every command that touches
//! a run names its files through [`Run`] and reads its conversations, responses and ratings
//! through it, so each is listed, parsed and checked one way: a bad line is named by
//! `path:line: field`, a reply given twice or to an unknown conversation is refused, and a
//! rating found both in the store and in an exported file counts once ([`ratings`]).

pub mod ratings;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::analysis::Analysis;
use crate::files::{self, ErrorList, FileError};
use crate::schema::{Conversation, ConversationId, FinishReason, ResponseRecord, RunId};

/// File of the run manifest inside a run folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File of the run's conversations inside a run folder.
pub const CONVERSATIONS_FILE: &str = "conversations.jsonl";
/// Folder of response files inside a run folder.
pub const RESPONSES_DIR: &str = "responses";
/// File name of the rating store inside a run folder.
pub const STORE_FILE: &str = "ratings.sqlite";
/// File the analysis is written to (in a run folder, or `analyze --mentalbench --out DIR`).
pub const ANALYSIS_FILE: &str = "analysis.json";
/// Folder the report is written to.
pub const REPORT_DIR: &str = "report";
/// Name prefix of rating files (`rate export --out RUN/ratings.jsonl`) read by `analyze`.
pub const RATING_FILE_PREFIX: &str = "ratings";
/// Extension of every JSON Lines file of a run.
const JSONL: &str = "jsonl";

/// One run folder. Cheap to make; nothing is read until asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    dir: PathBuf,
}

/// One response of a run and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseLine {
    /// The response file.
    pub path: PathBuf,
    /// 1-based line in it.
    pub line: usize,
    /// The record.
    pub record: ResponseRecord,
}

/// A reply that can be rated: a response that did not fail, with the context it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The response.
    pub record: ResponseRecord,
    /// What the person wrote (from `conversations.jsonl`).
    pub context: String,
}

/// The rateable replies of a run, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Replies {
    /// Replies that did not fail.
    pub replies: Vec<Reply>,
    /// Responses left out because generation failed (`finish_reason: error`).
    pub failed: usize,
}

impl Run {
    /// The run folder `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `manifest.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }

    /// `conversations.jsonl`.
    pub fn conversations_path(&self) -> PathBuf {
        self.dir.join(CONVERSATIONS_FILE)
    }

    /// `responses/`.
    pub fn responses_dir(&self) -> PathBuf {
        self.dir.join(RESPONSES_DIR)
    }

    /// `responses/<model_id>.jsonl`.
    pub fn response_file(&self, model_id: &str) -> PathBuf {
        self.responses_dir().join(format!("{model_id}.{JSONL}"))
    }

    /// `ratings.sqlite`.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    /// `analysis.json`.
    pub fn analysis_path(&self) -> PathBuf {
        self.dir.join(ANALYSIS_FILE)
    }

    /// `report/`.
    pub fn report_dir(&self) -> PathBuf {
        self.dir.join(REPORT_DIR)
    }

    /// The response files, `(model_id, path)` sorted by model id; none when the run has no
    /// `responses/` yet.
    ///
    /// # Errors
    /// The folder exists but cannot be listed.
    pub fn response_files(&self) -> Result<Vec<(String, PathBuf)>, FileError> {
        let files = jsonl_files(&self.responses_dir(), "")?;
        Ok(files.into_iter().filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p))).collect())
    }

    /// The `ratings*.jsonl` files in the folder, sorted.
    ///
    /// # Errors
    /// The folder exists but cannot be listed.
    pub fn rating_files(&self) -> Result<Vec<PathBuf>, FileError> {
        jsonl_files(&self.dir, RATING_FILE_PREFIX)
    }

    /// The run's conversations.
    ///
    /// # Errors
    /// A missing, unreadable or invalid `conversations.jsonl`, named by `path:line: field`.
    pub fn conversations(&self) -> Result<Vec<Conversation>, FileError> {
        files::read_jsonl(&self.conversations_path())
    }

    /// Every response of the run, failed ones included, in file order; none without
    /// `responses/`.
    ///
    /// # Errors
    /// Unreadable files, bad lines, a reply given twice by one model, or records of several runs,
    /// every problem named by `path:line: field`.
    pub fn responses(&self) -> Result<Vec<ResponseLine>, FileError> {
        let lines = self.response_lines()?;
        let mut errors = ErrorList::default();
        check_responses(self, lines.iter(), None, &mut errors);
        errors.into_result(lines)
    }

    /// The records of [`Run::responses`] alone.
    ///
    /// # Errors
    /// As [`Run::responses`].
    pub fn response_records(&self) -> Result<Vec<ResponseRecord>, FileError> {
        Ok(self.responses()?.into_iter().map(|l| l.record).collect())
    }

    /// The replies that can be rated, each with its context; failed generations are counted
    /// and left out.
    ///
    /// # Errors
    /// A missing or invalid `conversations.jsonl`, or the problems of [`Run::responses`] among the
    /// replies kept, plus replies to a conversation the run does not hold, all listed together.
    pub fn replies(&self) -> Result<Replies, FileError> {
        let conversations_path = self.conversations_path();
        let contexts: HashMap<ConversationId, String> =
            self.conversations()?.into_iter().map(|c| (c.id, c.context)).collect();
        let lines = self.response_lines()?;
        let (failed, kept): (Vec<_>, Vec<_>) = lines.into_iter().partition(|l| l.record.finish_reason == FinishReason::Error);
        let mut errors = ErrorList::default();
        check_responses(self, kept.iter(), Some((conversations_path.as_path(), &contexts)), &mut errors);
        let replies = kept
            .into_iter()
            .filter_map(|l| Some(Reply { context: contexts.get(&l.record.conversation_id)?.clone(), record: l.record }))
            .collect();
        errors.into_result(Replies { replies, failed: failed.len() })
    }

    /// Write `analysis` as `analysis.json` (pretty, atomically), creating the folder; returns
    /// the path.
    ///
    /// # Errors
    /// The folder or the file cannot be written.
    pub fn write_analysis(&self, analysis: &Analysis) -> Result<PathBuf, FileError> {
        let path = self.analysis_path();
        let mut json = serde_json::to_vec_pretty(analysis).map_err(|e| FileError::at(&path, None, e.to_string()))?;
        json.push(b'\n');
        std::fs::create_dir_all(&self.dir).map_err(|e| FileError::io(&self.dir, e))?;
        files::write_atomic(&path, &json)?;
        Ok(path)
    }

    /// Every parsed line of every response file (no checks across lines).
    fn response_lines(&self) -> Result<Vec<ResponseLine>, FileError> {
        let mut lines = Vec::new();
        for (_, path) in self.response_files()? {
            for (line, record) in files::read_jsonl_numbered::<ResponseRecord>(&path)? {
                lines.push(ResponseLine { path: path.clone(), line, record });
            }
        }
        Ok(lines)
    }
}

/// Check responses across lines: each (conversation, model) once, each conversation known
/// (with `contexts`), and one run id in the folder.
fn check_responses<'a>(
    run: &Run,
    lines: impl Iterator<Item = &'a ResponseLine>,
    contexts: Option<(&Path, &HashMap<ConversationId, String>)>,
    errors: &mut ErrorList,
) {
    let mut seen = BTreeSet::new();
    let mut run_ids: BTreeSet<&RunId> = BTreeSet::new();
    for ResponseLine { path, line, record } in lines {
        if let Some((conversations_path, contexts)) = contexts {
            if !contexts.contains_key(&record.conversation_id) {
                errors.add(path, Some(*line), format!(
                    "conversation_id: `{}` is not in {}; regenerate the run or restore the file",
                    record.conversation_id,
                    conversations_path.display()
                ));
                continue;
            }
        }
        if !seen.insert((&record.conversation_id, &record.model_id)) {
            errors.add(path, Some(*line), format!(
                "conversation_id: `{}` answered twice by `{}`; keep one record",
                record.conversation_id, record.model_id
            ));
            continue;
        }
        run_ids.insert(&record.run_id);
    }
    if run_ids.len() > 1 {
        let ids: Vec<_> = run_ids.iter().map(|id| id.as_str()).collect();
        errors.add(run.dir(), None, format!("run_id: records name several runs ({}); keep one run per folder", ids.join(", ")));
    }
}

/// The `<prefix>*.jsonl` files of `dir`, sorted; none when `dir` is absent.
fn jsonl_files(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, FileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::io(dir, e)),
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == JSONL))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(conversation: &str, model: &str, run: &str, finish: FinishReason) -> ResponseRecord {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/records/records.json")).unwrap();
        let all: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut r: ResponseRecord = serde_json::from_value(all["response"].clone()).unwrap();
        r.conversation_id = ConversationId(conversation.into());
        r.model_id = crate::schema::ModelId(model.into());
        r.run_id = RunId(run.into());
        r.finish_reason = finish;
        r
    }

    #[test]
    fn an_absent_responses_folder_is_an_empty_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::at(dir.path());
        assert!(run.response_files().unwrap().is_empty());
        assert!(run.responses().unwrap().is_empty());
        assert!(run.rating_files().unwrap().is_empty());
    }

    #[test]
    fn responses_refuse_a_pair_twice_and_two_runs_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::at(dir.path());
        let a = record("c:1", "m", "r1", FinishReason::Stop);
        let b = record("c:1", "m", "r2", FinishReason::Stop);
        let c = record("c:2", "m", "r2", FinishReason::Stop);
        files::write_jsonl(&run.response_file("m"), &[a, b, c]).unwrap();
        let err = run.responses().unwrap_err().to_string();
        let p = run.response_file("m");
        assert_eq!(
            err,
            format!(
                "{}:2: conversation_id: `c:1` answered twice by `m`; keep one record\n{}: run_id: records name several runs (r1, r2); keep one run per folder",
                p.display(),
                dir.path().display()
            )
        );
    }

    #[test]
    fn replies_leave_out_failed_generations_and_carry_their_context() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::at(dir.path());
        let conversation: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/records/records.json")).unwrap(),
        )
        .unwrap();
        let mut c: Conversation = serde_json::from_value(conversation["conversation"].clone()).unwrap();
        c.id = ConversationId("c:1".into());
        c.context = "what I wrote".into();
        files::write_jsonl(&run.conversations_path(), &[c]).unwrap();
        let ok = record("c:1", "m", "r", FinishReason::Stop);
        let failed = record("c:1", "n", "r", FinishReason::Error);
        files::write_jsonl(&run.response_file("m"), &[ok]).unwrap();
        files::write_jsonl(&run.response_file("n"), &[failed]).unwrap();
        let replies = run.replies().unwrap();
        assert_eq!(replies.failed, 1);
        assert_eq!(replies.replies.len(), 1);
        assert_eq!(replies.replies[0].context, "what I wrote");
    }
}
