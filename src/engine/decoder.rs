//! The decoder-only transformer every supported architecture instantiates: embeddings, a stack
//! of pre-norm blocks (attention + gated MLP, with Gemma's extra post-norms), a final norm and the
//! output projection. Architecture files (`models/<arch>.rs`) translate their metadata into a
//! [`DecoderConfig`] and call [`Model::load`]; this file never reads metadata keys itself.
//!
//! Forward contract: the KV cache is a set of slots, one conversation each, each with its own
//! length. [`Model::forward_slots`] feeds the next `s` columns of the named slots, each continuing
//! at its own position, so a conversation may join a running batch; [`Model::forward`] feeds a
//! left-padded batch whose row `r` is slot `r`. Either way a prompt may be fed in one call or in
//! chunks with identical results, and single-column calls decode.

use candle_core::{Device, Tensor};

use super::host_attention::RowSpan;
use super::layers::{
    positions, row_mask, Activation, Attention, AttentionParts, AttentionShape, Linear, Mlp, RmsNorm, RopeStyle,
    Rotary, RowPadding, StepInputs,
};
use super::weights::WeightSource;
use super::EngineError;

/// One rotary embedding variant (Gemma 3 has a local and a global one).
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    /// Frequency base θ.
    pub base: f64,
    /// Per-frequency divisors (Llama 3.1's `rope_freqs.weight`, or a linear scaling factor
    /// repeated), `head_dim / 2` entries; `None` for plain RoPE.
    pub divisors: Option<Vec<f32>>,
}

/// Per-layer attention kind.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Index into [`DecoderConfig::ropes`].
    pub rope: usize,
    /// Sliding window in positions (`None`: full causal attention).
    pub window: Option<usize>,
}

/// Everything the shared decoder needs, filled in by an architecture file.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    /// Architecture name, for messages.
    pub arch: String,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Dimension per head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// Query scale before `q·k`.
    pub attn_scale: f64,
    /// Rotary variants.
    pub ropes: Vec<RopeSpec>,
    /// One entry per layer.
    pub layers: Vec<LayerSpec>,
    /// Dimension pairing of the rotary embedding.
    pub rope_style: RopeStyle,
    /// MLP gate activation.
    pub activation: Activation,
    /// Per-head RMSNorm on q and k.
    pub qk_norm: bool,
    /// Gemma's post-attention and post-MLP norms.
    pub post_norms: bool,
    /// Norm weights stored as `w - 1` (Gemma safetensors).
    pub norm_offset: bool,
    /// Multiply embeddings by this (Gemma: sqrt(hidden_size)).
    pub embed_scale: Option<f64>,
    /// Final logit soft-capping `cap * tanh(x / cap)`.
    pub final_logit_softcap: Option<f64>,
    /// Largest position the model was trained for.
    pub context_length: usize,
}

struct Block {
    attn_norm: RmsNorm,
    attn: Attention,
    post_attn_norm: Option<RmsNorm>,
    ffn_norm: RmsNorm,
    mlp: Mlp,
    post_ffn_norm: Option<RmsNorm>,
}

impl Block {
    fn forward(&mut self, x: &Tensor, step: &StepInputs) -> Result<Tensor, EngineError> {
        let h = self.attn.forward(&self.attn_norm.forward(x)?, step)?;
        let h = match &self.post_attn_norm {
            Some(n) => n.forward(&h)?,
            None => h,
        };
        let x = (x + h)?;
        let h = self.mlp.forward(&self.ffn_norm.forward(&x)?)?;
        let h = match &self.post_ffn_norm {
            Some(n) => n.forward(&h)?,
            None => h,
        };
        Ok((x + h)?)
    }
}

/// What the decoder knows of one cache slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// Leading padding columns (left-padded batches only).
    pad: usize,
    /// Columns cached, padding included.
    columns: usize,
}

/// A loaded decoder with its KV cache.
pub struct Model {
    config: DecoderConfig,
    embed: Linear,
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: Linear,
    ropes: Vec<Rotary>,
    windows: Vec<Option<usize>>,
    slots: Vec<Slot>,
    device: Device,
}

struct Loader<'s, 'a> {
    src: &'s mut WeightSource<'a>,
    cfg: &'s DecoderConfig,
    dev: &'s Device,
}

impl Loader<'_, '_> {
    fn norm(&mut self, name: &str) -> Result<RmsNorm, EngineError> {
        if self.cfg.norm_offset {
            RmsNorm::load_offset(self.src, name, self.cfg.rms_eps, self.dev)
        } else {
            RmsNorm::load(self.src, name, self.cfg.rms_eps, self.dev)
        }
    }

    fn optional_norm(&mut self, on: bool, name: &str) -> Result<Option<RmsNorm>, EngineError> {
        if on { self.norm(name).map(Some) } else { Ok(None) }
    }

    fn linear(&mut self, stem: &str) -> Result<Linear, EngineError> {
        Linear::load(self.src, stem, self.dev)
    }
}

impl Model {
    /// Loads weights named as in GGUF (`token_embd`, `blk.N.*`, `output_norm`, `output`), tying
    /// the output projection to the embedding when `output.weight` is absent.
    ///
    /// # Errors
    /// A tensor is missing or unreadable, or the config is inconsistent.
    pub fn load(config: DecoderConfig, src: &mut WeightSource, dev: &Device) -> Result<Self, EngineError> {
        if config.n_kv_head == 0 || config.n_head % config.n_kv_head != 0 {
            return Err(EngineError::Input(format!(
                "{}: {} query heads cannot share {} key/value heads", config.arch, config.n_head, config.n_kv_head)));
        }
        let ropes = config
            .ropes
            .iter()
            .map(|r| Rotary::new(config.head_dim, r.base, r.divisors.as_deref(), config.rope_style, dev))
            .collect::<Result<Vec<_>, _>>()?;
        let mut windows: Vec<Option<usize>> = vec![None];
        for l in &config.layers {
            if !windows.contains(&l.window) {
                windows.push(l.window);
            }
        }
        let mut ld = Loader { src, cfg: &config, dev };
        let embed = ld.linear("token_embd")?;
        let output = if ld.src.has("output.weight") { ld.linear("output")? } else { embed.clone() };
        let norm = ld.norm("output_norm.weight")?;
        let mut blocks = Vec::with_capacity(config.layers.len());
        for (i, spec) in config.layers.iter().enumerate() {
            let p = format!("blk.{i}.");
            let rope = ropes.get(spec.rope).cloned().ok_or_else(|| {
                EngineError::Input(format!("layer {i} names rope variant {} of {}", spec.rope, ropes.len()))
            })?;
            let mask_index = windows.iter().position(|w| *w == spec.window).unwrap_or(0);
            let parts = AttentionParts {
                q: ld.linear(&format!("{p}attn_q"))?,
                k: ld.linear(&format!("{p}attn_k"))?,
                v: ld.linear(&format!("{p}attn_v"))?,
                o: ld.linear(&format!("{p}attn_output"))?,
                q_norm: ld.optional_norm(config.qk_norm, &format!("{p}attn_q_norm.weight"))?,
                k_norm: ld.optional_norm(config.qk_norm, &format!("{p}attn_k_norm.weight"))?,
                rope: (rope, spec.rope),
                mask_index,
                window: spec.window,
            };
            let shape = AttentionShape {
                n_head: config.n_head,
                n_kv_head: config.n_kv_head,
                head_dim: config.head_dim,
                scale: config.attn_scale,
            };
            blocks.push(Block {
                attn_norm: ld.norm(&format!("{p}attn_norm.weight"))?,
                attn: Attention::new(parts, shape),
                post_attn_norm: ld.optional_norm(config.post_norms, &format!("{p}post_attention_norm.weight"))?,
                ffn_norm: ld.norm(&format!("{p}ffn_norm.weight"))?,
                mlp: Mlp::load(ld.src, &p, config.activation, dev)?,
                post_ffn_norm: ld.optional_norm(config.post_norms, &format!("{p}post_ffw_norm.weight"))?,
            });
        }
        Ok(Self { config, embed, blocks, norm, output, ropes, windows, slots: Vec::new(), device: dev.clone() })
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The row spans of a left-padded batch: row `r` is slot `r`, and every slot must have been
    /// fed the same columns with the same padding (or the cache be empty).
    fn grid_rows(&mut self, rows: &RowPadding, b: usize) -> Result<Vec<RowSpan>, EngineError> {
        if rows.pads.len() != b {
            return Err(EngineError::Input(format!("{b} token rows but {} padding entries", rows.pads.len())));
        }
        if self.slots.iter().all(|s| s.columns == 0) {
            self.slots = rows.pads.iter().map(|&pad| Slot { pad, columns: 0 }).collect();
        }
        let columns = self.slots.first().map_or(0, |s| s.columns);
        let same = self.slots.len() == b
            && self.slots.iter().zip(&rows.pads).all(|(s, &pad)| s.pad == pad && s.columns == columns);
        if !same {
            return Err(EngineError::Input("row padding changed mid-sequence; clear the cache first".into()));
        }
        Ok(self.spans(&(0..b).collect::<Vec<_>>()))
    }

    /// Each slot's span, continuing at its own length.
    fn spans(&mut self, slots: &[usize]) -> Vec<RowSpan> {
        if let Some(&top) = slots.iter().max() {
            if self.slots.len() <= top {
                self.slots.resize(top + 1, Slot::default());
            }
        }
        slots.iter().map(|&slot| RowSpan { slot, past: self.slots[slot].columns, pad: self.slots[slot].pad }).collect()
    }

    fn hidden(&mut self, tokens: &Tensor, rows: &[RowSpan]) -> Result<Tensor, EngineError> {
        let (b, s) = tokens.dims2()?;
        if rows.len() != b {
            return Err(EngineError::Input(format!("{b} token rows but {} row spans", rows.len())));
        }
        if let Some(row) = rows.iter().find(|r| r.position(s) > self.config.context_length) {
            return Err(EngineError::Input(format!(
                "slot {}: {} positions exceed the context length {}", row.slot, row.position(s), self.config.context_length)));
        }
        let positions = positions(rows, s, &self.device)?;
        let masks = if self.device.is_cpu() {
            Vec::new()
        } else {
            let per_row = |w: Option<usize>| rows.iter().map(|r| row_mask(r, s, w, &self.device)).collect();
            self.windows.iter().map(|&w| per_row(w)).collect::<Result<_, _>>()?
        };
        let step = StepInputs {
            rope: self.ropes.iter().map(|r| r.tables(&positions)).collect::<Result<_, _>>()?,
            masks,
            rows: rows.to_vec(),
        };
        let mut x = self.embed.embed(tokens)?;
        if let Some(scale) = self.config.embed_scale {
            x = (x * scale)?;
        }
        for block in &mut self.blocks {
            x = block.forward(&x, &step)?;
        }
        for row in rows {
            self.slots[row.slot].columns += s;
        }
        self.norm.forward(&x)
    }

    fn logits(&self, hidden: &Tensor) -> Result<Tensor, EngineError> {
        let logits = self.output.forward(hidden)?;
        Ok(match self.config.final_logit_softcap {
            Some(cap) => ((logits / cap)?.tanh()? * cap)?,
            None => logits,
        })
    }

    /// Feeds the next columns `tokens` `[b, s]` (u32) of a batch padded as `rows` (row `r` in
    /// slot `r`) and returns the logits of the last column, `[b, vocab]`.
    ///
    /// # Errors
    /// Shapes disagree with the cache or padding, or the context length is exceeded.
    pub fn forward(&mut self, tokens: &Tensor, rows: &RowPadding) -> Result<Tensor, EngineError> {
        let spans = self.grid_rows(rows, tokens.dim(0)?)?;
        self.last_logits(tokens, &spans)
    }

    /// Feeds the next columns `tokens` `[b, s]` (u32) of the slots `slots` (distinct; a slot
    /// never fed, or released, starts a new conversation), each continuing at its own length,
    /// and returns the logits of the last column, `[b, vocab]`.
    ///
    /// # Errors
    /// A slot named twice, shapes that disagree with `slots`, or the context length exceeded.
    pub fn forward_slots(&mut self, tokens: &Tensor, slots: &[usize]) -> Result<Tensor, EngineError> {
        let mut seen = slots.to_vec();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(EngineError::Input(format!("slots {slots:?}: a slot may take one row per call")));
        }
        let spans = self.spans(slots);
        self.last_logits(tokens, &spans)
    }

    fn last_logits(&mut self, tokens: &Tensor, spans: &[RowSpan]) -> Result<Tensor, EngineError> {
        let h = self.hidden(tokens, spans)?;
        let last = h.dim(1)?.saturating_sub(1);
        self.logits(&h.narrow(1, last, 1)?.squeeze(1)?.contiguous()?)
    }

    /// Like [`Model::forward`] but returns logits of every column, `[b, s, vocab]`.
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn forward_all(&mut self, tokens: &Tensor, rows: &RowPadding) -> Result<Tensor, EngineError> {
        let spans = self.grid_rows(rows, tokens.dim(0)?)?;
        let h = self.hidden(tokens, &spans)?;
        self.logits(&h)
    }

    /// Empties one slot (its conversation finished) so a new conversation can take it.
    pub fn release_slot(&mut self, slot: usize) {
        for b in &mut self.blocks {
            b.attn.clear_slot(slot);
        }
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Slot::default();
        }
    }

    /// Empties the KV cache so the next call starts a new batch.
    pub fn clear_kv_cache(&mut self) {
        for b in &mut self.blocks {
            b.attn.clear_cache();
        }
        self.slots.clear();
    }
}
