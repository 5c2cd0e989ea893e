//! Generation with continuous batching: many prompts (token ids) through one model, with up to
//! `slots` conversations in flight. Each conversation has its own KV-cache slot and length. A
//! conversation joins as soon as a slot is free: its prompt is prefilled in chunks, one chunk per
//! scheduler step between the decode steps of the others; then every step decodes one token for
//! each row past its prefill. A row stops on an EOS id, on its token budget, or when the caller's
//! stop hook says so (stop strings are checked by the caller on decoded text); its slot is freed
//! and its output handed over at once. Every row's arithmetic is independent of its batch-mates
//! (per-slot attention, per-row seeded samplers), so a reply is the one that prompt gets alone.
//! It owns the loop and per-row timings; tokenisation, templates and records live upstream.

use std::ops::ControlFlow;
use std::time::Instant;

use candle_core::Tensor;

use super::decoder::Model;
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
    /// Prompt columns per prefill forward pass (bounds activation memory and how long a joining
    /// prompt holds up the decode steps of the others).
    pub prefill_chunk: usize,
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

/// One row's result. Times run from the row's admission into a slot (when its prefill starts),
/// not from the start of the call: a row's latency is its own, not its batch's.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationOutput {
    /// Generated ids, without the EOS id.
    pub tokens: Vec<u32>,
    /// Why generation stopped.
    pub stop: StopReason,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// From admission to this row's first token, ms.
    pub ttft_ms: f64,
    /// From admission to the end of this row's prefill, ms (its chunks, and the decode steps of
    /// other rows interleaved between them).
    pub prefill_ms: f64,
    /// From this row's first token to its last, ms.
    pub decode_ms: f64,
    /// Most rows that shared a decode step with this row, itself included (1 when it never
    /// decoded with others).
    pub batch: usize,
}

/// A conversation in a slot.
struct Row {
    index: usize,
    slot: usize,
    sampler: Sampler,
    history: Vec<u32>,
    prompt_tokens: usize,
    fed: usize,
    max_new_tokens: usize,
    generated: Vec<u32>,
    admitted: Instant,
    prefill_ms: Option<f64>,
    ttft_ms: Option<f64>,
    stop: Option<(StopReason, f64)>,
    batch: usize,
}

impl Row {
    fn new(index: usize, slot: usize, input: &GenerationInput, options: &GenerateOptions) -> Self {
        let seed = conversation_seed(options.run_seed, &input.conversation_id);
        Self {
            index,
            slot,
            sampler: Sampler::new(options.sampling.clone(), seed),
            history: input.prompt.clone(),
            prompt_tokens: input.prompt.len(),
            fed: 0,
            max_new_tokens: input.max_new_tokens,
            generated: Vec::new(),
            admitted: Instant::now(),
            prefill_ms: None,
            ttft_ms: None,
            stop: (input.max_new_tokens == 0).then_some((StopReason::MaxTokens, 0.0)),
            batch: 1,
        }
    }

    fn prefilling(&self) -> bool {
        self.stop.is_none() && self.fed < self.prompt_tokens
    }

    fn decoding(&self) -> bool {
        self.stop.is_none() && self.ttft_ms.is_some()
    }

    /// Samples the next token from `[vocab]` logits and decides whether the row stops.
    fn step(&mut self, logits: &Tensor, options: &GenerateOptions, stop_hook: &mut StopHook)
        -> Result<(), EngineError> {
        let token = self.sampler.sample(logits, &self.history)?;
        self.take(token, options, stop_hook);
        Ok(())
    }

    /// Appends a chosen token (or stops on EOS, the hook or the token limit).
    fn take(&mut self, token: u32, options: &GenerateOptions, stop_hook: &mut StopHook) {
        let now = millis(self.admitted);
        self.ttft_ms.get_or_insert(now);
        if options.eos_ids.contains(&token) {
            self.stop = Some((StopReason::Eos, now));
            return;
        }
        self.generated.push(token);
        self.history.push(token);
        if stop_hook(self.index, &self.generated) {
            self.stop = Some((StopReason::Hook, now));
        } else if self.generated.len() >= self.max_new_tokens {
            self.stop = Some((StopReason::MaxTokens, now));
        }
    }

    fn finish(self) -> GenerationOutput {
        let (stop, end_ms) = self.stop.unwrap_or((StopReason::MaxTokens, 0.0));
        let prefill_ms = self.prefill_ms.unwrap_or(0.0);
        let ttft_ms = self.ttft_ms.unwrap_or(prefill_ms);
        GenerationOutput {
            tokens: self.generated,
            stop,
            prompt_tokens: self.prompt_tokens,
            ttft_ms,
            prefill_ms,
            decode_ms: (end_ms - ttft_ms).max(0.0),
            batch: self.batch,
        }
    }
}

/// `stop_hook(input index, generated ids)`: true stops that row.
pub type StopHook<'a> = dyn FnMut(usize, &[u32]) -> bool + 'a;

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Generates for every input with all of them in flight at once; outputs in input order.
///
/// # Errors
/// As [`generate_each`].
pub fn generate(
    model: &mut Model,
    inputs: &[GenerationInput],
    options: &GenerateOptions,
    stop_hook: &mut StopHook,
) -> Result<Vec<GenerationOutput>, EngineError> {
    let mut outputs = vec![None; inputs.len()];
    generate_each(model, inputs, options, inputs.len(), stop_hook, &mut |i, output| {
        outputs[i] = Some(output);
        ControlFlow::Continue(())
    })?;
    outputs
        .into_iter()
        .map(|o| o.ok_or_else(|| EngineError::Input("invariant: a row without output".into())))
        .collect()
}

/// Generates for every input with at most `slots` rows in flight, admitting inputs in order as
/// slots free up, and hands each row's output to `on_done(input index, output)` as soon as the
/// row ends (so in order of completion). `on_done` returning `Break` ends the call early; rows
/// still in flight are dropped.
///
/// # Errors
/// An empty prompt, a prompt beyond the context length, or a failed tensor operation. Outputs
/// handed over before the error stand.
pub fn generate_each(
    model: &mut Model,
    inputs: &[GenerationInput],
    options: &GenerateOptions,
    slots: usize,
    stop_hook: &mut StopHook,
    on_done: &mut dyn FnMut(usize, GenerationOutput) -> ControlFlow<()>,
) -> Result<(), EngineError> {
    if let Some(i) = inputs.iter().position(|x| x.prompt.is_empty()) {
        return Err(EngineError::Input(format!("prompt {i} ({}) is empty", inputs[i].conversation_id)));
    }
    model.clear_kv_cache();
    let mut scheduler = Scheduler { model, options, stop_hook, rows: Vec::new(), free: (0..slots.max(1)).rev().collect() };
    let result = scheduler.run(inputs, on_done);
    scheduler.model.clear_kv_cache();
    result
}

/// The rows in flight and the free slots.
struct Scheduler<'m, 'o, 'h, 'a> {
    model: &'m mut Model,
    options: &'o GenerateOptions,
    stop_hook: &'h mut StopHook<'a>,
    rows: Vec<Row>,
    free: Vec<usize>,
}

impl Scheduler<'_, '_, '_, '_> {
    /// One step per loop: admit into free slots, one prefill chunk for each joining row, one
    /// decode step for the others, then hand over the rows that ended.
    fn run(
        &mut self,
        inputs: &[GenerationInput],
        on_done: &mut dyn FnMut(usize, GenerationOutput) -> ControlFlow<()>,
    ) -> Result<(), EngineError> {
        let mut waiting = inputs.iter().enumerate();
        loop {
            while !self.free.is_empty() {
                let Some((index, input)) = waiting.next() else { break };
                let slot = self.free.pop().unwrap_or_default();
                self.rows.push(Row::new(index, slot, input, self.options));
            }
            if self.rows.is_empty() {
                return Ok(());
            }
            self.prefill_chunks()?;
            self.decode_step()?;
            if self.retire(on_done).is_break() {
                return Ok(());
            }
        }
    }

    /// Feeds the next chunk of every joining row, each as its own forward pass over its slot;
    /// a row whose prompt is complete samples its first token.
    fn prefill_chunks(&mut self) -> Result<(), EngineError> {
        let chunk = self.options.prefill_chunk.max(1);
        for row in self.rows.iter_mut().filter(|r| r.prefilling()) {
            let n = chunk.min(row.prompt_tokens - row.fed);
            let ids = row.history[row.fed..row.fed + n].to_vec();
            let logits = self.model.forward_slots(&Tensor::from_vec(ids, (1, n), self.model.device())?, &[row.slot])?;
            row.fed += n;
            if row.fed == row.prompt_tokens {
                row.prefill_ms = Some(millis(row.admitted));
                row.step(&logits.get(0)?, self.options, self.stop_hook)?;
            }
        }
        Ok(())
    }

    /// One token for every row past its prefill, all in one forward pass.
    fn decode_step(&mut self) -> Result<(), EngineError> {
        let active: Vec<usize> = (0..self.rows.len()).filter(|&i| self.rows[i].decoding()).collect();
        if active.is_empty() {
            return Ok(());
        }
        let last: Vec<u32> = active.iter().map(|&i| self.rows[i].history.last().copied().unwrap_or_default()).collect();
        let slots: Vec<usize> = active.iter().map(|&i| self.rows[i].slot).collect();
        let next = Tensor::from_vec(last, (active.len(), 1), self.model.device())?;
        let logits = self.model.forward_slots(&next, &slots)?;
        // One device-to-host transfer for the whole step (see `sample_rows`).
        let chosen = self.rows.iter_mut().enumerate()
            .filter(|(i, _)| active.binary_search(i).is_ok())
            .map(|(_, row)| (&mut row.sampler, row.history.as_slice()))
            .collect();
        let tokens = sample_rows(&logits, chosen)?;
        for (&i, token) in active.iter().zip(tokens) {
            let row = &mut self.rows[i];
            row.batch = row.batch.max(active.len());
            row.take(token, self.options, self.stop_hook);
        }
        Ok(())
    }

    /// Frees the slots of rows that ended and hands their outputs over.
    fn retire(&mut self, on_done: &mut dyn FnMut(usize, GenerationOutput) -> ControlFlow<()>) -> ControlFlow<()> {
        let (done, running): (Vec<Row>, Vec<Row>) = std::mem::take(&mut self.rows).into_iter().partition(|r| r.stop.is_some());
        self.rows = running;
        for row in done {
            self.model.release_slot(row.slot);
            self.free.push(row.slot);
            let index = row.index;
            on_done(index, row.finish())?;
        }
        ControlFlow::Continue(())
    }
}
