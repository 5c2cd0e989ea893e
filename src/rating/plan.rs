//! `rate plan`: read a run folder, assign every response to raters and write the rating store.
//!
//! Assignment: each response gets `per_response` distinct raters; within each model the raters
//! take turns, so every rater gets an even share of every model. Each rater's queue is shuffled
//! with the seed and spread so each model's items are evenly interleaved through it (no model
//! clusters at the start or end, where fatigue differs). A small share of items is shown again
//! later under a fresh id, to measure each rater's own consistency: at least [`repeat_gap`] items
//! after its first showing, so it is not recognised from memory. Item ids and tokens come
//! from the OS random source, never from model or conversation ids, so nothing in a URL tells
//! what is behind it. It does not serve or export anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::store::{hash_token, PlannedItem, ITEM_ID_BYTES, RatingStore, StoredPlan, StoredResponse};
use super::texts::{self, PageTexts};
use super::{os_random_hex, store_path, RatingError};
use crate::rubric::Rubric;
use crate::run::{Reply, Run};
use crate::schema::{FinishReason, RaterId, ResponseRef, Source};

/// Bytes of OS randomness in a rater's or the lead's token (hex-encoded to twice as many characters).
pub const TOKEN_BYTES: usize = 32;
/// Fewest items between a first showing and its repeat, whatever the queue's length.
pub const MIN_REPEAT_GAP: usize = 5;
/// Most repeated items allowed, as a share of a rater's queue.
pub const MAX_REPEAT_SHARE: f64 = 0.5;

/// Validated options of `rate plan`.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The run folder (`results/<run>`).
    pub run_dir: PathBuf,
    /// Raters, distinct, at least one.
    pub raters: Vec<RaterId>,
    /// Distinct raters per response, 1..=raters.
    pub per_response: usize,
    /// Seed of the queue order; drawn from the OS when absent and recorded in the store.
    pub seed: Option<u64>,
    /// Share of each rater's items shown a second time, in 0..=0.5.
    pub repeat_share: f64,
    /// The rubric raters will read; frozen into the store.
    pub rubric: Rubric,
    /// Discard an existing plan and its ratings.
    pub replace: bool,
    /// Address the rating page will be served at, for the printed links.
    pub base_url: String,
    /// The content note raters read first; `None`: one naming the run's data sources.
    pub content_note: Option<String>,
    /// What the safety flag means and what to do on acute risk; `None`: the default.
    pub safety_note: Option<String>,
}

/// One rater's secret link: the only place their token is ever shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaterLink {
    /// The rater.
    pub rater_id: RaterId,
    /// The page URL with the token in its fragment (never sent to the server in a request line).
    pub url: String,
    /// Items in their queue, repeats included.
    pub items: usize,
}

/// What a plan made.
#[derive(Debug, Clone)]
pub struct PlanSummary {
    /// The store written.
    pub store: PathBuf,
    /// Responses to rate.
    pub responses: usize,
    /// Responses left out because generation failed (`finish_reason: error`).
    pub skipped_failed: usize,
    /// One link per rater.
    pub links: Vec<RaterLink>,
    /// The study lead's link to the live progress and agreement view.
    pub lead_url: String,
}

impl PlanOptions {
    /// Check the cross-flag rules.
    ///
    /// # Errors
    /// [`RatingError::Options`] naming the flag.
    pub fn validate(&self) -> Result<(), RatingError> {
        let distinct: BTreeSet<_> = self.raters.iter().collect();
        if self.raters.is_empty() || self.raters.iter().any(|r| r.as_str().trim().is_empty()) {
            return Err(RatingError::Options("--raters: give at least one non-empty rater id".into()));
        }
        if distinct.len() != self.raters.len() {
            return Err(RatingError::Options("--raters: a rater is listed twice".into()));
        }
        if self.per_response == 0 || self.per_response > self.raters.len() {
            return Err(RatingError::Options(format!(
                "--per-response: {} is not in 1..={} (the number of --raters)",
                self.per_response,
                self.raters.len()
            )));
        }
        if !(0.0..=MAX_REPEAT_SHARE).contains(&self.repeat_share) {
            return Err(RatingError::Options(format!(
                "--repeat-share: {} is not in 0..={MAX_REPEAT_SHARE}",
                self.repeat_share
            )));
        }
        Ok(())
    }
}

/// Plan a run's rating: read it, assign, write `ratings.sqlite`, return one link per rater.
///
/// # Errors
/// Bad options, unreadable or inconsistent run files (every problem listed), an existing plan
/// without `replace`, SQLite or OS random failures.
pub fn plan(options: &PlanOptions) -> Result<PlanSummary, RatingError> {
    options.validate()?;
    let RunContents { responses, skipped_failed, sources } = read_run(&options.run_dir)?;
    let run_id = responses
        .first()
        .map(|r| r.response.run_id.clone())
        .ok_or_else(|| RatingError::Options(format!(
            "{}: no responses to rate; run `mhbench generate` first",
            Run::at(&options.run_dir).responses_dir().display()
        )))?;
    let seed = match options.seed {
        Some(seed) => seed,
        None => u64::from_str_radix(&os_random_hex(8)?, 16)
            .map_err(|e| RatingError::Random(e.to_string()))?,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let by_model = indices_by_model(&responses);
    let assigned = assign(&by_model, options.raters.len(), options.per_response, &mut rng);
    let model_of: HashMap<usize, usize> = by_model
        .values()
        .enumerate()
        .flat_map(|(m, indices)| indices.iter().map(move |&i| (i, m)))
        .collect();
    let mut raters = Vec::new();
    let mut links = Vec::new();
    for (rater_id, indices) in options.raters.iter().zip(assigned) {
        let ordered = spread_by_model(indices, |i| model_of.get(&i).copied().unwrap_or(0), &mut rng);
        let queue = with_repeats(ordered, options.repeat_share, &mut rng);
        let items = queue
            .into_iter()
            .map(|(response_index, is_repeat)| {
                Ok(PlannedItem {
                    item_id: os_random_hex(ITEM_ID_BYTES)?,
                    response_index,
                    is_repeat,
                })
            })
            .collect::<Result<Vec<_>, RatingError>>()?;
        let token = os_random_hex(TOKEN_BYTES)?;
        links.push(RaterLink {
            rater_id: rater_id.clone(),
            url: rater_url(&options.base_url, &token),
            items: items.len(),
        });
        raters.push((rater_id.clone(), hash_token(&token), items));
    }
    let lead_token = os_random_hex(TOKEN_BYTES)?;
    let texts = PageTexts {
        content_note: options.content_note.clone().unwrap_or_else(|| texts::content_note(&sources)),
        safety_note: options.safety_note.clone().unwrap_or_else(|| texts::DEFAULT_SAFETY_NOTE.to_owned()),
    };
    let store = write_store(
        &store_path(&options.run_dir),
        options.replace,
        &StoredPlan {
            run_id,
            rubric: options.rubric.clone(),
            seed,
            texts,
            lead_token_hash: hash_token(&lead_token),
            responses,
            raters,
        },
    )?;
    Ok(PlanSummary {
        store,
        responses: model_of.len(),
        skipped_failed,
        links,
        lead_url: lead_url(&options.base_url, &lead_token),
    })
}

/// A rater's page link: the token rides in the fragment, which no request line carries.
pub fn rater_url(base_url: &str, token: &str) -> String {
    format!("{}/#token={token}", base_url.trim_end_matches('/'))
}

/// The study lead's link to the progress and agreement view.
pub fn lead_url(base_url: &str, token: &str) -> String {
    format!("{}/lead#token={token}", base_url.trim_end_matches('/'))
}

/// A fresh token and its link for `rater`, replacing their old token (which stops working);
/// no rating is touched. With `rater` `None`, the same for the study lead's link.
///
/// # Errors
/// An unknown rater; SQLite or OS random failures.
pub fn reissue(store: &mut RatingStore, rater: Option<&RaterId>, base_url: &str) -> Result<String, RatingError> {
    let token = os_random_hex(TOKEN_BYTES)?;
    match rater {
        Some(rater) => {
            if !store.reissue_token(rater, &hash_token(&token))? {
                return Err(RatingError::Options(format!("--rater: `{rater}` is not a rater of this plan")));
            }
            Ok(rater_url(base_url, &token))
        }
        None => {
            store.set_lead_token(&hash_token(&token))?;
            Ok(lead_url(base_url, &token))
        }
    }
}

fn write_store(path: &Path, replace: bool, plan: &StoredPlan) -> Result<PathBuf, RatingError> {
    if replace && path.is_file() {
        RatingStore::open_or_create(path)?.discard_plan()?;
    }
    let mut store = RatingStore::create(path)?;
    store.write_plan(plan)?;
    Ok(store.path().to_owned())
}

/// What a plan reads from a run folder.
struct RunContents {
    /// Rateable responses sorted by model then conversation.
    responses: Vec<StoredResponse>,
    /// Failed generations left out.
    skipped_failed: usize,
    /// Conversations per source, for the content note.
    sources: BTreeMap<Source, usize>,
}

/// The run's rateable replies ([`Run::replies`]) as stored responses sorted by model then
/// conversation, the count of failed generations left out, and its conversations per source.
fn read_run(run_dir: &Path) -> Result<RunContents, RatingError> {
    let run = Run::at(run_dir);
    let replies = run.replies()?;
    let mut sources = BTreeMap::new();
    for conversation in run.conversations()? {
        *sources.entry(conversation.source).or_insert(0) += 1;
    }
    let mut responses: Vec<StoredResponse> = replies
        .replies
        .into_iter()
        .map(|Reply { record, context }| StoredResponse {
            truncated: record.finish_reason == FinishReason::Length,
            response: ResponseRef { run_id: record.run_id, conversation_id: record.conversation_id, model_id: record.model_id },
            context,
            reply: record.text,
        })
        .collect();
    responses.sort_by(|a, b| a.response.cmp(&b.response));
    Ok(RunContents { responses, skipped_failed: replies.failed, sources })
}

fn indices_by_model(responses: &[StoredResponse]) -> BTreeMap<String, Vec<usize>> {
    let mut by_model: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in responses.iter().enumerate() {
        by_model.entry(r.response.model_id.to_string()).or_default().push(i);
    }
    by_model
}

/// Give each response `per_response` distinct raters out of `raters`. Within a model the
/// responses are shuffled and raters take consecutive turns round a circle, so each rater gets
/// the same share of each model, give or take one; the circle's start moves on between models
/// so the remainders spread too.
fn assign(
    by_model: &BTreeMap<String, Vec<usize>>,
    raters: usize,
    per_response: usize,
    rng: &mut StdRng,
) -> Vec<Vec<usize>> {
    let mut queues = vec![Vec::new(); raters];
    let mut turn = 0usize;
    for indices in by_model.values() {
        let mut shuffled = indices.clone();
        shuffled.shuffle(rng);
        for response in shuffled {
            for k in 0..per_response {
                if let Some(queue) = queues.get_mut((turn + k) % raters) {
                    queue.push(response);
                }
            }
            turn = (turn + per_response) % raters;
        }
    }
    queues
}

/// Order a queue randomly while spreading each model evenly through it: the j-th of a model's
/// n items (after a shuffle) sorts at `(j + u) / n` with `u` uniform in [0, 1).
fn spread_by_model(
    indices: Vec<usize>,
    model_of: impl Fn(usize) -> usize,
    rng: &mut StdRng,
) -> Vec<usize> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in indices {
        groups.entry(model_of(i)).or_default().push(i);
    }
    let mut keyed = Vec::new();
    for mut group in groups.into_values() {
        group.shuffle(rng);
        let n = group.len() as f64;
        for (j, i) in group.into_iter().enumerate() {
            keyed.push(((j as f64 + rng.random::<f64>()) / n, i));
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Fewest items between a first showing and its repeat in a queue of `n` first showings:
/// `max(MIN_REPEAT_GAP, ceil(n / 4))`.
pub fn repeat_gap(n: usize) -> usize {
    MIN_REPEAT_GAP.max(n.div_ceil(4))
}

/// Add `round(share × len)` repeats, each a random item shown again at a random later place
/// at least [`repeat_gap`] places after its first showing. Items are repeated only from where
/// the gap fits (the first `len - gap` places); when the queue is too short for that, repeats
/// go at the end, as far from their first showing as the queue allows.
fn with_repeats(queue: Vec<usize>, share: f64, rng: &mut StdRng) -> Vec<(usize, bool)> {
    let n = queue.len();
    let repeats = ((n as f64) * share).round() as usize;
    let gap = repeat_gap(n);
    let roomy = n.saturating_sub(gap);
    let mut places: Vec<usize> = (0..roomy).collect();
    places.shuffle(rng);
    let mut rest: Vec<usize> = (roomy..n).collect();
    rest.shuffle(rng);
    places.extend(rest);
    places.truncate(repeats);
    let mut out: Vec<(usize, bool)> = queue.into_iter().map(|i| (i, false)).collect();
    for place in places {
        let response = out.iter().filter(|(_, repeat)| !repeat).nth(place).map(|&(i, _)| i)
            .expect("invariant: places index the first showings");
        let original = out
            .iter()
            .position(|&(i, repeat)| i == response && !repeat)
            .expect("invariant: a repeat is chosen from the queue it repeats");
        let earliest = (original + gap).min(out.len());
        let at = rng.random_range(earliest..=out.len());
        out.insert(at, (response, true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models(counts: &[usize]) -> BTreeMap<String, Vec<usize>> {
        let mut next = 0;
        counts
            .iter()
            .enumerate()
            .map(|(m, &n)| {
                let ids = (next..next + n).collect();
                next += n;
                (format!("model-{m}"), ids)
            })
            .collect()
    }

    #[test]
    fn every_response_gets_distinct_raters() {
        let by_model = models(&[7, 5, 6]);
        let mut rng = StdRng::seed_from_u64(1);
        let queues = assign(&by_model, 3, 2, &mut rng);
        for response in 0..18 {
            let holders = queues.iter().filter(|q| q.contains(&response)).count();
            assert_eq!(holders, 2, "response {response}");
        }
        for q in &queues {
            let distinct: BTreeSet<_> = q.iter().collect();
            assert_eq!(distinct.len(), q.len(), "no response twice in one queue");
        }
    }

    #[test]
    fn each_rater_gets_a_balanced_share_of_each_model() {
        let by_model = models(&[10, 9, 11]);
        let mut rng = StdRng::seed_from_u64(7);
        let queues = assign(&by_model, 3, 1, &mut rng);
        for indices in by_model.values() {
            let shares: Vec<usize> = queues
                .iter()
                .map(|q| q.iter().filter(|i| indices.contains(i)).count())
                .collect();
            let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(max - min <= 1, "shares {shares:?}");
        }
    }

    #[test]
    fn queue_order_spreads_models_and_depends_on_seed() {
        // 3 models × 20: in every window of 15 consecutive items each model appears.
        let indices: Vec<usize> = (0..60).collect();
        let order = spread_by_model(indices.clone(), |i| i / 20, &mut StdRng::seed_from_u64(3));
        for window in order.windows(15) {
            let seen: BTreeSet<_> = window.iter().map(|i| i / 20).collect();
            assert_eq!(seen.len(), 3, "{window:?}");
        }
        let other = spread_by_model(indices, |i| i / 20, &mut StdRng::seed_from_u64(4));
        assert_ne!(order, other);
    }

    /// Places between each repeat and its first showing, in queue order.
    fn gaps(out: &[(usize, bool)]) -> Vec<usize> {
        out.iter()
            .enumerate()
            .filter(|(_, (_, r))| *r)
            .map(|(at, (response, _))| at - out.iter().position(|(i, r)| i == response && !r).unwrap())
            .collect()
    }

    #[test]
    fn the_gap_rule_is_max_five_or_a_quarter_of_the_queue() {
        assert_eq!([repeat_gap(3), repeat_gap(20), repeat_gap(21), repeat_gap(40), repeat_gap(101)], [5, 5, 6, 10, 26]);
    }

    #[test]
    fn repeats_keep_the_gap_for_every_seed_and_share() {
        for (n, share) in [(12, 0.5), (20, 0.05), (40, 0.1), (40, 0.5), (101, 0.3)] {
            for seed in 0..50 {
                let out = with_repeats((0..n).collect(), share, &mut StdRng::seed_from_u64(seed));
                let gaps = gaps(&out);
                assert_eq!(gaps.len(), ((n as f64) * share).round() as usize);
                let min = gaps.iter().min().copied().unwrap_or(usize::MAX);
                assert!(min >= repeat_gap(n), "n {n}, share {share}, seed {seed}: gaps {gaps:?}");
            }
        }
    }

    #[test]
    fn a_queue_shorter_than_the_gap_puts_repeats_last() {
        let out = with_repeats((0..4).collect(), 0.5, &mut StdRng::seed_from_u64(9));
        assert_eq!(out.len(), 6);
        assert!(out[4].1 && out[5].1, "{out:?}");
        assert!(out[..4].iter().all(|(_, r)| !r));
    }

    #[test]
    fn rejects_per_response_above_rater_count() {
        let options = PlanOptions {
            run_dir: PathBuf::from("x"),
            raters: vec!["alice".into(), "bob".into()],
            per_response: 3,
            seed: None,
            repeat_share: 0.0,
            rubric: Rubric::load(Path::new(crate::rubric::DEFAULT_RUBRIC)).unwrap(),
            replace: false,
            base_url: String::new(),
            content_note: None,
            safety_note: None,
        };
        let err = options.validate().unwrap_err().to_string();
        assert_eq!(err, "--per-response: 3 is not in 1..=2 (the number of --raters)");
    }
}
