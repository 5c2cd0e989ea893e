//! Batched generation: many prompts (token ids) through one model at once. Prompts are left-
//! padded to a common length and prefilled in chunks; then every step decodes one token for each
//! unfinished row. A row stops on an EOS id, on its token budget, or when the caller's stop hook
//! says so (stop strings are checked by the caller on decoded text); finished rows leave the
//! batch. It owns the loop and per-row timings; tokenisation, templates and records live upstream.

use std::time::Instant;

use candle_core::Tensor;

use super::decoder::Model;
use super::layers::RowPadding;
use super::sampler::{conversation_seed, sample_rows, Sampler, SamplingParams};
use super::EngineError;

/// One prompt to continue.
#[derive(Clone, Debug)]
pub struct GenerationInput {
    /// Seeds this row's random stream (with the run seed), so batching never changes a reply.
    pub conversation_id: String,
    /// Prompt token ids, non-empty, BOS included if the model wants one.
    pub prompt: Vec<u32>,
    /// Most tokens to generate.
    pub max_new_tokens: usize,
}

/// Options shared by every row of a call.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Token choice.
    pub sampling: SamplingParams,
    /// The run's seed; each row's stream is derived from it and its conversation id.
    pub run_seed: u64,
    /// Ids that end a reply (not included in the output).
    pub eos_ids: Vec<u32>,
    /// Prompt columns per prefill forward pass (bounds activation memory).
    pub prefill_chunk: usize,
    /// Id written into padding columns (never attended to).
    pub pad_id: u32,
}

/// Why a row stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an EOS id.
    Eos,
    /// `max_new_tokens` reached.
    MaxTokens,
    /// The caller's stop hook matched (e.g. a stop string).
    Hook,
}

/// One row's result.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationOutput {
    /// Generated ids, without the EOS id.
    pub tokens: Vec<u32>,
    /// Why generation stopped.
    pub stop: StopReason,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// From the start of the call to this row's first token, ms.
    pub ttft_ms: f64,
    /// Prefill of the whole batch, ms (shared by every row of the call).
    pub prefill_ms: f64,
    /// From this row's first token to its last, ms.
    pub decode_ms: f64,
}

struct Row {
    sampler: Sampler,
    history: Vec<u32>,
    prompt_tokens: usize,
    max_new_tokens: usize,
    generated: Vec<u32>,
    ttft_ms: Option<f64>,
    stop: Option<(StopReason, f64)>,
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Generates for every input; `stop_hook(row, generated)` is asked after each token and stops
/// that row when it returns true.
///
/// # Errors
/// An empty prompt, a prompt beyond the context length, or a failed tensor operation.
pub fn generate(
    model: &mut Model,
    inputs: &[GenerationInput],
    options: &GenerateOptions,
    stop_hook: &mut dyn FnMut(usize, &[u32]) -> bool,
) -> Result<Vec<GenerationOutput>, EngineError> {
    if let Some(i) = inputs.iter().position(|x| x.prompt.is_empty()) {
        return Err(EngineError::Input(format!("prompt {i} ({}) is empty", inputs[i].conversation_id)));
    }
    let start = Instant::now();
    let mut rows: Vec<Row> = inputs
        .iter()
        .map(|x| Row {
            sampler: Sampler::new(options.sampling.clone(), conversation_seed(options.run_seed, &x.conversation_id)),
            history: x.prompt.clone(),
            prompt_tokens: x.prompt.len(),
            max_new_tokens: x.max_new_tokens,
            generated: Vec::new(),
            ttft_ms: None,
            stop: (x.max_new_tokens == 0).then_some((StopReason::MaxTokens, 0.0)),
        })
        .collect();
    let prompts: Vec<&[u32]> = inputs.iter().map(|x| x.prompt.as_slice()).collect();
    let (mut logits, mut padding) = prefill(model, &prompts, options)?;
    let prefill_ms = millis(start);
    let mut active: Vec<usize> = (0..rows.len()).filter(|&r| rows[r].stop.is_none()).collect();
    if active.len() != rows.len() {
        model.retain_rows(&active)?;
        padding.pads = active.iter().map(|&r| padding.pads[r]).collect();
        logits = logits.index_select(&row_index(&active, model)?, 0)?;
    }
    while !active.is_empty() {
        let tokens = pick_tokens(&mut rows, &active, &logits)?;
        for (&r, token) in active.iter().zip(tokens) {
            step_row(&mut rows[r], r, token, options, stop_hook, start);
        }
        let keep: Vec<usize> = (0..active.len()).filter(|&i| rows[active[i]].stop.is_none()).collect();
        if keep.is_empty() {
            break;
        }
        if keep.len() != active.len() {
            model.retain_rows(&keep)?;
            padding.pads = keep.iter().map(|&i| padding.pads[i]).collect();
            active = keep.iter().map(|&i| active[i]).collect();
        }
        let last: Vec<u32> = active.iter().map(|&r| *rows[r].history.last().unwrap_or(&options.pad_id)).collect();
        let next = Tensor::from_vec(last, (active.len(), 1), model.device())?;
        logits = model.forward(&next, &padding)?;
    }
    model.clear_kv_cache();
    Ok(rows.into_iter().map(|row| finish(row, prefill_ms)).collect())
}

fn row_index(rows: &[usize], model: &Model) -> Result<Tensor, EngineError> {
    let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    Ok(Tensor::from_vec(idx, rows.len(), model.device())?)
}

/// Left-pads the prompts, feeds them in chunks and returns the last column's logits.
fn prefill(model: &mut Model, prompts: &[&[u32]], options: &GenerateOptions)
    -> Result<(Tensor, RowPadding), EngineError> {
    model.clear_kv_cache();
    let width = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    let padding = RowPadding { pads: prompts.iter().map(|p| width - p.len()).collect() };
    let mut ids = Vec::with_capacity(width * prompts.len());
    for (p, &pad) in prompts.iter().zip(&padding.pads) {
        ids.extend(std::iter::repeat_n(options.pad_id, pad));
        ids.extend_from_slice(p);
    }
    let grid = Tensor::from_vec(ids, (prompts.len(), width), model.device())?;
    let chunk = options.prefill_chunk.max(1);
    let mut logits = None;
    for c0 in (0..width).step_by(chunk) {
        let cols = chunk.min(width - c0);
        logits = Some(model.forward(&grid.narrow(1, c0, cols)?.contiguous()?, &padding)?);
    }
    let logits = logits.ok_or_else(|| EngineError::Input("no prompt columns".into()))?;
    Ok((logits, padding))
}

/// The next token of every active row (`active` ascending, row `i` of `logits` for `active[i]`),
/// with one transfer from the device (see [`sample_rows`]).
fn pick_tokens(rows: &mut [Row], active: &[usize], logits: &Tensor) -> Result<Vec<u32>, EngineError> {
    let chosen = rows
        .iter_mut()
        .enumerate()
        .filter(|(r, _)| active.binary_search(r).is_ok())
        .map(|(_, row)| (&mut row.sampler, row.history.as_slice()))
        .collect();
    sample_rows(logits, chosen)
}

/// Records `token` for `row`, stopping it on EOS, the hook or its budget.
fn step_row(
    row: &mut Row,
    index: usize,
    token: u32,
    options: &GenerateOptions,
    stop_hook: &mut dyn FnMut(usize, &[u32]) -> bool,
    start: Instant,
) {
    let now = millis(start);
    row.ttft_ms.get_or_insert(now);
    if options.eos_ids.contains(&token) {
        row.stop = Some((StopReason::Eos, now));
        return;
    }
    row.generated.push(token);
    row.history.push(token);
    if stop_hook(index, &row.generated) {
        row.stop = Some((StopReason::Hook, now));
    } else if row.generated.len() >= row.max_new_tokens {
        row.stop = Some((StopReason::MaxTokens, now));
    }
}

fn finish(row: Row, prefill_ms: f64) -> GenerationOutput {
    let (stop, end_ms) = row.stop.unwrap_or((StopReason::MaxTokens, prefill_ms));
    let ttft_ms = row.ttft_ms.unwrap_or(prefill_ms);
    GenerationOutput {
        tokens: row.generated,
        stop,
        prompt_tokens: row.prompt_tokens,
        ttft_ms,
        prefill_ms,
        decode_ms: (end_ms - ttft_ms).max(0.0),
    }
}
