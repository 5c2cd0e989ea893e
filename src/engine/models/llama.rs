//! Llama (3.1, and DeepSeek-R1-Distill-Llama): pre-norm blocks, SiLU MLP, grouped-query
//! attention. GGUF files carry q/k rows permuted by llama.cpp's converter, so they use
//! interleaved rotary pairs; Hugging Face checkpoints use NEOX halves. Llama 3.1's frequency
//! scaling comes as per-frequency divisors: the `rope_freqs.weight` tensor in GGUF, the
//! `rope_scaling` block (`rope_type: llama3`) in config.json.
//! Reference: llama.cpp `src/models/llama.cpp`; Meta's `apply_scaling` in llama-models.

use candle_core::Device;

use super::{gguf_vocab_size, CommonConfig, HfConfig};
use crate::engine::decoder::{DecoderConfig, Model, RopeSpec};
use crate::engine::layers::RopeStyle;
use crate::engine::weights::{GgufFile, WeightSource};
use crate::engine::EngineError;

/// Llama hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The Llama-family keys.
    pub common: CommonConfig,
    /// Rotary frequency divisors (`head_dim / 2` entries), if the model scales RoPE.
    pub rope_divisors: Option<Vec<f32>>,
}

impl Config {
    /// Reads the `llama.*` metadata keys and, when present, `rope_freqs.weight` or a linear
    /// `llama.rope.scaling.factor`.
    ///
    /// # Errors
    /// A required key is missing (named) or malformed.
    pub fn from_gguf(file: &mut GgufFile) -> Result<Self, EngineError> {
        let md = file.metadata("llama");
        let common = CommonConfig::from_gguf(&md, gguf_vocab_size(file)?)?;
        let linear = match (md.opt_string("rope.scaling.type")?.as_deref(), md.opt_f64("rope.scaling.factor")?) {
            (Some("linear"), Some(f)) => Some(vec![f as f32; common.head_dim / 2]),
            _ => None,
        };
        let rope_divisors = if file.has_tensor("rope_freqs.weight") {
            Some(file.qtensor("rope_freqs.weight", &Device::Cpu)?.dequantize(&Device::Cpu)?.to_vec1::<f32>()?)
        } else {
            linear
        };
        Ok(Self { common, rope_divisors })
    }

    /// The shared decoder's configuration.
    pub fn decoder(&self, style: RopeStyle) -> DecoderConfig {
        let base = self.common.decoder("llama", style);
        let ropes = vec![RopeSpec { base: self.common.rope_base, divisors: self.rope_divisors.clone() }];
        DecoderConfig { ropes, ..base }
    }
}

/// Loads a Llama GGUF file.
///
/// # Errors
/// Missing metadata or tensors.
pub fn from_gguf(file: &mut GgufFile, dev: &Device) -> Result<Model, EngineError> {
    let config = Config::from_gguf(file)?.decoder(RopeStyle::Interleaved);
    Model::load(config, &mut WeightSource::Gguf(file), dev)
}

/// The decoder configuration of a Hugging Face Llama checkpoint.
///
/// # Errors
/// A `rope_scaling` block of an unsupported type.
pub fn decoder_config_hf(hf: &HfConfig) -> Result<DecoderConfig, EngineError> {
    let common = CommonConfig::from_hf(hf);
    let rope_divisors = match &hf.rope_scaling {
        None | Some(serde_json::Value::Null) => None,
        Some(s) => Some(llama3_divisors(s, common.head_dim, common.rope_base)?),
    };
    Ok(Config { common, rope_divisors }.decoder(RopeStyle::Neox))
}

/// Llama 3.1's per-frequency divisors: high frequencies unchanged, low ones divided by
/// `factor`, a smooth blend in between (Meta's `apply_scaling`).
fn llama3_divisors(s: &serde_json::Value, head_dim: usize, base: f64) -> Result<Vec<f32>, EngineError> {
    let field = |k: &str| s.get(k).and_then(serde_json::Value::as_f64);
    let bad = |what: &str| EngineError::BadValue {
        path: "config.json".into(),
        key: "rope_scaling".into(),
        what: what.to_string(),
    };
    let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(|v| v.as_str()).unwrap_or("");
    let factor = field("factor").ok_or_else(|| bad("missing `factor`"))?;
    if kind == "linear" {
        return Ok(vec![factor as f32; head_dim / 2]);
    }
    if kind != "llama3" {
        return Err(bad(&format!("rope type `{kind}` is not supported; expected `llama3` or `linear`")));
    }
    let (low, high) = (field("low_freq_factor").unwrap_or(1.0), field("high_freq_factor").unwrap_or(4.0));
    let orig = field("original_max_position_embeddings").unwrap_or(8192.0);
    let (low_wavelen, high_wavelen) = (orig / low, orig / high);
    Ok((0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / base.powf(2.0 * i as f64 / head_dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            let divisor = if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (orig / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            divisor as f32
        })
        .collect())
}
