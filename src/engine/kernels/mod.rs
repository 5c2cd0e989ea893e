//! mhbench's own quantised matrix kernels for the CPU: `y = x Wᵀ` with `W` kept in its GGML
//! block format (Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K/Q6_K) and `x` quantised once per call to
//! the 8-bit blocks llama.cpp pairs with the type (Q8_0, or Q8_K for k-quants).
//!
//! Why: candle multiplies each activation row by each weight row with a per-row dot product, so a
//! batch of 16 rows reads every weight 16 times and costs 16 times one row (measured: aggregate
//! decode flat from batch 1 to 16). Here weights are repacked at load into groups of
//! [`tile::ROWS`] interleaved rows (the same bytes, reordered: no extra memory), unpacked per
//! chunk of k into a small tile that stays in L1, and a micro-kernel multiplies that tile with up
//! to [`tile::MAX_ACTS`] activation rows per pass. Threads (rayon's pool, so `--threads`) split the
//! output rows.
//!
//! Kernels are chosen at run time ([`Kernel::detect`]): AVX-512 VNNI, AVX2, or the portable one,
//! and all three give identical bits (tests compare each compiled path with the portable one and
//! with candle's dequantised f32 on random data and odd shapes). `MHBENCH_KERNEL=portable|avx2|
//! avx512vnni` forces one, for comparisons.

pub mod activations;
pub mod blocks;
pub mod elementwise;
pub mod tile;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::{Arc, OnceLock};

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

use activations::{ActivationFormat, QuantizedRows, RowView};
use blocks::BlockType;
use tile::{Tile, CHUNK, MAX_ACTS, ROWS};

use super::EngineError;

/// A micro-kernel family, by the CPU features it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust; every CPU.
    Portable,
    /// AVX2 + FMA + F16C.
    Avx2,
    /// AVX-512 F/BW/VL + VNNI.
    Avx512Vnni,
}

impl Kernel {
    /// Every kernel this CPU can run, portable first.
    pub fn available() -> Vec<Self> {
        let mut out = vec![Self::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = ["avx2", "fma", "f16c"];
            if avx2.iter().all(|f| x86_has(f)) {
                out.push(Self::Avx2);
                let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512vnni"];
                if avx512.iter().all(|f| x86_has(f)) {
                    out.push(Self::Avx512Vnni);
                }
            }
        }
        out
    }

    /// The kernel to use: `MHBENCH_KERNEL` if set (and available), else the fastest available.
    ///
    /// # Errors
    /// `MHBENCH_KERNEL` names an unknown kernel or one this CPU cannot run.
    pub fn detect() -> Result<Self, EngineError> {
        let available = Self::available();
        match std::env::var("MHBENCH_KERNEL") {
            Ok(name) => {
                let wanted = Self::from_name(&name).ok_or_else(|| EngineError::Input(format!(
                    "MHBENCH_KERNEL={name}: expected portable, avx2 or avx512vnni")))?;
                if available.contains(&wanted) {
                    Ok(wanted)
                } else {
                    Err(EngineError::Input(format!("MHBENCH_KERNEL={name}: this CPU lacks the features it needs")))
                }
            }
            Err(_) => Ok(*available.last().unwrap_or(&Self::Portable)),
        }
    }

    /// The kernel chosen once per process by [`Kernel::detect`].
    ///
    /// # Errors
    /// As [`Kernel::detect`] (a bad `MHBENCH_KERNEL` is an error at load, never a silent fallback).
    pub fn active() -> Result<Self, EngineError> {
        static ACTIVE: OnceLock<Result<Kernel, String>> = OnceLock::new();
        ACTIVE
            .get_or_init(|| Self::detect().map_err(|e| e.to_string()))
            .clone()
            .map_err(EngineError::Input)
    }

    /// The name `MHBENCH_KERNEL` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Avx2 => "avx2",
            Self::Avx512Vnni => "avx512vnni",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::Portable, Self::Avx2, Self::Avx512Vnni].into_iter().find(|k| k.name() == name)
    }

    /// Prepares one chunk of a group for [`Kernel::chunk`]: the portable kernel unpacks it into
    /// a tile; the x86 kernels decode it once into registers' images when the call has enough
    /// activation rows to reuse them ([`DECODE_ONCE_FROM`]), else they decode per use.
    fn prepare(self, tiles: &mut Tiles, ty: BlockType, (bytes, blocks, rows): (&[u8], usize, usize), m: usize) {
        match self {
            // SAFETY: a kernel other than Portable is only constructed after `available()`
            // found its features (AVX2 and F16C for both); `bytes` is a whole chunk.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 | Self::Avx512Vnni => {
                tiles.decoded_valid = m >= DECODE_ONCE_FROM;
                if tiles.decoded_valid {
                    unsafe { x86_dispatch!(x86::decode_tile | x86::decode_ktile, ty, &mut tiles.decoded, bytes, blocks, rows) }
                }
            }
            _ => tiles.unpacked.fill(ty, bytes, blocks, rows),
        }
    }

    /// One chunk's products, after [`Kernel::prepare`]: `out[r][a]` = weight row `r` of the group
    /// · activation row `a`, over `blocks` interleaved blocks of `bytes` from activation slice
    /// `first`.
    fn chunk<const A: usize>(self, tiles: &Tiles, ty: BlockType, (bytes, blocks, rows): (&[u8], usize, usize),
        acts: &[RowView; A], first: usize) -> [[f32; A]; ROWS] {
        #[cfg(target_arch = "x86_64")]
        let decoded = tiles.decoded_valid.then_some(&tiles.decoded);
        match self {
            // SAFETY: as in `prepare`; the caller keeps `first + blocks * subs` within the
            // activation rows (`PackedMatrix::multiply_group`).
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => unsafe {
                x86_dispatch!(x86::avx2 | x86::kquant::<_, A>, ty, (bytes, blocks, rows), decoded, acts, first)
            },
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => unsafe {
                x86_dispatch!(x86::avx512_vnni | x86::kquant::<_, A>, ty, (bytes, blocks, rows), decoded, acts, first)
            },
            _ => {
                let _ = (ty, bytes, blocks, rows);
                tile::portable(&tiles.unpacked, acts, first)
            }
        }
    }
}

/// Activation rows from which the x86 kernels decode a chunk's weights once rather than per
/// group of [`MAX_ACTS`] rows.
const DECODE_ONCE_FROM: usize = 2 * MAX_ACTS;

/// A thread's scratch for one group: the portable kernel's tile, or the x86 kernels' decoded
/// slices.
#[derive(Default)]
struct Tiles {
    unpacked: Tile,
    #[cfg(target_arch = "x86_64")]
    decoded: x86::DecodedTile,
    #[cfg(target_arch = "x86_64")]
    decoded_valid: bool,
    /// The group's results so far, per activation row ([`PackedMatrix::multiply_group`]).
    sums: Vec<[f32; ROWS]>,
}

/// Calls an x86 function whose first const parameter is the block type's index in
/// [`BlockType::ALL`], compiled for `ty`: the first function for the 32-weight types, the second
/// for the k-quants (both take the same arguments; a trailing `::<_, A>` applies to both).
#[cfg(target_arch = "x86_64")]
macro_rules! x86_dispatch {
    ($($f:ident)::+ | $($k:ident)::+ $(::<_, $rest:ident>)?, $ty:expr, $($arg:expr),*) => {
        match $ty {
            BlockType::Q4_0 => $($f)::+::<0 $(, $rest)?>($($arg),*),
            BlockType::Q4_1 => $($f)::+::<1 $(, $rest)?>($($arg),*),
            BlockType::Q5_0 => $($f)::+::<2 $(, $rest)?>($($arg),*),
            BlockType::Q5_1 => $($f)::+::<3 $(, $rest)?>($($arg),*),
            BlockType::Q8_0 => $($f)::+::<4 $(, $rest)?>($($arg),*),
            BlockType::Q4K => $($k)::+::<5 $(, $rest)?>($($arg),*),
            BlockType::Q5K => $($k)::+::<6 $(, $rest)?>($($arg),*),
            BlockType::Q6K => $($k)::+::<7 $(, $rest)?>($($arg),*),
        }
    };
}
#[cfg(target_arch = "x86_64")]
use x86_dispatch;

/// Run-time detection by name (`is_x86_feature_detected!` takes only literals).
#[cfg(target_arch = "x86_64")]
fn x86_has(feature: &str) -> bool {
    match feature {
        "avx2" => std::is_x86_feature_detected!("avx2"),
        "fma" => std::is_x86_feature_detected!("fma"),
        "f16c" => std::is_x86_feature_detected!("f16c"),
        "avx512f" => std::is_x86_feature_detected!("avx512f"),
        "avx512bw" => std::is_x86_feature_detected!("avx512bw"),
        "avx512vl" => std::is_x86_feature_detected!("avx512vl"),
        "avx512vnni" => std::is_x86_feature_detected!("avx512vnni"),
        _ => false,
    }
}

/// The block type the kernels use for a GGML type, if they take it.
pub fn block_type(dtype: GgmlDType) -> Option<BlockType> {
    Some(match dtype {
        GgmlDType::Q4_0 => BlockType::Q4_0,
        GgmlDType::Q4_1 => BlockType::Q4_1,
        GgmlDType::Q5_0 => BlockType::Q5_0,
        GgmlDType::Q5_1 => BlockType::Q5_1,
        GgmlDType::Q8_0 => BlockType::Q8_0,
        GgmlDType::Q4K => BlockType::Q4K,
        GgmlDType::Q5K => BlockType::Q5K,
        GgmlDType::Q6K => BlockType::Q6K,
        _ => return None,
    })
}

/// A quantised weight matrix `[n, k]` in the kernels' interleaved layout: rows in groups of
/// [`ROWS`]; within a group, block `j` of every row, then block `j + 1`, and so on.
pub struct PackedMatrix {
    ty: BlockType,
    n: usize,
    k: usize,
    data: Vec<u8>,
}

/// Raw output pointer shared by the threads of one matmul; each writes disjoint columns.
#[derive(Clone, Copy)]
struct Output(*mut f32);
// SAFETY: threads write disjoint elements (their own output rows), and the buffer outlives them.
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

impl PackedMatrix {
    /// Repacks `n` rows of `k` weights stored row after row as GGML blocks of `ty`.
    ///
    /// # Errors
    /// `k` is not a multiple of the block, or `bytes` has the wrong length.
    pub fn new(ty: BlockType, n: usize, k: usize, bytes: &[u8]) -> Result<Self, EngineError> {
        if k == 0 || k % ty.weights() != 0 {
            return Err(EngineError::Input(format!("{ty:?} rows of {k} weights: not whole {}-weight blocks", ty.weights())));
        }
        let row_bytes = k / ty.weights() * ty.bytes();
        if bytes.len() != n * row_bytes {
            return Err(EngineError::Input(format!("{ty:?} [{n}, {k}]: {} bytes, expected {}", bytes.len(), n * row_bytes)));
        }
        let mut data = Vec::with_capacity(bytes.len());
        for g0 in (0..n).step_by(ROWS) {
            let rows = ROWS.min(n - g0);
            for j in 0..k / ty.weights() {
                for r in 0..rows {
                    let at = (g0 + r) * row_bytes + j * ty.bytes();
                    data.extend_from_slice(&bytes[at..at + ty.bytes()]);
                }
            }
        }
        Ok(Self { ty, n, k, data })
    }

    /// Repacks a candle tensor `[n, k]`, or gives `None` for types the kernels do not take
    /// (float types and Q2_K/Q3_K stay with candle).
    ///
    /// # Errors
    /// The tensor is not a matrix or its data cannot be read.
    pub fn from_qtensor(t: &QTensor) -> Result<Option<Self>, EngineError> {
        let Some(ty) = block_type(t.dtype()) else { return Ok(None) };
        let (n, k) = t.shape().dims2()?;
        Ok(Some(Self::new(ty, n, k, &t.data()?)?))
    }

    /// Output features (rows of the weight).
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Input features (columns).
    pub fn cols(&self) -> usize {
        self.k
    }

    /// The storage type.
    pub fn block_type(&self) -> BlockType {
        self.ty
    }

    /// Bytes of weight data (what one pass over the matrix reads).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// The activation format llama.cpp pairs with this weight type.
    fn activation_format(&self) -> ActivationFormat {
        match self.ty {
            BlockType::Q4K | BlockType::Q5K | BlockType::Q6K => ActivationFormat::Q8K,
            _ => ActivationFormat::Q8_0,
        }
    }

    fn blocks_per_row(&self) -> usize {
        self.k / self.ty.weights()
    }

    fn group(&self, g: usize) -> (&[u8], usize) {
        let rows = ROWS.min(self.n - g * ROWS);
        let per_row = self.blocks_per_row() * self.ty.bytes();
        let start = g * ROWS * per_row;
        (&self.data[start..start + rows * per_row], rows)
    }

    /// Dequantises row `r` into `out` (`k` values).
    ///
    /// # Panics
    /// `r >= rows()` or `out.len() != cols()`.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let (group, rows) = self.group(r / ROWS);
        let mut block = Vec::with_capacity(self.blocks_per_row() * self.ty.bytes());
        for j in 0..self.blocks_per_row() {
            let at = (j * rows + r % ROWS) * self.ty.bytes();
            block.extend_from_slice(&group[at..at + self.ty.bytes()]);
        }
        blocks::dequantize_row(self.ty, &block, out);
    }

    /// `y = x Wᵀ` for `x` row-major `[m, k]`, giving `[m, n]`, with the given kernel.
    ///
    /// # Panics
    /// `x.len()` is not a multiple of `k`.
    pub fn matmul_with(&self, x: &[f32], kernel: Kernel) -> Vec<f32> {
        let quantized = QuantizedRows::new(x, self.k, self.activation_format());
        let m = quantized.rows();
        // Each row's view once per product, not once per micro-kernel call.
        let acts: Vec<RowView> = (0..m).map(|a| quantized.row(a)).collect();
        let mut y = vec![0f32; m * self.n];
        let out = Output(y.as_mut_ptr());
        // About 2^18 multiply-adds per task keeps rayon's overhead small at batch 1.
        let per_group = (ROWS * self.k * m).max(1);
        let min_len = ((1 << 18) / per_group).max(1);
        (0..self.n.div_ceil(ROWS))
            .into_par_iter()
            .with_min_len(min_len)
            .for_each_init(Tiles::default, |tiles, g| self.multiply_group(g, &acts, tiles, kernel, out));
        y
    }

    fn multiply_group(&self, g: usize, acts: &[RowView], tiles: &mut Tiles, kernel: Kernel, out: Output) {
        let (group, rows) = self.group(g);
        let per_chunk = CHUNK / self.ty.weights();
        let blocks = self.blocks_per_row();
        let m = acts.len();
        // The group's results build up here, chunk by chunk, and reach the output once: adding
        // each chunk into the output touched m scattered cache lines per chunk (a tenth of 8B
        // prefill, `perf`, issue #13).
        let mut sums = std::mem::take(&mut tiles.sums);
        sums.clear();
        sums.resize(m, [0.0; ROWS]);
        for j0 in (0..blocks).step_by(per_chunk) {
            let j1 = (j0 + per_chunk).min(blocks);
            let bytes = &group[j0 * rows * self.ty.bytes()..j1 * rows * self.ty.bytes()];
            kernel.prepare(tiles, self.ty, (bytes, j1 - j0, rows), m);
            let first = j0 * self.ty.subs();
            let tile = &*tiles;
            for (a0, sums) in (0..m).step_by(MAX_ACTS).zip(sums.chunks_mut(MAX_ACTS)) {
                let chunk = (bytes, j1 - j0, rows);
                match m - a0 {
                    1 => self.accumulate::<1>(kernel, tile, chunk, acts, (a0, first), sums),
                    2 => self.accumulate::<2>(kernel, tile, chunk, acts, (a0, first), sums),
                    3 => self.accumulate::<3>(kernel, tile, chunk, acts, (a0, first), sums),
                    _ => self.accumulate::<MAX_ACTS>(kernel, tile, chunk, acts, (a0, first), sums),
                }
            }
        }
        for (a, sums) in sums.iter().enumerate() {
            for (r, v) in sums.iter().enumerate().take(rows) {
                // SAFETY: a < m and g * ROWS + r < n index inside `y` (m * n); this group's
                // columns belong to this task alone.
                unsafe { *out.0.add(a * self.n + g * ROWS + r) = *v };
            }
        }
        tiles.sums = sums;
    }

    /// Adds one tile's products for activation rows `a0..a0 + A` (from slice `first`) into
    /// `sums` (one entry per activation row, one value per weight row of the group).
    fn accumulate<const A: usize>(&self, kernel: Kernel, tile: &Tiles, chunk: (&[u8], usize, usize),
        acts: &[RowView], (a0, first): (usize, usize), sums: &mut [[f32; ROWS]]) {
        let views: &[RowView; A] = acts[a0..a0 + A].try_into().expect("invariant: the caller passes A rows from a0");
        let part = kernel.chunk(tile, self.ty, chunk, views, first);
        for (r, part) in part.iter().enumerate() {
            for (a, v) in part.iter().enumerate() {
                sums[a][r] += v;
            }
        }
    }

    /// `x Wᵀ` for a contiguous-or-not f32 tensor `[.., k]` on the CPU.
    ///
    /// # Errors
    /// Wrong last dimension, dtype or device.
    pub fn forward(self: &Arc<Self>, x: &Tensor) -> Result<Tensor, EngineError> {
        Ok(x.contiguous()?.apply_op1_no_bwd(&PackedMatMul { weight: Arc::clone(self), kernel: Kernel::active()? })?)
    }

    /// Rows of the weight as embeddings: ids `[..]` (u32) give `[.., k]` f32.
    ///
    /// # Errors
    /// An id outside the rows, or ids that are not u32.
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor, EngineError> {
        let flat: Vec<u32> = ids.flatten_all()?.to_vec1()?;
        let mut values = vec![0f32; flat.len() * self.k];
        for (&id, out) in flat.iter().zip(values.chunks_exact_mut(self.k)) {
            let id = id as usize;
            if id >= self.n {
                return Err(EngineError::Input(format!("token id {id} outside the {}-row embedding", self.n)));
            }
            self.dequantize_row(id, out);
        }
        let mut dims = ids.dims().to_vec();
        dims.push(self.k);
        Ok(Tensor::from_vec(values, dims, &Device::Cpu)?)
    }
}

/// The candle op that runs a [`PackedMatrix`] product on CPU storage without copying the input.
struct PackedMatMul {
    weight: Arc<PackedMatrix>,
    kernel: Kernel,
}

impl CustomOp1 for PackedMatMul {
    fn name(&self) -> &'static str {
        "mhbench-packed-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("packed matmul takes f32 activations")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("packed matmul needs contiguous activations")
        };
        let mut dims = layout.shape().dims().to_vec();
        if dims.last() != Some(&self.weight.k) {
            candle_core::bail!("packed matmul: input {:?} against a [{}, {}] weight", dims, self.weight.n, self.weight.k)
        }
        let y = self.weight.matmul_with(&data[start..end], self.kernel);
        if let Some(last) = dims.last_mut() {
            *last = self.weight.n;
        }
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests;
