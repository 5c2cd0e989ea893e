//! One file per supported architecture, each turning its GGUF metadata (or Hugging Face
//! config.json) into a [`DecoderConfig`] for the shared decoder, plus the hyper-parameters every
//! Llama-family file shares. Loading entry points pick the architecture from the file itself.

pub mod gemma3;
pub mod llama;
pub mod qwen2;
pub mod qwen3;

#[cfg(test)]
mod reference_tests;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::decoder::{DecoderConfig, LayerSpec, Model, RopeSpec};
use super::layers::{Activation, RopeStyle};
use super::weights::{GgufFile, Metadata, WeightSource};
use super::EngineError;

/// Loads any supported architecture from a GGUF file, chosen by `general.architecture`.
///
/// # Errors
/// Unreadable file, unsupported architecture, missing metadata or tensors.
pub fn load_gguf(path: &Path, dev: &Device) -> Result<Model, EngineError> {
    load_gguf_file(GgufFile::open(path)?, dev)
}

/// Like [`load_gguf`], from a file whose header is already parsed (see [`GgufFile::from_header`]).
///
/// # Errors
/// Unsupported architecture, missing metadata or tensors.
pub fn load_gguf_file(mut file: GgufFile, dev: &Device) -> Result<Model, EngineError> {
    let path = file.path().to_path_buf();
    match file.architecture()?.as_str() {
        "gemma3" => gemma3::from_gguf(&mut file, dev),
        "llama" => llama::from_gguf(&mut file, dev),
        "qwen2" => qwen2::from_gguf(&mut file, dev),
        "qwen3" => qwen3::from_gguf(&mut file, dev),
        other => Err(EngineError::UnsupportedArchitecture { path: path.into(), arch: other.into() }),
    }
}

/// Loads a Hugging Face checkpoint directory (config.json + *.safetensors), chosen by
/// config.json's `model_type`. Weights are converted to f32 (bf16/f16/f32 accepted).
///
/// # Errors
/// Unreadable files, unsupported architecture, missing fields or tensors.
pub fn load_safetensors(dir: &Path, dev: &Device) -> Result<Model, EngineError> {
    let hf = HfConfig::read(dir)?;
    let config = match hf.model_type.as_str() {
        "llama" => llama::decoder_config_hf(&hf)?,
        "qwen2" => qwen2::decoder_config_hf(&hf),
        "qwen3" => qwen3::decoder_config_hf(&hf),
        other => {
            return Err(EngineError::UnsupportedArchitecture { path: dir.join("config.json"), arch: other.into() })
        }
    };
    let files = safetensors_files(dir)?;
    // SAFETY: the files are memory-mapped read-only; mhbench does not modify model files while
    // they are loaded (candle's documented requirement for `from_mmaped_safetensors`).
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, DType::F32, dev)? };
    let mut src = WeightSource::Safetensors { dir: dir.to_path_buf(), vb };
    Model::load(config, &mut src, dev)
}

fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let io = |source| EngineError::Io { path: dir.to_path_buf(), source };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(EngineError::MissingTensor { path: dir.to_path_buf(), name: "*.safetensors".into() });
    }
    Ok(files)
}

/// The Llama-family hyper-parameters, from GGUF keys or config.json fields.
#[derive(Clone, Debug, PartialEq)]
pub struct CommonConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Dimension per head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// Rotary base.
    pub rope_base: f64,
    /// Trained context length.
    pub context_length: usize,
}

impl CommonConfig {
    /// Reads `<arch>.embedding_length`, `block_count`, `attention.head_count(_kv)`,
    /// `attention.key_length` (default width / heads), `attention.layer_norm_rms_epsilon`,
    /// `rope.freq_base` (default 10000, llama.cpp's), `context_length`; the vocabulary size
    /// comes from the embedding tensor.
    ///
    /// # Errors
    /// A required key is missing or malformed.
    pub fn from_gguf(md: &Metadata, vocab_size: usize) -> Result<Self, EngineError> {
        let hidden_size = md.usize("embedding_length")?;
        let n_head = md.usize("attention.head_count")?;
        Ok(Self {
            vocab_size,
            hidden_size,
            n_layer: md.usize("block_count")?,
            n_head,
            n_kv_head: md.opt_usize("attention.head_count_kv")?.unwrap_or(n_head),
            head_dim: md.opt_usize("attention.key_length")?.unwrap_or(hidden_size / n_head.max(1)),
            rms_eps: md.f64("attention.layer_norm_rms_epsilon")?,
            rope_base: md.opt_f64("rope.freq_base")?.unwrap_or(10_000.0),
            context_length: md.usize("context_length")?,
        })
    }

    /// The same from config.json.
    pub fn from_hf(hf: &HfConfig) -> Self {
        Self {
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            n_layer: hf.num_hidden_layers,
            n_head: hf.num_attention_heads,
            n_kv_head: hf.num_key_value_heads.unwrap_or(hf.num_attention_heads),
            head_dim: hf.head_dim.unwrap_or(hf.hidden_size / hf.num_attention_heads.max(1)),
            rms_eps: hf.rms_norm_eps,
            rope_base: hf.rope_theta.unwrap_or(10_000.0),
            context_length: hf.max_position_embeddings,
        }
    }

    /// A plain Llama-style decoder: one rotary variant, full attention in every layer, SiLU MLP;
    /// architecture files adjust the rest.
    pub fn decoder(&self, arch: &str, rope_style: RopeStyle) -> DecoderConfig {
        DecoderConfig {
            arch: arch.to_string(),
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            n_head: self.n_head,
            n_kv_head: self.n_kv_head,
            head_dim: self.head_dim,
            rms_eps: self.rms_eps,
            attn_scale: 1.0 / (self.head_dim as f64).sqrt(),
            ropes: vec![RopeSpec { base: self.rope_base, divisors: None }],
            layers: vec![LayerSpec { rope: 0, window: None }; self.n_layer],
            rope_style,
            activation: Activation::Silu,
            qk_norm: false,
            post_norms: false,
            norm_offset: false,
            embed_scale: None,
            final_logit_softcap: None,
            context_length: self.context_length,
        }
    }
}

/// The config.json fields the engine reads.
#[derive(Clone, Debug, Deserialize)]
pub struct HfConfig {
    /// `llama`, `qwen2`, `qwen3`.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads.
    pub num_key_value_heads: Option<usize>,
    /// Dimension per head.
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Rotary base.
    pub rope_theta: Option<f64>,
    /// Rotary scaling (Llama 3.1's `llama3` type).
    pub rope_scaling: Option<serde_json::Value>,
    /// Trained context length.
    pub max_position_embeddings: usize,
}

impl HfConfig {
    /// Reads `dir/config.json`.
    ///
    /// # Errors
    /// Unreadable file or a missing/mistyped field (named).
    pub fn read(dir: &Path) -> Result<Self, EngineError> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| EngineError::Io { path: path.clone(), source })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| EngineError::BadValue {
            path,
            key: e.path().to_string(),
            what: format!("{}; fix config.json", e.inner()),
        })
    }
}

/// The vocabulary size of a GGUF model: rows of `token_embd.weight`.
///
/// # Errors
/// The tensor is missing or not two-dimensional.
pub fn gguf_vocab_size(file: &GgufFile) -> Result<usize, EngineError> {
    match file.tensor_dims("token_embd.weight")?.as_slice() {
        [rows, _] => Ok(*rows),
        dims => Err(EngineError::BadValue {
            path: file.path().to_path_buf(),
            key: "token_embd.weight".into(),
            what: format!("shape {dims:?}; expected [vocab, hidden]"),
        }),
    }
}
