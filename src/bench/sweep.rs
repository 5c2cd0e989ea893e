//! The pp/tg sweep: for every context depth and batch size, prompt processing of `pp` tokens per
//! row and text generation of `tg` tokens per row, on a `decoder::Model` loaded once.
//!
//! - pp: pre-fill `depth` ids (untimed), then time the forward pass over the next `pp` ids of
//!   every row; tokens/s = batch × pp / seconds.
//! - tg: pre-fill `depth` ids (untimed), then time `tg` single-column steps, each feeding the
//!   previous step's argmax (the first step feeds the id after the depth); EOS is not special;
//!   tokens/s = batch × tg / seconds.
//!
//! Every row gets the same ids (as llama-batched-bench does); the KV cache is cleared before
//! every run. Peak memory is reset before the pre-fill and again before the decode steps, so the
//! two phases are measured apart where the kernel allows it.

use std::time::Instant;

use anyhow::Context;
use candle_core::{Tensor, D};
use indicatif::ProgressBar;

use crate::engine::decoder::Model;
use crate::engine::generate::{self, GenerateOptions, GenerationInput};
use crate::engine::gguf::Gguf;
use crate::engine::layers::RowPadding;
use crate::engine::models;
use crate::engine::sampler::SamplingParams;

use super::bound::DecodeTraffic;
use super::memory::{self, KvShape};
use super::record::{BenchRecord, GreedyTokens, MemoryReport, TestKind};
use super::stats::Summary;
use super::BenchOptions;

/// Prompt columns per forward pass of the untimed pre-fill and of long pp tests (the engine's
/// `LocalGenerator` uses the same chunk).
const PREFILL_CHUNK: usize = 512;

/// One test of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Test {
    kind: TestKind,
    depth: usize,
    batch: usize,
}

/// What one run of a test measured.
struct RunSample {
    tok_per_s: f64,
    prefill_peak: Option<u64>,
    decode_peak: Option<u64>,
    resettable: bool,
}

/// Loads the model, runs every test and, if asked, the greedy check.
///
/// # Errors
/// Unloadable weights, unreadable prompt ids, or sizes beyond the model's context.
pub fn run(options: &BenchOptions) -> anyhow::Result<(Vec<BenchRecord>, Option<GreedyTokens>)> {
    let device = crate::engine::local::parse_device(&options.device)?;
    let mut model = models::load_gguf(&options.model.weights, &device)
        .with_context(|| format!("loading {}", options.model.weights.display()))?;
    let after_load = memory::current_rss_bytes();
    let vocab = model.config().vocab_size;
    let max_depth = options.depths.iter().copied().max().unwrap_or(0);
    let ids = options.prompt_tokens.ids(max_depth + options.pp.max(1), vocab)?;
    let tests = plan(options);
    let bar = super::progress_bar(tests.len() * (options.warmup + options.repetitions), options.show_progress);
    let kv = KvShape::of_decoder(model.config());
    let traffic = DecodeTraffic::of_gguf(Gguf::open(&options.model.weights)?.content())?;
    let mut records = Vec::with_capacity(tests.len());
    for test in tests {
        bar.set_message(describe(test, options));
        let mut record = measure(&mut model, test, &ids, options, &bar, kv, after_load)?;
        if test.kind == TestKind::Tg {
            record.decode_bytes_per_token = traffic.bytes_per_token(model.config(), test.depth, options.tg, test.batch);
        }
        records.push(record);
    }
    bar.finish_and_clear();
    let greedy = if options.greedy_tokens > 0 {
        let prompt = options.prompt_tokens.all_ids(options.pp.max(1), vocab)?;
        Some(greedy_tokens(&mut model, prompt, options.greedy_tokens)?)
    } else {
        None
    };
    Ok((records, greedy))
}

/// Every test in report order: per depth, per batch, pp then tg.
fn plan(options: &BenchOptions) -> Vec<Test> {
    let mut tests = Vec::new();
    for &depth in &options.depths {
        for &batch in &options.batches {
            if options.pp > 0 {
                tests.push(Test { kind: TestKind::Pp, depth, batch });
            }
            if options.tg > 0 {
                tests.push(Test { kind: TestKind::Tg, depth, batch });
            }
        }
    }
    tests
}

fn describe(test: Test, options: &BenchOptions) -> String {
    let name = match test.kind {
        TestKind::Pp => format!("pp{}", options.pp),
        TestKind::Tg | TestKind::Dataset => format!("tg{}", options.tg),
    };
    format!("{name} @ d{} x{}", test.depth, test.batch)
}

fn measure(
    model: &mut Model,
    test: Test,
    ids: &[u32],
    options: &BenchOptions,
    bar: &ProgressBar,
    kv: KvShape,
    after_load: Option<u64>,
) -> anyhow::Result<BenchRecord> {
    let mut samples = Vec::with_capacity(options.repetitions);
    let mut memory = MemoryReport { after_load_rss_bytes: after_load, peak_per_phase: true, ..MemoryReport::default() };
    for run in 0..options.warmup + options.repetitions {
        let sample = run_once(model, test, ids, options)
            .with_context(|| format!("{} (run {})", describe(test, options), run + 1))?;
        bar.inc(1);
        if run < options.warmup {
            continue;
        }
        samples.push(sample.tok_per_s);
        memory.prefill_peak_rss_bytes = memory::max_reading(memory.prefill_peak_rss_bytes, sample.prefill_peak);
        memory.decode_peak_rss_bytes = memory::max_reading(memory.decode_peak_rss_bytes, sample.decode_peak);
        memory.peak_per_phase &= sample.resettable;
    }
    if options.device.starts_with("cuda") {
        memory.device_bytes = memory::cuda_process_bytes();
    }
    model.clear_kv_cache();
    let (n_prompt, n_gen) = match test.kind {
        TestKind::Pp => (options.pp, 0),
        TestKind::Tg | TestKind::Dataset => (0, options.tg),
    };
    memory.kv_cache_bytes = kv.bytes(test.depth + n_prompt + n_gen, test.batch);
    let tok_per_s = Summary::of(&samples).context("invariant: repetitions >= 1")?;
    Ok(BenchRecord {
        test: test.kind,
        batch: test.batch,
        n_prompt,
        n_gen,
        depth: test.depth,
        per_sequence_tok_per_s: tok_per_s.mean / test.batch as f64,
        samples_tok_per_s: samples,
        tok_per_s,
        ttft_ms: None,
        token_latency_ms: None,
        memory,
        decode_bytes_per_token: None,
        bound_tok_per_s: None,
    })
}

/// One run: clear, pre-fill the depth (untimed), then the timed part.
fn run_once(model: &mut Model, test: Test, ids: &[u32], options: &BenchOptions) -> anyhow::Result<RunSample> {
    model.clear_kv_cache();
    let rows = RowPadding { pads: vec![0; test.batch] };
    let resettable = memory::reset_peak();
    let context = ids.get(..test.depth).context("invariant: ids cover the depth")?;
    feed(model, context, test.batch, &rows)?;
    match test.kind {
        TestKind::Pp => {
            let prompt = ids.get(test.depth..test.depth + options.pp).context("invariant: ids cover depth + pp")?;
            let started = Instant::now();
            if let Some(logits) = feed(model, prompt, test.batch, &rows)? {
                argmax(&logits)?; // waits for the device to finish
            }
            let seconds = started.elapsed().as_secs_f64();
            Ok(RunSample {
                tok_per_s: (test.batch * options.pp) as f64 / seconds,
                prefill_peak: memory::peak_rss_bytes(),
                decode_peak: None,
                resettable,
            })
        }
        TestKind::Tg | TestKind::Dataset => {
            let prefill_peak = memory::peak_rss_bytes();
            let resettable = memory::reset_peak() && resettable;
            let first = *ids.get(test.depth).context("invariant: ids cover depth + 1")?;
            let started = Instant::now();
            decode(model, first, test.batch, options.tg, &rows)?;
            let seconds = started.elapsed().as_secs_f64();
            Ok(RunSample {
                tok_per_s: (test.batch * options.tg) as f64 / seconds,
                prefill_peak,
                decode_peak: memory::peak_rss_bytes(),
                resettable,
            })
        }
    }
}

/// Feeds `ids` to every row in chunks; the last chunk's logits, or `None` for no ids.
fn feed(model: &mut Model, ids: &[u32], batch: usize, rows: &RowPadding) -> anyhow::Result<Option<Tensor>> {
    let mut logits = None;
    for chunk in ids.chunks(PREFILL_CHUNK) {
        let grid: Vec<u32> = (0..batch).flat_map(|_| chunk.iter().copied()).collect();
        let input = Tensor::from_vec(grid, (batch, chunk.len()), model.device())?;
        logits = Some(model.forward(&input, rows)?);
    }
    Ok(logits)
}

/// `steps` greedy single-column steps for every row, starting from `first`.
fn decode(model: &mut Model, first: u32, batch: usize, steps: usize, rows: &RowPadding) -> anyhow::Result<()> {
    let mut next = vec![first; batch];
    for _ in 0..steps {
        let input = Tensor::from_vec(next, (batch, 1), model.device())?;
        next = argmax(&model.forward(&input, rows)?)?;
    }
    Ok(())
}

/// The most likely id of each row of `[b, vocab]` logits.
fn argmax(logits: &Tensor) -> anyhow::Result<Vec<u32>> {
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
}

/// `count` greedy tokens after `prompt` at batch 1, through the engine's own `generate` loop
/// (no EOS id, so exactly `count` tokens).
fn greedy_tokens(model: &mut Model, prompt: Vec<u32>, count: usize) -> anyhow::Result<GreedyTokens> {
    let input = GenerationInput { conversation_id: "bench-greedy".to_owned(), prompt: prompt.clone(), max_new_tokens: count };
    let options = GenerateOptions {
        sampling: SamplingParams::greedy(),
        run_seed: 0,
        eos_ids: Vec::new(),
        prefill_chunk: PREFILL_CHUNK,
    };
    let outputs = generate::generate(model, &[input], &options, &mut |_, _| false).context("greedy tokens")?;
    let tokens = outputs.into_iter().next().map(|o| o.tokens).unwrap_or_default();
    Ok(GreedyTokens { prompt, tokens })
}
