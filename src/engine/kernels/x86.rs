//! The x86-64 kernels: AVX2 and AVX-512 VNNI. Each decodes a weight slice straight from its
//! packed block into a register and multiplies it with every activation row of the call, so no
//! tile is written to memory (the tile unpack cost 55-70% of batch-1 decode; `perf`, issue #13).
//! Both give the portable kernel's numbers bit for bit (see [`super::tile`]): the integer lane
//! sums are exact, and the float steps are the same multiply, fused multiply-add and reduction
//! in the same order.
//!
//! Levels are decoded unsigned (`u = w + bias`, `0 <= u <= 255`), which is how the blocks store
//! them, and the bias comes back in the lane's starting value: `Σ u·x - bias·Σx = Σ w·x` per
//! group of four weights, with `Σx` taken once per activation slice. AVX-512 VNNI multiplies
//! with one `vpdpbusd` per slice and activation row. AVX2 uses `maddubs` + `madd`, exact while
//! `2·u·|x| < 2^15` (every type but Q8_0, whose signed levels go through the sign trick
//! `|w| · (x · sign w)` instead).
//!
//! The k-quants have one kernel, [`kquant`], for both feature levels: `maddubs` pair sums times
//! the slice's integer scale by `madd`, summed in i32 over the 256-weight block, then one float
//! step per block (the numerics of [`super::tile`]). Its integers are exact whatever the
//! instructions, so VNNI would only reorder them.

use std::arch::x86_64::*;

use super::activations::RowView;
use super::blocks::{scales_mins_k4, BlockType, SUB};
use super::tile::{finish, ROWS};

/// The block types by the const parameter the kernels are compiled for (one body per type).
const TYPES: [BlockType; 8] = BlockType::ALL;

/// `log2(bias)` of a type's unsigned levels, or `None` without bias.
const fn bias_shift(ty: BlockType) -> Option<i32> {
    match ty {
        BlockType::Q4_0 => Some(3),
        BlockType::Q5_0 => Some(4),
        BlockType::Q6K => Some(5),
        BlockType::Q8_0 => Some(7),
        _ => None,
    }
}

const fn has_offset(ty: BlockType) -> bool {
    matches!(ty, BlockType::Q4_1 | BlockType::Q5_1 | BlockType::Q4K | BlockType::Q5K)
}

/// One decoded slice of one weight row.
#[derive(Clone, Copy)]
pub struct Decoded {
    /// Unsigned levels `w + bias`.
    levels: __m256i,
    /// Scale per lane (lanes 0..4 the first half-slice, 4..8 the second).
    scale: __m256,
    /// Offset of the slice (0 for symmetric types).
    offset: f32,
}

#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn half(block: *const u8, at: usize) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(block.add(at).cast::<u16>().read_unaligned()))))
}

/// 16 bytes of nibbles as 32 levels: low nibbles first, then high ones.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn nibbles(qs: *const u8) -> __m256i {
    let v = _mm_loadu_si128(qs.cast());
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F))
}

/// Bit `i` of `bits` as `0x10` in byte `i` (the fifth bit of Q5_0/Q5_1 weight `i`).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn fifth_bits(bits: *const u8) -> __m256i {
    let word = _mm256_set1_epi32(bits.cast::<i32>().read_unaligned());
    let spread = _mm256_shuffle_epi8(word, _mm256_set_epi64x(
        0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0));
    let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// 32 bytes shifted right by `shift` bits and masked to `mask` per byte.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn bits_at(p: *const u8, shift: i32, mask: i8) -> __m256i {
    let v = _mm256_loadu_si256(p.cast());
    _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)), _mm256_set1_epi8(mask))
}

/// The decoded slices of [`ROWS`] rows over one chunk (`slice * ROWS + row`): for calls with many
/// activation rows, each weight slice is decoded once per chunk instead of once per
/// [`super::tile::MAX_ACTS`] activation rows. 32-weight types fill `slices`; k-quants fill
/// `kslices` and their blocks' `factors` (`block * ROWS + row`).
pub struct DecodedTile {
    slices: Vec<Decoded>,
    kslices: Vec<KDecoded>,
    factors: Vec<KFactors>,
}

impl Default for DecodedTile {
    fn default() -> Self {
        let n = super::tile::CHUNK / SUB * ROWS;
        // SAFETY: all-zero `Decoded` and `KDecoded` are valid (integer and float vectors of zeros).
        Self {
            slices: vec![unsafe { std::mem::zeroed() }; n],
            kslices: vec![unsafe { std::mem::zeroed() }; n],
            factors: vec![KFactors::default(); super::tile::CHUNK / 256 * ROWS],
        }
    }
}

/// One k-quant slice of one row as [`kquant`] multiplies it: unsigned levels and the integer
/// scale of each half, as `madd` takes it.
#[derive(Clone, Copy)]
struct KDecoded {
    levels: __m256i,
    scale: __m256i,
}

/// A k-quant block's factors as [`kquant`] takes them, kept in registers: the integer scales as
/// bytes (Q4_K/Q5_K: eight 6-bit scales; Q6_K: sixteen signed 8-bit ones), the minimums as eight
/// i16 for `madd`, and the f32 super-scales. The same values as [`super::blocks::super_factors`]
/// (the tests compare the kernels bit for bit with the portable one, which uses that); decoding
/// them as scalars through the stack was most of the kernel's non-multiply work (`perf annotate`,
/// issue #13).
#[derive(Clone, Copy)]
struct KFactors {
    scales: __m128i,
    mins: __m128i,
    d: f32,
    dmin: f32,
}

impl Default for KFactors {
    fn default() -> Self {
        // SAFETY: all-zero vectors and floats are valid.
        unsafe { std::mem::zeroed() }
    }
}

/// The [`KFactors`] of the k-quant block at `block`.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn kfactors(ty: BlockType, block: *const u8) -> KFactors {
    if ty == BlockType::Q6K {
        KFactors { scales: _mm_loadu_si128(block.add(192).cast()), mins: _mm_setzero_si128(), d: half(block, 208), dmin: 0.0 }
    } else {
        let (scales, mins) = scales_mins_k4(block.add(4).cast::<[u8; 12]>().read());
        KFactors {
            scales: _mm_cvtsi64_si128(i64::from_le_bytes(scales)),
            mins: _mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(mins))),
            d: half(block, 0),
            dmin: half(block, 2),
        }
    }
}

/// Slice `s`'s integer scales as `madd` takes them: i16 lanes 0..8 the first half-slice's scale,
/// 8..16 the second's (one `pshufb` picks the bytes, one sign extension widens them; Q4_K/Q5_K
/// scales are below 64, so sign and zero extension agree).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn slice_scale(ty: BlockType, f: &KFactors, s: usize) -> __m256i {
    const ONES: i64 = 0x0101_0101_0101_0101;
    let (lo, hi) = if ty == BlockType::Q6K { (2 * s, 2 * s + 1) } else { (s, s) };
    let pick = _mm_set_epi64x(ONES * hi as i64, ONES * lo as i64);
    _mm256_cvtepi8_epi16(_mm_shuffle_epi8(f.scales, pick))
}

/// Slice `s` of the k-quant block at `block`, whose factors are `f`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn kdecode(ty: BlockType, block: *const u8, s: usize, f: &KFactors) -> KDecoded {
    KDecoded { levels: levels(ty, block, s), scale: slice_scale(ty, f, s) }
}

/// Decodes `blocks` interleaved blocks of `rows` rows of the k-quant `T` into `tile` (rows past
/// `rows` repeat the last one; their products are never read).
///
/// # Safety
/// The CPU must have AVX2; `T` indexes [`TYPES`] at a k-quant; `bytes` holds `blocks * rows`
/// blocks of at most a chunk.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn decode_ktile<const T: u8>(tile: &mut DecodedTile, bytes: &[u8], blocks: usize, rows: usize) {
    let ty = TYPES[T as usize];
    for j in 0..blocks {
        for r in 0..ROWS {
            let block = block_at(ty, bytes, (j, r), rows);
            let f = kfactors(ty, block);
            for s in 0..8 {
                *tile.kslices.get_unchecked_mut((j * 8 + s) * ROWS + r) = kdecode(ty, block, s, &f);
            }
            *tile.factors.get_unchecked_mut(j * ROWS + r) = f;
        }
    }
}

/// Decodes `blocks` interleaved blocks of `rows` rows of the 32-weight type `T` into `tile` (rows
/// past `rows` repeat the last one; their products are never read).
///
/// # Safety
/// The CPU must have AVX2 and F16C; `T` indexes [`TYPES`] at a 32-weight type; `bytes` holds
/// `blocks * rows` blocks of at most a chunk.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn decode_tile<const T: u8>(tile: &mut DecodedTile, bytes: &[u8], blocks: usize, rows: usize) {
    let ty = TYPES[T as usize];
    for j in 0..blocks {
        for r in 0..ROWS {
            *tile.slices.get_unchecked_mut(j * ROWS + r) = decode(ty, block_at(ty, bytes, (j, r), rows));
        }
    }
}

/// Block `j` of row `r` in a group of `rows` interleaved rows (rows past `rows` read the last).
#[inline(always)]
unsafe fn block_at(ty: BlockType, bytes: &[u8], (j, r): (usize, usize), rows: usize) -> *const u8 {
    bytes.as_ptr().add((j * rows + r.min(rows - 1)) * ty.bytes())
}

/// How far ahead of the block in use the kernels prefetch the packed stream, in bytes. A group's
/// blocks are one contiguous stream, and so are consecutive groups, but at one activation row the
/// first load of each block waited on memory (a third of the Q6_K kernel's samples on one
/// instruction, `perf annotate`, issue #13): the hardware prefetcher alone does not run far
/// enough ahead.
const PREFETCH_AHEAD: usize = 2048;

/// Asks for the cache lines of the block at `block`, [`PREFETCH_AHEAD`] bytes further on (a hint:
/// addresses past the weights are never read).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn prefetch_ahead(ty: BlockType, block: *const u8) {
    let ahead = block.wrapping_add(PREFETCH_AHEAD);
    for line in (0..ty.bytes()).step_by(64) {
        _mm_prefetch(ahead.wrapping_add(line).cast(), _MM_HINT_T0);
    }
}

/// The one slice of the 32-weight block at `block`, decoded as [`super::blocks::unpack`] does.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn decode(ty: BlockType, block: *const u8) -> Decoded {
    let (scale, offset) = match ty {
        BlockType::Q4_1 | BlockType::Q5_1 => (half(block, 0), half(block, 2)),
        _ => (half(block, 0), 0.0),
    };
    Decoded { levels: levels(ty, block, 0), scale: _mm256_set1_ps(scale), offset }
}

/// The unsigned levels of slice `s` of the block at `block`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn levels(ty: BlockType, block: *const u8, s: usize) -> __m256i {
    match ty {
        BlockType::Q8_0 => _mm256_xor_si256(_mm256_loadu_si256(block.add(2).cast()), _mm256_set1_epi8(-128)),
        BlockType::Q4_0 => nibbles(block.add(2)),
        BlockType::Q4_1 => nibbles(block.add(4)),
        BlockType::Q5_0 => _mm256_or_si256(nibbles(block.add(6)), fifth_bits(block.add(2))),
        BlockType::Q5_1 => _mm256_or_si256(nibbles(block.add(8)), fifth_bits(block.add(4))),
        BlockType::Q4K | BlockType::Q5K => {
            let qs = if ty == BlockType::Q5K { block.add(48) } else { block.add(16) };
            let levels = bits_at(qs.add((s / 2) * 32), 4 * (s % 2) as i32, 0x0F);
            if ty == BlockType::Q5K {
                _mm256_or_si256(levels, _mm256_slli_epi16(bits_at(block.add(16), s as i32, 1), 4))
            } else {
                levels
            }
        }
        BlockType::Q6K => {
            let (h, t) = (s / 4, s % 4);
            let low = bits_at(block.add(h * 64 + (t % 2) * 32), if t < 2 { 0 } else { 4 }, 0x0F);
            _mm256_or_si256(low, _mm256_slli_epi16(bits_at(block.add(128 + h * 32), 2 * t as i32, 3), 4))
        }
    }
}

macro_rules! register_kernel {
    ($(#[$doc:meta])* $name:ident, $features:literal,
     sums: |$sx:ident| $sums:expr, dot: |$u:ident, $x:ident, $init:ident| $dot:expr, signed_dot: $signed:expr) => {
        $(#[$doc])*
        ///
        /// `out[r][a]` = weight row `r` of the group · activation row `a`, over `blocks` blocks of
        /// a 32-weight type in `bytes` (interleaved: block `j` of each of `rows` rows in turn)
        /// from activation slice `first`.
        ///
        /// With `tile`, the weights come decoded from it (filled by [`decode_tile`] from the same
        /// bytes), else they are decoded here.
        ///
        /// # Safety
        /// The CPU must have the enabled features; `T` indexes [`TYPES`] at a 32-weight type;
        /// `bytes` holds `blocks * rows` blocks and `first + blocks` slices lie within every
        /// activation row.
        #[target_feature(enable = $features)]
        pub unsafe fn $name<const T: u8, const A: usize>((bytes, blocks, rows): (&[u8], usize, usize),
            tile: Option<&DecodedTile>, acts: &[RowView; A], first: usize) -> [[f32; A]; ROWS] {
            let ty = TYPES[T as usize];
            let mut acc = [[_mm256_setzero_ps(); A]; ROWS];
            let mut off = [[0f32; A]; ROWS];
            // Each activation slice's lane start (the bias correction), once per call.
            let biased = bias_shift(ty).is_some() && !(ty == BlockType::Q8_0 && $signed);
            let mut init = [[std::mem::MaybeUninit::<__m256i>::uninit(); super::tile::CHUNK / SUB]; A];
            if let (Some(shift), true) = (bias_shift(ty), biased) {
                for (a, init) in init.iter_mut().enumerate() {
                    for (j, init) in init.iter_mut().enumerate().take(blocks) {
                        let $sx = activation_slice(acts.get_unchecked(a), first + j);
                        let sums: __m256i = $sums;
                        init.write(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_sll_epi32(sums, _mm_cvtsi32_si128(shift))));
                    }
                }
            }
            // One weight slice times one activation slice, into a pair's accumulators.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn pair<const T: u8>(w: &Decoded, act: &RowView, slice: usize, $init: __m256i,
                (acc, off): (&mut __m256, &mut f32)) {
                let ty = TYPES[T as usize];
                let ($u, $x) = (w.levels, activation_slice(act, slice));
                let lanes: __m256i = if ty == BlockType::Q8_0 && $signed { signed_lanes($u, $x) } else { $dot };
                let dx = _mm256_set1_ps(*act.scale.get_unchecked(slice));
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(w.scale, dx), *acc);
                if has_offset(ty) {
                    *off = w.offset.mul_add(*act.scaled_sum.get_unchecked(slice), *off);
                }
            }
            let weight = |j: usize, r: usize| match tile {
                Some(tile) => *tile.slices.get_unchecked(j * ROWS + r),
                None => {
                    let block = block_at(ty, bytes, (j, r), rows);
                    prefetch_ahead(ty, block);
                    decode(ty, block)
                }
            };
            let start = |a: usize, j: usize| if biased { init[a][j].assume_init() } else { _mm256_setzero_si256() };
            if A <= 2 {
                // Few activation rows: every row's chains in flight at once (a single chain per
                // row would wait on the FMA latency).
                for j in 0..blocks {
                    for r in 0..ROWS {
                        let w = weight(j, r);
                        for a in 0..A {
                            pair::<T>(&w, acts.get_unchecked(a), first + j, start(a, j), (&mut acc[r][a], &mut off[r][a]));
                        }
                    }
                }
            } else {
                // Row by row, so a row's accumulators stay in registers over the whole chunk.
                for r in 0..ROWS {
                    for j in 0..blocks {
                        let w = weight(j, r);
                        for a in 0..A {
                            pair::<T>(&w, acts.get_unchecked(a), first + j, start(a, j), (&mut acc[r][a], &mut off[r][a]));
                        }
                    }
                }
            }
            let lanes: [[[f32; 8]; A]; ROWS] = std::array::from_fn(|r| {
                std::array::from_fn(|a| std::mem::transmute::<__m256, [f32; 8]>(acc[r][a]))
            });
            finish(&lanes, &off, has_offset(ty))
        }
    };
}

/// AVX2 lanes of `w · x` for Q8_0's levels stored as `w + 128`: `|w| · (x · sign w)`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn signed_lanes(unsigned: __m256i, x: __m256i) -> __m256i {
    let w = _mm256_xor_si256(unsigned, _mm256_set1_epi8(-128));
    let products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    _mm256_madd_epi16(products, _mm256_set1_epi16(1))
}

register_kernel!(
    /// AVX2: `maddubs` (unsigned levels × signed activations, exact pair sums) + `madd`.
    avx2, "avx2,fma,f16c",
    sums: |x| _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), x), _mm256_set1_epi16(1)),
    dot: |u, x, init| _mm256_add_epi32(init, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1))),
    signed_dot: true
);

register_kernel!(
    /// AVX-512 VNNI on 256-bit registers: one `vpdpbusd` per slice and pair, started from the
    /// bias correction.
    avx512_vnni, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
    sums: |x| _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), x),
    dot: |u, x, init| _mm256_dpbusd_epi32(init, u, x),
    signed_dot: false
);

/// Slice `slice` (32 levels) of an activation row.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn activation_slice(act: &RowView, slice: usize) -> __m256i {
    _mm256_loadu_si256(act.q.as_ptr().add(slice * SUB).cast())
}

/// The horizontal sums of four vectors of eight i32 lanes: lane `i` of the result is the sum of
/// `v[i]`'s lanes (exact, so in any order).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hsum4_epi32(v: [__m256i; 4]) -> __m128i {
    let pairs = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1))
}

/// As [`hsum4_epi32`] for four vectors of four i32 lanes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hsum4_epi32x4(v: [__m128i; 4]) -> __m128i {
    _mm_hadd_epi32(_mm_hadd_epi32(v[0], v[1]), _mm_hadd_epi32(v[2], v[3]))
}

/// The k-quant kernel (Q4_K, Q5_K, Q6_K) of both feature levels: `out[r][a]` = weight row `r` of
/// the group · activation row `a`, over `blocks` 256-weight blocks of `bytes` (interleaved as
/// for the other kernels) from activation slice `first`, with [`super::tile`]'s k-quant
/// numerics.
///
/// Per block and row the integer factors are decoded once; per slice the levels are decoded once
/// and used for every activation row (with `tile`, they come decoded from it, filled by
/// [`decode_ktile`] from the same bytes): `maddubs` (unsigned levels × signed activations, exact
/// pair sums, `2·63·127 < 2^15`; Q6_K's bias `32·x` taken off in i16, where the true value
/// fits), then `madd` by the slice's integer scale into i32 lanes summed over the block. Four
/// pairs' lanes are then summed horizontally at once and take their float step in one vector:
/// the four activation rows of one weight row with a full tile, else the four weight rows of one
/// activation row.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `T` indexes [`TYPES`] at a k-quant; `bytes` holds
/// `blocks * rows` blocks and `first + 8 * blocks` slices lie within every activation row.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn kquant<const T: u8, const A: usize>((bytes, blocks, rows): (&[u8], usize, usize),
    tile: Option<&DecodedTile>, acts: &[RowView; A], first: usize) -> [[f32; A]; ROWS] {
    const SUBS: usize = 8;
    let ty = TYPES[T as usize];
    // Per weight row, the activation rows in lanes (A = 4), or per activation row, the weight
    // rows in lanes (A < 4).
    let mut acc = [_mm_setzero_ps(); ROWS];
    let mut off = [_mm_setzero_ps(); ROWS];
    for j in 0..blocks {
        let slice0 = first + j * SUBS;
        let block = KBlock::<T, A>::new(acts, slice0);
        if A == 4 {
            let dx = _mm_loadu_ps(block.dx.as_ptr());
            for r in 0..ROWS {
                let (f, lanes) = block.row(bytes, rows, tile, (j, r));
                let totals = hsum4_epi32(std::array::from_fn(|a| lanes[a.min(A - 1)]));
                acc[r] = _mm_fmadd_ps(_mm_cvtepi32_ps(totals), _mm_mul_ps(_mm_set1_ps(f.d), dx), acc[r]);
                if has_offset(ty) {
                    let mins = hsum4_epi32x4(std::array::from_fn(|a| block.mins(&f, a.min(A - 1))));
                    off[r] = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), _mm_mul_ps(_mm_set1_ps(-f.dmin), dx), off[r]);
                }
            }
        } else {
            let mut lanes = [[_mm256_setzero_si256(); A]; ROWS];
            let mut factors = [KFactors::default(); ROWS];
            for r in 0..ROWS {
                (factors[r], lanes[r]) = block.row(bytes, rows, tile, (j, r));
            }
            let d = _mm_setr_ps(factors[0].d, factors[1].d, factors[2].d, factors[3].d);
            let dmin = _mm_setr_ps(-factors[0].dmin, -factors[1].dmin, -factors[2].dmin, -factors[3].dmin);
            for a in 0..A {
                let dx = _mm_set1_ps(block.dx[a]);
                let totals = hsum4_epi32(std::array::from_fn(|r| lanes[r][a]));
                acc[a] = _mm_fmadd_ps(_mm_cvtepi32_ps(totals), _mm_mul_ps(d, dx), acc[a]);
                if has_offset(ty) {
                    let mins = hsum4_epi32x4(std::array::from_fn(|r| block.mins(&factors[r], a)));
                    off[a] = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), _mm_mul_ps(dmin, dx), off[a]);
                }
            }
        }
    }
    // Each pair's result, `acc + off`, then out of the lanes.
    let sums = std::array::from_fn::<_, ROWS, _>(|i| if has_offset(ty) { _mm_add_ps(acc[i], off[i]) } else { acc[i] })
        .map(|v| std::mem::transmute::<__m128, [f32; 4]>(v));
    std::array::from_fn(|r| std::array::from_fn(|a| if A == 4 { sums[r][a] } else { sums[a][r] }))
}

/// One k-quant block's activation side in [`kquant`]: its activation rows from slice `slice0`,
/// their block scales, and (Q6_K) the pair sums of `32·x` its stored `w + 32` need taken off.
struct KBlock<'a, const T: u8, const A: usize> {
    acts: &'a [RowView<'a>; A],
    slice0: usize,
    dx: [f32; 4],
    bias: [[__m256i; 8]; A],
}

impl<'a, const T: u8, const A: usize> KBlock<'a, T, A> {
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn new(acts: &'a [RowView<'a>; A], slice0: usize) -> Self {
        let mut bias = [[_mm256_setzero_si256(); 8]; A];
        if TYPES[T as usize] == BlockType::Q6K {
            for (a, bias) in bias.iter_mut().enumerate() {
                for (s, bias) in bias.iter_mut().enumerate() {
                    *bias = _mm256_maddubs_epi16(_mm256_set1_epi8(32), activation_slice(acts.get_unchecked(a), slice0 + s));
                }
            }
        }
        let dx = std::array::from_fn(|a| *acts.get_unchecked(a.min(A - 1)).scale.get_unchecked(slice0));
        Self { acts, slice0, dx, bias }
    }

    /// Weight row `r`'s block `j`: its factors and, per activation row, its eight i32 lanes
    /// (their sum is the block's integer total).
    #[target_feature(enable = "avx2,f16c")]
    #[inline]
    unsafe fn row(&self, bytes: &[u8], rows: usize, tile: Option<&DecodedTile>, (j, r): (usize, usize))
        -> (KFactors, [__m256i; A]) {
        let ty = TYPES[T as usize];
        let block = block_at(ty, bytes, (j, r), rows);
        if tile.is_none() {
            prefetch_ahead(ty, block);
        }
        let f = match tile {
            Some(tile) => *tile.factors.get_unchecked(j * ROWS + r),
            None => kfactors(ty, block),
        };
        let mut lanes = [_mm256_setzero_si256(); A];
        for s in 0..8 {
            let KDecoded { levels: u, scale } = match tile {
                Some(tile) => *tile.kslices.get_unchecked((j * 8 + s) * ROWS + r),
                None => kdecode(ty, block, s, &f),
            };
            for (a, lanes) in lanes.iter_mut().enumerate() {
                let mut pairs = _mm256_maddubs_epi16(u, activation_slice(self.acts.get_unchecked(a), self.slice0 + s));
                if ty == BlockType::Q6K {
                    pairs = _mm256_sub_epi16(pairs, self.bias[a][s]);
                }
                *lanes = _mm256_add_epi32(*lanes, _mm256_madd_epi16(pairs, scale));
            }
        }
        (f, lanes)
    }

    /// Activation row `a`'s four i32 partial sums of `Σ_s min_s · Σq_x(s)` against factors `f`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn mins(&self, f: &KFactors, a: usize) -> __m128i {
        _mm_madd_epi16(f.mins, _mm_loadu_si128(self.acts.get_unchecked(a).sum.as_ptr().add(self.slice0).cast()))
    }
}
