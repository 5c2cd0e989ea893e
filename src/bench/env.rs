//! The machine a bench ran on, recorded beside every result so numbers are never compared across
//! machines by accident, and the engine's thread count, which is part of that machine.

use serde::{Deserialize, Serialize};

/// Facts about the machine and build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchEnv {
    /// mhbench version.
    pub mhbench_version: String,
    /// mhbench git commit (`-dirty` for a changed tree).
    pub git_commit: String,
    /// CPU model name.
    pub cpu_model: String,
    /// SIMD flags relevant to the kernels (avx2, avx512f, avx512_vnni, fma, f16c, neon).
    pub cpu_flags: Vec<String>,
    /// Logical CPUs visible.
    pub logical_cpus: usize,
    /// Threads the engine used.
    pub threads: usize,
    /// Device name (`cpu`, `cuda:0`, ...).
    pub device: String,
    /// Build profile (`release` or `debug`).
    pub profile: String,
    /// Operating system and architecture.
    pub os: String,
}

const INTERESTING_FLAGS: &[&str] = &["avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "neon", "asimd"];

/// Sets the engine's CPU threads to `requested` (else `RAYON_NUM_THREADS`, else candle's default,
/// the physical core count) and returns the count in force. Call before the first tensor
/// operation. The heavy work (the quantised kernels, attention, the MLP activation) runs on
/// rayon's global pool, built here with that count. candle runs its remaining elementwise ops on
/// a pool of its own, sized once from `CANDLE_NUM_THREADS`; unless the user sets that, it gets
/// one thread (the caller's), so the two pools never oversubscribe the cores and no thread spins
/// at candle's barrier while rayon's run (5% of decode, `perf`).
pub fn configure_threads(requested: Option<usize>) -> usize {
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

impl BenchEnv {
    /// Describe this machine for a bench on `device` with `threads` threads.
    pub fn capture(device: &str, threads: usize) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let flags_line = field("flags").or_else(|| field("Features")).unwrap_or_default();
        let cpu_flags = flags_line
            .split_whitespace()
            .filter(|f| INTERESTING_FLAGS.contains(f))
            .map(str::to_owned)
            .collect();
        Self {
            mhbench_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: crate::runner::manifest::git_commit(),
            cpu_model: field("model name").unwrap_or_else(|| "unknown".to_owned()),
            cpu_flags,
            logical_cpus: std::thread::available_parallelism().map_or(1, usize::from),
            threads,
            device: device.to_owned(),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_owned(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}
