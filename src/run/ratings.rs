//! A run's ratings through one channel: the rating store (experts' submitted ratings and every
//! LLM judge's) plus rating files, as one list of [`Rating`] values for `analyze`.
//!
//! Human ratings reach a run two ways: entered on the rating page or imported (both in the
//! store) and exported to `ratings*.jsonl` (`rate export --out RUN/ratings.jsonl`) or collected
//! elsewhere. Both are read, and a rating that is in the store and in a file (same rater,
//! reply and time) counts once, so exporting into the run folder never doubles a rating. A
//! later rating of the same reply by the same rater is not a copy: the analysis keeps the latest
//! and counts the other as superseded. A rating of another run, or under another rubric version,
//! is refused by name ([`Scope`]): joined by conversation and model alone it would be counted as a
//! rating of this run's reply.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::Run;
use crate::files::{self, ErrorList};
use crate::rating::store::RatingStore;
use crate::rating::RatingError;
use crate::schema::{Rating, RunId};

/// What every rating `analyze` joins must belong to.
pub struct Scope<'a> {
    /// The run's id, from its responses (`None` for a run without any).
    pub run_id: Option<&'a RunId>,
    /// The version of the rubric the analysis scores with.
    pub rubric_version: &'a str,
}

impl Scope<'_> {
    /// The first field of `rating` outside this scope, as `field: problem`.
    fn problem(&self, rating: &Rating) -> Option<String> {
        if let Some(run_id) = self.run_id.filter(|id| **id != rating.response.run_id) {
            return Some(format!(
                "response.run_id: `{}` is not this run (`{}`); a rating of another run cannot be joined to this run's replies",
                rating.response.run_id.as_str(),
                run_id.as_str()
            ));
        }
        (rating.rubric_version != self.rubric_version).then(|| format!(
            "rubric_version: `{}`, but the rubric of this analysis is version `{}`; pass the rubric these ratings used (--rubric)",
            rating.rubric_version, self.rubric_version
        ))
    }
}

/// Every rating of `run`: the store's, then those of `rating_files` (empty: every `ratings*.jsonl` in
/// the folder) that the store does not already hold. A run without a store has only its files.
///
/// # Errors
/// An unreadable store, an unreadable or invalid file named by `path:line: field`, or ratings
/// outside `scope` (a file's by `path:line`, the store's by rater).
pub fn ratings(run: &Run, rating_files: &[PathBuf], scope: &Scope) -> Result<Vec<Rating>, RatingError> {
    let store_path = run.store_path();
    let mut errors = ErrorList::default();
    let mut ratings = Vec::new();
    if store_path.is_file() {
        for rating in RatingStore::open_or_create(&store_path)?.ratings()? {
            match scope.problem(&rating) {
                Some(problem) => errors.add(&store_path, None, format!("rater `{}`: {problem}", rating.rater_id.as_str())),
                None => ratings.push(rating),
            }
        }
    }
    let rating_files = if rating_files.is_empty() { run.rating_files()? } else { rating_files.to_vec() };
    for file in &rating_files {
        for (line, rating) in files::read_jsonl_numbered::<Rating>(file)? {
            match scope.problem(&rating) {
                Some(problem) => errors.add(file, Some(line), problem),
                None => ratings.push(rating),
            }
        }
    }
    Ok(errors.into_result(once_each(ratings))?)
}

/// The rating study's repeated showings in `run`'s store (none without a store or a plan), for
/// test-retest agreement; never joined as ratings.
///
/// # Errors
/// An unreadable store, or repeats outside `scope` (named by rater).
pub fn repeats(run: &Run, scope: &Scope) -> Result<Vec<Rating>, RatingError> {
    let store_path = run.store_path();
    if !store_path.is_file() {
        return Ok(Vec::new());
    }
    let mut errors = ErrorList::default();
    let mut repeats = Vec::new();
    for rating in RatingStore::open_or_create(&store_path)?.human_ratings(true)? {
        match scope.problem(&rating) {
            Some(problem) => errors.add(&store_path, None, format!("rater `{}` (repeat): {problem}", rating.rater_id.as_str())),
            None => repeats.push(rating),
        }
    }
    Ok(errors.into_result(repeats)?)
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

    /// The scope of the fixture's rating: its run and rubric version.
    fn fixture_scope(r: &Rating) -> Scope<'_> {
        Scope { run_id: Some(&r.response.run_id), rubric_version: &r.rubric_version }
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
        assert_eq!(ratings(&run, &[], &fixture_scope(&first)).unwrap(), vec![first, later, bob]);
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
        let all = ratings(&run, &[], &fixture_scope(&judged)).unwrap();
        assert_eq!(all, from_store);
    }

    #[test]
    fn ratings_of_another_run_or_rubric_version_are_refused_by_line_and_by_rater() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::at(dir.path());
        let ours = rating("alice", 0);
        let mut other_run = rating("bob", 0);
        other_run.response.run_id = RunId("someone-elses-run".into());
        let mut other_rubric = rating("carol", 0);
        other_rubric.rubric_version = "0.9".into();
        let file = dir.path().join("ratings.jsonl");
        files::write_jsonl(&file, &[ours.clone(), other_run, other_rubric]).unwrap();
        let scope = fixture_scope(&ours);
        let text = ratings(&run, &[], &scope).unwrap_err().to_string();
        let (run_id, version) = (ours.response.run_id.as_str(), ours.rubric_version.as_str());
        assert!(text.contains(&format!("{}:2: response.run_id: `someone-elses-run` is not this run (`{run_id}`)", file.display())), "{text}");
        assert!(text.contains(&format!("{}:3: rubric_version: `0.9`, but the rubric of this analysis is version `{version}`", file.display())), "{text}");
        assert!(!text.contains(":1:"), "{text}");

        // The store's ratings are checked too, named by rater.
        std::fs::remove_file(&file).unwrap();
        let mut judged = rating("llm:gpt-4o", 1);
        judged.rater_kind = crate::schema::RaterKind::Llm;
        judged.raw_output = None;
        judged.rubric_version = "0.9".into();
        RatingStore::open_or_create(&run.store_path()).unwrap().add_judge_ratings(&[judged]).unwrap();
        let text = ratings(&run, &[], &scope).unwrap_err().to_string();
        assert!(text.contains(&format!("{}: rater `llm:gpt-4o`: rubric_version: `0.9`", run.store_path().display())), "{text}");
    }
}
