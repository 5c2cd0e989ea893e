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

use std::arch::x86_64::*;

use super::activations::RowView;
use super::blocks::{BlockType, SUB};
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
/// [`super::tile::MAX_ACTS`] activation rows.
pub struct DecodedTile(Vec<Decoded>);

impl Default for DecodedTile {
    fn default() -> Self {
        // SAFETY: an all-zero `Decoded` is valid (integer and float vectors of zeros).
        Self(vec![unsafe { std::mem::zeroed() }; super::tile::CHUNK / SUB * ROWS])
    }
}

/// Decodes `blocks` interleaved blocks of `rows` rows of type `T` into `tile` (rows past `rows`
/// repeat the last one; their products are never read).
///
/// # Safety
/// The CPU must have AVX2 and F16C; `T` indexes [`TYPES`]; `bytes` holds `blocks * rows` blocks
/// of at most a chunk.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn decode_tile<const T: u8>(tile: &mut DecodedTile, bytes: &[u8], blocks: usize, rows: usize) {
    let ty = TYPES[T as usize];
    let (size, subs) = (ty.bytes(), ty.subs());
    for j in 0..blocks {
        for r in 0..ROWS {
            let block = bytes.as_ptr().add((j * rows + r.min(rows - 1)) * size);
            if subs == 1 {
                *tile.0.get_unchecked_mut(j * ROWS + r) = decode(ty, block, 0);
            } else {
                let f = factors(ty, block);
                for s in 0..subs {
                    *tile.0.get_unchecked_mut((j * subs + s) * ROWS + r) = decoded(ty, block, s, f.scale[s], f.offset[s]);
                }
            }
        }
    }
}

/// Slice `s` of the block at `block`, decoded as [`super::blocks::unpack`] does.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn decode(ty: BlockType, block: *const u8, s: usize) -> Decoded {
    let (scale, offset) = slice_factors(ty, block, s);
    decoded(ty, block, s, scale, offset)
}

/// Slice `s` of the block at `block`, with its scales and offset already decoded.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn decoded(ty: BlockType, block: *const u8, s: usize, [lo, hi]: [f32; 2], offset: f32) -> Decoded {
    let scale = if ty == BlockType::Q6K { _mm256_set_m128(_mm_set1_ps(hi), _mm_set1_ps(lo)) } else { _mm256_set1_ps(lo) };
    Decoded { levels: levels(ty, block, s), scale, offset }
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

/// Slices per block, at most (the k-quants' eight).
const MAX_SUBS: usize = 8;

/// The scales (of each half) and offsets of every slice of one k-quant block, decoded once per
/// block: decoding the f16 `d` and `dmin` and the 6-bit scales again for each of the eight slices
/// was a third of the Q4_K kernel's samples at batch 1 (`perf annotate`, issue #13).
struct Factors {
    scale: [[f32; 2]; MAX_SUBS],
    offset: [f32; MAX_SUBS],
}

/// The [`Factors`] of the k-quant block at `block`.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn factors(ty: BlockType, block: *const u8) -> Factors {
    let mut f = Factors { scale: [[0.0; 2]; MAX_SUBS], offset: [0.0; MAX_SUBS] };
    for s in 0..ty.subs() {
        (f.scale[s], f.offset[s]) = slice_factors(ty, block, s);
    }
    f
}

/// Slice `s`'s two half-slice scales and its offset, each the product
/// [`super::blocks::unpack`] forms.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn slice_factors(ty: BlockType, block: *const u8, s: usize) -> ([f32; 2], f32) {
    match ty {
        BlockType::Q8_0 | BlockType::Q4_0 | BlockType::Q5_0 => ([half(block, 0); 2], 0.0),
        BlockType::Q4_1 | BlockType::Q5_1 => ([half(block, 0); 2], half(block, 2)),
        BlockType::Q4K | BlockType::Q5K => {
            let (sc, m) = scale_min_k4(s, block.add(4));
            ([half(block, 0) * f32::from(sc); 2], -(half(block, 2) * f32::from(m)))
        }
        BlockType::Q6K => {
            let (h, t) = (s / 4, s % 4);
            let sc = block.add(192 + h * 8 + 2 * t).cast::<[i8; 2]>().read();
            let d = half(block, 208);
            ([d * f32::from(sc[0]), d * f32::from(sc[1])], 0.0)
        }
    }
}

/// The 6-bit scale and minimum of slice `j` (0..8) of a Q4_K/Q5_K block's 12 scale bytes.
#[inline(always)]
unsafe fn scale_min_k4(j: usize, s: *const u8) -> (u8, u8) {
    let s = s.cast::<[u8; 12]>().read();
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

macro_rules! register_kernel {
    ($(#[$doc:meta])* $name:ident, $features:literal,
     sums: |$sx:ident| $sums:expr, dot: |$u:ident, $x:ident, $init:ident| $dot:expr, signed_dot: $signed:expr) => {
        $(#[$doc])*
        ///
        /// `out[r][a]` = weight row `r` of the group · activation row `a`, over `blocks` blocks of
        /// `bytes` (interleaved: block `j` of each of `rows` rows in turn) from activation slice
        /// `first`.
        ///
        /// With `tile`, the weights come decoded from it (filled by [`decode_tile`] from the same
        /// bytes), else they are decoded here.
        ///
        /// # Safety
        /// The CPU must have the enabled features; `T` indexes [`TYPES`]; `bytes` holds
        /// `blocks * rows` blocks and `first + blocks * subs` slices lie within every activation row.
        #[target_feature(enable = $features)]
        pub unsafe fn $name<const T: u8, const A: usize>((bytes, blocks, rows): (&[u8], usize, usize),
            tile: Option<&DecodedTile>, acts: &[RowView; A], first: usize) -> [[f32; A]; ROWS] {
            let ty = TYPES[T as usize];
            let (size, subs) = (ty.bytes(), ty.subs());
            let mut acc = [[_mm256_setzero_ps(); A]; ROWS];
            let mut off = [[0f32; A]; ROWS];
            for j in 0..blocks {
                let block = |r: usize| bytes.as_ptr().add((j * rows + r.min(rows - 1)) * size);
                // Without a decoded tile, a k-quant row's block factors once per block (left
                // uninitialised otherwise: nothing to pay per block in those paths).
                let mut f = [const { std::mem::MaybeUninit::<Factors>::uninit() }; ROWS];
                if tile.is_none() && subs > 1 {
                    for (r, f) in f.iter_mut().enumerate() {
                        f.write(factors(ty, block(r)));
                    }
                }
                for s in 0..subs {
                    let slice = first + j * subs + s;
                    let mut x = [_mm256_setzero_si256(); A];
                    let mut init = [_mm256_setzero_si256(); A];
                    let mut dx = [_mm256_setzero_ps(); A];
                    for a in 0..A {
                        let act = acts.get_unchecked(a);
                        x[a] = _mm256_loadu_si256(act.q.as_ptr().add(slice * SUB).cast());
                        dx[a] = _mm256_set1_ps(*act.scale.get_unchecked(slice));
                        if let (Some(shift), false) = (bias_shift(ty), ty == BlockType::Q8_0 && $signed) {
                            let $sx = x[a];
                            let sums: __m256i = $sums;
                            init[a] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                _mm256_sll_epi32(sums, _mm_cvtsi32_si128(shift)));
                        }
                    }
                    for r in 0..ROWS {
                        let w = match tile {
                            Some(tile) => *tile.0.get_unchecked((j * subs + s) * ROWS + r),
                            None if subs == 1 => decode(ty, block(r), s),
                            None => {
                                let f = f[r].assume_init_ref();
                                decoded(ty, block(r), s, f.scale[s], f.offset[s])
                            }
                        };
                        for a in 0..A {
                            let ($u, $x, $init) = (w.levels, x[a], init[a]);
                            let lanes: __m256i = if ty == BlockType::Q8_0 && $signed {
                                signed_lanes($u, $x)
                            } else {
                                $dot
                            };
                            acc[r][a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(w.scale, dx[a]), acc[r][a]);
                        }
                        if has_offset(ty) {
                            for a in 0..A {
                                let ds = *acts.get_unchecked(a).scaled_sum.get_unchecked(slice);
                                off[r][a] = w.offset.mul_add(ds, off[r][a]);
                            }
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
