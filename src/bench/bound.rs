//! The memory-bandwidth bound of decoding: the fastest any engine could decode on this machine
//! if it did nothing but read, once per step, the bytes a decoded token needs.
//!
//! Single-stream decode of a quantised model is limited by memory traffic, not arithmetic: every
//! step reads every weight matrix once. So `bound tok/s = read bandwidth / bytes per token`,
//! where
//! - the read bandwidth is measured here, on the same machine and thread count as the bench
//!   ([`measure_read_bandwidth`]: a rayon read-sum over a buffer far larger than the last-level
//!   cache, best of a few passes), and
//! - the bytes per token ([`DecodeTraffic::bytes_per_token`]) are every tensor of the GGUF file at
//!   its stored size (matrices, norms, biases), except that of the embedding table only one row
//!   per sequence is read (the whole table when it is also the output projection, as in Gemma 3),
//!   plus the KV cache the step attends to: per layer, k and v of `min(columns, window)`
//!   positions at the engine's f32 ([`super::memory::KV_ELEMENT_BYTES`]).
//!
//! At batch `b` one step reads the weights once and `b` rows of embedding and KV cache, and
//! yields `b` tokens; the bound is per aggregate token. The stored types are what the file holds:
//! where the engine re-quantises at load (Q5_0 to Q8_0, see `engine::weights`) it reads more than
//! this. The bound is for CPU runs only (a GPU's memory bandwidth is not measured).

use std::time::Instant;

use candle_core::quantized::gguf_file::{Content, TensorInfo};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::memory::KV_ELEMENT_BYTES;
use crate::engine::decoder::DecoderConfig;

/// Timed passes over the buffer; the fastest counts (the others warm pages and caches, or were
/// disturbed by other work on the machine).
const PASSES: usize = 5;
/// Buffer size when the last-level cache size is unknown, and the bounds around 16 x LLC.
const DEFAULT_BUFFER_BYTES: u64 = 512 << 20;
const MIN_BUFFER_BYTES: u64 = 256 << 20;
const MAX_BUFFER_BYTES: u64 = 1 << 30;

/// A measured streaming read bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadBandwidth {
    /// Bytes read per second in the fastest pass.
    pub bytes_per_s: f64,
    /// Size of the buffer read in each pass.
    pub buffer_bytes: u64,
    /// Timed passes.
    pub passes: usize,
    /// Threads reading.
    pub threads: usize,
}

/// Measures how fast `threads` threads can stream-read memory: a buffer of 16 x the last-level
/// cache (256 MiB to 1 GiB) is filled once, then summed `PASSES` times by a pool of `threads`
/// rayon threads; the fastest pass counts.
///
/// # Errors
/// The thread pool cannot be built.
pub fn measure_read_bandwidth(threads: usize) -> anyhow::Result<ReadBandwidth> {
    let buffer_bytes = last_level_cache_bytes()
        .map_or(DEFAULT_BUFFER_BYTES, |llc| (16 * llc).clamp(MIN_BUFFER_BYTES, MAX_BUFFER_BYTES));
    let words = usize::try_from(buffer_bytes / 8)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    let best = pool.install(|| {
        // Distinct values, so no page is a shared zero page and the sum cannot be folded.
        let buffer: Vec<u64> = (0..words).into_par_iter().map(|i| i as u64).collect();
        (0..PASSES)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(read_sum(&buffer));
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    });
    Ok(ReadBandwidth { bytes_per_s: buffer_bytes as f64 / best, buffer_bytes, passes: PASSES, threads: threads.max(1) })
}

/// The wrapping sum of `buffer`, read in parallel chunks of 1 MiB.
fn read_sum(buffer: &[u64]) -> u64 {
    buffer
        .par_chunks(1 << 17)
        .map(|chunk| chunk.iter().fold(0u64, |acc, &x| acc.wrapping_add(x)))
        .reduce(|| 0, u64::wrapping_add)
}

/// Size of the largest CPU cache Linux lists for cpu0, from `/sys/devices/system/cpu`.
fn last_level_cache_bytes() -> Option<u64> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.filter_map(Result::ok)
        .filter_map(|entry| parse_cache_size(&std::fs::read_to_string(entry.path().join("size")).ok()?))
        .max()
}

/// `32768K`, `1M` or a plain byte count, as sysfs writes cache sizes.
fn parse_cache_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits.parse().ok()?;
    match unit {
        "" => Some(n),
        "K" => Some(n << 10),
        "M" => Some(n << 20),
        "G" => Some(n << 30),
        _ => None,
    }
}

/// The weight bytes a decode step reads, from a GGUF file's tensor directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeTraffic {
    /// Bytes read once per step whatever the batch: every tensor at its stored size, the
    /// embedding table only when it is also the output projection.
    pub weight_bytes: u64,
    /// Bytes of one embedding row, read once per sequence per step.
    pub embedding_row_bytes: u64,
}

impl DecodeTraffic {
    /// Sums the tensors of a GGUF file (names as llama.cpp writes them: `token_embd.weight`,
    /// `output.weight`).
    ///
    /// # Errors
    /// The file has no `token_embd.weight`, or it is not a matrix.
    pub fn of_gguf(content: &Content) -> anyhow::Result<Self> {
        let embedding = content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| anyhow::anyhow!("no token_embd.weight tensor: not a decoder GGUF"))?;
        let [rows, _] = embedding.shape.dims() else {
            anyhow::bail!("token_embd.weight has shape {:?}; expected [vocab, width]", embedding.shape.dims());
        };
        let tied = !content.tensor_infos.contains_key("output.weight");
        let weight_bytes = content
            .tensor_infos
            .iter()
            .filter(|(name, _)| tied || name.as_str() != "token_embd.weight")
            .map(|(_, info)| stored_bytes(info))
            .sum();
        Ok(Self { weight_bytes, embedding_row_bytes: stored_bytes(embedding) / *rows.max(&1) as u64 })
    }

    /// Mean bytes read per generated token over `steps` decode steps of `batch` rows after
    /// `depth` cached positions (step `i` attends to `depth + i + 1` positions); `None` for no
    /// steps or rows.
    pub fn bytes_per_token(&self, config: &DecoderConfig, depth: usize, steps: usize, batch: usize) -> Option<f64> {
        if steps == 0 || batch == 0 {
            return None;
        }
        let total: u64 = (0..steps)
            .map(|i| self.weight_bytes + batch as u64 * (self.embedding_row_bytes + kv_read_bytes(config, depth + i + 1)))
            .sum();
        Some(total as f64 / (steps * batch) as f64)
    }
}

/// Bytes of a tensor as stored: elements / block size x block bytes.
fn stored_bytes(info: &TensorInfo) -> u64 {
    let dtype = info.ggml_dtype;
    (info.shape.elem_count() / dtype.block_size() * dtype.type_size()) as u64
}

/// Bytes of keys and values one row's decode step reads with `columns` positions cached: per
/// layer k and v of `min(columns, window)` positions.
pub fn kv_read_bytes(config: &DecoderConfig, columns: usize) -> u64 {
    let per_position = 2 * config.n_kv_head as u64 * config.head_dim as u64 * KV_ELEMENT_BYTES;
    config
        .layers
        .iter()
        .map(|layer| per_position * layer.window.map_or(columns, |w| columns.min(w)) as u64)
        .sum()
}

/// Tokens per second the bandwidth allows at `bytes_per_token`.
pub fn bound_tok_per_s(bandwidth: &ReadBandwidth, bytes_per_token: f64) -> f64 {
    bandwidth.bytes_per_s / bytes_per_token
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::engine::gguf::Gguf;
    use crate::engine::models;

    const GEMMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/gemma-3-270m-q4_k_m.gguf");

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_cache_size("1M"), Some(1 << 20));
        assert_eq!(parse_cache_size("4096"), Some(4096));
        assert_eq!(parse_cache_size("lots"), None);
    }

    #[test]
    fn read_bandwidth_is_a_finite_positive_rate() {
        let bw = measure_read_bandwidth(2).unwrap();
        assert!(bw.bytes_per_s.is_finite() && bw.bytes_per_s > 1e8, "{bw:?}");
        assert!((MIN_BUFFER_BYTES..=MAX_BUFFER_BYTES).contains(&bw.buffer_bytes), "{bw:?}");
        assert_eq!((bw.passes, bw.threads), (PASSES, 2));
    }

    #[test]
    fn gemma3_270m_bytes_per_token_follow_its_tensors_and_kv_cache() {
        let path = Path::new(GEMMA);
        if !path.is_file() {
            eprintln!("skipped: {GEMMA} absent; run scripts/fetch-default-model.sh");
            return;
        }
        let gguf = Gguf::open(path).unwrap();
        let traffic = DecodeTraffic::of_gguf(gguf.content()).unwrap();
        // Tied embeddings: every tensor is read each step, so the weight bytes are the file's
        // tensor data, less the alignment padding (under 32 bytes per tensor).
        let data = std::fs::metadata(path).unwrap().len() - gguf.content().tensor_data_offset;
        let padding = data - traffic.weight_bytes;
        assert!(padding < 32 * gguf.content().tensor_infos.len() as u64, "{traffic:?}, {data} data bytes");
        // The 262,144 x 640 embedding is Q8_0: 20 blocks of 34 bytes per row.
        let embedding = &gguf.content().tensor_infos["token_embd.weight"];
        assert_eq!(embedding.shape.dims(), &[262_144, 640]);
        assert_eq!(format!("{:?}", embedding.ggml_dtype), "Q8_0");
        assert_eq!(traffic.embedding_row_bytes, 20 * 34);

        let config = models::load_gguf(path, &candle_core::Device::Cpu).unwrap().config().clone();
        // 18 blocks, 1 kv head of 256 dims, f32: 2,048 bytes of k and v per block and position;
        // 15 sliding blocks see at most 512 positions, the 3 global ones all.
        assert_eq!(config.layers.len(), 18);
        assert_eq!(config.layers.iter().filter(|l| l.window == Some(512)).count(), 15);
        assert_eq!(kv_read_bytes(&config, 1), 18 * 2048);
        assert_eq!(kv_read_bytes(&config, 1024), (15 * 512 + 3 * 1024) * 2048);
        // One step at depth 0 attends to 1 position.
        let one = traffic.bytes_per_token(&config, 0, 1, 1).unwrap();
        assert_eq!(one, (traffic.weight_bytes + 680 + 18 * 2048) as f64);
        // Two steps at depth 1023 of 2 rows: 1024 then 1025 positions, weights once per step.
        let two = traffic.bytes_per_token(&config, 1023, 2, 2).unwrap();
        let step = |cols: u64| traffic.weight_bytes + 2 * (680 + (15 * 512 + 3 * cols) * 2048);
        assert_eq!(two, (step(1024) + step(1025)) as f64 / 4.0);
        assert_eq!(traffic.bytes_per_token(&config, 0, 0, 1), None);
        let bw = ReadBandwidth { bytes_per_s: 20e9, buffer_bytes: 1 << 29, passes: 5, threads: 2 };
        assert!((bound_tok_per_s(&bw, one) - 20e9 / one).abs() < 1e-9);
    }
}
