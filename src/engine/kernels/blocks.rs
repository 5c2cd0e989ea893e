//! The GGML block formats the kernels read, and their unpacking into [`Sub`] slices of 32
//! weights: `w = scale[half] * q + offset` with small signed integers `q`.
//!
//! Every supported type becomes the same shape once unpacked, so one micro-kernel per CPU feature
//! level serves them all: Q8_0/Q4_0/Q5_0 (one scale, no offset), Q4_1/Q5_1 (scale and minimum),
//! Q4_K/Q5_K (a 6-bit scale and minimum per 32 under two f16 super-scales), Q6_K (an 8-bit scale
//! per 16, hence two scales per slice). Unpacking is exact: a weight is the product of the same
//! two f32 factors the GGML dequantiser multiplies, so [`dequantize_row`] equals candle's
//! dequantisation bit for bit (tested).
//!
//! Layouts follow `ggml-common.h` of llama.cpp (block_q4_0 … block_q6_K).

use half::f16;

/// Weights per slice (the activation block, and the micro-kernel's step along k).
pub const SUB: usize = 32;

/// The weight types the kernels take as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockType {
    /// 32 weights: f16 d, 16 bytes of nibbles; `d * (q - 8)`.
    Q4_0,
    /// 32 weights: f16 d, f16 m, 16 bytes of nibbles; `d * q + m`.
    Q4_1,
    /// 32 weights: f16 d, 32 high bits, 16 bytes of nibbles; `d * (q - 16)`.
    Q5_0,
    /// 32 weights: f16 d, f16 m, 32 high bits, 16 bytes of nibbles; `d * q + m`.
    Q5_1,
    /// 32 weights: f16 d, 32 signed bytes; `d * q`.
    Q8_0,
    /// 256 weights: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles.
    Q4K,
    /// 256 weights: as Q4K plus 32 bytes of fifth bits.
    Q5K,
    /// 256 weights: 128 bytes low nibbles, 64 bytes high pairs, 16 signed scales, f16 d.
    Q6K,
}

impl BlockType {
    /// Every type, in the order the x86 kernels index them.
    pub const ALL: [Self; 8] = [Self::Q4_0, Self::Q4_1, Self::Q5_0, Self::Q5_1, Self::Q8_0, Self::Q4K, Self::Q5K, Self::Q6K];

    /// Weights per block.
    pub const fn weights(self) -> usize {
        match self {
            Self::Q4K | Self::Q5K | Self::Q6K => 256,
            _ => 32,
        }
    }

    /// Bytes per block.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }

    /// Slices of [`SUB`] weights per block.
    pub const fn subs(self) -> usize {
        self.weights() / SUB
    }
}

/// One unpacked slice of 32 weights of one row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sub {
    /// Integer levels, `|q| <= 128`.
    pub q: [i8; SUB],
    /// Scale of weights 0..16 and of 16..32.
    pub scale: [f32; 2],
    /// Added to every weight of the slice (minus a minimum), 0 for symmetric types.
    pub offset: f32,
}

/// Where [`unpack`] writes a block's slices: a plain array of [`Sub`], or a tile's strided rows.
pub trait Slices {
    /// The levels of slice `s`, to be overwritten.
    fn levels(&mut self, s: usize) -> &mut [i8; SUB];
    /// Sets the two half-slice scales and the offset of slice `s`.
    fn set_factors(&mut self, s: usize, scale: [f32; 2], offset: f32);
}

impl Slices for [Sub] {
    #[inline(always)]
    fn levels(&mut self, s: usize) -> &mut [i8; SUB] {
        &mut self[s].q
    }

    #[inline(always)]
    fn set_factors(&mut self, s: usize, scale: [f32; 2], offset: f32) {
        self[s].scale = scale;
        self[s].offset = offset;
    }
}

#[inline(always)]
fn half_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

#[inline(always)]
fn nibbles(qs: &[u8], bias: i8) -> [i8; SUB] {
    let qs = bytes::<16>(qs);
    let mut q = [0i8; SUB];
    for j in 0..16 {
        q[j] = (qs[j] & 0xF) as i8 - bias;
        q[j + 16] = (qs[j] >> 4) as i8 - bias;
    }
    q
}

/// Stored signed bytes as levels, without a copy through the stack (the Q8_0 hot path).
#[inline(always)]
fn as_levels(b: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment, and every bit pattern is valid for both.
    unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

/// The first `N` bytes as an array (a register-sized copy the compiler can vectorise around).
#[inline(always)]
fn bytes<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

#[inline(always)]
fn nibbles_with_fifth_bit(qh: u32, qs: &[u8], bias: i8) -> [i8; SUB] {
    let qs = bytes::<16>(qs);
    let mut q = [0i8; SUB];
    for j in 0..16 {
        let lo = ((qh >> j) << 4) & 0x10;
        let hi = (qh >> (j + 12)) & 0x10;
        q[j] = ((qs[j] & 0xF) as u32 | lo) as i8 - bias;
        q[j + 16] = ((qs[j] >> 4) as u32 | hi) as i8 - bias;
    }
    q
}

/// The integer factors of one k-quant block (Q4_K, Q5_K, Q6_K), decoded once per block: the
/// kernels multiply levels by these integers and apply the f32 super-scales once per 256 weights
/// (see [`super::tile`]); [`unpack`] multiplies them out for dequantisation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SuperFactors {
    /// The block's scale `d`.
    pub d: f32,
    /// The block's minimum scale `dmin` (0 for Q6_K).
    pub dmin: f32,
    /// Integer scale of each slice's two halves (equal for Q4_K/Q5_K, whose scales cover 32).
    pub scale: [[i16; 2]; 8],
    /// Integer minimum of each slice (0 for Q6_K).
    pub min: [i16; 8],
}

/// The [`SuperFactors`] of a Q4_K, Q5_K or Q6_K block.
///
/// # Panics
/// `ty` is not a k-quant, or `block` is shorter than the type (callers slice whole blocks).
#[inline(always)]
pub fn super_factors(ty: BlockType, block: &[u8]) -> SuperFactors {
    match ty {
        BlockType::Q4K | BlockType::Q5K => {
            let (scales, mins) = scales_mins_k4(bytes::<12>(&block[4..16]));
            SuperFactors {
                d: half_at(block, 0),
                dmin: half_at(block, 2),
                scale: scales.map(|s| [i16::from(s); 2]),
                min: mins.map(i16::from),
            }
        }
        BlockType::Q6K => {
            let sc = bytes::<16>(&block[192..208]).map(|s| i16::from(s as i8));
            SuperFactors {
                d: half_at(block, 208),
                dmin: 0.0,
                scale: std::array::from_fn(|s| [sc[2 * s], sc[2 * s + 1]]),
                min: [0; 8],
            }
        }
        _ => panic!("{ty:?} is not a k-quant"),
    }
}

/// The eight 6-bit scales and minimums of a Q4_K/Q5_K block's 12 scale bytes, as whole words:
/// slices 0..4 keep the low six bits of bytes 0..4 (scales) and 4..8 (minimums); slices 4..8
/// take four low bits from bytes 8..12 (low nibble: scale, high: minimum) and two high bits from
/// the top of bytes 0..4 (scales) and 4..8 (minimums).
#[inline(always)]
pub fn scales_mins_k4(s: [u8; 12]) -> ([u8; 8], [u8; 8]) {
    const LOW6: u32 = 0x3F3F_3F3F;
    const LOW4: u32 = 0x0F0F_0F0F;
    const LOW2: u32 = 0x0303_0303;
    let [w0, w1, w2] = [0, 1, 2].map(|i| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]));
    let high_scales = (w2 & LOW4) | (((w0 >> 6) & LOW2) << 4);
    let high_mins = ((w2 >> 4) & LOW4) | (((w1 >> 6) & LOW2) << 4);
    let join = |lo: u32, hi: u32| (u64::from(lo) | (u64::from(hi) << 32)).to_le_bytes();
    (join(w0 & LOW6, high_scales), join(w1 & LOW6, high_mins))
}

/// Unpacks one block (`ty.bytes()` bytes) into `ty.subs()` slices of `out`.
///
/// # Panics
/// `block` shorter than the type needs (callers slice whole blocks).
#[inline(always)]
pub fn unpack<S: Slices + ?Sized>(ty: BlockType, block: &[u8], out: &mut S) {
    match ty {
        BlockType::Q8_0 => {
            out.levels(0).copy_from_slice(as_levels(&block[2..34]));
            out.set_factors(0, [half_at(block, 0); 2], 0.0);
        }
        BlockType::Q4_0 => {
            *out.levels(0) = nibbles(&block[2..18], 8);
            out.set_factors(0, [half_at(block, 0); 2], 0.0);
        }
        BlockType::Q4_1 => {
            *out.levels(0) = nibbles(&block[4..20], 0);
            out.set_factors(0, [half_at(block, 0); 2], half_at(block, 2));
        }
        BlockType::Q5_0 => {
            let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
            *out.levels(0) = nibbles_with_fifth_bit(qh, &block[6..22], 16);
            out.set_factors(0, [half_at(block, 0); 2], 0.0);
        }
        BlockType::Q5_1 => {
            let qh = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
            *out.levels(0) = nibbles_with_fifth_bit(qh, &block[8..24], 0);
            out.set_factors(0, [half_at(block, 0); 2], half_at(block, 2));
        }
        BlockType::Q4K => unpack_k4(block, None, &block[16..144], out),
        BlockType::Q5K => unpack_k4(block, Some(&block[16..48]), &block[48..176], out),
        BlockType::Q6K => unpack_q6k(block, out),
    }
}

#[inline(always)]
fn unpack_k4<S: Slices + ?Sized>(block: &[u8], qh: Option<&[u8]>, qs: &[u8], out: &mut S) {
    let f = super_factors(BlockType::Q4K, block);
    for j in 0..8 {
        out.set_factors(j, [f.d * f32::from(f.scale[j][0]); 2], -(f.dmin * f32::from(f.min[j])));
        let group = bytes::<32>(&qs[(j / 2) * 32..]);
        let shift = if j % 2 == 0 { 0 } else { 4 };
        let mut q = group.map(|g| ((g >> shift) & 0xF) as i8);
        if let Some(qh) = qh {
            for (q, h) in q.iter_mut().zip(bytes::<32>(qh)) {
                *q |= (((h >> j) & 1) << 4) as i8;
            }
        }
        *out.levels(j) = q;
    }
}

#[inline(always)]
fn unpack_q6k<S: Slices + ?Sized>(block: &[u8], out: &mut S) {
    let f = super_factors(BlockType::Q6K, block);
    for half in 0..2 {
        let ql = bytes::<64>(&block[half * 64..]);
        let qh = bytes::<32>(&block[128 + half * 32..]);
        // Slice t (0..4) of this 128-weight half: low nibble of ql[l] or ql[l+32], shifted by
        // 0 or 4, with two high bits of qh[l] at 2t.
        for t in 0..4 {
            let base = if t % 2 == 0 { 0 } else { 32 };
            let shift = if t < 2 { 0 } else { 4 };
            let mut q = [0i8; SUB];
            for (l, q) in q.iter_mut().enumerate() {
                let low = (ql[base + l] >> shift) & 0xF;
                let high = (qh[l] >> (2 * t)) & 3;
                *q = (low | (high << 4)) as i8 - 32;
            }
            *out.levels(half * 4 + t) = q;
            let [lo, hi] = f.scale[half * 4 + t];
            out.set_factors(half * 4 + t, [f.d * f32::from(lo), f.d * f32::from(hi)], 0.0);
        }
    }
}

/// Dequantises one row of `k` weights stored as consecutive blocks (the embedding lookup, and
/// the reference the tests compare the kernels with).
///
/// # Panics
/// `row` holds fewer than `k / ty.weights()` blocks, or `out` is shorter than `k`.
pub fn dequantize_row(ty: BlockType, row: &[u8], out: &mut [f32]) {
    let mut subs = [Sub::default(); 8];
    for (block, values) in row.chunks_exact(ty.bytes()).zip(out.chunks_exact_mut(ty.weights())) {
        unpack(ty, block, &mut subs[..]);
        for (s, values) in subs.iter().zip(values.chunks_exact_mut(SUB)) {
            for (i, (v, &q)) in values.iter_mut().zip(&s.q).enumerate() {
                *v = s.scale[i / 16] * f32::from(q) + s.offset;
            }
        }
    }
}
