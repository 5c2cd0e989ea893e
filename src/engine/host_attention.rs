//! Attention on the CPU: a KV cache kept per batch row and a kernel that computes each query's
//! softmax over exactly the keys it may see, in column order.
//!
//! Why not candle's matmul + mask: a general matmul chooses its blocking (and so its rounding)
//! from the shapes, and a masked softmax still sums the masked columns' zeros in a shape-dependent
//! order, so a row's result moved with its batch neighbours' lengths and with the prefill chunk
//! size; Gemma 3 amplifies such rounding to a logit. Here a query's result depends only on its own
//! row's visible keys, so a left-padded batch, a chunked prefill and a one-shot prefill agree to
//! the bit. It also appends to the cache without re-copying it each step. Other devices keep the
//! tensor path in `layers`.

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

/// Which cached columns a query column may attend to.
#[derive(Clone, Copy, Debug)]
pub struct Visibility<'a> {
    /// Left padding per row, in columns.
    pub pads: &'a [usize],
    /// Column of the first query.
    pub offset: usize,
    /// Sliding window in positions (`None`: all earlier columns).
    pub window: Option<usize>,
}

impl Visibility<'_> {
    /// The visible key columns of query column `col` in `row`: not padding, not in the future and,
    /// with a window `w`, fewer than `w` positions back (llama.cpp's `p_q - p_k < w`). Empty for a
    /// padding query.
    fn keys(&self, row: usize, col: usize) -> std::ops::Range<usize> {
        let pad = self.pads.get(row).copied().unwrap_or(0);
        let window_start = self.window.map_or(0, |w| (col + 1).saturating_sub(w));
        pad.max(window_start)..if col < pad { pad } else { col + 1 }
    }
}

/// Keys and values of one batch row, `[column][kv_head][head_dim]`, grown by appending.
#[derive(Clone, Default)]
struct RowCache {
    keys: Vec<f32>,
    values: Vec<f32>,
}

/// The KV cache of one layer on the CPU: one growable buffer per batch row.
#[derive(Clone, Default)]
pub struct HostKvCache {
    rows: Vec<RowCache>,
    columns: usize,
}

impl HostKvCache {
    /// Number of cached columns.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Appends new columns from `k` and `v`, both `[b, kv_heads, s, head_dim]`.
    ///
    /// # Errors
    /// The batch size differs from the cached one, or the tensors are not f32 on the CPU.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(), EngineError> {
        let (b, heads, s, d) = k.dims4()?;
        if self.rows.is_empty() {
            self.rows = vec![RowCache::default(); b];
        } else if self.rows.len() != b {
            return Err(EngineError::Input(format!("{b} rows appended to a cache of {}", self.rows.len())));
        }
        with_host_slice(k, |k| {
            with_host_slice(v, |v| {
                for (r, row) in self.rows.iter_mut().enumerate() {
                    for i in 0..s {
                        for h in 0..heads {
                            let at = ((r * heads + h) * s + i) * d;
                            row.keys.extend_from_slice(&k[at..at + d]);
                            row.values.extend_from_slice(&v[at..at + d]);
                        }
                    }
                }
                Ok(())
            })
        })?;
        self.columns += s;
        Ok(())
    }

    /// Keeps only the given batch rows.
    ///
    /// # Errors
    /// A row index out of range.
    pub fn retain_rows(&mut self, keep: &[usize]) -> Result<(), EngineError> {
        let rows = keep
            .iter()
            .map(|&r| self.rows.get(r).cloned().ok_or_else(|| EngineError::Input(format!("no cached row {r}"))))
            .collect::<Result<Vec<_>, _>>()?;
        self.rows = rows;
        Ok(())
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.columns = 0;
    }

    /// Attends queries `q` `[b, n_head, s, head_dim]` (already scaled) over the cache, which must
    /// already hold their own columns; returns `[b, s, n_head * head_dim]`.
    ///
    /// # Errors
    /// `q` is not f32 on the CPU or its shape disagrees with the cache.
    pub fn attend(&self, q: &Tensor, shape: HeadShape, visible: Visibility) -> Result<Tensor, EngineError> {
        let (b, n_head, s, d) = q.dims4()?;
        if b != self.rows.len() || n_head != shape.n_head || d != shape.head_dim {
            return Err(EngineError::Input(format!(
                "queries {:?} do not fit a cache of {} rows, {} heads of {}",
                q.dims(), self.rows.len(), shape.n_head, shape.head_dim)));
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
                let keys = visible.keys(r, visible.offset + i);
                attend_one(query, &self.rows[r], keys, kv_head, shape, scores, out);
            });
            Ok(())
        })?;
        Ok(Tensor::from_vec(out, (b, s, n_head * d), &Device::Cpu)?)
    }
}

/// Softmax-weighted sum of the values in `keys` for one query and head, written to `out`.
fn attend_one(
    query: &[f32],
    row: &RowCache,
    keys: std::ops::Range<usize>,
    kv_head: usize,
    shape: HeadShape,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let d = shape.head_dim;
    let at = |col: usize| (col * shape.n_kv_head + kv_head) * d;
    scores.clear();
    scores.extend(keys.clone().map(|col| dot(query, &row.keys[at(col)..at(col) + d])));
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0f32;
    for (score, col) in scores.iter_mut().zip(keys) {
        *score = (*score - max).exp();
        total += *score;
        axpy(*score, &row.values[at(col)..at(col) + d], out);
    }
    if total > 0.0 {
        out.iter_mut().for_each(|x| *x /= total);
    }
}

/// Lanes of the partial sums in [`dot`]: a fixed count, so the rounding never depends on the
/// caller and the loop vectorises.
const LANES: usize = 8;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (a_main, a_tail) = a.split_at(a.len() - a.len() % LANES);
    let (b_main, b_tail) = b.split_at(a_main.len());
    for (x, y) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

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

    #[test]
    fn visible_keys_skip_padding_future_and_columns_outside_the_window() {
        let v = Visibility { pads: &[0, 2], offset: 0, window: Some(3) };
        assert_eq!(v.keys(0, 4), 2..5);
        assert_eq!(v.keys(1, 3), 2..4);
        assert_eq!(v.keys(1, 1), 2..2, "a padding query sees nothing");
        let full = Visibility { window: None, ..v };
        assert_eq!(full.keys(0, 4), 0..5);
    }

    #[test]
    fn one_visible_key_returns_its_value_and_two_equal_scores_average() {
        // One row, one head of width 2; keys give equal scores, so the output is the mean value.
        let mut cache = HostKvCache::default();
        let k = tensor(vec![1., 0., 1., 0.], (1, 1, 2, 2));
        let v = tensor(vec![2., 4., 6., 8.], (1, 1, 2, 2));
        cache.append(&k, &v).unwrap();
        let shape = HeadShape { n_head: 1, n_kv_head: 1, head_dim: 2 };
        let q = tensor(vec![1., 1., 1., 1.], (1, 1, 2, 2));
        let out = cache.attend(&q, shape, Visibility { pads: &[0], offset: 0, window: None }).unwrap();
        let out: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(out, vec![2., 4., 4., 6.]);
    }

    #[test]
    fn retained_rows_keep_their_own_keys() {
        let mut cache = HostKvCache::default();
        let k = tensor(vec![1., 2., 3.], (3, 1, 1, 1));
        cache.append(&k, &k).unwrap();
        cache.retain_rows(&[2, 0]).unwrap();
        let q = tensor(vec![1., 1.], (2, 1, 1, 1));
        let shape = HeadShape { n_head: 1, n_kv_head: 1, head_dim: 1 };
        let out = cache.attend(&q, shape, Visibility { pads: &[0, 0], offset: 0, window: None }).unwrap();
        assert_eq!(out.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![3., 1.]);
        assert!(cache.retain_rows(&[5]).is_err());
    }
}
