//! Gemma 3 (text): tanh-GELU MLP, per-head q/k RMSNorm, extra post-attention and post-MLP norms,
//! embeddings scaled by sqrt(width), sliding-window attention in five of every six layers
//! (every 6th layer is global, as llama.cpp's `set_swa_pattern(6)`), a rotary base of 10000 for
//! local layers (`rope.freq_base_swa` when present) and `rope.freq_base` (with any linear scaling)
//! for global ones, and optional final logit soft-capping.
//! Reference: llama.cpp `src/models/gemma3.cpp` and `llama-model.cpp` (LLM_ARCH_GEMMA3).
//! GGUF norm weights already include Gemma's `1 + w` (llama.cpp's converter adds it).

use candle_core::Device;

use super::{gguf_vocab_size, CommonConfig};
use crate::engine::decoder::{DecoderConfig, LayerSpec, Model, RopeSpec};
use crate::engine::layers::{Activation, RopeStyle};
use crate::engine::weights::{GgufFile, WeightSource};
use crate::engine::EngineError;

/// Every `SWA_PATTERN`-th layer attends globally; the others use the sliding window.
const SWA_PATTERN: usize = 6;

/// Gemma 3 hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The Llama-family keys (`rope_base` is the global layers' base).
    pub common: CommonConfig,
    /// Sliding window of local layers, in positions.
    pub sliding_window: usize,
    /// Rotary base of local layers.
    pub local_rope_base: f64,
    /// Linear rotary scaling of global layers.
    pub global_rope_scale: Option<f64>,
    /// Final logit soft-capping.
    pub final_logit_softcap: Option<f64>,
}

impl Config {
    /// Reads the `gemma3.*` metadata keys.
    ///
    /// # Errors
    /// A required key is missing (named) or malformed.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, EngineError> {
        let md = file.metadata("gemma3");
        let linear = match md.opt_string("rope.scaling.type")?.as_deref() {
            Some("linear") => md.opt_f64("rope.scaling.factor")?,
            _ => None,
        };
        Ok(Self {
            common: CommonConfig::from_gguf(&md, gguf_vocab_size(file)?)?,
            sliding_window: md.usize("attention.sliding_window")?,
            local_rope_base: md.opt_f64("rope.freq_base_swa")?.unwrap_or(10_000.0),
            global_rope_scale: linear,
            final_logit_softcap: md.opt_f64("final_logit_softcapping")?,
        })
    }

    /// The shared decoder's configuration.
    pub fn decoder(&self) -> DecoderConfig {
        let c = &self.common;
        let base = c.decoder("gemma3", RopeStyle::Neox);
        let global_divisors = self.global_rope_scale.map(|f| vec![f as f32; c.head_dim / 2]);
        let layers = (0..c.n_layer)
            .map(|i| {
                if (i + 1) % SWA_PATTERN == 0 {
                    LayerSpec { rope: 1, window: None }
                } else {
                    LayerSpec { rope: 0, window: Some(self.sliding_window) }
                }
            })
            .collect();
        DecoderConfig {
            ropes: vec![
                RopeSpec { base: self.local_rope_base, divisors: None },
                RopeSpec { base: c.rope_base, divisors: global_divisors },
            ],
            layers,
            activation: Activation::GeluTanh,
            qk_norm: true,
            post_norms: true,
            embed_scale: Some((c.hidden_size as f64).sqrt()),
            final_logit_softcap: self.final_logit_softcap,
            ..base
        }
    }
}

/// Loads a Gemma 3 GGUF file.
///
/// # Errors
/// Missing metadata or tensors.
pub fn from_gguf(file: &mut GgufFile, dev: &Device) -> Result<Model, EngineError> {
    let config = Config::from_gguf(file)?.decoder();
    Model::load(config, &mut WeightSource::Gguf(file), dev)
}
