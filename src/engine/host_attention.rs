//! Attention on the CPU: a KV cache kept per slot (one conversation each, with its own length)
//! and a kernel that computes each query's softmax over exactly the keys it may see, in column
//! order.
//!
//! Why not candle's matmul + mask: a general matmul chooses its blocking (and so its rounding)
//! from the shapes, and a masked softmax still sums the masked columns' zeros in a shape-dependent
//! order, so a row's result moved with its batch neighbours' lengths and with the prefill chunk
//! size; Gemma 3 amplifies such rounding to a logit. Here a query's result depends only on its own
//! slot's visible keys, so a left-padded batch, a chunked prefill, a one-shot prefill and a slot
//! that joins a running batch at its own length all agree to the bit. It also appends to the
//! cache without re-copying it each step. Other devices keep the tensor path in `layers`.

use candle_core::{Device, Storage, Tensor};
use rayon::prelude::*;

use super::EngineError;

/// Head counts and width of one attention layer.
#[derive(Clone, Copy, Debug)]
pub struct HeadShape {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Dimension per head.
    pub head_dim: usize,
}

/// One row of a forward call: which cache slot it continues, how many columns that slot held
/// before the call, and its left padding. Each row carries its own length, so rows of one call
/// may sit at different positions (a conversation that joined a running batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowSpan {
    /// Cache slot the row reads and appends to.
    pub slot: usize,
    /// Columns the slot held before this call.
    pub past: usize,
    /// Leading padding columns of the slot: never visible, not counted in positions.
    pub pad: usize,
}

impl RowSpan {
    /// Position of the row's `i`-th new column (0 inside the padding).
    pub fn position(&self, i: usize) -> usize {
        (self.past + i).saturating_sub(self.pad)
    }

    /// The key columns the row's `i`-th new query may see: not padding, not in the future and,
    /// with a window `w`, fewer than `w` positions back (llama.cpp's `p_q - p_k < w`). Empty for
    /// a padding query.
    pub fn visible_keys(&self, i: usize, window: Option<usize>) -> std::ops::Range<usize> {
        let col = self.past + i;
        let window_start = window.map_or(0, |w| (col + 1).saturating_sub(w));
        self.pad.max(window_start)..if col < self.pad { self.pad } else { col + 1 }
    }
}

/// Keys and values of one slot, `[column][kv_head][head_dim]`, grown by appending.
#[derive(Clone, Default)]
struct SlotCache {
    keys: Vec<f32>,
    values: Vec<f32>,
    columns: usize,
}

/// The KV cache of one layer on the CPU: one growable buffer per slot.
#[derive(Clone, Default)]
pub struct HostKvCache {
    slots: Vec<SlotCache>,
}

impl HostKvCache {
    /// Columns cached in `slot` (0 for a slot never used).
    pub fn columns(&self, slot: usize) -> usize {
        self.slots.get(slot).map_or(0, |s| s.columns)
    }

    /// Appends each row's new columns from `k` and `v`, both `[b, kv_heads, s, head_dim]`, to
    /// its slot.
    ///
    /// # Errors
    /// `rows` does not match the batch, a slot's length differs from its row's `past` (two rows
    /// naming one slot included), or the tensors are not f32 on the CPU.
    pub fn append(&mut self, k: &Tensor, v: &Tensor, rows: &[RowSpan]) -> Result<(), EngineError> {
        let (b, heads, s, d) = k.dims4()?;
        if rows.len() != b {
            return Err(EngineError::Input(format!("{b} rows appended with {} row spans", rows.len())));
        }
        with_host_slice(k, |k| {
            with_host_slice(v, |v| {
                for (r, span) in rows.iter().enumerate() {
                    if self.slots.len() <= span.slot {
                        self.slots.resize_with(span.slot + 1, SlotCache::default);
                    }
                    let slot = &mut self.slots[span.slot];
                    if slot.columns != span.past {
                        return Err(EngineError::Input(format!(
                            "slot {} holds {} columns, the step expects {}", span.slot, slot.columns, span.past)));
                    }
                    for i in 0..s {
                        for h in 0..heads {
                            let at = ((r * heads + h) * s + i) * d;
                            slot.keys.extend_from_slice(&k[at..at + d]);
                            slot.values.extend_from_slice(&v[at..at + d]);
                        }
                    }
                    slot.columns += s;
                }
                Ok(())
            })
        })
    }

    /// Empties one slot (its conversation finished), freeing its memory.
    pub fn clear_slot(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = SlotCache::default();
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Attends queries `q` `[b, n_head, s, head_dim]` (already scaled) of the rows `rows` over
    /// their slots, which must already hold the queries' own columns; returns
    /// `[b, s, n_head * head_dim]`.
    ///
    /// # Errors
    /// `q` is not f32 on the CPU or its shape disagrees with `rows` or the cache.
    pub fn attend(&self, q: &Tensor, shape: HeadShape, rows: &[RowSpan], window: Option<usize>)
        -> Result<Tensor, EngineError> {
        let (b, n_head, s, d) = q.dims4()?;
        let fits = |span: &RowSpan| self.columns(span.slot) >= span.past + s;
        if b != rows.len() || n_head != shape.n_head || d != shape.head_dim || !rows.iter().all(fits) {
            return Err(EngineError::Input(format!(
                "queries {:?} do not fit rows {rows:?} of a cache of {} slots, {} heads of {}",
                q.dims(), self.slots.len(), shape.n_head, shape.head_dim)));
        }
        let mut out = vec![0f32; b * s * n_head * d];
        with_host_slice(q, |q| {
            // One work item per (row, query column, head), writing its own `d` outputs.
            out.par_chunks_mut(d).enumerate().for_each_init(Vec::new, |scores, (item, out)| {
                let h = item % n_head;
                let i = (item / n_head) % s;
                let r = item / (n_head * s);
                let query = &q[((r * n_head + h) * s + i) * d..][..d];
                let kv_head = h / (n_head / shape.n_kv_head);
                let keys = rows[r].visible_keys(i, window);
                let slot = &self.slots[rows[r].slot];
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked on the line above).
                    unsafe { attend_one_avx2(query, slot, keys, kv_head, shape, scores, out) };
                    return;
                }
                attend_one(query, slot, keys, kv_head, shape, scores, out);
            });
            Ok(())
        })?;
        Ok(Tensor::from_vec(out, (b, s, n_head * d), &Device::Cpu)?)
    }
}

/// [`attend_one`] compiled for AVX2: 8-wide partial sums in one register. The same operations
/// in the same order (Rust never fuses a multiply and an add on its own), so the same bits.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn attend_one_avx2(query: &[f32], row: &SlotCache, keys: std::ops::Range<usize>, kv_head: usize,
    shape: HeadShape, scores: &mut Vec<f32>, out: &mut [f32]) {
    attend_one(query, row, keys, kv_head, shape, scores, out);
}

/// Softmax-weighted sum of the values in `keys` for one query and head, written to `out`.
#[inline(always)]
fn attend_one(
    query: &[f32],
    row: &SlotCache,
    keys: std::ops::Range<usize>,
    kv_head: usize,
    shape: HeadShape,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let d = shape.head_dim;
    let at = |col: usize| (col * shape.n_kv_head + kv_head) * d;
    // Plain loops, no iterator folds: those are separate functions that the AVX2 copy of this
    // one would call in their baseline build.
    scores.clear();
    for col in keys.clone() {
        scores.push(dot(query, &row.keys[at(col)..at(col) + d]));
    }
    let mut max = f32::NEG_INFINITY;
    for &score in scores.iter() {
        max = max.max(score);
    }
    let mut total = 0f32;
    for (i, col) in keys.enumerate() {
        let weight = (scores[i] - max).exp();
        total += weight;
        axpy(weight, &row.values[at(col)..at(col) + d], out);
    }
    if total > 0.0 {
        for x in out.iter_mut() {
            *x /= total;
        }
    }
}

/// Lanes of the partial sums in [`dot`]: a fixed count, so the rounding never depends on the
/// caller and the loop vectorises.
const LANES: usize = 8;

/// `Σ a·b` over eight partial sums, then the tail (a sum started at -0.0, as `Iterator::sum`).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (a_main, a_tail) = a.split_at(a.len() - a.len() % LANES);
    let (b_main, b_tail) = b.split_at(a_main.len());
    for (x, y) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = -0f32;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail += x * y;
    }
    let mut total = -0f32;
    for v in acc {
        total += v;
    }
    total + tail
}

#[inline(always)]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// Runs `f` on the f32 elements of a contiguous CPU tensor without copying them.
fn with_host_slice<T>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<T, EngineError>) -> Result<T, EngineError> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return Err(EngineError::Input("host attention needs CPU tensors".into()));
    };
    let all = cpu.as_slice::<f32>()?;
    let start = layout.start_offset();
    f(&all[start..start + t.elem_count()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(values: Vec<f32>, dims: (usize, usize, usize, usize)) -> Tensor {
        Tensor::from_vec(values, dims, &Device::Cpu).unwrap()
    }

    fn span(slot: usize, past: usize, pad: usize) -> RowSpan {
        RowSpan { slot, past, pad }
    }

    #[test]
    fn visible_keys_skip_padding_future_and_columns_outside_the_window() {
        let window = Some(3);
        assert_eq!(span(0, 0, 0).visible_keys(4, window), 2..5);
        assert_eq!(span(1, 0, 2).visible_keys(3, window), 2..4);
        assert_eq!(span(1, 0, 2).visible_keys(1, window), 2..2, "a padding query sees nothing");
        assert_eq!(span(0, 0, 0).visible_keys(4, None), 0..5);
        // A row's own length, not the call's, places its queries.
        assert_eq!(span(3, 10, 0).visible_keys(0, None), 0..11);
        assert_eq!(span(3, 10, 0).visible_keys(1, window), 9..12);
        assert_eq!(span(3, 10, 4).position(1), 7);
    }

    #[test]
    fn one_visible_key_returns_its_value_and_two_equal_scores_average() {
        // One row, one head of width 2; keys give equal scores, so the output is the mean value.
        let mut cache = HostKvCache::default();
        let k = tensor(vec![1., 0., 1., 0.], (1, 1, 2, 2));
        let v = tensor(vec![2., 4., 6., 8.], (1, 1, 2, 2));
        cache.append(&k, &v, &[span(0, 0, 0)]).unwrap();
        let shape = HeadShape { n_head: 1, n_kv_head: 1, head_dim: 2 };
        let q = tensor(vec![1., 1., 1., 1.], (1, 1, 2, 2));
        let out = cache.attend(&q, shape, &[span(0, 0, 0)], None).unwrap();
        let out: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(out, vec![2., 4., 4., 6.]);
    }

    #[test]
    fn slots_of_different_lengths_attend_only_their_own_keys() {
        // Slot 2 holds two columns, slot 0 one; a step appends one column to each, in the
        // order (slot 2, slot 0), and each query sees its own slot's keys only.
        let shape = HeadShape { n_head: 1, n_kv_head: 1, head_dim: 1 };
        let mut cache = HostKvCache::default();
        cache.append(&tensor(vec![1.], (1, 1, 1, 1)), &tensor(vec![10.], (1, 1, 1, 1)), &[span(0, 0, 0)]).unwrap();
        let two = tensor(vec![0., 0.], (1, 1, 2, 1));
        cache.append(&two, &tensor(vec![20., 40.], (1, 1, 2, 1)), &[span(2, 0, 0)]).unwrap();
        assert_eq!((cache.columns(0), cache.columns(1), cache.columns(2)), (1, 0, 2));
        let step = [span(2, 2, 0), span(0, 1, 0)];
        let k = tensor(vec![0., 1.], (2, 1, 1, 1));
        cache.append(&k, &tensor(vec![60., 30.], (2, 1, 1, 1)), &step).unwrap();
        let q = tensor(vec![1., 0.], (2, 1, 1, 1));
        let out: Vec<f32> = cache.attend(&q, shape, &step, None).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        // Slot 2: equal scores over 20, 40, 60; slot 0: a zero query gives equal scores over 10, 30.
        assert_eq!(out, vec![40., 20.]);
        let err = cache.append(&k, &k, &[span(2, 2, 0), span(0, 2, 0)]).unwrap_err().to_string();
        assert!(err.contains("slot 2 holds 3 columns, the step expects 2"), "{err}");
        cache.clear_slot(2);
        assert_eq!(cache.columns(2), 0);
        assert!(cache.attend(&q, shape, &step, None).is_err(), "a cleared slot has no keys to attend");
    }
}
