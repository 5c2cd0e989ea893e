//! Resident memory of this process, read from `/proc/self/status` (Linux).
//!
//! The bench splits memory into after-load, after-prefill and peak-during-decode. Linux keeps a
//! high-water mark (`VmHWM`) that can be reset by writing `5` to `/proc/self/clear_refs`, so each
//! phase's peak is measured on its own. Elsewhere the readings are `None`, never zero.

/// Current resident set size in bytes.
pub fn current_rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident set size in bytes since start or the last [`reset_peak`].
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
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
