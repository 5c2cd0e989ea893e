//! Process-wide settings the engine needs before its first tensor operation: one thread count for
//! rayon's pool (the kernels) and candle's (the rest), and an allocator that keeps large buffers.

/// Sets the engine's CPU threads to `requested` (else `RAYON_NUM_THREADS`, else candle's default,
/// the physical core count) and returns the count in force. Call before the first tensor
/// operation. The heavy work (the quantised kernels, attention, the MLP activation) runs on
/// rayon's global pool, built here with that count. candle runs its remaining elementwise ops on
/// a pool of its own, sized once from `CANDLE_NUM_THREADS`; unless the user sets that, it gets
/// one thread (the caller's), so the two pools never oversubscribe the cores and no thread spins
/// at candle's barrier while rayon's run (5% of decode, `perf`).
pub fn configure(requested: Option<usize>) -> usize {
    keep_large_buffers();
    let from_env = std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0);
    let threads = requested.or(from_env).unwrap_or_else(candle_core::utils::get_num_threads);
    // Set before any thread of this process reads the environment (the engine's first step).
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    // An error means the global pool already exists (a second bench in one process); it then
    // keeps its first size, which the environment above also gave it.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    threads
}

/// Lets glibc's malloc serve buffers up to 32 MiB from its heap and keep them after `free`. By
/// default a buffer above the mmap threshold (128 KiB, raised only as far as the largest one
/// freed) is a fresh mapping on every allocation, and each step's logits (batch x vocabulary
/// f32: 16 MiB at batch 16 for Gemma 3's 262,144 tokens) and matmul outputs then fault in and
/// zero every page again: 6% of batched decode in `perf` (`clear_page_erms`). The memory kept is
/// bounded by the largest step's working set, which the process needs again at the next step.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_buffers() {
    const MMAP_THRESHOLD: libc::c_int = 32 << 20;
    const TRIM_THRESHOLD: libc::c_int = 256 << 20;
    // SAFETY: mallopt only changes allocator parameters; it is called before the engine's
    // threads start and returns 0 (ignored: the defaults stay, which is only slower) on a value
    // glibc refuses.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other allocators keep their own policy.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_buffers() {}
