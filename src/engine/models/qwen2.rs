//! Qwen2 / Qwen2.5 (also DeepSeek-R1-Distill-Qwen): the Llama layout with biases on the q/k/v
//! projections (picked up from the weights) and NEOX-style rotary embeddings.
//! Reference: llama.cpp `src/models/qwen2.cpp`.

use candle_core::Device;

use super::{gguf_vocab_size, CommonConfig, HfConfig};
use crate::engine::decoder::{DecoderConfig, Model};
use crate::engine::layers::RopeStyle;
use crate::engine::weights::{GgufFile, WeightSource};
use crate::engine::EngineError;

/// Qwen2 hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The Llama-family keys; Qwen2 adds none.
    pub common: CommonConfig,
}

impl Config {
    /// Reads the `qwen2.*` metadata keys.
    ///
    /// # Errors
    /// A required key is missing (named) or malformed.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, EngineError> {
        Ok(Self { common: CommonConfig::from_gguf(&file.metadata("qwen2"), gguf_vocab_size(file)?)? })
    }

    /// The shared decoder's configuration.
    pub fn decoder(&self) -> DecoderConfig {
        self.common.decoder("qwen2", RopeStyle::Neox)
    }
}

/// Loads a Qwen2 GGUF file.
///
/// # Errors
/// Missing metadata or tensors.
pub fn from_gguf(file: &mut GgufFile, dev: &Device) -> Result<Model, EngineError> {
    let config = Config::from_gguf(file)?.decoder();
    Model::load(config, &mut WeightSource::Gguf(file), dev)
}

/// The decoder configuration of a Hugging Face Qwen2 checkpoint.
pub fn decoder_config_hf(hf: &HfConfig) -> DecoderConfig {
    Config { common: CommonConfig::from_hf(hf) }.decoder()
}
