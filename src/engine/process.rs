//! Process-wide settings the engine needs before its first tensor operation: one thread count for
//! rayon's pool (the kernels) and candle's (the rest).

/// Sets the engine's CPU threads to `requested` (else `RAYON_NUM_THREADS`, else candle's default,
/// the physical core count) and returns the count in force. Call before the first tensor
/// operation. The heavy work (the quantised kernels, attention, the MLP activation) runs on
/// rayon's global pool, built here with that count. candle runs its remaining elementwise ops on
/// a pool of its own, sized once from `CANDLE_NUM_THREADS`; unless the user sets that, it gets
/// one thread (the caller's), so the two pools never oversubscribe the cores and no thread spins
/// at candle's barrier while rayon's run (5% of decode, `perf`).
///
/// # Errors
/// `requested` is 0 (it comes from `--threads`, which the message names); nothing is set then.
pub fn configure(requested: Option<usize>) -> anyhow::Result<usize> {
    anyhow::ensure!(requested != Some(0), "--threads: must be at least 1");
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
    Ok(threads)
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_threads_is_refused() {
        let error = super::configure(Some(0)).unwrap_err();
        assert_eq!(error.to_string(), "--threads: must be at least 1");
    }
}
