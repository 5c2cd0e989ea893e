//! LLM judges' ratings in the run's rating store: written by `mhbench judge`, read by
//! `mhbench analyze`, never by the rating page.
//!
//! One row per (reply, judge), keyed `(conversation_id, model_id, rater_id)` and written with
//! `ON CONFLICT DO NOTHING` on that key, so a judge that is killed and rerun neither loses nor duplicates a rating.
//! Each batch goes in one transaction; with `synchronous=FULL` a committed batch survives a
//! kill. The table's CHECKs keep it honest: only `llm` raters, and a parse failure holds no
//! score. Records go in and come out as the shared [`Rating`].

use std::collections::BTreeSet;

use rusqlite::{params, TransactionBehavior};

use super::{parse_time, store_error, RatingStore};
use crate::schema::{ConversationId, ModelId, RaterId, RaterKind, Rating, RatingStatus, ResponseRef, RunId, SCHEMA_VERSION};

/// A judged reply: the model that wrote it and the conversation it answers.
pub type JudgedReply = (ModelId, ConversationId);

/// A rating status as the store and the `status` CSV column write it.
pub(crate) fn status_text(status: RatingStatus) -> &'static str {
    match status {
        RatingStatus::Complete => "complete",
        RatingStatus::ParseFailure => "parse_failure",
        // Only human raters can say "cannot rate"; the table's CHECK refuses it for a judge.
        RatingStatus::CannotRate => "cannot_rate",
    }
}

fn to_sql_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn from_sql_error(column: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
}

impl RatingStore {
    /// Store judge ratings in one transaction; a rating of a reply this judge already rated is
    /// ignored. Returns how many were new.
    ///
    /// # Errors
    /// SQLite failures (nothing is then written), including a rating whose rater is not an LLM.
    pub fn add_judge_ratings(&mut self, ratings: &[Rating]) -> Result<usize, crate::rating::RatingError> {
        let path = self.path.clone();
        let result = (|| -> rusqlite::Result<usize> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut added = 0;
            for rating in ratings {
                let kind = match rating.rater_kind {
                    RaterKind::Llm => "llm",
                    RaterKind::Human => "human",
                };
                let params_json = rating.judge_params.as_ref().map(serde_json::to_string).transpose().map_err(to_sql_error)?;
                added += tx.execute(
                    // Not `INSERT OR IGNORE`: that would also drop rows failing a CHECK, silently.
                    "INSERT INTO judge_ratings
                         (run_id, conversation_id, model_id, rater_id, rater_kind, rubric_version, status,
                          scores_json, comment, safety_flag, raw_output, judge_params_json, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT (conversation_id, model_id, rater_id) DO NOTHING",
                    params![
                        rating.response.run_id.as_str(),
                        rating.response.conversation_id.as_str(),
                        rating.response.model_id.as_str(),
                        rating.rater_id.as_str(),
                        kind,
                        rating.rubric_version,
                        status_text(rating.status),
                        serde_json::to_string(&rating.scores).map_err(to_sql_error)?,
                        rating.comment,
                        rating.safety_flag,
                        rating.raw_output,
                        params_json,
                        rating.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    ],
                )?;
            }
            tx.commit()?;
            Ok(added)
        })();
        result.map_err(|e| store_error(&path, e))
    }

    /// The replies `rater` has already rated (parse failures included): what a resumed judge
    /// skips.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn judged_replies(&self, rater: &RaterId) -> Result<BTreeSet<JudgedReply>, crate::rating::RatingError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT model_id, conversation_id FROM judge_ratings WHERE rater_id = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([rater.as_str()], |row| Ok((ModelId(row.get(0)?), ConversationId(row.get(1)?))))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Every judge rating, ordered by rater, conversation and model.
    ///
    /// # Errors
    /// SQLite failures, or a stored value that no longer parses.
    pub fn judge_ratings(&self) -> Result<Vec<Rating>, crate::rating::RatingError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT run_id, conversation_id, model_id, rater_id, rubric_version, status, scores_json,
                        comment, safety_flag, raw_output, judge_params_json, created_at
                 FROM judge_ratings ORDER BY rater_id, conversation_id, model_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], judge_rating_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }
}

fn judge_rating_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Rating> {
    let status = match row.get::<_, String>(5)?.as_str() {
        "complete" => RatingStatus::Complete,
        // The table's CHECK allows only these two values.
        _ => RatingStatus::ParseFailure,
    };
    let scores_json: String = row.get(6)?;
    let params_json: Option<String> = row.get(10)?;
    Ok(Rating {
        schema_version: SCHEMA_VERSION,
        response: ResponseRef {
            run_id: RunId(row.get(0)?),
            conversation_id: ConversationId(row.get(1)?),
            model_id: ModelId(row.get(2)?),
        },
        rater_id: RaterId(row.get(3)?),
        rater_kind: RaterKind::Llm,
        rubric_version: row.get(4)?,
        status,
        scores: serde_json::from_str(&scores_json).map_err(|e| from_sql_error(6, e))?,
        comment: row.get(7)?,
        safety_flag: row.get(8)?,
        raw_output: row.get(9)?,
        judge_params: params_json.map(|json| serde_json::from_str(&json)).transpose().map_err(|e| from_sql_error(10, e))?,
        created_at: parse_time(row, 11)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::schema::{GenerationParams, Score};

    fn judge_rating(conversation: &str, status: RatingStatus, scores: &[(&str, i64)]) -> Rating {
        Rating {
            schema_version: SCHEMA_VERSION,
            response: ResponseRef {
                run_id: RunId("run".into()),
                conversation_id: ConversationId(conversation.into()),
                model_id: ModelId("m".into()),
            },
            rater_id: RaterId("llm:judge".into()),
            rater_kind: RaterKind::Llm,
            rubric_version: "1.0".into(),
            status,
            scores: scores.iter().map(|(a, v)| ((*a).to_owned(), Score::new(*v).unwrap())).collect::<BTreeMap<_, _>>(),
            comment: Some("Warm.".into()),
            safety_flag: false,
            raw_output: (status == RatingStatus::ParseFailure).then(|| "no json".into()),
            judge_params: Some(GenerationParams {
                temperature: 0.0,
                top_p: None,
                top_k: None,
                repetition_penalty: None,
                max_new_tokens: 64,
                seed: 7,
            }),
            created_at: chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z").unwrap().into(),
        }
    }

    #[test]
    fn judge_ratings_round_trip_and_a_rerun_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.sqlite");
        let mut store = RatingStore::open_or_create(&path).unwrap();
        let ratings = vec![
            judge_rating("c1", RatingStatus::Complete, &[("empathy", 4), ("safety", 5)]),
            judge_rating("c2", RatingStatus::ParseFailure, &[]),
        ];
        assert_eq!(store.add_judge_ratings(&ratings).unwrap(), 2);
        drop(store);
        let mut store = RatingStore::open_or_create(&path).unwrap();
        assert_eq!(store.add_judge_ratings(&ratings).unwrap(), 0, "same (reply, judge) keys are ignored");
        assert_eq!(store.judge_ratings().unwrap(), ratings);
        let judged = store.judged_replies(&RaterId("llm:judge".into())).unwrap();
        assert_eq!(judged.len(), 2);
        assert!(store.judged_replies(&RaterId("llm:other".into())).unwrap().is_empty());
    }

    #[test]
    fn refuses_human_raters_and_scored_parse_failures() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RatingStore::open_or_create(&dir.path().join("ratings.sqlite")).unwrap();
        let mut human = judge_rating("c1", RatingStatus::Complete, &[("empathy", 4)]);
        human.rater_kind = RaterKind::Human;
        assert!(store.add_judge_ratings(&[human]).unwrap_err().to_string().contains("CHECK constraint failed"));
        let invented = judge_rating("c2", RatingStatus::ParseFailure, &[("empathy", 3)]);
        assert!(store.add_judge_ratings(&[invented]).unwrap_err().to_string().contains("CHECK constraint failed"));
        assert!(store.judge_ratings().unwrap().is_empty(), "a failed batch writes nothing");
    }

    #[test]
    fn judge_ratings_alone_are_no_plan_and_survive_a_replan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.sqlite");
        let mut store = RatingStore::open_or_create(&path).unwrap();
        store.add_judge_ratings(&[judge_rating("c1", RatingStatus::Complete, &[("empathy", 4)])]).unwrap();
        drop(store);
        assert!(matches!(RatingStore::open(&path), Err(crate::rating::RatingError::NotPlanned(_))));
        let mut store = RatingStore::create(&path).unwrap();
        store.discard_plan().unwrap();
        assert_eq!(store.judge_ratings().unwrap().len(), 1);
        // What the page and the export read holds no judge.
        assert!(store.progress().unwrap().is_empty());
        assert!(store.submitted(false).unwrap().is_empty());
    }
}
