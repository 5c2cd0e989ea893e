//! The blinded two-expert rating workflow: plan assignments, serve a local rating page, report
//! progress, export and import human ratings.
//!
//! Flow: `results/<run>/conversations.jsonl` + `responses/*.jsonl` → [`plan`] →
//! `results/<run>/ratings.sqlite` (the [`store`]) → [`server`] (one rater per secret link) →
//! [`export`] as [`crate::schema::Rating`] records (`rater_kind: human`). Spreadsheet ratings come
//! back in through [`import`]. The rubric a plan was made with is frozen inside the store, so every
//! rating of a run names the same rubric version.
//!
//! Blinding is the point of this module: a rater reaches replies only through opaque random item
//! ids of their own queue; model ids live in the SQLite file and in exports, never in what the
//! server sends. HTTP types stay in `server`; statistics belong to `analysis`.

pub mod consistency;
pub mod export;
pub mod import;
pub mod plan;
pub mod server;
pub mod store;
pub mod texts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::files::FileError;
use crate::rubric::Rubric;
use crate::schema::Score;

/// Longest comment a rater may leave, in characters (Unicode scalar values).
pub const MAX_COMMENT_CHARS: usize = 4000;

/// Where the rating store of run folder `run_dir` lives.
pub fn store_path(run_dir: &Path) -> PathBuf {
    crate::run::Run::at(run_dir).store_path()
}

/// Why a rating command failed.
#[derive(Debug, thiserror::Error)]
pub enum RatingError {
    /// A run file or import file is unreadable or wrong at some lines.
    #[error(transparent)]
    File(#[from] FileError),
    /// The SQLite store failed.
    #[error("{}: {source}", path.display())]
    Store {
        /// The store file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The store was written by a newer mhbench, or is not a rating store.
    #[error("{}: {message}", path.display())]
    StoreLayout {
        /// What is wrong.
        message: String,
        /// The store file.
        path: PathBuf,
    },
    /// Options that do not fit together, named by flag.
    #[error("{0}")]
    Options(String),
    /// The run already has a plan; re-planning would discard its ratings.
    #[error("{}: already planned; pass --replace to discard it and its ratings, or keep rating", .0.display())]
    AlreadyPlanned(PathBuf),
    /// No plan yet.
    #[error("{}: no rating plan; run `mhbench rate plan --run {}` first", .0.display(), .0.parent().unwrap_or(Path::new(".")).display())]
    NotPlanned(PathBuf),
    /// Ratings or the rubric could not be rendered.
    #[error("writing {0}")]
    Render(String),
    /// The operating system's random source failed.
    #[error("the OS random number generator failed: {0}")]
    Random(String),
    /// A socket or output stream failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Check one score against the rubric: a known attribute and an integer on the 1..5 scale.
///
/// # Errors
/// A message naming the attribute and what is wrong with it.
pub fn check_score(rubric: &Rubric, attribute: &str, value: i64) -> Result<Score, String> {
    if rubric.attribute(attribute).is_none() {
        return Err(format!(
            "unknown attribute `{attribute}`; expected one of {}",
            rubric.attribute_ids().join(", ")
        ));
    }
    Score::new(value).ok_or_else(|| format!("{attribute}: {value} is off the 1..5 scale"))
}

/// Whether `scores` holds a score for every attribute of the rubric.
pub fn is_complete(rubric: &Rubric, scores: &BTreeMap<String, Score>) -> bool {
    rubric.attributes.iter().all(|a| scores.contains_key(&a.id))
}

/// Check a comment's length against [`MAX_COMMENT_CHARS`].
///
/// # Errors
/// A message giving the length and the cap.
pub fn check_comment(comment: &str) -> Result<(), String> {
    let chars = comment.chars().count();
    if chars > MAX_COMMENT_CHARS {
        return Err(format!(
            "comment: {chars} characters; shorten it to at most {MAX_COMMENT_CHARS}"
        ));
    }
    Ok(())
}

/// `len_bytes` bytes from the operating system's random source, hex-encoded: for tokens and
/// item ids, which must not be guessable or derived from anything else.
///
/// # Errors
/// [`RatingError::Random`] when the OS source fails.
pub(crate) fn os_random_hex(len_bytes: usize) -> Result<String, RatingError> {
    use rand::TryRngCore;
    let mut bytes = vec![0u8; len_bytes];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| RatingError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}
