//! Building blocks shared by every architecture: linear layers over quantised or plain weights,
//! RMSNorm, rotary embeddings, grouped-query attention with a per-row mask and a KV cache, and
//! gated MLPs. It owns the per-token math; the decoder stack and its wiring live in `decoder`,
//! hyper-parameters in `models/<arch>.rs`.
//!
//! Reference: llama.cpp `src/llama-graph.cpp` / `src/models/*.cpp` (build_attn, build_ffn,
//! ggml_rope_ext modes NORM and NEOX), whose numerics the tests compare against.

use candle_core::{DType, Device, Module, Tensor, D};

use super::host_attention::{HeadShape, HostKvCache, Visibility};
use super::weights::{Matrix, WeightSource};
use super::EngineError;

/// Additive mask value for forbidden keys: finite, so a fully masked (padding) query row yields a
/// uniform softmax instead of NaN; its output is never used.
const MASKED: f32 = -1.0e30;

/// A linear map `y = x Wᵀ + b` over a quantised or plain weight.
#[derive(Clone)]
pub struct Linear {
    weight: Matrix,
    bias: Option<Tensor>,
}

impl Linear {
    /// Loads `<stem>.weight` and, when present, `<stem>.bias`.
    ///
    /// # Errors
    /// The weight is missing or unreadable.
    pub fn load(src: &mut WeightSource, stem: &str, dev: &Device) -> Result<Self, EngineError> {
        let weight = src.matrix(&format!("{stem}.weight"), dev)?;
        let bias_name = format!("{stem}.bias");
        let bias = if src.has(&bias_name) { Some(src.tensor(&bias_name, dev)?) } else { None };
        Ok(Self { weight, bias })
    }

    /// Wraps an already loaded weight (tied embeddings, benches).
    pub fn from_weight(weight: Matrix) -> Self {
        Self { weight, bias: None }
    }

    /// Applies the map to `[.., in]`, giving `[.., out]`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let y = match &self.weight {
            Matrix::Packed(w) => w.forward(x)?,
            Matrix::Candle(w) => w.forward(x)?,
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// Looks up rows of the weight as embeddings: `[b, s]` ids give `[b, s, in]`.
    ///
    /// # Errors
    /// An id outside the vocabulary or a shape mismatch.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor, EngineError> {
        match &self.weight {
            Matrix::Packed(w) => w.embedding(ids),
            Matrix::Candle(w) => Ok(w.embedding(ids)?.to_dtype(DType::F32)?),
        }
    }
}

/// Root-mean-square normalisation over the last dimension, `x / rms(x) * w`.
///
/// Gemma checkpoints store `w - 1` (applied as `1 + w`); llama.cpp's converter adds the 1 when
/// writing GGUF, so only the safetensors path uses [`RmsNorm::load_offset`].
#[derive(Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    /// Loads a norm whose weight is used as stored.
    ///
    /// # Errors
    /// The weight is missing or unreadable.
    pub fn load(src: &mut WeightSource, name: &str, eps: f64, dev: &Device) -> Result<Self, EngineError> {
        Ok(Self { weight: src.tensor(name, dev)?, eps: eps as f32 })
    }

    /// Loads a Gemma-style norm stored as `w - 1`.
    ///
    /// # Errors
    /// The weight is missing or unreadable.
    pub fn load_offset(src: &mut WeightSource, name: &str, eps: f64, dev: &Device) -> Result<Self, EngineError> {
        Ok(Self { weight: (src.tensor(name, dev)? + 1.0)?, eps: eps as f32 })
    }

    /// Normalises `[.., d]` over `d`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        Ok(candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)?)
    }
}

/// How rotary embedding pairs dimensions: llama.cpp's NORM mode rotates adjacent pairs
/// (`(x0, x1)`, GGUF Llama, whose q/k rows the converter permuted), NEOX rotates halves
/// (`(x_i, x_{i+d/2})`, Qwen, Gemma, and Hugging Face Llama checkpoints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs.
    Interleaved,
    /// Halves.
    Neox,
}

/// One rotary embedding: inverse frequencies only; angles are computed per forward from each
/// row's positions, so no table of the maximum context is ever materialised.
#[derive(Clone)]
pub struct Rotary {
    inv_freq: Tensor,
    style: RopeStyle,
}

impl Rotary {
    /// Builds `1 / (base^(2i/d) * divisor_i)` for `i < d/2`. `divisors` holds llama.cpp's
    /// per-frequency factors (`rope_freqs.weight`, Llama 3.1) or a linear scaling factor.
    ///
    /// # Errors
    /// `divisors` has the wrong length.
    pub fn new(head_dim: usize, base: f64, divisors: Option<&[f32]>, style: RopeStyle, dev: &Device)
        -> Result<Self, EngineError> {
        let half = head_dim / 2;
        if divisors.is_some_and(|d| d.len() != half) {
            return Err(EngineError::Input(format!("rope factors must have {half} entries")));
        }
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                let divisor = divisors.and_then(|d| d.get(i)).copied().unwrap_or(1.0);
                (1.0 / (base.powf(2.0 * i as f64 / head_dim as f64) * f64::from(divisor))) as f32
            })
            .collect();
        Ok(Self { inv_freq: Tensor::from_vec(inv_freq, half, dev)?, style })
    }

    /// cos and sin tables `[b, s, d/2]` for positions `[b, s]` (f32).
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn tables(&self, positions: &Tensor) -> Result<(Tensor, Tensor), EngineError> {
        let angles = positions.unsqueeze(D::Minus1)?.broadcast_mul(&self.inv_freq.reshape((1, 1, ()))?)?;
        Ok((angles.cos()?.contiguous()?, angles.sin()?.contiguous()?))
    }

    /// Rotates `[b, h, s, d]` by the tables from [`Rotary::tables`].
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor, EngineError> {
        let x = x.contiguous()?;
        Ok(match self.style {
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(&x, cos, sin)?,
            RopeStyle::Neox => candle_nn::rotary_emb::rope(&x, cos, sin)?,
        })
    }
}

/// Which rows of a batch are padding: row `r` has `pads[r]` padding columns on the left, so its
/// token in column `c` sits at position `c - pads[r]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowPadding {
    /// Left padding per row, in columns.
    pub pads: Vec<usize>,
}

impl RowPadding {
    /// Positions `[b, s]` (f32) of columns `offset..offset + seq`; padding columns get 0.
    ///
    /// # Errors
    /// Tensor creation failed.
    pub fn positions(&self, offset: usize, seq: usize, dev: &Device) -> Result<Tensor, EngineError> {
        let cols = Tensor::arange(offset as f32, (offset + seq) as f32, dev)?.unsqueeze(0)?;
        let pads: Vec<f32> = self.pads.iter().map(|&p| p as f32).collect();
        let pads = Tensor::from_vec(pads, (self.pads.len(), 1), dev)?;
        Ok(cols.broadcast_sub(&pads)?.relu()?)
    }

    /// Additive mask `[b, 1, s, offset + s]` for queries in columns `offset..offset + seq`: a key is
    /// visible when it is not padding, not in the future, and (with a window `w`) fewer than `w`
    /// positions back, as llama.cpp's standard sliding window (`p_q - p_k < w`).
    ///
    /// # Errors
    /// Tensor creation failed.
    pub fn mask(&self, offset: usize, seq: usize, window: Option<usize>, dev: &Device)
        -> Result<Tensor, EngineError> {
        let kv = offset + seq;
        let q = Tensor::arange(offset as f32, kv as f32, dev)?.reshape((seq, 1))?;
        let k = Tensor::arange(0f32, kv as f32, dev)?.reshape((1, kv))?;
        let mut visible = k.broadcast_le(&q)?;
        if let Some(w) = window {
            let back = q.broadcast_sub(&k)?;
            visible = (visible * back.lt(w as f64)?)?;
        }
        let pads: Vec<f32> = self.pads.iter().map(|&p| p as f32).collect();
        let pads = Tensor::from_vec(pads, (self.pads.len(), 1, 1), dev)?;
        let not_pad = k.unsqueeze(0)?.broadcast_ge(&pads)?;
        let visible = visible.unsqueeze(0)?.broadcast_mul(&not_pad)?;
        let zeros = Tensor::zeros(visible.shape(), DType::F32, dev)?;
        let masked = Tensor::full(MASKED, visible.shape(), dev)?;
        Ok(visible.where_cond(&zeros, &masked)?.unsqueeze(1)?)
    }
}

/// Keys and values of all past columns, `[b, kv_heads, columns, head_dim]`.
#[derive(Clone, Default)]
pub struct KvCache {
    kv: Option<(Tensor, Tensor)>,
}

impl KvCache {
    /// Number of cached columns.
    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.kv.is_none()
    }

    /// Appends new columns and returns all keys and values.
    ///
    /// # Errors
    /// Batch or head shapes differ from the cached ones.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor), EngineError> {
        let (k, v) = match &self.kv {
            None => (k.contiguous()?, v.contiguous()?),
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2)?, Tensor::cat(&[pv, v], 2)?),
        };
        self.kv = Some((k.clone(), v.clone()));
        Ok((k, v))
    }

    /// Keeps only the given batch rows (finished rows leave the batch).
    ///
    /// # Errors
    /// A row index out of range.
    pub fn retain_rows(&mut self, rows: &Tensor) -> Result<(), EngineError> {
        if let Some((k, v)) = &self.kv {
            self.kv = Some((k.index_select(rows, 0)?, v.index_select(rows, 0)?));
        }
        Ok(())
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.kv = None;
    }

    /// Where the cached tensors live, if any.
    fn device(&self) -> Option<Device> {
        self.kv.as_ref().map(|(k, _)| k.device().clone())
    }
}

/// Shape and options of one attention layer.
#[derive(Clone, Debug)]
pub struct AttentionShape {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_head`).
    pub n_kv_head: usize,
    /// Dimension per head.
    pub head_dim: usize,
    /// Factor applied to queries before `q·k` (usually `1/sqrt(head_dim)`).
    pub scale: f64,
}

/// Per-forward inputs every layer shares: rotary tables per rotary variant, the batch's padding
/// and, off the CPU, additive masks per window.
pub struct StepInputs {
    /// (cos, sin) per rotary variant, each `[b, s, d/2]`.
    pub rope: Vec<(Tensor, Tensor)>,
    /// The full causal mask and, if any layer has a window, the windowed one (empty on the CPU,
    /// whose attention kernel reads `pads` and `offset` instead).
    pub masks: Vec<Tensor>,
    /// Left padding per row.
    pub pads: Vec<usize>,
    /// Column of the first input token.
    pub offset: usize,
}

/// Multi-head self-attention with optional q/k norms, a KV cache and grouped-query heads.
pub struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    shape: AttentionShape,
    rope: Rotary,
    rope_index: usize,
    mask_index: usize,
    window: Option<usize>,
    cache: KvCache,
    host_cache: HostKvCache,
}

/// The loaded parts of an [`Attention`] layer.
pub struct AttentionParts {
    /// Projections q, k, v, output.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    /// Per-head RMSNorm of queries (Qwen3, Gemma 3).
    pub q_norm: Option<RmsNorm>,
    /// Per-head RMSNorm of keys.
    pub k_norm: Option<RmsNorm>,
    /// The rotary embedding, and its index into [`StepInputs::rope`].
    pub rope: (Rotary, usize),
    /// Index of this layer's mask in [`StepInputs::masks`].
    pub mask_index: usize,
    /// This layer's sliding window (`None`: full causal attention).
    pub window: Option<usize>,
}

impl Attention {
    /// Assembles a layer from loaded parts.
    pub fn new(parts: AttentionParts, shape: AttentionShape) -> Self {
        let AttentionParts { q, k, v, o, q_norm, k_norm, rope, mask_index, window } = parts;
        Self { q, k, v, o, q_norm, k_norm, shape, rope: rope.0, rope_index: rope.1, mask_index, window,
            cache: KvCache::default(), host_cache: HostKvCache::default() }
    }

    fn heads(&self, x: &Tensor, n: usize, norm: Option<&RmsNorm>) -> Result<Tensor, EngineError> {
        let (b, s, _) = x.dims3()?;
        let x = x.reshape((b, s, n, self.shape.head_dim))?;
        let x = match norm {
            Some(norm) => norm.forward(&x)?,
            None => x,
        };
        Ok(x.transpose(1, 2)?.contiguous()?)
    }

    /// Attends `[b, s, hidden]` over the cache plus itself and appends to the cache.
    ///
    /// # Errors
    /// Shape mismatch between input, cache and step inputs.
    pub fn forward(&mut self, x: &Tensor, step: &StepInputs) -> Result<Tensor, EngineError> {
        let missing = || EngineError::Input("step inputs lack this layer's rope".into());
        let (cos, sin) = step.rope.get(self.rope_index).ok_or_else(missing)?;
        let q = self.heads(&self.q.forward(x)?, self.shape.n_head, self.q_norm.as_ref())?;
        let k = self.heads(&self.k.forward(x)?, self.shape.n_kv_head, self.k_norm.as_ref())?;
        let v = self.heads(&self.v.forward(x)?, self.shape.n_kv_head, None)?;
        let q = (self.rope.apply(&q, cos, sin)? * self.shape.scale)?;
        let k = self.rope.apply(&k, cos, sin)?;
        let out = if x.device().is_cpu() {
            self.host_cache.append(&k, &v)?;
            let AttentionShape { n_head, n_kv_head, head_dim, .. } = self.shape;
            let visible = Visibility { pads: &step.pads, offset: step.offset, window: self.window };
            self.host_cache.attend(&q, HeadShape { n_head, n_kv_head, head_dim }, visible)?
        } else {
            self.attend_with_mask(&q, &k, &v, step)?
        };
        self.o.forward(&out)
    }

    /// The device path: matmuls over the whole cache with an additive mask.
    fn attend_with_mask(&mut self, q: &Tensor, k: &Tensor, v: &Tensor, step: &StepInputs)
        -> Result<Tensor, EngineError> {
        let (b, _, s, _) = q.dims4()?;
        let AttentionShape { n_head, n_kv_head, head_dim, .. } = self.shape;
        let mask = step.masks.get(self.mask_index)
            .ok_or_else(|| EngineError::Input("step inputs lack this layer's mask".into()))?;
        let (k, v) = self.cache.append(k, v)?;
        let kv = k.dim(2)?;
        // Grouped-query attention without copying keys: query head h uses kv head h / groups,
        // so [b, n_head, s, d] regroups as [b, n_kv_head, groups * s, d].
        let groups = n_head / n_kv_head;
        let q = q.reshape((b, n_kv_head, groups * s, head_dim))?;
        let scores = q.matmul(&k.t()?)?.reshape((b, n_head, s, kv))?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask)?)?;
        let probs = probs.reshape((b, n_kv_head, groups * s, kv))?;
        let out = probs.matmul(&v)?.reshape((b, n_head, s, head_dim))?;
        Ok(out.transpose(1, 2)?.reshape((b, s, n_head * head_dim))?)
    }

    /// Number of cached columns.
    pub fn cached_columns(&self) -> usize {
        self.cache.len().max(self.host_cache.columns())
    }

    /// Keeps only the given batch rows in the cache.
    ///
    /// # Errors
    /// A row index out of range.
    pub fn retain_rows(&mut self, rows: &[usize]) -> Result<(), EngineError> {
        if !self.cache.is_empty() {
            let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
            let device = self.cache.device().unwrap_or(Device::Cpu);
            self.cache.retain_rows(&Tensor::from_vec(idx, rows.len(), &device)?)?;
        }
        self.host_cache.retain_rows(rows)
    }

    /// Empties the cache.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
        self.host_cache.clear();
    }
}

/// The gate activation of a gated MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (Llama, Qwen).
    Silu,
    /// tanh-approximated GELU (Gemma).
    GeluTanh,
}

/// `down(act(gate(x)) * up(x))`.
pub struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
    act: Activation,
}

impl Mlp {
    /// Loads `ffn_gate`, `ffn_up`, `ffn_down` under `prefix` (e.g. `blk.3.`).
    ///
    /// # Errors
    /// A weight is missing or unreadable.
    pub fn load(src: &mut WeightSource, prefix: &str, act: Activation, dev: &Device) -> Result<Self, EngineError> {
        Ok(Self {
            gate: Linear::load(src, &format!("{prefix}ffn_gate"), dev)?,
            up: Linear::load(src, &format!("{prefix}ffn_up"), dev)?,
            down: Linear::load(src, &format!("{prefix}ffn_down"), dev)?,
            act,
        })
    }

    /// Applies the MLP to `[.., hidden]`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let gate = self.gate.forward(x)?;
        let gate = match self.act {
            Activation::Silu => candle_nn::ops::silu(&gate)?,
            Activation::GeluTanh => gate.gelu()?,
        };
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_padding_future_and_keys_outside_the_window() {
        let dev = Device::Cpu;
        // Row 0: no padding; row 1: one padding column. Queries at columns 2..4, window 2.
        let rows = RowPadding { pads: vec![0, 1] };
        let m = rows.mask(2, 2, Some(2), &dev).unwrap().squeeze(1).unwrap();
        let m: Vec<Vec<Vec<f32>>> = m.to_vec3().unwrap();
        let open = |x: f32| x == 0.0;
        // Query column 2 sees columns 1 and 2 (2 - k < 2), column 3 sees 2 and 3.
        assert_eq!(m[0][0].iter().map(|&x| open(x)).collect::<Vec<_>>(), [false, true, true, false]);
        assert_eq!(m[0][1].iter().map(|&x| open(x)).collect::<Vec<_>>(), [false, false, true, true]);
        // Row 1's column 0 is padding; column 1 is its first token.
        assert_eq!(m[1][0].iter().map(|&x| open(x)).collect::<Vec<_>>(), [false, true, true, false]);
        let no_window = rows.mask(2, 2, None, &dev).unwrap().squeeze(1).unwrap().to_vec3::<f32>().unwrap();
        assert_eq!(no_window[1][1].iter().map(|&x| open(x)).collect::<Vec<_>>(), [false, true, true, true]);
    }

    #[test]
    fn positions_start_at_zero_after_each_rows_padding() {
        let rows = RowPadding { pads: vec![0, 2] };
        let p: Vec<Vec<f32>> = rows.positions(1, 3, &Device::Cpu).unwrap().to_vec2().unwrap();
        assert_eq!(p, vec![vec![1.0, 2.0, 3.0], vec![0.0, 0.0, 1.0]]);
    }

    #[test]
    fn rotary_neox_rotates_halves_by_position_times_frequency() {
        let dev = Device::Cpu;
        // head_dim 4, base 100: inverse frequencies 1 and 1/10. At position 2 the first pair
        // (x0, x2) turns by 2 rad, the second (x1, x3) by 0.2 rad.
        let rope = Rotary::new(4, 100.0, None, RopeStyle::Neox, &dev).unwrap();
        let (cos, sin) = rope.tables(&Tensor::new(&[[2f32]], &dev).unwrap()).unwrap();
        let x = Tensor::new(&[1f32, 0., 0., 0.], &dev).unwrap().reshape((1, 1, 1, 4)).unwrap();
        let y: Vec<f32> = rope.apply(&x, &cos, &sin).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!((y[0] - 2f32.cos()).abs() < 1e-6 && (y[2] - 2f32.sin()).abs() < 1e-6, "{y:?}");
    }
}
