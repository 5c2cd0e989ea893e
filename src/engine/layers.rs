//! Building blocks shared by every architecture: linear layers over quantised or plain weights,
//! RMSNorm, rotary embeddings, grouped-query attention with a per-row mask and a KV cache, and
//! gated MLPs. It owns the per-token math; the decoder stack and its wiring live in `decoder`,
//! hyper-parameters in `models/<arch>.rs`.
//!
//! Reference: llama.cpp `src/llama-graph.cpp` / `src/models/*.cpp` (build_attn, build_ffn,
//! ggml_rope_ext modes NORM and NEOX), whose numerics the tests compare against.

use candle_core::{DType, Device, Module, Tensor, D};

use super::host_attention::{HeadShape, HostKvCache, RowSpan};
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

/// Which rows of a left-padded batch are padding: row `r` has `pads[r]` padding columns on the
/// left, so its token in column `c` sits at position `c - pads[r]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowPadding {
    /// Left padding per row, in columns.
    pub pads: Vec<usize>,
}

/// Positions `[b, s]` (f32) of each row's `s` new columns.
///
/// # Errors
/// Tensor creation failed.
pub fn positions(rows: &[RowSpan], seq: usize, dev: &Device) -> Result<Tensor, EngineError> {
    let p: Vec<f32> = rows.iter().flat_map(|r| (0..seq).map(move |i| r.position(i) as f32)).collect();
    Ok(Tensor::from_vec(p, (rows.len(), seq), dev)?)
}

/// Additive mask `[1, 1, s, past + s]` of one row's `s` new queries over its slot's keys, open
/// exactly where [`RowSpan::visible_keys`] is (the CPU kernel's rule), so both paths agree.
///
/// # Errors
/// Tensor creation failed.
pub fn row_mask(row: &RowSpan, seq: usize, window: Option<usize>, dev: &Device) -> Result<Tensor, EngineError> {
    let kv = row.past + seq;
    let mut mask = vec![MASKED; seq * kv];
    for i in 0..seq {
        mask[i * kv..][row.visible_keys(i, window)].fill(0.0);
    }
    Ok(Tensor::from_vec(mask, (1, 1, seq, kv), dev)?)
}

/// Keys and values of one slot's past columns, `[1, kv_heads, columns, head_dim]` (the tensor
/// path keeps one per slot, so slots grow independently).
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

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.kv = None;
    }
}

/// Softmax attention of one row's queries `[1, n_head, s, d]` over its keys and values
/// `[1, n_kv_head, kv, d]` with an additive mask `[1, 1, s, kv]`; returns `[1, s, n_head * d]`.
///
/// # Errors
/// Shape mismatch.
pub fn attend_masked(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, shape: &AttentionShape)
    -> Result<Tensor, EngineError> {
    let (b, _, s, _) = q.dims4()?;
    let AttentionShape { n_head, n_kv_head, head_dim, .. } = *shape;
    let kv = k.dim(2)?;
    // Grouped-query attention without copying keys: query head h uses kv head h / groups,
    // so [b, n_head, s, d] regroups as [b, n_kv_head, groups * s, d].
    let groups = n_head / n_kv_head;
    let q = q.reshape((b, n_kv_head, groups * s, head_dim))?;
    let scores = q.matmul(&k.t()?)?.reshape((b, n_head, s, kv))?;
    let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask)?)?;
    let probs = probs.reshape((b, n_kv_head, groups * s, kv))?;
    let out = probs.matmul(&v.contiguous()?)?.reshape((b, n_head, s, head_dim))?;
    Ok(out.transpose(1, 2)?.reshape((b, s, n_head * head_dim))?)
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

/// Per-forward inputs every layer shares: rotary tables per rotary variant, each row's slot,
/// length and padding and, off the CPU, additive masks per window and row.
pub struct StepInputs {
    /// (cos, sin) per rotary variant, each `[b, s, d/2]`.
    pub rope: Vec<(Tensor, Tensor)>,
    /// Per window variant (the full causal mask first, then any sliding window), one mask per
    /// row from [`row_mask`]; empty on the CPU, whose attention kernel reads `rows` instead.
    pub masks: Vec<Vec<Tensor>>,
    /// Where each row of the call continues.
    pub rows: Vec<RowSpan>,
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
    cache: Vec<KvCache>,
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
            cache: Vec::new(), host_cache: HostKvCache::default() }
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
            self.host_cache.append(&k, &v, &step.rows)?;
            let AttentionShape { n_head, n_kv_head, head_dim, .. } = self.shape;
            self.host_cache.attend(&q, HeadShape { n_head, n_kv_head, head_dim }, &step.rows, self.window)?
        } else {
            self.attend_with_masks(&q, &k, &v, step)?
        };
        self.o.forward(&out)
    }

    /// The device path: each row appends to its slot and attends over it with its own mask.
    fn attend_with_masks(&mut self, q: &Tensor, k: &Tensor, v: &Tensor, step: &StepInputs)
        -> Result<Tensor, EngineError> {
        let masks = step.masks.get(self.mask_index)
            .filter(|m| m.len() == step.rows.len())
            .ok_or_else(|| EngineError::Input("step inputs lack this layer's masks".into()))?;
        let mut outs = Vec::with_capacity(step.rows.len());
        for (r, (row, mask)) in step.rows.iter().zip(masks).enumerate() {
            if self.cache.len() <= row.slot {
                self.cache.resize_with(row.slot + 1, KvCache::default);
            }
            let (keys, values) = self.cache[row.slot].append(&k.narrow(0, r, 1)?, &v.narrow(0, r, 1)?)?;
            outs.push(attend_masked(&q.narrow(0, r, 1)?, &keys, &values, mask, &self.shape)?);
        }
        Ok(Tensor::cat(&outs, 0)?)
    }

    /// Empties one slot of the cache.
    pub fn clear_slot(&mut self, slot: usize) {
        if let Some(cache) = self.cache.get_mut(slot) {
            cache.clear();
        }
        self.host_cache.clear_slot(slot);
    }

    /// Empties the cache.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
        self.host_cache.clear();
    }
}

pub use super::kernels::elementwise::Activation;

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
        let up = self.up.forward(x)?;
        if gate.device().is_cpu() {
            return self.down.forward(&super::kernels::elementwise::gated(self.act, &gate, &up)?);
        }
        let gate = match self.act {
            Activation::Silu => candle_nn::ops::silu(&gate)?,
            Activation::GeluTanh => gate.gelu()?,
        };
        self.down.forward(&(gate * up)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(mask: &Tensor) -> Vec<Vec<bool>> {
        let m: Vec<Vec<f32>> = mask.squeeze(0).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
        m.into_iter().map(|r| r.into_iter().map(|x| x == 0.0).collect()).collect()
    }

    #[test]
    fn row_mask_hides_padding_future_and_keys_outside_the_window() {
        let dev = Device::Cpu;
        // Queries at columns 2..4 after two cached columns, window 2.
        let row = RowSpan { slot: 0, past: 2, pad: 0 };
        let m = open(&row_mask(&row, 2, Some(2), &dev).unwrap());
        // Query column 2 sees columns 1 and 2 (2 - k < 2), column 3 sees 2 and 3.
        assert_eq!(m, [[false, true, true, false], [false, false, true, true]]);
        // One padding column: column 0 is never visible.
        let padded = RowSpan { pad: 1, ..row };
        assert_eq!(open(&row_mask(&padded, 2, None, &dev).unwrap())[1], [false, true, true, true]);
    }

    #[test]
    fn positions_follow_each_rows_own_length_and_padding() {
        let rows = [RowSpan { slot: 0, past: 1, pad: 0 }, RowSpan { slot: 1, past: 1, pad: 2 },
            RowSpan { slot: 5, past: 40, pad: 0 }];
        let p: Vec<Vec<f32>> = positions(&rows, 3, &Device::Cpu).unwrap().to_vec2().unwrap();
        assert_eq!(p, vec![vec![1.0, 2.0, 3.0], vec![0.0, 0.0, 1.0], vec![40.0, 41.0, 42.0]]);
    }

    /// The tensor path (used off the CPU) and the CPU kernel agree on slots of different lengths
    /// with grouped heads and a window; run here on CPU tensors.
    #[test]
    fn masked_tensor_attention_matches_the_cpu_kernel_per_slot() {
        let dev = Device::Cpu;
        let shape = AttentionShape { n_head: 4, n_kv_head: 2, head_dim: 8, scale: 1.0 };
        let heads = HeadShape { n_head: 4, n_kv_head: 2, head_dim: 8 };
        let noise = |n: usize, seed: f32| -> Vec<f32> { (0..n).map(|i| ((i as f32 + seed) * 0.37).sin()).collect() };
        let mut host = HostKvCache::default();
        let mut tensors = vec![KvCache::default(), KvCache::default()];
        // Slot 1 gets 5 columns, slot 0 gets 3, then one step of 2 columns for both.
        let prefill = |slot: usize, s: usize, seed: f32, host: &mut HostKvCache, tensors: &mut [KvCache]| {
            let k = Tensor::from_vec(noise(2 * s * 8, seed), (1, 2, s, 8), &dev).unwrap();
            let v = Tensor::from_vec(noise(2 * s * 8, seed + 50.0), (1, 2, s, 8), &dev).unwrap();
            host.append(&k, &v, &[RowSpan { slot, past: 0, pad: 0 }]).unwrap();
            tensors[slot].append(&k, &v).unwrap();
        };
        prefill(1, 5, 1.0, &mut host, &mut tensors);
        prefill(0, 3, 2.0, &mut host, &mut tensors);
        let rows = [RowSpan { slot: 1, past: 5, pad: 0 }, RowSpan { slot: 0, past: 3, pad: 1 }];
        let k = Tensor::from_vec(noise(2 * 2 * 2 * 8, 3.0), (2, 2, 2, 8), &dev).unwrap();
        let v = Tensor::from_vec(noise(2 * 2 * 2 * 8, 4.0), (2, 2, 2, 8), &dev).unwrap();
        let q = Tensor::from_vec(noise(2 * 4 * 2 * 8, 5.0), (2, 4, 2, 8), &dev).unwrap();
        host.append(&k, &v, &rows).unwrap();
        let want: Vec<f32> = host.attend(&q, heads, &rows, Some(4)).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mut got = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let (keys, values) = tensors[row.slot].append(&k.narrow(0, r, 1).unwrap(), &v.narrow(0, r, 1).unwrap()).unwrap();
            let mask = row_mask(row, 2, Some(4), &dev).unwrap();
            let out = attend_masked(&q.narrow(0, r, 1).unwrap(), &keys, &values, &mask, &shape).unwrap();
            got.extend(out.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        }
        let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "{worst}");
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
