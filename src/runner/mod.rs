//! The generation run: a data set and a list of models in, a response set out.
//!
//! `runner::open` is the one place that matches on a model's kind; after it, every model is a
//! `Box<dyn Generator>`. A run writes `results/<run>/`:
//! - `manifest.json` (atomically; see [`manifest`]),
//! - `conversations.jsonl` (the data set it answered, so later stages need nothing else),
//! - `responses/<model_id>.jsonl` (append-only, each reply written and fsynced as it finishes,
//!   in order of completion; see [`store`]).
//!
//! Running the same command again resumes: pairs answered in this run by this model are
//! skipped, failed replies are asked again (unless `--keep-failed`) (keyed by run, conversation and model; another run's records are refused), a torn
//! last line is repaired, and a change of settings is refused by name unless `new_run` moves the old run
//! aside. Shards (`--shard K/N`) split the conversations by a hash of their ids; [`merge`] joins
//! shard folders back into one run.

pub mod manifest;
pub mod merge;
mod open;
pub mod params;
pub mod plan;
mod progress;
pub mod prompt;
pub mod shard;
pub mod store;

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;

use crate::files;
use crate::run::Run;
use crate::registry::{ModelSpec, Weights};
use crate::schema::{
    Conversation, DatasetInfo, FinishReason, GenerationParams, GenerationReply, GenerationRequest,
    ModelRunInfo, ResponseRecord, RunId, RunManifest, Shard,
};

pub use open::{open, OpenOptions};
pub use prompt::Prompt;

/// Everything a generation run needs, validated.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// JSONL of `Conversation` records.
    pub dataset: PathBuf,
    /// Models to run, in order.
    pub models: Vec<ModelSpec>,
    /// Run folder.
    pub out: PathBuf,
    /// Run id written into every record.
    pub run_id: RunId,
    /// Sampling settings.
    pub params: GenerationParams,
    /// The prompt.
    pub prompt: Prompt,
    /// Conversations in flight (local) or per window (API); `None` lets each generator choose.
    pub batch_size: Option<usize>,
    /// Send fixed batches that wait for their slowest reply instead of refilling each finished
    /// slot at once (the pre-continuous behaviour, for comparisons; replies are the same).
    pub static_batches: bool,
    /// How to open models.
    pub open: OpenOptions,
    /// Only this shard's conversations.
    pub shard: Option<Shard>,
    /// Move an existing run with other settings aside instead of refusing.
    pub new_run: bool,
    /// What a rerun does with replies recorded as failed (by default: asks again).
    pub failed: store::FailedReplies,
    /// Draw progress bars (else periodic log lines).
    pub show_progress: bool,
}

/// How one model's part of a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutcome {
    /// Model id.
    pub model_id: String,
    /// Records written in this invocation.
    pub written: usize,
    /// Records already present from earlier invocations.
    pub resumed: usize,
    /// Records of this invocation with `finish_reason: error`.
    pub errors: usize,
    /// Failed replies of earlier invocations dropped to be asked again.
    pub retried: usize,
    /// Completion tokens generated in this invocation.
    pub completion_tokens: u64,
    /// Wall-clock seconds spent generating.
    pub seconds: f64,
    /// Why the model stopped early, if it did.
    pub fatal: Option<String>,
}

impl ModelOutcome {
    /// Completion tokens per wall-clock second in this invocation.
    pub fn tokens_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.completion_tokens as f64 / self.seconds } else { 0.0 }
    }
}

/// The line `generate` prints for the model: what it wrote and how fast, or why it stopped.
impl std::fmt::Display for ModelOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fatal {
            Some(reason) => write!(f, "{}: stopped after {} new replies: {reason}", self.model_id, self.written),
            None => write!(
                f,
                "{}: {} new replies ({} resumed, {} failed, {} earlier failures retried), {} tokens in {:.1} s = {:.1} tok/s",
                self.model_id,
                self.written,
                self.resumed,
                self.errors,
                self.retried,
                self.completion_tokens,
                self.seconds,
                self.tokens_per_second()
            ),
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The run folder.
    pub out: PathBuf,
    /// Per model, in order.
    pub models: Vec<ModelOutcome>,
}

impl RunSummary {
    /// Whether every pair has a record and none failed.
    pub fn is_clean(&self) -> bool {
        self.models.iter().all(|m| m.errors == 0 && m.fatal.is_none())
    }
}

/// Run (or resume) a generation run.
///
/// # Errors
/// Bad data set or prompt, a run folder with other settings (without `new_run`), or I/O
/// failure. A model that cannot go on (bad key, missing weights) is not an error here: it is
/// reported in its [`ModelOutcome`] and the other models run.
pub fn generate(options: &GenerateOptions) -> anyhow::Result<RunSummary> {
    let conversations = load_dataset(&options.dataset)?;
    let selected = in_shard(&conversations, options.shard);
    // One writer per run folder, held to the end of the run (released by the OS however the
    // process ends).
    let mut lock = Run::at(&options.out).lock(LOCK_COMMAND)?;
    let mut manifest = prepare_run_folder(options, &conversations, &mut lock)?;
    manifest::write(&options.out, &manifest)?;
    files::write_jsonl(&Run::at(&options.out).conversations_path(), &conversations)?;
    let mut outcomes = Vec::new();
    for spec in &options.models {
        let outcome = run_model(options, spec, &selected, &mut manifest)?;
        outcomes.push(outcome);
    }
    Ok(RunSummary { out: options.out.clone(), models: outcomes })
}

/// The plan of a run without running it: pending requests, tokens and API cost per model.
///
/// # Errors
/// Bad data set or unreadable response files.
pub fn dry_run(options: &GenerateOptions) -> anyhow::Result<Vec<plan::ModelPlan>> {
    let conversations = load_dataset(&options.dataset)?;
    let selected = in_shard(&conversations, options.shard);
    options
        .models
        .iter()
        .map(|spec| {
            let path = Run::at(&options.out).response_file(spec.id().as_str());
            let answered = store::answered(&path, &options.run_id, options.failed)?;
            let pending: Vec<&Conversation> = selected
                .iter()
                .copied()
                .filter(|c| {
                    let pair = store::PairKey { run: options.run_id.clone(), conversation: c.id.clone(), model: spec.id().clone() };
                    !answered.contains(&pair)
                })
                .collect();
            Ok(plan::plan_model(spec, &options.prompt, &pending, options.params.max_new_tokens))
        })
        .collect()
}

/// The conversations of `shard`, or all of them.
fn in_shard(conversations: &[Conversation], shard: Option<Shard>) -> Vec<&Conversation> {
    conversations.iter().filter(|c| shard.is_none_or(|s| s.contains(&c.id))).collect()
}

/// Read a data set of conversations, refusing duplicate ids.
///
/// # Errors
/// Unreadable file, invalid lines, or a repeated id (each with its line).
pub fn load_dataset(path: &Path) -> anyhow::Result<Vec<Conversation>> {
    let conversations: Vec<Conversation> = crate::dataset::validate::read_set(path)?;
    let mut seen = BTreeSet::new();
    let mut errors = files::ErrorList::default();
    for (i, conversation) in conversations.iter().enumerate() {
        if !seen.insert(&conversation.id) {
            errors.add(path, None, format!("record {}: id: duplicate conversation id `{}`", i + 1, conversation.id));
        }
    }
    errors.into_result(())?;
    if conversations.is_empty() {
        bail!("{}: no conversations", path.display());
    }
    Ok(conversations)
}

/// Who holds a run folder's lock while `generate` writes it.
const LOCK_COMMAND: &str = "generate";

/// The manifest to run under: the folder's own when it matches the settings, else a fresh one
/// (with `new_run`, after moving the old folder aside and locking the new one in `lock`).
fn prepare_run_folder(
    options: &GenerateOptions,
    conversations: &[Conversation],
    lock: &mut crate::run::lock::RunLock,
) -> anyhow::Result<RunManifest> {
    let fresh = RunManifest {
        schema_version: crate::schema::SCHEMA_VERSION,
        run_id: options.run_id.clone(),
        mhbench_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: manifest::git_commit(),
        created_at: Utc::now(),
        dataset: DatasetInfo {
            path: options.dataset.display().to_string(),
            sha256: files::sha256_file(&options.dataset)?,
            conversations: conversations.len(),
        },
        prompt_id: options.prompt.id.clone(),
        prompt_sha256: options.prompt.sha256.clone(),
        params: options.params.clone(),
        shard: options.shard,
        merged_from: Vec::new(),
        models: Default::default(),
    };
    let Some(existing) = manifest::read(&options.out)? else {
        return Ok(fresh);
    };
    let differences = manifest::differences(&existing, &fresh);
    if differences.is_empty() {
        return Ok(existing);
    }
    if !options.new_run {
        bail!(
            "{} holds a run with other settings:\n  {}\nrerun with the same settings to resume it, or pass --new-run to move it aside and start again",
            options.out.display(),
            differences.join("\n  ")
        );
    }
    let aside = PathBuf::from(format!("{}.replaced-{}", options.out.display(), Utc::now().format("%Y%m%dT%H%M%S")));
    std::fs::rename(&options.out, &aside)
        .with_context(|| format!("moving the old run {} aside to {}", options.out.display(), aside.display()))?;
    tracing::warn!("moved the earlier run with other settings to {}", aside.display());
    // The held lock moved aside with the old folder; lock the new one before letting go of it.
    *lock = Run::at(&options.out).lock(LOCK_COMMAND)?;
    Ok(fresh)
}

fn run_model(
    options: &GenerateOptions,
    spec: &ModelSpec,
    conversations: &[&Conversation],
    manifest: &mut RunManifest,
) -> anyhow::Result<ModelOutcome> {
    let model_id = spec.id().clone();
    let path = Run::at(&options.out).response_file(model_id.as_str());
    let (mut file, repair) = store::ResponseFile::open(&path, &options.run_id, options.failed)?;
    if repair.torn_bytes > 0 {
        tracing::warn!("{}: cut a torn last line of {} bytes left by an interrupted run", path.display(), repair.torn_bytes);
    }
    if repair.failed_dropped > 0 {
        tracing::info!("{}: asking again for {} replies that failed before (--keep-failed keeps them)", path.display(), repair.failed_dropped);
    }
    if repair.newline_added {
        tracing::warn!("{}: kept a complete last record that lacked its newline", path.display());
    }
    let pending: Vec<&Conversation> = conversations.iter().copied().filter(|c| !file.is_answered(&c.id, &model_id)).collect();
    let mut outcome = ModelOutcome {
        model_id: model_id.to_string(),
        written: 0,
        resumed: conversations.len() - pending.len(),
        errors: 0,
        retried: repair.failed_dropped,
        completion_tokens: 0,
        seconds: 0.0,
        fatal: None,
    };
    if pending.is_empty() {
        return Ok(outcome);
    }
    // Reset before the model loads, so its peak memory is its own.
    let measure_peak = matches!(spec, ModelSpec::Local(_)) && crate::bench::memory::reset_peak();
    let mut generator = match open(spec, &options.open) {
        Ok(generator) => generator,
        Err(error) => {
            outcome.fatal = Some(format!("{error:#}"));
            return Ok(outcome);
        }
    };
    record_model(manifest, spec, generator.as_ref(), &options.out)?;
    let batch_size = options.batch_size.unwrap_or_else(|| generator.preferred_batch_size()).max(1);
    let mut progress = progress::ModelProgress::new(model_id.as_str(), pending.len(), options.show_progress);
    let info = generator.info();
    let started = Instant::now();
    let requests = options.prompt.requests(pending.iter().copied(), &options.params);
    let mut failure = None;
    let mut on_reply = |i: usize, reply: GenerationReply| -> ControlFlow<()> {
        match store_reply(options, &info, &mut file, requests.get(i), reply) {
            Ok(record) => {
                let tokens = record.usage.map_or(0, |u| u64::from(u.completion_tokens));
                outcome.written += 1;
                outcome.errors += usize::from(record.finish_reason == FinishReason::Error);
                outcome.completion_tokens += tokens;
                progress.advance(tokens);
                ControlFlow::Continue(())
            }
            Err(error) => {
                failure = Some(error);
                ControlFlow::Break(())
            }
        }
    };
    let result = if options.static_batches {
        crate::schema::generate_in_batches(generator.as_mut(), &requests, batch_size, &mut on_reply)
    } else {
        generator.generate_each(&requests, batch_size, &mut on_reply)
    };
    if let Some(error) = failure {
        return Err(error);
    }
    if let Err(fatal) = result {
        outcome.fatal = Some(fatal.to_string());
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    progress.finish();
    if measure_peak {
        manifest::record_peak_rss(&options.out, manifest, &model_id, crate::bench::memory::peak_rss_bytes())?;
    }
    Ok(outcome)
}

/// Appends one reply's record durably (one write and an fsync), as soon as it arrives.
fn store_reply(
    options: &GenerateOptions,
    info: &crate::schema::GeneratorInfo,
    file: &mut store::ResponseFile,
    request: Option<&GenerationRequest>,
    reply: GenerationReply,
) -> anyhow::Result<ResponseRecord> {
    let request = request.context("invariant: the generator answered a request it was not given")?;
    let record = to_record(options, info, request.clone(), reply);
    file.append(std::slice::from_ref(&record))?;
    Ok(record)
}

fn record_model(
    manifest: &mut RunManifest,
    spec: &ModelSpec,
    generator: &dyn crate::schema::Generator,
    out: &Path,
) -> anyhow::Result<()> {
    let info = generator.info();
    let revision = match spec {
        ModelSpec::Local(local) => match &local.weights {
            Weights::Gguf { repo, revision, file, .. } => format!("{repo}@{revision}/{file}"),
            Weights::Safetensors { repo, revision, .. } => format!("{repo}@{revision}"),
        },
        ModelSpec::Api(api) => api.model.clone(),
    };
    let current = ModelRunInfo {
        kind: info.kind,
        provider: info.provider,
        device: info.device,
        revision,
        provenance: generator.provenance(),
        peak_rss_bytes: manifest.models.get(spec.id()).and_then(|m| m.peak_rss_bytes),
    };
    if let Some(previous) = manifest.models.get(spec.id()) {
        let differences = manifest::model_differences(spec.id().as_str(), previous, &current);
        if !differences.is_empty() {
            bail!(
                "{} was started with another build of this model:\n  {}\nrestore it, or pass --new-run",
                out.display(),
                differences.join("\n  ")
            );
        }
    }
    manifest.models.insert(spec.id().clone(), current);
    manifest::write(out, manifest)?;
    Ok(())
}

fn to_record(
    options: &GenerateOptions,
    info: &crate::schema::GeneratorInfo,
    request: GenerationRequest,
    reply: GenerationReply,
) -> ResponseRecord {
    ResponseRecord {
        schema_version: crate::schema::SCHEMA_VERSION,
        run_id: options.run_id.clone(),
        conversation_id: request.conversation_id,
        model_id: info.model_id.clone(),
        provider: info.provider.clone(),
        kind: info.kind,
        prompt: options.prompt.info(request.messages),
        params: request.params,
        text: reply.text,
        raw_text: reply.raw_text,
        finish_reason: reply.finish_reason,
        usage: reply.usage,
        timings: reply.timings,
        device: info.device.clone(),
        batch_size: reply.batch_size,
        provider_model_version: reply.provider_model_version,
        request_id: reply.request_id,
        created_at: Utc::now(),
        error: reply.error,
    }
}
