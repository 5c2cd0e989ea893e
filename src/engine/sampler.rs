//! Choosing the next token from logits: greedy, temperature, top-k, top-p and repetition
//! penalty, with one seeded random stream per conversation so a reply never depends on which
//! other conversations share its batch. Built on candle-transformers' `LogitsProcessor`
//! (sampling) and `apply_repeat_penalty` (llama.cpp-style: positive logits divided, negative
//! multiplied, once per distinct previous token).

use candle_core::{Device, Tensor, D};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use sha2::{Digest, Sha256};

use super::EngineError;

/// How to pick tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 or less means greedy.
    pub temperature: f64,
    /// Keep the smallest set of tokens whose probability reaches this mass.
    pub top_p: Option<f64>,
    /// Keep only the k most likely tokens.
    pub top_k: Option<usize>,
    /// Penalty > 1 discourages tokens already in the prompt or reply.
    pub repetition_penalty: Option<f32>,
}

impl SamplingParams {
    /// Greedy decoding (always the most likely token).
    pub fn greedy() -> Self {
        Self { temperature: 0.0, top_p: None, top_k: None, repetition_penalty: None }
    }

    fn to_sampling(&self) -> Sampling {
        let temperature = self.temperature;
        if temperature <= 0.0 {
            return Sampling::ArgMax;
        }
        match (self.top_k, self.top_p) {
            (None, None) => Sampling::All { temperature },
            (Some(k), None) => Sampling::TopK { k, temperature },
            (None, Some(p)) => Sampling::TopP { p, temperature },
            (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
        }
    }
}

/// The seed of one conversation's random stream: the first 8 bytes of
/// sha256(run seed, little-endian ‖ conversation id), so it is stable across runs, batch sizes
/// and orderings.
pub fn conversation_seed(run_seed: u64, conversation_id: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(run_seed.to_le_bytes());
    h.update(conversation_id.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// One conversation's sampler.
pub struct Sampler {
    params: SamplingParams,
    processor: LogitsProcessor,
}

impl Sampler {
    /// A sampler with its own random stream seeded by `seed`.
    pub fn new(params: SamplingParams, seed: u64) -> Self {
        let processor = LogitsProcessor::from_sampling(seed, params.to_sampling());
        Self { params, processor }
    }

    /// Picks the next token from `[vocab]` logits; `history` is the prompt and reply so far
    /// (used by the repetition penalty).
    ///
    /// # Errors
    /// `logits` is not one-dimensional or sampling failed (e.g. NaN logits).
    pub fn sample(&mut self, logits: &Tensor, history: &[u32]) -> Result<u32, EngineError> {
        let logits = match self.params.repetition_penalty {
            Some(p) if p != 1.0 => candle_transformers::utils::apply_repeat_penalty(logits, p, history)?,
            _ => logits.clone(),
        };
        Ok(self.processor.sample(&logits)?)
    }

    /// Whether this sampler always takes the largest logit (greedy, no penalty), a choice the
    /// device can make without sending the logits to the host.
    pub fn is_plain_argmax(&self) -> bool {
        self.params.temperature <= 0.0 && self.params.repetition_penalty.is_none_or(|p| p == 1.0)
    }
}

/// One token per row of `[b, vocab]` logits, row `i` chosen by `rows[i]` (its sampler and history),
/// with one device-to-host transfer per call: off the CPU, when every row takes the plain argmax,
/// the device reduces each row and only `b` ids come back; otherwise the whole matrix comes to the
/// host at once and each row samples there, exactly as on the CPU.
///
/// # Errors
/// `logits` has fewer rows than `rows`, or sampling failed.
pub fn sample_rows(logits: &Tensor, rows: Vec<(&mut Sampler, &[u32])>) -> Result<Vec<u32>, EngineError> {
    if !logits.device().is_cpu() && rows.iter().all(|(s, _)| s.is_plain_argmax()) {
        let ids = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        return ids.get(..rows.len()).map(<[u32]>::to_vec)
            .ok_or_else(|| EngineError::Input(format!("{} logits rows for {} samplers", ids.len(), rows.len())));
    }
    let host = logits.to_device(&Device::Cpu)?;
    rows.into_iter().enumerate().map(|(i, (sampler, history))| sampler.sample(&host.get(i)?, history)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn logits(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    #[test]
    fn greedy_picks_the_largest_logit() {
        let mut s = Sampler::new(SamplingParams::greedy(), 1);
        assert_eq!(s.sample(&logits(&[0.1, 2.0, -1.0, 1.9]), &[]).unwrap(), 1);
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        // 2.0 / 1.5 = 1.33 < 1.9, so token 3 wins once token 1 has been seen.
        let params = SamplingParams { repetition_penalty: Some(1.5), ..SamplingParams::greedy() };
        let mut s = Sampler::new(params, 1);
        assert_eq!(s.sample(&logits(&[0.1, 2.0, -1.0, 1.9]), &[1]).unwrap(), 3);
    }

    #[test]
    fn top_k_one_is_greedy_even_when_hot() {
        let params = SamplingParams { temperature: 5.0, top_k: Some(1), ..SamplingParams::greedy() };
        let mut s = Sampler::new(params, 7);
        for _ in 0..20 {
            assert_eq!(s.sample(&logits(&[0.1, 2.0, -1.0, 1.9]), &[]).unwrap(), 1);
        }
    }

    #[test]
    fn batch_sampling_gives_each_row_its_own_choice() {
        let batch = Tensor::new(&[[0.1f32, 2.0, -1.0, 1.9], [3.0, 0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let penalised = SamplingParams { repetition_penalty: Some(1.5), ..SamplingParams::greedy() };
        let (mut a, mut b) = (Sampler::new(penalised, 1), Sampler::new(SamplingParams::greedy(), 2));
        assert!(!a.is_plain_argmax() && b.is_plain_argmax());
        let history: &[u32] = &[1];
        assert_eq!(sample_rows(&batch, vec![(&mut a, history), (&mut b, history)]).unwrap(), [3, 0]);
    }

    #[test]
    fn same_conversation_seed_gives_the_same_stream() {
        let params = SamplingParams { temperature: 1.0, ..SamplingParams::greedy() };
        let draw = |seed| {
            let mut s = Sampler::new(params.clone(), seed);
            (0..32).map(|_| s.sample(&logits(&[0.0; 16]), &[]).unwrap()).collect::<Vec<_>>()
        };
        let seed = conversation_seed(42, "counselchat:17");
        assert_eq!(draw(seed), draw(seed));
        assert_ne!(draw(seed), draw(conversation_seed(42, "counselchat:18")));
        assert_ne!(seed, conversation_seed(43, "counselchat:17"));
    }
}
