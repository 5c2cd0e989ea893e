//! Activations quantised once per matmul input, in the 8-bit format llama.cpp pairs with the
//! weight type, so products round as llama.cpp's do:
//! - [`ActivationFormat::Q8_0`] (Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weights): 32-value blocks,
//!   `d = amax / 127` stored as f16, `q = round(x / d)`;
//! - [`ActivationFormat::Q8K`] (k-quant weights): 256-value blocks, `iscale = -127 / max` where
//!   `max` is the value of largest magnitude, `q = round(iscale · x)`, `d = 1 / iscale` in f32.
//!
//! Either way the kernels see a scale per 32-value slice (a Q8_K scale repeats over its 8 slices)
//! and the slice's `scale · Σq` for weight types that carry a minimum. Rounding is to nearest, ties
//! to even, and the Q8_0 inverse scale is `127 / amax`, as llama.cpp's x86 quantisers; |q| <= 127.

use half::f16;

use super::blocks::SUB;

/// Which 8-bit block format a weight type pairs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationFormat {
    /// 32-value blocks, f16 scale.
    Q8_0,
    /// 256-value blocks, f32 scale.
    Q8K,
}

/// `m` rows of `k` activations, quantised per 32-value block.
pub struct QuantizedRows {
    k: usize,
    q: AlignedLevels,
    scale: Vec<f32>,
    sum: Vec<i16>,
    scaled_sum: Vec<f32>,
}

/// One row's share of [`QuantizedRows`].
#[derive(Clone, Copy)]
pub struct RowView<'a> {
    /// Levels, `k` of them.
    pub q: &'a [i8],
    /// Scale per block.
    pub scale: &'a [f32],
    /// `Σq` per 32-value slice (|Σq| <= 32·127; the k-quant minimums' integer factor).
    pub sum: &'a [i16],
    /// `scale * Σq` per block (the factor of a weight slice's offset).
    pub scaled_sum: &'a [f32],
}

impl QuantizedRows {
    /// Quantises `x` (row-major, `x.len() / k` rows of `k`) in `format`.
    ///
    /// # Panics
    /// `k` is not a multiple of the format's block or does not divide `x.len()` (the matrix
    /// checks shapes first).
    pub fn new(x: &[f32], k: usize, format: ActivationFormat) -> Self {
        let block = match format {
            ActivationFormat::Q8_0 => SUB,
            ActivationFormat::Q8K => 256,
        };
        assert!(k % block == 0 && x.len() % k == 0, "activation shape {} / {k}", x.len());
        let slices = x.len() / SUB;
        let mut rows = Self { k, q: AlignedLevels::zeroed(x.len()), scale: vec![0.0; slices], sum: vec![0; slices],
            scaled_sum: vec![0.0; slices] };
        for (b, (xs, qs)) in x.chunks_exact(block).zip(rows.q.as_mut_slice().chunks_exact_mut(block)).enumerate() {
            let d = match format {
                ActivationFormat::Q8_0 => quantize_q8_0(xs, qs),
                ActivationFormat::Q8K => quantize_q8k(xs, qs),
            };
            let per = block / SUB;
            for (s, q) in qs.chunks_exact(SUB).enumerate() {
                let sum: i32 = q.iter().map(|&v| i32::from(v)).sum();
                rows.scale[b * per + s] = d;
                rows.sum[b * per + s] = sum as i16;
                rows.scaled_sum[b * per + s] = d * sum as f32;
            }
        }
        rows
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.q.len / self.k
    }

    /// Row `r`.
    ///
    /// # Panics
    /// `r` out of range.
    pub fn row(&self, r: usize) -> RowView<'_> {
        let blocks = self.k / SUB;
        RowView {
            q: &self.q.as_slice()[r * self.k..(r + 1) * self.k],
            scale: &self.scale[r * blocks..(r + 1) * blocks],
            sum: &self.sum[r * blocks..(r + 1) * blocks],
            scaled_sum: &self.scaled_sum[r * blocks..(r + 1) * blocks],
        }
    }
}

/// Levels in whole 64-byte cache lines, aligned to them: with rows a multiple of 32 levels, every
/// 32-level slice the kernels load lies within one line (from a plain `Vec<i8>`, 16-byte aligned,
/// every other slice straddled two lines and cost two loads).
struct AlignedLevels {
    lines: Vec<CacheLine>,
    len: usize,
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([i8; 64]);

impl AlignedLevels {
    fn zeroed(len: usize) -> Self {
        Self { lines: vec![CacheLine([0; 64]); len.div_ceil(64)], len }
    }

    fn as_slice(&self) -> &[i8] {
        // SAFETY: `lines` holds `64 * lines.len() >= len` initialised i8 with no padding
        // (`CacheLine` is exactly 64 bytes).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [i8] {
        // SAFETY: as in `as_slice`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

/// `v` rounded to the nearest integer, ties to even, for `|v| < 2^22` (larger values, infinities
/// and NaN come back unchanged or as another value beyond ±127, which the callers clamp as
/// before). `f32::round_ties_even` is a libm call (`rintf`) on baseline x86-64, 5% of decode
/// (`perf`); adding and subtracting 1.5·2^23 rounds in the FPU's default mode, vectorised.
#[inline(always)]
fn round_ties_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// One Q8_0 block; returns its scale as the f16 llama.cpp stores, widened.
fn quantize_q8_0(xs: &[f32], qs: &mut [i8]) -> f32 {
    let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
    for (q, &v) in qs.iter_mut().zip(xs) {
        // Finite inputs give |v * inv| <= 127; the clamp keeps NaN/inf inputs in range (they
        // poison the scale, and the result with it, anyway).
        *q = round_ties_even(v * inv).clamp(-127.0, 127.0) as i8;
    }
    f16::from_f32(amax / 127.0).to_f32()
}

/// One Q8_K block; returns its f32 scale.
fn quantize_q8k(xs: &[f32], qs: &mut [i8]) -> f32 {
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in xs {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        qs.fill(0);
        return 0.0;
    }
    let iscale = -127.0 / max;
    for (q, &v) in qs.iter_mut().zip(xs) {
        *q = round_ties_even(iscale * v).clamp(-127.0, 127.0) as i8;
    }
    1.0 / iscale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_times_scale_recover_each_value_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37 % 64) as f32 - 31.5) * 0.013).collect();
        let rows = QuantizedRows::new(&x, 32, ActivationFormat::Q8_0);
        assert_eq!(rows.rows(), 2);
        for r in 0..2 {
            let v = rows.row(r);
            let d = v.scale[0];
            let amax = x[r * 32..r * 32 + 32].iter().fold(0f32, |m, a| m.max(a.abs()));
            assert_eq!(d, f16::from_f32(amax / 127.0).to_f32());
            assert_eq!(v.q.iter().map(|q| q.unsigned_abs()).max(), Some(127));
            for (q, xv) in v.q.iter().zip(&x[r * 32..r * 32 + 32]) {
                assert!((f32::from(*q) * d - xv).abs() <= d / 2.0 + amax * 1e-3);
            }
            let sum: i32 = v.q.iter().map(|&q| i32::from(q)).sum();
            assert_eq!(v.scaled_sum[0], d * sum as f32);
            assert_eq!(i32::from(v.sum[0]), sum);
        }
    }

    #[test]
    fn q8k_maps_the_largest_magnitude_to_minus_127_with_one_scale_per_256() {
        let mut x: Vec<f32> = (0..256).map(|i| (i as f32 - 100.0) * 0.01).collect();
        x[7] = -3.0;
        let rows = QuantizedRows::new(&x, 256, ActivationFormat::Q8K);
        let v = rows.row(0);
        assert_eq!(v.q[7], -127);
        assert!(v.scale.iter().all(|&d| d == v.scale[0]) && v.scale.len() == 8);
        assert!((v.scale[0] - 3.0 / 127.0).abs() < 1e-7, "d = 1 / (-127 / -3)");
        for (q, xv) in v.q.iter().zip(&x) {
            assert!((f32::from(*q) * v.scale[0] - xv).abs() <= v.scale[0] / 2.0 + 1e-6);
        }
    }

    #[test]
    fn rounding_matches_the_standard_library_wherever_the_clamp_keeps_it() {
        let mut v = -200.0f32;
        while v <= 200.0 {
            for x in [v, v + 0.5, v - 0.5, v + 1e-3, f32::from_bits(v.to_bits() + 1)] {
                assert_eq!(round_ties_even(x).clamp(-127.0, 127.0), x.round_ties_even().clamp(-127.0, 127.0), "{x}");
            }
            v += 0.25;
        }
        for x in [1e7f32, -1e7, 1e30, -1e30, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(round_ties_even(x).clamp(-127.0, 127.0), x.round_ties_even().clamp(-127.0, 127.0), "{x}");
        }
        assert_eq!(round_ties_even(f32::NAN).clamp(-127.0, 127.0) as i8, 0);
    }

    #[test]
    fn an_all_zero_block_has_zero_scale_and_levels() {
        for (format, k) in [(ActivationFormat::Q8_0, 32), (ActivationFormat::Q8K, 256)] {
            let rows = QuantizedRows::new(&vec![0.0; k], k, format);
            assert_eq!(rows.row(0).scale[0], 0.0);
            assert!(rows.row(0).q.iter().all(|&q| q == 0));
        }
    }
}
