//! The dataset mode: a data set answered exactly as `mhbench generate` answers it (the model
//! opened by `runner::open`, the run's prompt file and sampling settings,
//! `Generator::generate_each` with `--batch` conversations in flight), but timed instead of
//! written.
//!
//! Per batch size it reports end-to-end completion tokens per second of a whole pass (one sample
//! per repetition), and over every reply of the timed passes: time to first token (the engine's
//! `ttft_ms`, from the reply's admission into a batch slot) and per-token latency (each reply's
//! decode time divided by its tokens after the first; the `Generator` reports no finer timings). Peak memory
//! covers the whole pass: prefill and decode interleave inside `generate`.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::engine::models::{gguf_vocab_size, CommonConfig};
use crate::engine::weights::GgufFile;
use crate::runner::{self, OpenOptions, Prompt};
use crate::schema::{Conversation, GenerationParams, GenerationReply, GenerationRequest, Generator};

use super::memory::{self, KvShape};
use super::record::{BenchRecord, MemoryReport, TestKind};
use super::stats::Summary;
use super::BenchOptions;

/// What the dataset mode answers and how.
#[derive(Debug, Clone)]
pub struct DatasetOptions {
    /// JSONL of `Conversation` records.
    pub dataset: PathBuf,
    /// The prompt file turning a conversation into messages.
    pub prompt: Prompt,
    /// Sampling settings, as `generate` would use them.
    pub params: GenerationParams,
    /// How `runner::open` finds and opens the model.
    pub open: OpenOptions,
}

/// Timings gathered over one or more passes.
#[derive(Default)]
struct PassTimings {
    tokens: u64,
    prompt_tokens: u64,
    replies: u64,
    ttft_ms: Vec<f64>,
    token_latency_ms: Vec<f64>,
    longest_columns: usize,
    longest_batch: usize,
}

/// Opens the model through the runner and times every batch size.
///
/// # Errors
/// A registry entry missing (a GGUF path has no prompt template or tokenizer settings), an
/// unreadable data set, a model that fails to open, or a reply that failed.
pub fn run(options: &BenchOptions, dataset: &DatasetOptions) -> anyhow::Result<Vec<BenchRecord>> {
    let spec = options.model.spec.as_ref().with_context(|| {
        format!("--dataset: needs a registry model id, not a file ({})", options.model.weights.display())
    })?;
    let conversations = runner::load_dataset(&dataset.dataset)?;
    let kv = kv_shape(&options.model.weights)?;
    memory::reset_peak();
    let mut generator = runner::open(spec, &dataset.open)?;
    let after_load = memory::current_rss_bytes();
    let bar = super::progress_bar(options.batches.len() * (options.warmup + options.repetitions), options.show_progress);
    let mut records = Vec::new();
    for &batch in &options.batches {
        bar.set_message(format!("dataset x{batch}"));
        let mut samples = Vec::new();
        let mut timed = PassTimings::default();
        let mut memory = MemoryReport { after_load_rss_bytes: after_load, peak_per_phase: true, ..MemoryReport::default() };
        for pass in 0..options.warmup + options.repetitions {
            memory.peak_per_phase &= memory::reset_peak();
            let started = Instant::now();
            let timings = answer_all(generator.as_mut(), &conversations, dataset, batch)?;
            let seconds = started.elapsed().as_secs_f64();
            bar.inc(1);
            if pass < options.warmup {
                continue;
            }
            samples.push(timings.tokens as f64 / seconds);
            memory.decode_peak_rss_bytes = memory::peak_rss_bytes().max(memory.decode_peak_rss_bytes);
            timed.absorb(timings);
        }
        if options.device.starts_with("cuda") {
            memory.device_bytes = memory::cuda_process_bytes();
        }
        memory.kv_cache_bytes = kv.bytes(timed.longest_columns, timed.longest_batch);
        records.push(record(batch, samples, timed, memory)?);
    }
    bar.finish_and_clear();
    Ok(records)
}

/// The KV shape from the GGUF header (the generator keeps its model private).
fn kv_shape(weights: &std::path::Path) -> anyhow::Result<KvShape> {
    let file = GgufFile::open(weights)?;
    let arch = file.architecture()?;
    let common = CommonConfig::from_gguf(&file.metadata(&arch), gguf_vocab_size(&file)?)?;
    Ok(KvShape::of_common(&common))
}

/// One pass over the data set with `batch` conversations in flight, as the runner sends them.
fn answer_all(
    generator: &mut dyn Generator,
    conversations: &[Conversation],
    dataset: &DatasetOptions,
    batch: usize,
) -> anyhow::Result<PassTimings> {
    let mut timings = PassTimings::default();
    let requests = dataset.prompt.requests(conversations, &dataset.params);
    let in_flight = batch.max(1).min(requests.len());
    let mut failure = None;
    let mut on_reply = |i: usize, reply: GenerationReply| {
        let added = requests.get(i).context("invariant: a reply to a request not sent")
            .and_then(|request| timings.add(request, &reply, in_flight));
        match added {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    };
    generator.generate_each(&requests, batch.max(1), &mut on_reply).map_err(|e| anyhow::anyhow!("{e}"))?;
    match failure {
        Some(e) => Err(e),
        None => Ok(timings),
    }
}

impl PassTimings {
    fn add(&mut self, request: &GenerationRequest, reply: &GenerationReply, batch: usize) -> anyhow::Result<()> {
        if let Some(error) = &reply.error {
            anyhow::bail!("{}: generation failed: {error}", request.conversation_id);
        }
        let usage = reply.usage.with_context(|| format!("{}: the engine reported no token usage", request.conversation_id))?;
        let completion = u64::from(usage.completion_tokens);
        self.tokens += completion;
        self.prompt_tokens += u64::from(usage.prompt_tokens);
        self.replies += 1;
        if let Some(ttft) = reply.timings.ttft_ms {
            self.ttft_ms.push(ttft);
        }
        if let (Some(decode), true) = (reply.timings.decode_ms, completion > 1) {
            self.token_latency_ms.push(decode / (completion - 1) as f64);
        }
        let columns = (usage.prompt_tokens + usage.completion_tokens) as usize;
        if columns * batch > self.longest_columns * self.longest_batch {
            self.longest_columns = columns;
            self.longest_batch = batch;
        }
        Ok(())
    }

    fn absorb(&mut self, other: PassTimings) {
        self.tokens += other.tokens;
        self.prompt_tokens += other.prompt_tokens;
        self.replies += other.replies;
        self.ttft_ms.extend(other.ttft_ms);
        self.token_latency_ms.extend(other.token_latency_ms);
        if other.longest_columns * other.longest_batch > self.longest_columns * self.longest_batch {
            self.longest_columns = other.longest_columns;
            self.longest_batch = other.longest_batch;
        }
    }
}

fn record(batch: usize, samples: Vec<f64>, timed: PassTimings, memory: MemoryReport) -> anyhow::Result<BenchRecord> {
    let tok_per_s = Summary::of(&samples).context("invariant: repetitions >= 1")?;
    let passes = samples.len().max(1) as u64;
    Ok(BenchRecord {
        test: TestKind::Dataset,
        batch,
        n_prompt: (timed.prompt_tokens / timed.replies.max(1)) as usize,
        n_gen: (timed.tokens / passes) as usize,
        depth: 0,
        per_sequence_tok_per_s: tok_per_s.mean / batch as f64,
        samples_tok_per_s: samples,
        tok_per_s,
        ttft_ms: Summary::of(&timed.ttft_ms),
        token_latency_ms: Summary::of(&timed.token_latency_ms),
        memory,
        decode_bytes_per_token: None,
        bound_tok_per_s: None,
    })
}
