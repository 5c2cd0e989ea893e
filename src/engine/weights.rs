//! Named weight tensors and hyper-parameters from either a GGUF file or a Hugging Face
//! safetensors checkpoint (config.json + *.safetensors). Architectures ask for tensors by their
//! GGUF names (`blk.3.attn_q.weight`); the safetensors source maps those to Hugging Face names.
//! It owns load-time numerics (re-quantisation, dtype) and nothing about how tensors are used.
//!
//! On the CPU, quantised matrices go to mhbench's own kernels ([`super::kernels`]) exactly as
//! stored (no re-quantisation). Off the CPU, candle's kernels run them; there Q4_0/Q4_1/Q5_0/Q5_1
//! are re-quantised to Q8_0 at load (Q8_0 keeps one f16 scale per 32 values, so each weight moves
//! by at most half a Q8_0 step, |Δw| <= max|w_block| / 254).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::gguf::Gguf;
use super::kernels::{Kernel, PackedMatrix};
use super::EngineError;

/// An open GGUF file: its parsed header and a reader for tensor data.
pub struct GgufFile {
    path: PathBuf,
    content: Content,
    reader: File,
}

impl GgufFile {
    /// Opens and parses the header of a GGUF file (tensor data is read lazily).
    ///
    /// # Errors
    /// The file cannot be opened or is not GGUF.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        Self::from_header(Gguf::open(path)?)
    }

    /// Keeps a header [`Gguf`] already parsed (the one GGUF reader) and opens the file for
    /// tensor data, so a load parses the header once.
    ///
    /// # Errors
    /// The file can no longer be opened.
    pub fn from_header(gguf: Gguf) -> Result<Self, EngineError> {
        let (path, content) = gguf.into_parts();
        let reader = File::open(&path).map_err(|source| EngineError::Io { path: path.clone(), source })?;
        Ok(Self { path, content, reader })
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `general.architecture`.
    ///
    /// # Errors
    /// The key is missing or not a string.
    pub fn architecture(&self) -> Result<String, EngineError> {
        match self.content.metadata.get("general.architecture") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(EngineError::MissingKey {
                path: self.path.clone(),
                key: "general.architecture".into(),
                arch: "GGUF".into(),
            }),
        }
    }

    /// Typed access to metadata keys under the `arch.` prefix.
    pub fn metadata<'a>(&'a self, arch: &'a str) -> Metadata<'a> {
        Metadata { path: &self.path, arch, values: &self.content.metadata }
    }

    /// Whether the file holds a tensor with this name.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The dimensions of a tensor, outermost first (`[rows, columns]` for a matrix).
    ///
    /// # Errors
    /// The tensor is missing.
    pub fn tensor_dims(&self, name: &str) -> Result<Vec<usize>, EngineError> {
        match self.content.tensor_infos.get(name) {
            Some(info) => Ok(info.shape.dims().to_vec()),
            None => Err(EngineError::MissingTensor { path: self.path.clone(), name: name.into() }),
        }
    }

    /// Reads one tensor as stored (quantised or not) onto `dev`.
    ///
    /// # Errors
    /// The tensor is missing or its data cannot be read.
    pub fn qtensor(&mut self, name: &str, dev: &Device) -> Result<QTensor, EngineError> {
        if !self.has_tensor(name) {
            return Err(EngineError::MissingTensor { path: self.path.clone(), name: name.into() });
        }
        Ok(self.content.tensor(&mut self.reader, name, dev)?)
    }
}

/// Metadata keys of one architecture, with errors that name the missing key.
pub struct Metadata<'a> {
    path: &'a Path,
    arch: &'a str,
    values: &'a HashMap<String, Value>,
}

impl Metadata<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(&format!("{}.{key}", self.arch))
    }

    fn missing(&self, key: &str) -> EngineError {
        EngineError::MissingKey {
            path: self.path.to_path_buf(),
            key: format!("{}.{key}", self.arch),
            arch: self.arch.to_string(),
        }
    }

    fn bad(&self, key: &str, what: &str) -> EngineError {
        EngineError::BadValue {
            path: self.path.to_path_buf(),
            key: format!("{}.{key}", self.arch),
            what: what.to_string(),
        }
    }

    /// A required non-negative integer.
    ///
    /// # Errors
    /// Missing, or not a non-negative integer.
    pub fn usize(&self, key: &str) -> Result<usize, EngineError> {
        self.opt_usize(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional non-negative integer.
    ///
    /// # Errors
    /// Present but not a non-negative integer.
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>, EngineError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let n: Option<u64> = match v {
            Value::U8(x) => Some(u64::from(*x)),
            Value::U16(x) => Some(u64::from(*x)),
            Value::U32(x) => Some(u64::from(*x)),
            Value::U64(x) => Some(*x),
            Value::I8(x) => u64::try_from(*x).ok(),
            Value::I16(x) => u64::try_from(*x).ok(),
            Value::I32(x) => u64::try_from(*x).ok(),
            Value::I64(x) => u64::try_from(*x).ok(),
            _ => None,
        };
        let n = n.and_then(|n| usize::try_from(n).ok());
        n.map(Some).ok_or_else(|| self.bad(key, "expected a non-negative integer"))
    }

    /// A required number.
    ///
    /// # Errors
    /// Missing, or not a number.
    pub fn f64(&self, key: &str) -> Result<f64, EngineError> {
        self.opt_f64(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional number.
    ///
    /// # Errors
    /// Present but not a number.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, EngineError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::F32(x)) => Ok(Some(f64::from(*x))),
            Some(Value::F64(x)) => Ok(Some(*x)),
            Some(_) => match self.opt_usize(key) {
                Ok(Some(n)) => Ok(Some(n as f64)),
                _ => Err(self.bad(key, "expected a number")),
            },
        }
    }

    /// An optional string.
    ///
    /// # Errors
    /// Present but not a string.
    pub fn opt_string(&self, key: &str) -> Result<Option<String>, EngineError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(key, "expected a string")),
        }
    }
}

/// A loaded weight matrix: packed for mhbench's CPU kernels, or a candle matrix (devices, float
/// weights).
#[derive(Clone)]
pub enum Matrix {
    /// Quantised, on the CPU, in [`PackedMatrix`]'s layout.
    Packed(Arc<PackedMatrix>),
    /// Anything candle multiplies.
    Candle(QMatMul),
}

/// Where weights come from: a GGUF file or a safetensors checkpoint.
pub enum WeightSource<'a> {
    /// Quantised or plain tensors from GGUF, under their GGUF names.
    Gguf(&'a mut GgufFile),
    /// Plain tensors from safetensors, under Hugging Face names, converted to f32.
    Safetensors {
        /// The checkpoint directory, for messages.
        dir: PathBuf,
        /// candle's memory-mapped reader.
        vb: VarBuilder<'a>,
    },
}

impl WeightSource<'_> {
    /// Whether a tensor with this GGUF name exists.
    pub fn has(&self, name: &str) -> bool {
        match self {
            Self::Gguf(f) => f.has_tensor(name),
            Self::Safetensors { vb, .. } => hf_name(name).is_some_and(|n| vb.contains_tensor(&n)),
        }
    }

    /// A weight matrix `[out, in]` for matmuls: on the CPU, quantised types go to mhbench's
    /// kernels as stored; elsewhere they stay with candle (Q4_0/Q5_0 families re-quantised to
    /// Q8_0); F16/BF16/F32 (and Q2_K/Q3_K on the CPU) become candle matrices.
    ///
    /// # Errors
    /// Missing tensor or unreadable data.
    pub fn matrix(&mut self, name: &str, dev: &Device) -> Result<Matrix, EngineError> {
        match self {
            Self::Gguf(f) => {
                let t = f.qtensor(name, &Device::Cpu)?;
                if dev.is_cpu() {
                    // A bad MHBENCH_KERNEL stops the load here, before any compute.
                    Kernel::active()?;
                    return Ok(match PackedMatrix::from_qtensor(&t)? {
                        Some(packed) => Matrix::Packed(Arc::new(packed)),
                        None => Matrix::Candle(QMatMul::from_arc(Arc::new(t))?),
                    });
                }
                let t = if needs_requantization(t.dtype()) {
                    QTensor::quantize_onto(&t.dequantize(&Device::Cpu)?, GgmlDType::Q8_0, dev)?
                } else {
                    f.qtensor(name, dev)?
                };
                Ok(Matrix::Candle(QMatMul::from_arc(Arc::new(t))?))
            }
            Self::Safetensors { .. } => Ok(Matrix::Candle(QMatMul::Tensor(self.tensor(name, dev)?))),
        }
    }

    /// A plain f32 tensor (norm weights, biases, rope factors).
    ///
    /// # Errors
    /// Missing tensor or unreadable data.
    pub fn tensor(&mut self, name: &str, dev: &Device) -> Result<Tensor, EngineError> {
        match self {
            Self::Gguf(f) => Ok(f.qtensor(name, &Device::Cpu)?.dequantize(dev)?),
            Self::Safetensors { dir, vb } => {
                let missing =
                    || EngineError::MissingTensor { path: dir.clone(), name: name.to_string() };
                let hf = hf_name(name).ok_or_else(missing)?;
                if !vb.contains_tensor(&hf) {
                    return Err(EngineError::MissingTensor { path: dir.clone(), name: hf });
                }
                Ok(vb.get_unchecked_dtype(&hf, DType::F32)?.to_device(dev)?)
            }
        }
    }
}

/// Types candle's device kernels take only after re-quantisation (see the module doc).
fn needs_requantization(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// The Hugging Face name of a GGUF tensor name for Llama-family checkpoints
/// (llama, qwen2, qwen3), following llama.cpp's `gguf-py/gguf/tensor_mapping.py`.
pub fn hf_name(gguf_name: &str) -> Option<String> {
    let global = match gguf_name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(n) = global {
        return Some(n.to_string());
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, tensor) = rest.split_once('.')?;
    let (stem, kind) = tensor.rsplit_once('.')?;
    let hf = match stem {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_gguf_names_to_hugging_face_names() {
        assert_eq!(hf_name("blk.12.ffn_norm.weight").as_deref(),
            Some("model.layers.12.post_attention_layernorm.weight"));
        assert_eq!(hf_name("blk.0.attn_q.bias").as_deref(), Some("model.layers.0.self_attn.q_proj.bias"));
        assert_eq!(hf_name("output.weight").as_deref(), Some("lm_head.weight"));
        assert_eq!(hf_name("blk.0.post_ffw_norm.weight"), None);
    }
}
