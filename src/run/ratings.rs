//! A run's ratings through one channel: the rating store (experts' submitted ratings and every
//! LLM judge's) plus rating files, as one list of [`Rating`] values for `analyze`.
//!
//! Human ratings reach a run two ways: entered on the rating page or imported (both in the
//! store) and exported to `ratings*.jsonl` (`rate export --out RUN/ratings.jsonl`) or collected
//! elsewhere. Both are read, and a rating that is in the store and in a file (same rater,
//! reply and time) counts once, so exporting into the run folder never doubles a rating. A
//! later rating of the same reply by the same rater is not a copy: the analysis keeps the latest
//! and counts the other as superseded.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::Run;
use crate::files;
use crate::rating::store::RatingStore;
use crate::rating::RatingError;
use crate::schema::Rating;

/// Every rating of `run`: the store's, then those of `rating_files` (empty: every `ratings*.jsonl` in
/// the folder) that the store does not already hold. A run without a store has only its files.
///
/// # Errors
/// An unreadable store, or an unreadable or invalid file named by `path:line: field`.
pub fn ratings(run: &Run, rating_files: &[PathBuf]) -> Result<Vec<Rating>, RatingError> {
    let store_path = run.store_path();
    let mut ratings = if store_path.is_file() { RatingStore::open_or_create(&store_path)?.ratings()? } else { Vec::new() };
    let rating_files = if rating_files.is_empty() { run.rating_files()? } else { rating_files.to_vec() };
    for file in &rating_files {
        ratings.extend(files::read_jsonl::<Rating>(file)?);
    }
    Ok(once_each(ratings))
}

/// `ratings` without copies of one rating (same rater, reply and time), first copy kept.
fn once_each(ratings: Vec<Rating>) -> Vec<Rating> {
    let mut seen = BTreeSet::new();
    ratings
        .into_iter()
        .filter(|r| seen.insert((r.rater_id.clone(), r.response.clone(), r.created_at)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(rater: &str, minute: u32) -> Rating {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/records/records.json")).unwrap();
        let all: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut r: Rating = serde_json::from_value(all["rating"].clone()).unwrap();
        r.rater_id = crate::schema::RaterId(rater.into());
        r.created_at = format!("2026-11-25T12:{minute:02}:00Z").parse().unwrap();
        r
    }

    #[test]
    fn a_rating_in_two_places_counts_once_and_a_later_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::at(dir.path());
        let first = rating("alice", 0);
        let later = rating("alice", 5);
        let bob = rating("bob", 0);
        files::write_jsonl(&dir.path().join("ratings.jsonl"), &[first.clone(), bob.clone()]).unwrap();
        files::write_jsonl(&dir.path().join("ratings-copy.jsonl"), &[first.clone(), later.clone()]).unwrap();
        files::write_jsonl(&dir.path().join("other.jsonl"), &[rating("carol", 0)]).unwrap();
        // Files in name order: ratings-copy.jsonl, then ratings.jsonl (its copy of `first` dropped).
        assert_eq!(ratings(&run, &[]).unwrap(), vec![first, later, bob]);
    }

    #[test]
    fn judge_ratings_come_from_the_store_and_a_file_copy_is_not_read_twice() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::at(dir.path());
        let mut judged = rating("llm:gpt-4o", 1);
        judged.rater_kind = crate::schema::RaterKind::Llm;
        judged.raw_output = None;
        let mut store = RatingStore::open_or_create(&run.store_path()).unwrap();
        assert_eq!(store.add_judge_ratings(std::slice::from_ref(&judged)).unwrap(), 1);
        let from_store = store.ratings().unwrap();
        assert_eq!(from_store.len(), 1);
        files::write_jsonl(&dir.path().join("ratings.jsonl"), &from_store).unwrap();
        let all = ratings(&run, &[]).unwrap();
        assert_eq!(all, from_store);
    }
}
