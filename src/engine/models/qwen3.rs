//! Qwen3: the Llama layout with per-head RMSNorm on queries and keys, explicit head dimension
//! (`attention.key_length`) and NEOX-style rotary embeddings.
//! Reference: llama.cpp `src/models/qwen3.cpp`.

use candle_core::Device;

use super::{gguf_vocab_size, CommonConfig, HfConfig};
use crate::engine::decoder::{DecoderConfig, Model};
use crate::engine::layers::RopeStyle;
use crate::engine::weights::{GgufFile, WeightSource};
use crate::engine::EngineError;

/// Qwen3 hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The Llama-family keys (head dimension from `qwen3.attention.key_length`).
    pub common: CommonConfig,
}

impl Config {
    /// Reads the `qwen3.*` metadata keys.
    ///
    /// # Errors
    /// A required key is missing (named) or malformed.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, EngineError> {
        Ok(Self { common: CommonConfig::from_gguf(&file.metadata("qwen3"), gguf_vocab_size(file)?)? })
    }

    /// The shared decoder's configuration: q/k norms on.
    pub fn decoder(&self) -> DecoderConfig {
        DecoderConfig { qk_norm: true, ..self.common.decoder("qwen3", RopeStyle::Neox) }
    }
}

/// Loads a Qwen3 GGUF file.
///
/// # Errors
/// Missing metadata or tensors.
pub fn from_gguf(file: &mut GgufFile, dev: &Device) -> Result<Model, EngineError> {
    let config = Config::from_gguf(file)?.decoder();
    Model::load(config, &mut WeightSource::Gguf(file), dev)
}

/// The decoder configuration of a Hugging Face Qwen3 checkpoint.
pub fn decoder_config_hf(hf: &HfConfig) -> DecoderConfig {
    Config { common: CommonConfig::from_hf(hf) }.decoder()
}
