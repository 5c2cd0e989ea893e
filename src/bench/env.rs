//! The machine a bench ran on, recorded beside every result so numbers are never compared across
//! machines by accident.

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
