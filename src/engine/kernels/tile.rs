//! A tile: [`ROWS`] weight rows over one chunk of k, unpacked into 32-weight slices laid out
//! slice-major (`slice * ROWS + row`), so a micro-kernel streams one slice of every row per step
//! and reuses it for each activation row of its tile. Also the portable micro-kernel, which
//! defines the numerics every SIMD kernel reproduces bit for bit:
//!
//! for each (row, activation row) pair, over the chunk's slices `b`:
//! - eight i32 lanes, lane `l` = Σ q_w·q_x over the slice's weights `4l..4l+4` (exact);
//! - `acc[l] = fma(lane_l as f32, scale_w[l / 4] * scale_x, acc[l])`;
//! - with offsets (types with minimums), `off = fma(offset_w, scale_x·Σq_x, off)`;
//! - the pair's result: `((acc0+acc4)+(acc2+acc6)) + ((acc1+acc5)+(acc3+acc7))`, plus `off`.
//!
//! The k-quants (Q4_K, Q5_K, Q6_K; 256-weight blocks with integer per-slice scales and one
//! activation scale per block) sum in integers across the whole block and take one float step
//! per block and pair, as llama.cpp's k-quant dot products do:
//! - the block's total `t` = Σ over its slices `s` of `scale_s` · Σ q_w·q_x (exact in i32);
//! - `acc = fma(t as f32, d_w * d_x, acc)` (one rounding to f32; the same in every kernel);
//! - with minimums (Q4_K, Q5_K), `off = fma(Σ_s min_s·Σq_x(s) as f32, -(dmin_w * d_x), off)`;
//! - the pair's result: `acc + off`.
//!
//! One integer total per block and pair, rather than eight lanes each with its own float step,
//! lets the SIMD kernel sum four pairs' integers horizontally at once and take the float step for
//! four pairs in one vector. Totals stay below 2^31; those above 2^24 round once, the same way in
//! every kernel. (The 32-weight types keep their eight lanes: there the horizontal sums cost as
//! much as the float steps they save, and a Q8_0 test ran slower.)
//!
//! Each pair's arithmetic is independent of the others in its tile, so a row's result never
//! depends on how many rows share the call (the batch/chunk exactness the engine promises).

use super::activations::RowView;
use super::blocks::{super_factors, unpack, BlockType, Slices, SuperFactors, SUB};

/// Weight rows per tile (the interleaving width of the packed layout).
pub const ROWS: usize = 4;
/// Activation rows per micro-kernel call, at most.
pub const MAX_ACTS: usize = 4;
/// Weights per chunk of k a tile covers (a multiple of every block size; 32 slices).
pub const CHUNK: usize = 1024;

/// The unpacked slices of [`ROWS`] rows over one chunk.
pub struct Tile {
    /// Levels per slice and row.
    pub q: Vec<[i8; SUB]>,
    /// Scales of the two half-slices (lanes 0..4 and 4..8) per slice and row.
    pub scale: Vec<[f32; 2]>,
    /// Offset per slice and row.
    pub offset: Vec<f32>,
    /// Slices filled.
    pub slices: usize,
    /// Whether any offset is used (types with minimums).
    pub has_offset: bool,
    /// The integer factors per k-quant block and row (`block * ROWS + row`), when the tile holds
    /// a k-quant.
    pub factors: Vec<SuperFactors>,
    /// Whether the tile holds a k-quant (and the kernel takes the block-wise numerics).
    pub kquant: bool,
}

impl Default for Tile {
    fn default() -> Self {
        let n = (CHUNK / SUB) * ROWS;
        Self { q: vec![[0; SUB]; n], scale: vec![[0.0; 2]; n], offset: vec![0.0; n], slices: 0, has_offset: false,
            factors: vec![SuperFactors::default(); CHUNK / 256 * ROWS], kquant: false }
    }
}

/// One row's slices inside a tile, from slice `first` on.
struct TileRow<'a> {
    tile: &'a mut Tile,
    first: usize,
    row: usize,
}

impl Slices for TileRow<'_> {
    #[inline(always)]
    fn levels(&mut self, s: usize) -> &mut [i8; SUB] {
        &mut self.tile.q[(self.first + s) * ROWS + self.row]
    }

    #[inline(always)]
    fn set_factors(&mut self, s: usize, scale: [f32; 2], offset: f32) {
        let i = (self.first + s) * ROWS + self.row;
        self.tile.scale[i] = scale;
        self.tile.offset[i] = offset;
    }
}

impl Tile {
    /// Unpacks `rows` (1..=ROWS) interleaved rows of `blocks` blocks of type `ty`: `bytes` holds,
    /// block by block, each row's block in turn. Slots of rows past `rows` keep stale values;
    /// their products are computed and never read.
    ///
    /// # Panics
    /// `bytes` shorter than `blocks * rows * ty.bytes()` or the chunk larger than [`CHUNK`].
    #[inline(always)]
    pub fn fill(&mut self, ty: BlockType, bytes: &[u8], blocks: usize, rows: usize) {
        // One arm per type, so each loop runs a constant-folded unpacker.
        match ty {
            BlockType::Q4_0 => self.fill_as(BlockType::Q4_0, bytes, blocks, rows),
            BlockType::Q4_1 => self.fill_as(BlockType::Q4_1, bytes, blocks, rows),
            BlockType::Q5_0 => self.fill_as(BlockType::Q5_0, bytes, blocks, rows),
            BlockType::Q5_1 => self.fill_as(BlockType::Q5_1, bytes, blocks, rows),
            BlockType::Q8_0 => self.fill_as(BlockType::Q8_0, bytes, blocks, rows),
            BlockType::Q4K => self.fill_as(BlockType::Q4K, bytes, blocks, rows),
            BlockType::Q5K => self.fill_as(BlockType::Q5K, bytes, blocks, rows),
            BlockType::Q6K => self.fill_as(BlockType::Q6K, bytes, blocks, rows),
        }
    }

    #[inline(always)]
    fn fill_as(&mut self, ty: BlockType, bytes: &[u8], blocks: usize, rows: usize) {
        self.slices = blocks * ty.subs();
        self.has_offset = matches!(ty, BlockType::Q4_1 | BlockType::Q5_1 | BlockType::Q4K | BlockType::Q5K);
        self.kquant = ty.subs() > 1;
        let mut blocks_in = bytes.chunks_exact(ty.bytes());
        for b in 0..blocks {
            for row in 0..rows {
                let Some(block) = blocks_in.next() else { return };
                unpack(ty, block, &mut TileRow { tile: self, first: b * ty.subs(), row });
                if self.kquant {
                    self.factors[b * ROWS + row] = super_factors(ty, block);
                }
            }
        }
    }
}

/// The horizontal sum every kernel uses, in this order.
#[inline(always)]
pub fn hsum8(v: [f32; 8]) -> f32 {
    let s = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
    (s[0] + s[2]) + (s[1] + s[3])
}

/// The portable micro-kernel: `out[r][a]` = row `r` of the tile · activation row `a`, over the
/// tile's slices starting at activation slice `first`.
pub fn portable<const A: usize>(tile: &Tile, acts: &[RowView; A], first: usize) -> [[f32; A]; ROWS] {
    if tile.kquant {
        return portable_kquant(tile, acts, first);
    }
    let mut acc = [[[0f32; 8]; A]; ROWS];
    let mut off = [[0f32; A]; ROWS];
    for b in 0..tile.slices {
        for (a, act) in acts.iter().enumerate() {
            let x = &act.q[(first + b) * SUB..(first + b + 1) * SUB];
            let dx = act.scale[first + b];
            let ds = act.scaled_sum[first + b];
            for r in 0..ROWS {
                let i = b * ROWS + r;
                let w = &tile.q[i];
                for l in 0..8 {
                    let lane: i32 = (4 * l..4 * l + 4).map(|j| i32::from(w[j]) * i32::from(x[j])).sum();
                    acc[r][a][l] = (lane as f32).mul_add(tile.scale[i][l / 4] * dx, acc[r][a][l]);
                }
                if tile.has_offset {
                    off[r][a] = tile.offset[i].mul_add(ds, off[r][a]);
                }
            }
        }
    }
    finish(&acc, &off, tile.has_offset)
}

/// The portable micro-kernel's k-quant numerics (the module's second list).
fn portable_kquant<const A: usize>(tile: &Tile, acts: &[RowView; A], first: usize) -> [[f32; A]; ROWS] {
    const SUBS: usize = 8;
    let mut acc = [[0f32; A]; ROWS];
    let mut off = [[0f32; A]; ROWS];
    for j in 0..tile.slices / SUBS {
        let slice0 = first + j * SUBS;
        for (a, act) in acts.iter().enumerate() {
            let dx = act.scale[slice0];
            for r in 0..ROWS {
                let f = &tile.factors[j * ROWS + r];
                let mut total = 0i32;
                for s in 0..SUBS {
                    let w = &tile.q[(j * SUBS + s) * ROWS + r];
                    let x = &act.q[(slice0 + s) * SUB..(slice0 + s + 1) * SUB];
                    for half in 0..2 {
                        let dot: i32 = (16 * half..16 * half + 16).map(|i| i32::from(w[i]) * i32::from(x[i])).sum();
                        total += i32::from(f.scale[s][half]) * dot;
                    }
                }
                acc[r][a] = (total as f32).mul_add(f.d * dx, acc[r][a]);
                if tile.has_offset {
                    let mins: i32 = (0..SUBS).map(|s| i32::from(f.min[s]) * i32::from(act.sum[slice0 + s])).sum();
                    off[r][a] = (mins as f32).mul_add(-(f.dmin * dx), off[r][a]);
                }
            }
        }
    }
    with_offsets(&acc, &off, tile.has_offset)
}

/// Reduces per-pair lane accumulators to results (shared by every kernel).
#[inline(always)]
pub fn finish<const A: usize>(acc: &[[[f32; 8]; A]; ROWS], off: &[[f32; A]; ROWS], has_offset: bool)
    -> [[f32; A]; ROWS] {
    with_offsets(&acc.map(|acc| acc.map(hsum8)), off, has_offset)
}

/// Each pair's result: its accumulator, plus its offset for types with minimums.
#[inline(always)]
fn with_offsets<const A: usize>(acc: &[[f32; A]; ROWS], off: &[[f32; A]; ROWS], has_offset: bool) -> [[f32; A]; ROWS] {
    std::array::from_fn(|r| std::array::from_fn(|a| if has_offset { acc[r][a] + off[r][a] } else { acc[r][a] }))
}
