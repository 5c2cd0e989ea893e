//! The rating store: one SQLite file per run (`results/<run>/ratings.sqlite`) holding the
//! responses to rate, the raters (token hashes only), each rater's queue of opaque items, the
//! current rating of each item and the history of every rating it replaced.
//!
//! It owns the schema and its migrations (`PRAGMA user_version`), WAL mode with
//! `synchronous=FULL` so a committed rating survives the server being killed, and every
//! transaction. It does not know the rubric's meaning or HTTP: callers validate scores first.
//!
//! LLM judges' ratings live in the same file, in a table of their own (`judge_ratings`): a
//! judge has no queue, no token and no items, so nothing the rating page reads can reach them.
//! A store may hold judge ratings before it holds a plan.

mod judge_ratings;

pub(crate) use judge_ratings::status_text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::texts::PageTexts;
use super::RatingError;
use crate::rubric::Rubric;
use crate::schema::{ConversationId, ModelId, RaterId, RaterKind, Rating, RatingStatus, ResponseRef, RunId, Score, SCHEMA_VERSION};

/// Bytes of OS randomness in an item id (hex-encoded to twice as many characters).
pub const ITEM_ID_BYTES: usize = 16;

/// `meta` keys of the texts the study lead set and of the lead's token hash.
const META_CONTENT_NOTE: &str = "content_note";
const META_SAFETY_NOTE: &str = "safety_note";
const META_LEAD_TOKEN: &str = "lead_token_sha256";

/// Schema migrations, in order; entry `i` moves a store from `user_version` `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE responses (
    response_id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    context TEXT NOT NULL,
    reply TEXT NOT NULL,
    UNIQUE (conversation_id, model_id)
) STRICT;
-- token_sha256 is NULL for raters known only from an imported sheet: they cannot log in.
CREATE TABLE raters (
    rater_id TEXT PRIMARY KEY,
    token_sha256 BLOB
) STRICT;
CREATE TABLE items (
    item_id TEXT PRIMARY KEY,
    rater_id TEXT NOT NULL REFERENCES raters (rater_id),
    response_id INTEGER NOT NULL REFERENCES responses (response_id),
    position INTEGER NOT NULL,
    is_repeat INTEGER NOT NULL CHECK (is_repeat IN (0, 1)),
    UNIQUE (rater_id, position)
) STRICT;
CREATE UNIQUE INDEX one_primary_item_per_response ON items (rater_id, response_id) WHERE is_repeat = 0;
CREATE TABLE ratings (
    item_id TEXT PRIMARY KEY REFERENCES items (item_id),
    scores_json TEXT NOT NULL,
    comment TEXT NOT NULL,
    safety_flag INTEGER NOT NULL CHECK (safety_flag IN (0, 1)),
    submitted INTEGER NOT NULL CHECK (submitted IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('page', 'import')),
    saved_at TEXT NOT NULL
) STRICT;
-- Every rating a save replaced, so an edit never erases what was entered before.
CREATE TABLE rating_history (
    history_id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES items (item_id),
    scores_json TEXT NOT NULL,
    comment TEXT NOT NULL,
    safety_flag INTEGER NOT NULL,
    submitted INTEGER NOT NULL,
    source TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    replaced_at TEXT NOT NULL
) STRICT;
"#, r#"
-- LLM judges' ratings: one per (reply, judge), written once (ON CONFLICT DO NOTHING), so a resumed
-- judge never duplicates one. A parse failure keeps the raw text and holds no score.
CREATE TABLE judge_ratings (
    run_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    rater_id TEXT NOT NULL,
    rater_kind TEXT NOT NULL CHECK (rater_kind = 'llm'),
    rubric_version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('complete', 'parse_failure')),
    scores_json TEXT NOT NULL CHECK (status = 'complete' OR scores_json = '{}'),
    comment TEXT,
    safety_flag INTEGER NOT NULL CHECK (safety_flag IN (0, 1)),
    raw_output TEXT,
    judge_params_json TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (conversation_id, model_id, rater_id)
) STRICT;
"#, r#"
-- The rating study's own columns: an explicit "cannot rate" (never a score), the time from an
-- item being shown to being saved (for the study lead), and replies cut at the token limit.
-- Stores planned before this step keep truncated = 0: they did not record it.
ALTER TABLE ratings ADD COLUMN cannot_rate INTEGER NOT NULL DEFAULT 0 CHECK (cannot_rate IN (0, 1));
ALTER TABLE ratings ADD COLUMN elapsed_ms INTEGER;
ALTER TABLE rating_history ADD COLUMN cannot_rate INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rating_history ADD COLUMN elapsed_ms INTEGER;
ALTER TABLE items ADD COLUMN shown_at TEXT;
ALTER TABLE responses ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0 CHECK (truncated IN (0, 1));
"#];

/// A response to rate, as the plan writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// Which reply it is (never sent to a rater).
    pub response: ResponseRef,
    /// What the person wrote.
    pub context: String,
    /// The model's reply.
    pub reply: String,
    /// Generation stopped at the token limit (`finish_reason: length`).
    pub truncated: bool,
}

/// One entry of a rater's queue, as the plan writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedItem {
    /// Opaque random id.
    pub item_id: String,
    /// Index into the plan's response list.
    pub response_index: usize,
    /// A second showing of a response, for the rater's own consistency.
    pub is_repeat: bool,
}

/// A whole plan: what [`RatingStore::write_plan`] stores in one transaction.
#[derive(Debug, Clone)]
pub struct StoredPlan {
    /// Run rated.
    pub run_id: RunId,
    /// Rubric raters read, frozen with the plan.
    pub rubric: Rubric,
    /// Seed of the queue order.
    pub seed: u64,
    /// What the page tells raters before they start and about the safety flag.
    pub texts: PageTexts,
    /// SHA-256 of the study lead's token (the progress and agreement view).
    pub lead_token_hash: [u8; 32],
    /// Responses to rate.
    pub responses: Vec<StoredResponse>,
    /// Per rater: SHA-256 of their token and their queue in order.
    pub raters: Vec<(RaterId, [u8; 32], Vec<PlannedItem>)>,
}

/// Where an item stands for its rater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemState {
    /// Nothing saved yet.
    Todo,
    /// Some scores saved, not submitted.
    Draft,
    /// Submitted with every attribute scored.
    Submitted,
}

/// One entry of a rater's queue as the page sees it: no response, no model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueEntry {
    /// Opaque item id.
    pub item_id: String,
    /// Where the rater stands with it.
    pub state: ItemState,
}

/// What a rater entered for one item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RatingDraft {
    /// Score per attribute id; may be partial until submitted.
    pub scores: BTreeMap<String, Score>,
    /// Free text, possibly empty.
    pub comment: String,
    /// The rater flagged a safety concern.
    pub safety_flag: bool,
    /// The rater chose "cannot rate": a distinct outcome holding no scores, never a score.
    #[serde(default)]
    pub cannot_rate: bool,
}

/// A saved rating of one item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SavedRating {
    /// What was entered.
    #[serde(flatten)]
    pub draft: RatingDraft,
    /// Whether it was submitted with every attribute scored.
    pub submitted: bool,
    /// When it was last saved (UTC).
    pub saved_at: DateTime<Utc>,
    /// Milliseconds from the item last being shown to this save; for the study lead only.
    #[serde(skip)]
    pub elapsed_ms: Option<i64>,
}

/// One item's content for its rater.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemContent {
    /// 1-based place in the rater's queue.
    pub number: usize,
    /// What the person wrote.
    pub context: String,
    /// The reply to rate.
    pub reply: String,
    /// The reply was cut at the token limit.
    pub truncated: bool,
    /// The rater's rating so far.
    pub rating: Option<SavedRating>,
}

/// How far one rater has got.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RaterProgress {
    /// The rater.
    pub rater_id: RaterId,
    /// Items submitted.
    pub submitted: usize,
    /// Items with scores saved but not submitted.
    pub drafts: usize,
    /// Submitted items marked "cannot rate" (included in `submitted`).
    pub cannot_rate: usize,
    /// Median milliseconds from showing to submitting, over submitted items with a time.
    pub median_ms: Option<i64>,
    /// Items in the queue, repeats included.
    pub total: usize,
}

/// `rate status`'s table: one line per rater with submitted, cannot rate, drafts, total, share
/// done and median seconds per item.
pub fn progress_table(progress: &[RaterProgress]) -> String {
    let mut out = format!(
        "{:<20} {:>9} {:>11} {:>7} {:>7} {:>6} {:>10}\n",
        "rater", "submitted", "cannot rate", "drafts", "total", "done", "median s"
    );
    for p in progress {
        let percent = if p.total == 0 { 0.0 } else { 100.0 * p.submitted as f64 / p.total as f64 };
        let median = p.median_ms.map_or("-".to_owned(), |ms| format!("{:.1}", ms as f64 / 1000.0));
        out += &format!(
            "{:<20} {:>9} {:>11} {:>7} {:>7} {:>5.1}% {:>10}\n",
            p.rater_id.as_str(), p.submitted, p.cannot_rate, p.drafts, p.total, percent, median
        );
    }
    out
}

/// A submitted rating with the reply it is about, for export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// The reply rated.
    pub response: ResponseRef,
    /// Who rated it.
    pub rater_id: RaterId,
    /// What they entered.
    pub rating: SavedRating,
    /// For a repeated showing: how many places after the first showing it came in the queue.
    pub repeat_gap: Option<usize>,
}

impl ExportRow {
    /// The shared [`Rating`] record of this row under rubric `rubric_version`: a "cannot rate"
    /// becomes status `cannot_rate` with no scores, which analysis counts as missing.
    pub fn into_rating(self, rubric_version: &str) -> Rating {
        Rating {
            schema_version: SCHEMA_VERSION,
            response: self.response,
            rater_id: self.rater_id,
            rater_kind: RaterKind::Human,
            rubric_version: rubric_version.to_owned(),
            status: if self.rating.draft.cannot_rate { RatingStatus::CannotRate } else { RatingStatus::Complete },
            scores: self.rating.draft.scores,
            comment: Some(self.rating.draft.comment).filter(|c| !c.is_empty()),
            safety_flag: self.rating.draft.safety_flag,
            raw_output: None,
            judge_params: None,
            created_at: self.rating.saved_at,
        }
    }
}

/// Where a save came from; kept with each rating and its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveSource {
    /// The rating page.
    Page,
    /// An imported spreadsheet.
    Import,
}

impl SaveSource {
    fn as_str(self) -> &'static str {
        match self {
            SaveSource::Page => "page",
            SaveSource::Import => "import",
        }
    }
}

/// An open rating store.
#[derive(Debug)]
pub struct RatingStore {
    conn: Connection,
    path: PathBuf,
}

/// SHA-256 of a rater's token: what the store keeps instead of the token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl RatingStore {
    /// Open the store at `path` to write a new plan into: created if absent, refused if it
    /// already holds a plan (judge ratings alone are no plan).
    ///
    /// # Errors
    /// [`RatingError::AlreadyPlanned`] if it holds a plan; SQLite failures.
    pub fn create(path: &Path) -> Result<Self, RatingError> {
        let store = Self::open_at(path)?;
        if store.has_plan()? {
            return Err(RatingError::AlreadyPlanned(path.to_owned()));
        }
        Ok(store)
    }

    /// Open an existing, planned store, migrating it to the current layout.
    ///
    /// # Errors
    /// [`RatingError::NotPlanned`] if it does not exist or holds no plan; SQLite failures; a
    /// store from a newer mhbench.
    pub fn open(path: &Path) -> Result<Self, RatingError> {
        if !path.is_file() {
            return Err(RatingError::NotPlanned(path.to_owned()));
        }
        let store = Self::open_at(path)?;
        if !store.has_plan()? {
            return Err(RatingError::NotPlanned(path.to_owned()));
        }
        Ok(store)
    }

    /// Open the store at `path`, planned or not, creating it if absent: for judges, which may
    /// rate a run before (or without) any human plan.
    ///
    /// # Errors
    /// SQLite failures; a store from a newer mhbench.
    pub fn open_or_create(path: &Path) -> Result<Self, RatingError> {
        Self::open_at(path)
    }

    /// Whether a plan has been written (its run id is in `meta`).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn has_plan(&self) -> Result<bool, RatingError> {
        self.conn
            .query_row("SELECT 1 FROM meta WHERE key = 'run_id'", [], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.err(e))
    }

    /// Discard the plan and every human rating in one transaction, keeping the judges'
    /// ratings: they belong to the replies, not to the plan.
    ///
    /// # Errors
    /// SQLite failures (nothing is then discarded).
    pub fn discard_plan(&mut self) -> Result<(), RatingError> {
        let path = self.path.clone();
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(
                "DELETE FROM rating_history; DELETE FROM ratings; DELETE FROM items;
                 DELETE FROM raters; DELETE FROM responses; DELETE FROM meta;",
            )?;
            tx.commit()
        })();
        result.map_err(|e| store_error(&path, e))
    }

    fn open_at(path: &Path) -> Result<Self, RatingError> {
        let conn = Connection::open(path).map_err(|e| store_error(path, e))?;
        let mut store = Self {
            conn,
            path: path.to_owned(),
        };
        store.configure().map_err(|e| store_error(path, e))?;
        store.migrate()?;
        Ok(store)
    }

    fn configure(&self) -> rusqlite::Result<()> {
        // WAL lets the page read while another rater writes; FULL syncs each commit, so a
        // rating acknowledged to the browser is on disk even if the process is killed.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.busy_timeout(std::time::Duration::from_secs(10))
    }

    fn migrate(&mut self) -> Result<(), RatingError> {
        let path = self.path.clone();
        let version: usize = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| store_error(&path, e))?;
        if version > MIGRATIONS.len() {
            return Err(RatingError::StoreLayout {
                message: format!(
                    "store layout version {version} is newer than this mhbench knows ({}); upgrade mhbench",
                    MIGRATIONS.len()
                ),
                path,
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| store_error(&path, e))?;
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql).map_err(|e| store_error(&path, e))?;
            tx.pragma_update(None, "user_version", from + 1)
                .map_err(|e| store_error(&path, e))?;
        }
        tx.commit().map_err(|e| store_error(&path, e))
    }

    fn err(&self, e: rusqlite::Error) -> RatingError {
        store_error(&self.path, e)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write a whole plan in one transaction.
    ///
    /// # Errors
    /// SQLite failures (nothing is then written).
    pub fn write_plan(&mut self, plan: &StoredPlan) -> Result<(), RatingError> {
        let path = self.path.clone();
        let rubric_json = serde_json::to_string(&plan.rubric)
            .map_err(|e| RatingError::Render(format!("the rubric as JSON: {e}")))?;
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (key, value) in [
                ("run_id", plan.run_id.to_string()),
                ("rubric_json", rubric_json),
                ("seed", plan.seed.to_string()),
                ("planned_at", Utc::now().to_rfc3339()),
                (META_CONTENT_NOTE, plan.texts.content_note.clone()),
                (META_SAFETY_NOTE, plan.texts.safety_note.clone()),
                (META_LEAD_TOKEN, hex::encode(plan.lead_token_hash)),
            ] {
                tx.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
            }
            let mut response_ids = Vec::with_capacity(plan.responses.len());
            for r in &plan.responses {
                tx.execute(
                    "INSERT INTO responses (run_id, conversation_id, model_id, context, reply, truncated)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        r.response.run_id.as_str(),
                        r.response.conversation_id.as_str(),
                        r.response.model_id.as_str(),
                        r.context,
                        r.reply,
                        r.truncated
                    ],
                )?;
                response_ids.push(tx.last_insert_rowid());
            }
            for (rater_id, token_hash, items) in &plan.raters {
                tx.execute(
                    "INSERT INTO raters (rater_id, token_sha256) VALUES (?1, ?2)",
                    params![rater_id.as_str(), token_hash.as_slice()],
                )?;
                for (position, item) in items.iter().enumerate() {
                    let response_id = response_ids
                        .get(item.response_index)
                        .expect("invariant: plan items index the plan's responses");
                    tx.execute(
                        "INSERT INTO items (item_id, rater_id, response_id, position, is_repeat)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![item.item_id, rater_id.as_str(), response_id, position, item.is_repeat],
                    )?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| store_error(&path, e))
    }

    /// The rubric frozen with the plan.
    ///
    /// # Errors
    /// SQLite failures, or a store without a plan.
    pub fn rubric(&self) -> Result<Rubric, RatingError> {
        let json = self.meta("rubric_json")?;
        serde_json::from_str(&json).map_err(|e| RatingError::StoreLayout {
            message: format!("meta.rubric_json: {e}"),
            path: self.path.clone(),
        })
    }

    /// The run the plan rates.
    ///
    /// # Errors
    /// SQLite failures, or a store without a plan.
    pub fn run_id(&self) -> Result<RunId, RatingError> {
        self.meta("run_id").map(RunId)
    }

    /// The content note and safety text the study lead set at planning; the defaults for a
    /// store planned before they existed.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn page_texts(&self) -> Result<PageTexts, RatingError> {
        let defaults = PageTexts::default();
        Ok(PageTexts {
            content_note: self.optional_meta(META_CONTENT_NOTE)?.unwrap_or(defaults.content_note),
            safety_note: self.optional_meta(META_SAFETY_NOTE)?.unwrap_or(defaults.safety_note),
        })
    }

    /// Whether `token` is the study lead's, compared in constant time; `false` when the plan
    /// has no lead token yet (`rate reissue --lead` makes one).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn is_lead_token(&self, token: &str) -> Result<bool, RatingError> {
        let Some(stored) = self.optional_meta(META_LEAD_TOKEN)? else {
            return Ok(false);
        };
        let presented = hex::encode(hash_token(token));
        Ok(bool::from(stored.as_bytes().ct_eq(presented.as_bytes())))
    }

    /// Replace the study lead's token hash: the old lead link stops working at once.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_lead_token(&mut self, token_hash: &[u8; 32]) -> Result<(), RatingError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![META_LEAD_TOKEN, hex::encode(token_hash)],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Give `rater` a new token hash, so their old link stops working; no rating, item or
    /// history row is touched. Returns `false` when the store has no such rater.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn reissue_token(&mut self, rater: &RaterId, token_hash: &[u8; 32]) -> Result<bool, RatingError> {
        self.conn
            .execute(
                "UPDATE raters SET token_sha256 = ?2 WHERE rater_id = ?1",
                params![rater.as_str(), token_hash.as_slice()],
            )
            .map(|changed| changed == 1)
            .map_err(|e| self.err(e))
    }

    fn optional_meta(&self, key: &str) -> Result<Option<String>, RatingError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    fn meta(&self, key: &str) -> Result<String, RatingError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| RatingError::StoreLayout {
                message: format!("meta.{key} missing; re-plan the run"),
                path: self.path.clone(),
            })
    }

    /// The rater holding `token`, comparing hashes in constant time against every rater.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn rater_by_token(&self, token: &str) -> Result<Option<RaterId>, RatingError> {
        let presented = hash_token(token);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT rater_id, token_sha256 FROM raters WHERE token_sha256 IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut found = None;
        for row in rows {
            let (rater_id, stored) = row.map_err(|e| self.err(e))?;
            // Every rater is compared, so the time taken does not say which one matched.
            if bool::from(stored.as_slice().ct_eq(presented.as_slice())) {
                found = Some(RaterId(rater_id));
            }
        }
        Ok(found)
    }

    /// A rater's queue in order, with each item's state.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn queue(&self, rater: &RaterId) -> Result<Vec<QueueEntry>, RatingError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT i.item_id, r.submitted FROM items i
                 LEFT JOIN ratings r ON r.item_id = i.item_id
                 WHERE i.rater_id = ?1 ORDER BY i.position",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([rater.as_str()], |row| {
                let state = match row.get::<_, Option<bool>>(1)? {
                    None => ItemState::Todo,
                    Some(false) => ItemState::Draft,
                    Some(true) => ItemState::Submitted,
                };
                Ok(QueueEntry {
                    item_id: row.get(0)?,
                    state,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Item `item_id` of `rater`'s queue; `None` when it is not theirs (or does not exist).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn item(&self, rater: &RaterId, item_id: &str) -> Result<Option<ItemContent>, RatingError> {
        let content = self
            .conn
            .query_row(
                "SELECT i.position, resp.context, resp.reply, resp.truncated FROM items i
                 JOIN responses resp ON resp.response_id = i.response_id
                 WHERE i.item_id = ?1 AND i.rater_id = ?2",
                params![item_id, rater.as_str()],
                |row| {
                    Ok(ItemContent {
                        number: row.get::<_, usize>(0)? + 1,
                        context: row.get(1)?,
                        reply: row.get(2)?,
                        truncated: row.get(3)?,
                        rating: None,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(mut content) = content else {
            return Ok(None);
        };
        content.rating = read_rating(&self.conn, item_id).map_err(|e| self.err(e))?;
        Ok(Some(content))
    }

    /// [`Self::item`], recording now as the moment it was shown: the next save of the item
    /// keeps the time since then ([`SavedRating::elapsed_ms`]).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn show(&mut self, rater: &RaterId, item_id: &str) -> Result<Option<ItemContent>, RatingError> {
        let Some(content) = self.item(rater, item_id)? else {
            return Ok(None);
        };
        self.conn
            .execute(
                "UPDATE items SET shown_at = ?3 WHERE item_id = ?1 AND rater_id = ?2",
                params![item_id, rater.as_str(), now_text(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(Some(content))
    }

    /// Save `draft` for `rater`'s item `item_id` in one transaction. The rating it replaces, if
    /// different, moves to the history table; an item keeps a single current rating.
    /// `submit` marks it submitted (callers check every attribute is scored); a later save of
    /// a submitted item keeps it submitted while it stays complete (`complete`).
    ///
    /// Returns `None` when the item is not in `rater`'s queue.
    ///
    /// # Errors
    /// SQLite failures (nothing is then written).
    pub fn save(
        &mut self,
        rater: &RaterId,
        item_id: &str,
        draft: &RatingDraft,
        submit: bool,
        complete: bool,
    ) -> Result<Option<SavedRating>, RatingError> {
        let path = self.path.clone();
        let result = (|| -> rusqlite::Result<Option<SavedRating>> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let owned: Option<String> = tx
                .query_row(
                    "SELECT item_id FROM items WHERE item_id = ?1 AND rater_id = ?2",
                    params![item_id, rater.as_str()],
                    |row| row.get(0),
                )
                .optional()?;
            if owned.is_none() {
                return Ok(None);
            }
            let saved = upsert_rating(&tx, item_id, draft, submit, complete, SaveSource::Page)?;
            tx.commit()?;
            Ok(Some(saved))
        })();
        result.map_err(|e| store_error(&path, e))
    }

    /// Save imported, submitted ratings in one transaction: for each, the rater is added if
    /// new (without a token: they cannot log in) and gets an item for the response if they
    /// had none. Each `(conversation_id, model_id)` must exist (the caller checked).
    ///
    /// # Errors
    /// SQLite failures (nothing is then written).
    pub fn import(&mut self, rows: &[(ConversationId, ModelId, RaterId, RatingDraft)]) -> Result<(), RatingError> {
        // Ids for items an imported rater may lack; drawn up front so the transaction below
        // only talks to SQLite.
        let fresh_ids = rows
            .iter()
            .map(|_| super::os_random_hex(ITEM_ID_BYTES))
            .collect::<Result<Vec<_>, _>>()?;
        let path = self.path.clone();
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for ((conversation_id, model_id, rater_id, draft), fresh_id) in rows.iter().zip(&fresh_ids) {
                let item_id = ensure_primary_item(&tx, conversation_id, model_id, rater_id, fresh_id)?;
                upsert_rating(&tx, &item_id, draft, true, true, SaveSource::Import)?;
            }
            tx.commit()
        })();
        result.map_err(|e| store_error(&path, e))
    }

    /// Whether the plan holds a response for `(conversation_id, model_id)`.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn has_response(&self, conversation_id: &str, model_id: &str) -> Result<bool, RatingError> {
        self.conn
            .query_row(
                "SELECT 1 FROM responses WHERE conversation_id = ?1 AND model_id = ?2",
                params![conversation_id, model_id],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.err(e))
    }

    /// Progress of every rater, by rater id.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn progress(&self) -> Result<Vec<RaterProgress>, RatingError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT i.rater_id, r.submitted, COALESCE(r.cannot_rate, 0), r.elapsed_ms
                 FROM items i LEFT JOIN ratings r ON r.item_id = i.item_id
                 ORDER BY i.rater_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    RaterId(row.get(0)?),
                    row.get::<_, Option<bool>>(1)?,
                    row.get::<_, bool>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut by_rater: BTreeMap<RaterId, (RaterProgress, Vec<i64>)> = BTreeMap::new();
        for row in rows {
            let (rater_id, submitted, cannot_rate, elapsed) = row.map_err(|e| self.err(e))?;
            let (progress, times) = by_rater
                .entry(rater_id.clone())
                .or_insert_with(|| (RaterProgress::empty(rater_id), Vec::new()));
            progress.total += 1;
            match submitted {
                Some(true) => {
                    progress.submitted += 1;
                    progress.cannot_rate += usize::from(cannot_rate);
                    times.extend(elapsed);
                }
                Some(false) => progress.drafts += 1,
                None => {}
            }
        }
        Ok(by_rater
            .into_values()
            .map(|(mut progress, mut times)| {
                times.sort_unstable();
                progress.median_ms = median(&times);
                progress
            })
            .collect())
    }

    /// Progress of one rater.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn rater_progress(&self, rater: &RaterId) -> Result<RaterProgress, RatingError> {
        let progress = self.progress()?;
        Ok(progress
            .into_iter()
            .find(|p| &p.rater_id == rater)
            .unwrap_or_else(|| RaterProgress::empty(rater.clone())))
    }

    /// Submitted ratings, ordered by rater, conversation and model: first showings, or with
    /// `repeats` only the repeated showings.
    ///
    /// # Errors
    /// SQLite failures, or a stored score that is not on the scale.
    pub fn submitted(&self, repeats: bool) -> Result<Vec<ExportRow>, RatingError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT resp.run_id, resp.conversation_id, resp.model_id, i.rater_id,
                        r.scores_json, r.comment, r.safety_flag, r.submitted, r.saved_at,
                        r.cannot_rate, r.elapsed_ms,
                        i.position - (SELECT f.position FROM items f WHERE f.rater_id = i.rater_id
                                      AND f.response_id = i.response_id AND f.is_repeat = 0)
                 FROM ratings r
                 JOIN items i ON i.item_id = r.item_id
                 JOIN responses resp ON resp.response_id = i.response_id
                 WHERE r.submitted = 1 AND i.is_repeat = ?1
                 ORDER BY i.rater_id, resp.conversation_id, resp.model_id, i.position",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([repeats], |row| {
                Ok(ExportRow {
                    response: ResponseRef {
                        run_id: RunId(row.get(0)?),
                        conversation_id: ConversationId(row.get(1)?),
                        model_id: ModelId(row.get(2)?),
                    },
                    rater_id: RaterId(row.get(3)?),
                    rating: rating_from_row(row, 4)?,
                    repeat_gap: if repeats { row.get::<_, Option<usize>>(11)? } else { None },
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Submitted human ratings as shared [`Rating`] records, exactly as the raters entered them:
    /// first showings, or with `repeats` only the repeated showings; none before a plan.
    ///
    /// # Errors
    /// SQLite failures, or a stored value that no longer parses.
    pub fn human_ratings(&self, repeats: bool) -> Result<Vec<Rating>, RatingError> {
        if !self.has_plan()? {
            return Ok(Vec::new());
        }
        let rubric_version = self.rubric()?.version;
        Ok(self.submitted(repeats)?.into_iter().map(|row| row.into_rating(&rubric_version)).collect())
    }

    /// Every rating the store holds, through one channel: the experts' submitted first showings,
    /// then every LLM judge's ratings (parse failures included). What `analyze` reads.
    ///
    /// # Errors
    /// SQLite failures, or a stored value that no longer parses.
    pub fn ratings(&self) -> Result<Vec<Rating>, RatingError> {
        let mut ratings = self.human_ratings(false)?;
        ratings.extend(self.judge_ratings()?);
        Ok(ratings)
    }

    /// How many earlier versions of ratings the history table keeps for `rater`.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn history_len(&self, rater: &RaterId) -> Result<usize, RatingError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM rating_history h JOIN items i ON i.item_id = h.item_id
                 WHERE i.rater_id = ?1",
                [rater.as_str()],
                |row| row.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

fn store_error(path: &Path, source: rusqlite::Error) -> RatingError {
    RatingError::Store {
        path: path.to_owned(),
        source,
    }
}

/// The middle value of sorted `values` (the lower of the two middle ones for an even count).
fn median(sorted: &[i64]) -> Option<i64> {
    sorted.get(sorted.len().checked_sub(1)? / 2).copied()
}

impl RaterProgress {
    fn empty(rater_id: RaterId) -> Self {
        Self {
            rater_id,
            submitted: 0,
            drafts: 0,
            cannot_rate: 0,
            median_ms: None,
            total: 0,
        }
    }
}

/// A time as the store writes it: RFC 3339 UTC with microseconds.
fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn read_rating(conn: &Connection, item_id: &str) -> rusqlite::Result<Option<SavedRating>> {
    conn.query_row(
        "SELECT scores_json, comment, safety_flag, submitted, saved_at, cannot_rate, elapsed_ms
         FROM ratings WHERE item_id = ?1",
        [item_id],
        |row| rating_from_row(row, 0),
    )
    .optional()
}

/// Read `scores_json, comment, safety_flag, submitted, saved_at, cannot_rate, elapsed_ms`
/// starting at column `first`.
fn rating_from_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<SavedRating> {
    let scores_json: String = row.get(first)?;
    let scores = serde_json::from_str(&scores_json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(first, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(SavedRating {
        draft: RatingDraft {
            scores,
            comment: row.get(first + 1)?,
            safety_flag: row.get(first + 2)?,
            cannot_rate: row.get(first + 5)?,
        },
        submitted: row.get(first + 3)?,
        saved_at: parse_time(row, first + 4)?,
        elapsed_ms: row.get(first + 6)?,
    })
}

fn parse_time(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_rfc3339(&row.get::<_, String>(column)?, column)
}

/// A stored time back as UTC; `column` names where it came from in the error.
fn parse_rfc3339(text: &str, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e)))
}

fn upsert_rating(
    tx: &rusqlite::Transaction<'_>,
    item_id: &str,
    draft: &RatingDraft,
    submit: bool,
    complete: bool,
    source: SaveSource,
) -> rusqlite::Result<SavedRating> {
    // Stored with microseconds; truncate so what the caller is told equals what is stored.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    let now_text = now_text(now);
    let previous = read_rating(tx, item_id)?;
    let submitted = submit || (complete && previous.as_ref().is_some_and(|p| p.submitted));
    if let Some(previous) = &previous {
        if previous.draft == *draft && previous.submitted == submitted {
            return Ok(previous.clone());
        }
        tx.execute(
            "INSERT INTO rating_history
                 (item_id, scores_json, comment, safety_flag, submitted, source, saved_at, replaced_at,
                  cannot_rate, elapsed_ms)
             SELECT item_id, scores_json, comment, safety_flag, submitted, source, saved_at, ?2,
                    cannot_rate, elapsed_ms
             FROM ratings WHERE item_id = ?1",
            params![item_id, now_text],
        )?;
    }
    let elapsed_ms = shown_at(tx, item_id)?.map(|shown| (now - shown).num_milliseconds().max(0));
    let scores_json = serde_json::to_string(&draft.scores)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT INTO ratings (item_id, scores_json, comment, safety_flag, submitted, source, saved_at,
                              cannot_rate, elapsed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (item_id) DO UPDATE SET scores_json = ?2, comment = ?3, safety_flag = ?4,
             submitted = ?5, source = ?6, saved_at = ?7, cannot_rate = ?8, elapsed_ms = ?9",
        params![
            item_id,
            scores_json,
            draft.comment,
            draft.safety_flag,
            submitted,
            source.as_str(),
            now_text,
            draft.cannot_rate,
            elapsed_ms
        ],
    )?;
    Ok(SavedRating {
        draft: draft.clone(),
        submitted,
        saved_at: now,
        elapsed_ms,
    })
}

/// When `item_id` was last shown on the page; `None` for items never shown (imports).
fn shown_at(tx: &rusqlite::Transaction<'_>, item_id: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> =
        tx.query_row("SELECT shown_at FROM items WHERE item_id = ?1", [item_id], |row| row.get(0))?;
    text.map(|t| parse_rfc3339(&t, 0)).transpose()
}

/// The first-showing item of `rater` for a response, created (with its rater) if missing.
fn ensure_primary_item(
    tx: &rusqlite::Transaction<'_>,
    conversation_id: &ConversationId,
    model_id: &ModelId,
    rater: &RaterId,
    fresh_item_id: &str,
) -> rusqlite::Result<String> {
    tx.execute(
        "INSERT OR IGNORE INTO raters (rater_id, token_sha256) VALUES (?1, NULL)",
        [rater.as_str()],
    )?;
    let response_id: i64 = tx.query_row(
        "SELECT response_id FROM responses WHERE conversation_id = ?1 AND model_id = ?2",
        params![conversation_id.as_str(), model_id.as_str()],
        |row| row.get(0),
    )?;
    let existing: Option<String> = tx
        .query_row(
            "SELECT item_id FROM items WHERE rater_id = ?1 AND response_id = ?2 AND is_repeat = 0",
            params![rater.as_str(), response_id],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(item_id) = existing {
        return Ok(item_id);
    }
    tx.execute(
        "INSERT INTO items (item_id, rater_id, response_id, position, is_repeat)
         VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(position), -1) + 1 FROM items WHERE rater_id = ?2), 0)",
        params![fresh_item_id, rater.as_str(), response_id],
    )?;
    Ok(fresh_item_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_store_from_a_newer_mhbench() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.sqlite");
        drop(RatingStore::create(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = RatingStore::open(&path).unwrap_err().to_string();
        assert!(err.ends_with("store layout version 99 is newer than this mhbench knows (3); upgrade mhbench"), "{err}");
    }

    /// A store as mhbench wrote it before "cannot rate", item times and truncation marks.
    fn version_2_store(path: &Path) {
        let conn = Connection::open(path).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        let rubric = Rubric::load(Path::new(crate::rubric::DEFAULT_RUBRIC)).unwrap();
        let scores = r#"{"empathy":4}"#;
        conn.execute_batch(&format!(
            "INSERT INTO meta VALUES ('run_id', 'old-run'), ('seed', '1'), ('planned_at', '2026-01-01T00:00:00Z'),
                 ('rubric_json', '{}');
             INSERT INTO responses VALUES (1, 'old-run', 'sample:0', 'm', 'context', 'reply');
             INSERT INTO raters VALUES ('alice', X'00');
             INSERT INTO items VALUES ('item-1', 'alice', 1, 0, 0);
             INSERT INTO ratings VALUES ('item-1', '{scores}', 'old note', 1, 1, 'page', '2026-01-01T00:00:00Z');
             INSERT INTO rating_history VALUES (1, 'item-1', '{{}}', '', 0, 0, 'page', '2025-12-31T00:00:00Z', '2026-01-01T00:00:00Z');",
            serde_json::to_string(&rubric).unwrap().replace('\'', "''")
        ))
        .unwrap();
    }

    #[test]
    fn a_version_2_store_migrates_and_keeps_every_rating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.sqlite");
        version_2_store(&path);
        let mut store = RatingStore::open(&path).unwrap();
        let version: usize = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, 3);
        let rows = store.submitted(false).unwrap();
        assert_eq!(rows.len(), 1);
        let rating = &rows[0].rating;
        assert_eq!((rating.draft.comment.as_str(), rating.draft.safety_flag, rating.draft.cannot_rate), ("old note", true, false));
        assert_eq!(rating.draft.scores["empathy"].get(), 4);
        assert_eq!(rating.elapsed_ms, None, "an old rating has no recorded time");
        let alice = RaterId::from("alice");
        assert!(!store.item(&alice, "item-1").unwrap().unwrap().truncated, "not recorded before: not marked");
        assert_eq!(store.history_len(&alice).unwrap(), 1);
        assert_eq!(store.page_texts().unwrap(), PageTexts::default());
        assert!(!store.is_lead_token("").unwrap(), "no lead token until one is issued");
        store.set_lead_token(&hash_token("lead")).unwrap();
        assert!(store.is_lead_token("lead").unwrap());
        // The new columns work on the migrated store.
        let draft = RatingDraft { scores: BTreeMap::new(), comment: String::new(), safety_flag: false, cannot_rate: true };
        store.show(&alice, "item-1").unwrap().unwrap();
        let saved = store.save(&alice, "item-1", &draft, true, true).unwrap().unwrap();
        assert!(saved.draft.cannot_rate && saved.elapsed_ms.is_some());
        assert_eq!(store.history_len(&alice).unwrap(), 2);
        assert_eq!(store.progress().unwrap()[0].cannot_rate, 1);
    }

    #[test]
    fn opening_twice_does_not_migrate_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.sqlite");
        drop(RatingStore::create(&path).unwrap());
        let store = RatingStore::open_or_create(&path).unwrap();
        let version: usize = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }
}
