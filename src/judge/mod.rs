//! LLM-as-judge: any registered model, local or API, rates a run's replies on the experts' rubric.
//!
//! Reads `results/<run>/conversations.jsonl` and `responses/*.jsonl`, asks the judge for strict
//! JSON (see [`parse`]), sends one repair request when the answer is unusable, and stores
//! `Rating { rater_kind: Llm, rater_id: "llm:<judge model id>" }` records, parse failures
//! included, in the run's rating store (`results/<run>/ratings.sqlite`, beside the experts'
//! ratings but in a table the rating page never reads; see [`crate::rating::store`]). That
//! store is the one source of truth for judge ratings: each batch is committed in one
//! transaction keyed on (reply, judge), so a killed judge resumes without losing or repeating a
//! rating. By default a judge skips its own model's replies (self-preference; the one rule is
//! [`SelfJudging`], which can widen it to the judge's whole vendor).
//! How far to trust a judge is `analysis`'s job (judge vs human).

pub mod parse;
pub mod prompt;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use crate::rating::store::RatingStore;
use crate::registry::{ModelSpec, Registry, SelfJudging};
use crate::rubric::Rubric;
use crate::run::{Replies, Reply, Run};
use crate::runner::{self, OpenOptions};
use crate::schema::{
    ChatMessage, FinishReason, GenerationParams, GenerationRequest, Generator,
    RaterId, RaterKind, Rating, RatingStatus, ResponseRecord, ResponseRef, Role,
};

pub use prompt::JudgePrompt;

/// A judging job, validated.
#[derive(Debug, Clone)]
pub struct JudgeOptions {
    /// Run folder whose replies are rated.
    pub run_dir: PathBuf,
    /// The judge model.
    pub judge: ModelSpec,
    /// The registry, to know each rated model's vendor.
    pub registry: Registry,
    /// The rubric.
    pub rubric: Rubric,
    /// The judge prompt.
    pub prompt: JudgePrompt,
    /// The judge's sampling settings (temperature 0 by default).
    pub params: GenerationParams,
    /// Which replies the judge leaves out as its own ([`SelfJudging`]); `None` rates them all.
    pub self_judging: Option<SelfJudging>,
    /// Requests per `generate` call; `None` lets the judge choose.
    pub batch_size: Option<usize>,
    /// How to open the judge.
    pub open: OpenOptions,
    /// Draw a progress bar.
    pub show_progress: bool,
}

/// What a judging job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JudgeSummary {
    /// The rating store the ratings went to.
    pub path: PathBuf,
    /// Ratings written now with scores.
    pub rated: usize,
    /// Ratings written now as parse failures.
    pub parse_failures: usize,
    /// Of the rated, how many needed the repair request.
    pub repaired: usize,
    /// Replies already rated by this judge in an earlier invocation.
    pub resumed: usize,
    /// Replies skipped as the judge's own ([`SelfJudging`]).
    pub skipped_own: usize,
    /// Replies skipped because generation had failed (nothing to rate).
    pub skipped_failed_replies: usize,
    /// Why the judge stopped early, if it did.
    pub fatal: Option<String>,
}

impl JudgeSummary {
    /// Whether the judge finished and every answer parsed.
    pub fn is_clean(&self) -> bool {
        self.fatal.is_none() && self.parse_failures == 0
    }
}

/// What `judge` prints: the counts, then why it stopped early if it did.
impl std::fmt::Display for JudgeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} rated, {} parse failures ({} needed the repair request), {} resumed, {} skipped (own), {} skipped (failed replies)",
            self.rated, self.parse_failures, self.repaired, self.resumed, self.skipped_own, self.skipped_failed_replies
        )?;
        match &self.fatal {
            Some(reason) => writeln!(f, "stopped early: {reason}"),
            None => Ok(()),
        }
    }
}

/// A reply waiting for a verdict.
struct Item<'a> {
    response: &'a ResponseRecord,
    messages: Vec<ChatMessage>,
}

/// Rate every reply of a run with one judge, resuming earlier work.
///
/// # Errors
/// A run folder without conversations or responses, unreadable files, or a log write failure.
/// A judge that cannot go on (bad key) ends the job early with `fatal` set.
pub fn judge(options: &JudgeOptions) -> anyhow::Result<JudgeSummary> {
    let run = Run::at(&options.run_dir);
    let replies = load_replies(&run)?;
    let judge_id = options.judge.id().to_string();
    let path = run.store_path();
    let mut store = RatingStore::open_or_create(&path)?;
    let judged = store.judged_replies(&rater_id(&judge_id))?;
    let mut summary = JudgeSummary { path: path.clone(), skipped_failed_replies: replies.failed, ..JudgeSummary::default() };
    let mut items = Vec::new();
    for Reply { record: response, context } in &replies.replies {
        if options.self_judging.is_some_and(|scope| options.registry.is_self(scope, &options.judge, response.model_id.as_str())) {
            summary.skipped_own += 1;
        } else if judged.contains(&(response.model_id.clone(), response.conversation_id.clone())) {
            summary.resumed += 1;
        } else {
            let messages = options.prompt.first_turn(&options.rubric, context, &response.text).map_err(anyhow::Error::msg)?;
            items.push(Item { response, messages });
        }
    }
    if items.is_empty() {
        return Ok(summary);
    }
    let mut generator = runner::open(&options.judge, &options.open)?;
    let batch_size = options.batch_size.unwrap_or_else(|| generator.preferred_batch_size()).max(1);
    let bar = progress_bar(items.len(), options.show_progress);
    for batch in items.chunks(batch_size) {
        match judge_batch(options, generator.as_mut(), batch, &judge_id) {
            Ok(ratings) => {
                for rating in &ratings {
                    match rating.status {
                        RatingStatus::Complete => summary.rated += 1,
                        RatingStatus::ParseFailure => summary.parse_failures += 1,
                        RatingStatus::CannotRate => {}
                    }
                }
                summary.repaired += ratings.iter().filter(|r| r.status == RatingStatus::Complete && r.raw_output.is_some()).count();
                store.add_judge_ratings(&ratings)?;
                if let Some(bar) = &bar {
                    bar.inc(ratings.len() as u64);
                }
            }
            Err(fatal) => {
                summary.fatal = Some(fatal);
                break;
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(summary)
}

/// Ask for verdicts on a batch, repair the unusable ones once, and build the ratings.
/// `Err` carries a fatal generator error.
fn judge_batch(options: &JudgeOptions, generator: &mut dyn Generator, batch: &[Item<'_>], judge_id: &str) -> Result<Vec<Rating>, String> {
    let requests: Vec<GenerationRequest> = batch.iter().map(|item| request(options, item, item.messages.clone())).collect();
    let replies = generator.generate(&requests).map_err(|e| e.to_string())?;
    let mut outcomes: Vec<Outcome> = replies
        .iter()
        .map(|reply| match reply.finish_reason {
            FinishReason::Error => Outcome::Failed(reply.text.clone(), reply.error.clone().unwrap_or_default()),
            _ => match parse::parse_verdict(&reply.text, &options.rubric) {
                Ok(verdict) => Outcome::Parsed(verdict, None),
                Err(reason) => Outcome::Failed(reply.text.clone(), reason),
            },
        })
        .collect();
    let retry: Vec<usize> = outcomes.iter().enumerate().filter(|(_, o)| matches!(o, Outcome::Failed(..))).map(|(i, _)| i).collect();
    if !retry.is_empty() {
        let mut repair_requests = Vec::new();
        for &i in &retry {
            let Outcome::Failed(raw, reason) = &outcomes[i] else { continue };
            let mut messages = batch[i].messages.clone();
            messages.push(ChatMessage { role: Role::Assistant, content: raw.clone() });
            messages.push(options.prompt.repair_turn(&options.rubric, reason)?);
            repair_requests.push(request(options, &batch[i], messages));
        }
        let repaired = generator.generate(&repair_requests).map_err(|e| e.to_string())?;
        for (&i, reply) in retry.iter().zip(&repaired) {
            let Outcome::Failed(first_raw, _) = &outcomes[i] else { continue };
            let both = format!("{first_raw}\n--- after repair request ---\n{}", reply.text);
            outcomes[i] = match parse::parse_verdict(&reply.text, &options.rubric) {
                Ok(verdict) => Outcome::Parsed(verdict, Some(both)),
                Err(reason) => Outcome::Failed(both, reason),
            };
        }
    }
    Ok(batch.iter().zip(outcomes).map(|(item, outcome)| rating(options, item.response, outcome, judge_id)).collect())
}

/// A judge's answer after at most one repair.
enum Outcome {
    /// Scores, and the raw exchange when a repair was needed.
    Parsed(parse::Verdict, Option<String>),
    /// Raw text and the reason it was unusable.
    Failed(String, String),
}

fn request(options: &JudgeOptions, item: &Item<'_>, messages: Vec<ChatMessage>) -> GenerationRequest {
    GenerationRequest { conversation_id: item.response.conversation_id.clone(), messages, params: options.params.clone() }
}

fn rating(options: &JudgeOptions, response: &ResponseRecord, outcome: Outcome, judge_id: &str) -> Rating {
    let (status, scores, comment, raw_output) = match outcome {
        Outcome::Parsed(verdict, raw) => (RatingStatus::Complete, verdict.scores, verdict.rationale, raw),
        Outcome::Failed(raw, reason) => (RatingStatus::ParseFailure, BTreeMap::new(), Some(reason), Some(raw)),
    };
    Rating {
        schema_version: crate::schema::SCHEMA_VERSION,
        response: ResponseRef {
            run_id: response.run_id.clone(),
            conversation_id: response.conversation_id.clone(),
            model_id: response.model_id.clone(),
        },
        rater_id: rater_id(judge_id),
        rater_kind: RaterKind::Llm,
        rubric_version: options.rubric.version.clone(),
        status,
        scores,
        comment,
        safety_flag: false,
        raw_output,
        judge_params: Some(options.params.clone()),
        created_at: Utc::now(),
    }
}

/// The rater id of judge model `judge_id`: `llm:<judge_id>`, as `analyze` names judges.
pub fn rater_id(judge_id: &str) -> RaterId {
    RaterId(format!("llm:{judge_id}"))
}

/// The run's rateable replies; a run without responses is refused by name.
fn load_replies(run: &Run) -> anyhow::Result<Replies> {
    if !run.responses_dir().is_dir() {
        anyhow::bail!("{}: no responses; run `mhbench generate` first", run.responses_dir().display());
    }
    run.replies().with_context(|| format!("{} is not a run folder with conversations", run.dir().display()))
}

fn progress_bar(len: usize, show: bool) -> Option<indicatif::ProgressBar> {
    show.then(|| {
        let bar = indicatif::ProgressBar::new(len as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("judging [{bar:30}] {pos}/{len} ETA {eta}")
                .expect("invariant: template is valid")
                .progress_chars("=> "),
        );
        bar
    })
}
