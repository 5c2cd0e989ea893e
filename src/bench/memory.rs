//! Resident memory of this process, read from `/proc/self/status` (Linux).
//!
//! The bench splits memory into after-load, after-prefill and peak-during-decode. Linux keeps a
//! high-water mark (`VmHWM`) that can be reset by writing `5` to `/proc/self/clear_refs`, so each
//! phase's peak is measured on its own. Elsewhere the readings are `None`, never zero.
//!
//! It also owns the KV cache size formula ([`KvShape`]) and the optional CUDA device-memory
//! reading through `nvidia-smi` (no CUDA library is linked for it).

use crate::engine::decoder::DecoderConfig;
use crate::engine::models::CommonConfig;

/// Bytes per cached key or value element: the engine keeps its KV cache in the activation dtype,
/// f32 (`engine::layers::KvCache`).
pub const KV_ELEMENT_BYTES: u64 = 4;

/// The shape that sets the KV cache size of a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvShape {
    /// Transformer blocks, each with its own cache.
    pub layers: u64,
    /// Key/value heads per block.
    pub kv_heads: u64,
    /// Dimension per head.
    pub head_dim: u64,
    /// Bytes per element.
    pub element_bytes: u64,
}

impl KvShape {
    /// The shape of a loaded model's cache.
    pub fn of_decoder(config: &DecoderConfig) -> Self {
        Self {
            layers: config.layers.len() as u64,
            kv_heads: config.n_kv_head as u64,
            head_dim: config.head_dim as u64,
            element_bytes: KV_ELEMENT_BYTES,
        }
    }

    /// The same from GGUF hyper-parameters, without loading weights.
    pub fn of_common(config: &CommonConfig) -> Self {
        Self {
            layers: config.n_layer as u64,
            kv_heads: config.n_kv_head as u64,
            head_dim: config.head_dim as u64,
            element_bytes: KV_ELEMENT_BYTES,
        }
    }

    /// Bytes of keys and values for `columns` positions of `batch` rows:
    /// layers × 2 (k and v) × kv_heads × head_dim × columns × batch × element bytes.
    pub fn bytes(&self, columns: usize, batch: usize) -> u64 {
        self.layers * 2 * self.kv_heads * self.head_dim * columns as u64 * batch as u64 * self.element_bytes
    }
}

/// Device memory this process holds on an NVIDIA GPU, from
/// `nvidia-smi --query-compute-apps=pid,used_memory`; `None` where nvidia-smi is missing or does
/// not list this process.
pub fn cuda_process_bytes() -> Option<u64> {
    let output = std::process::Command::new("nvidia-smi")
        .args(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    process_mib(&String::from_utf8_lossy(&output.stdout), std::process::id()).map(|mib| mib * 1024 * 1024)
}

/// The MiB `nvidia-smi` lists for `pid` (lines `pid, MiB`).
fn process_mib(listing: &str, pid: u32) -> Option<u64> {
    listing.lines().find_map(|line| {
        let (p, mib) = line.split_once(',')?;
        (p.trim().parse::<u32>().ok()? == pid).then(|| mib.trim().parse().ok()).flatten()
    })
}

/// Current resident set size in bytes.
pub fn current_rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident set size in bytes since start or the last [`reset_peak`].
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// The larger of two optional readings; a missing one does not hide the other.
pub fn max_reading(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Reset the peak to the current resident size; returns whether the OS allowed it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_bytes_follow_the_formula_for_gemma3_270m() {
        // Gemma 3 270M: 18 blocks, 1 kv head of 256 dims, f32:
        // 18 * 2 * 1 * 256 * 4 = 36,864 bytes per column per row; 640 columns * 16 rows.
        let shape = KvShape { layers: 18, kv_heads: 1, head_dim: 256, element_bytes: 4 };
        assert_eq!(shape.bytes(1, 1), 36_864);
        assert_eq!(shape.bytes(640, 16), 36_864 * 640 * 16);
        assert_eq!(shape.bytes(0, 8), 0);
    }

    #[test]
    fn max_reading_keeps_the_larger_and_ignores_absent_ones() {
        assert_eq!(max_reading(Some(3), Some(5)), Some(5));
        assert_eq!(max_reading(None, Some(5)), Some(5));
        assert_eq!(max_reading(Some(3), None), Some(3));
        assert_eq!(max_reading(None, None), None);
    }

    #[test]
    fn nvidia_smi_listing_is_read_for_this_pid_only() {
        let listing = "1234, 512\n42, 2048\n";
        assert_eq!(process_mib(listing, 42), Some(2048));
        assert_eq!(process_mib(listing, 7), None);
        assert_eq!(process_mib("garbage", 42), None);
    }

    #[test]
    fn peak_follows_a_large_allocation_and_resets() {
        if current_rss_bytes().is_none() {
            eprintln!("skipped: /proc/self/status not available on this OS");
            return;
        }
        assert!(reset_peak());
        let before = peak_rss_bytes().unwrap();
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let during = peak_rss_bytes().unwrap();
        assert!(during >= before + (60 << 20), "{before} -> {during}");
        drop(block);
        assert!(reset_peak());
        assert!(peak_rss_bytes().unwrap() < during);
    }
}
