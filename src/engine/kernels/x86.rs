//! The x86-64 micro-kernels: AVX2 (`maddubs` + `madd`) and AVX-512 VNNI (`vpdpbusd` on 256-bit
//! lanes); the tile fills are compiled with F16C so scale conversions inline. Both compute the portable kernel's numbers bit for bit (see [`super::tile`]): the
//! integer lane sums are exact, and the float steps are the same multiply, fused multiply-add
//! and reduction in the same order.
//!
//! Signed × signed bytes through the unsigned × signed instructions: `|w| · (x · sign w)`, which
//! equals `w · x` for every `|w| <= 128`, `|x| <= 127` without saturating 16-bit pairs
//! (2·128·127 < 32768).

use std::arch::x86_64::*;

use super::activations::RowView;
use super::blocks::{BlockType, SUB};
use super::tile::{finish, Tile, ROWS};

macro_rules! micro_kernel {
    ($(#[$doc:meta])* $name:ident, $features:literal,
     weight: |$w:ident| $prep:expr, act: |$xi:ident| $xprep:expr, dot: |$p:ident, $x:ident| $dot:expr) => {
        $(#[$doc])*
        ///
        /// `SPLIT`: the tile's half-slices have their own scales (Q6_K); else one per slice.
        ///
        /// # Safety
        /// The CPU must have the enabled features; `first + tile.slices` slices must lie within
        /// every activation row, and without `SPLIT` both half-scales must be equal.
        #[target_feature(enable = $features)]
        pub unsafe fn $name<const A: usize, const SPLIT: bool>(tile: &Tile, acts: &[RowView; A], first: usize)
            -> [[f32; A]; ROWS] {
            let mut acc = [[_mm256_setzero_ps(); A]; ROWS];
            let mut off = [[0f32; A]; ROWS];
            for b in 0..tile.slices {
                let mut prepared = [(_mm256_setzero_si256(), _mm256_setzero_si256()); ROWS];
                let mut sc = [_mm256_setzero_ps(); ROWS];
                for r in 0..ROWS {
                    let i = b * ROWS + r;
                    let $w = _mm256_loadu_si256(tile.q.get_unchecked(i).as_ptr().cast());
                    prepared[r] = $prep;
                    let [lo, hi] = *tile.scale.get_unchecked(i);
                    sc[r] = if SPLIT {
                        _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(lo)), _mm_set1_ps(hi), 1)
                    } else {
                        _mm256_set1_ps(lo)
                    };
                }
                let slice = first + b;
                for a in 0..A {
                    let act = acts.get_unchecked(a);
                    let $xi = _mm256_loadu_si256(act.q.as_ptr().add(slice * SUB).cast());
                    let $x = $xprep;
                    let dx = _mm256_set1_ps(*act.scale.get_unchecked(slice));
                    for r in 0..ROWS {
                        let $p = prepared[r];
                        let lanes: __m256i = $dot;
                        acc[r][a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(sc[r], dx), acc[r][a]);
                    }
                    if tile.has_offset {
                        let ds = *act.scaled_sum.get_unchecked(slice);
                        for r in 0..ROWS {
                            off[r][a] = tile.offset.get_unchecked(b * ROWS + r).mul_add(ds, off[r][a]);
                        }
                    }
                }
            }
            let lanes: [[[f32; 8]; A]; ROWS] = std::array::from_fn(|r| {
                std::array::from_fn(|a| std::mem::transmute::<__m256, [f32; 8]>(acc[r][a]))
            });
            finish(&lanes, &off, tile.has_offset)
        }
    };
}

micro_kernel!(
    /// AVX2: `|w| · (x · sign w)` as 16-bit pair products, summed to 32-bit lanes.
    avx2, "avx2,fma",
    weight: |w| (w, _mm256_sign_epi8(w, w)),
    act: |x| x,
    dot: |p, x| _mm256_madd_epi16(_mm256_maddubs_epi16(p.1, _mm256_sign_epi8(x, p.0)), _mm256_set1_epi16(1))
);

micro_kernel!(
    /// AVX-512 VNNI on 256-bit registers: activations shifted to unsigned (`x + 128`), one
    /// `vpdpbusd` per slice and pair, started from `-128·Σw` per lane (computed once per weight
    /// slice) so the lanes hold exactly `Σ w·x`.
    avx512_vnni, "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni",
    weight: |w| (w, _mm256_sub_epi32(_mm256_setzero_si256(),
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(-128), w))),
    act: |x| _mm256_xor_si256(x, _mm256_set1_epi8(-128)),
    dot: |p, x| _mm256_dpbusd_epi32(p.1, x, p.0)
);

/// [`Tile::fill`] compiled for AVX2, so its byte loops vectorise.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn fill_avx2(tile: &mut Tile, ty: BlockType, bytes: &[u8], blocks: usize, rows: usize) {
    tile.fill(ty, bytes, blocks, rows);
}

/// [`Tile::fill`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F/BW/VL.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
pub unsafe fn fill_avx512(tile: &mut Tile, ty: BlockType, bytes: &[u8], blocks: usize, rows: usize) {
    tile.fill(ty, bytes, blocks, rows);
}
