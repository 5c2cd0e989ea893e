//! bench: throughput and memory of the local engine, in llama-bench's vocabulary.
//!
//! Two workloads share one report ([`record::BenchReport`]):
//! - the sweep ([`sweep`]): prompt processing (`pp`) and text generation (`tg`, greedy, EOS
//!   ignored) at every context depth and batch size, driving `engine::decoder::Model` directly;
//! - the dataset mode ([`dataset`]): a data set answered through `runner::open` and the
//!   `Generator` trait, exactly as `mhbench generate` answers it, reporting end-to-end tokens/s,
//!   time to first token and per-token latency.
//!
//! On the CPU, text-generation tests also carry their memory-bandwidth bound ([`bound`]): a
//! streaming read bandwidth measured before the sweep, divided by the bytes a decoded token reads.
//!
//! Each test runs `warmup` untimed times, then `repetitions` timed times; raw samples are kept.
//! It drives the engine and writes nothing but its report; it never rates or judges. Reference:
//! llama.cpp's `tools/llama-bench` (test names `pp512`, `tg128 @ d512`) and
//! `examples/batched-bench` (aggregate vs per-sequence decode).

pub mod bound;
pub mod dataset;
pub mod env;
pub mod memory;
pub mod record;
pub mod stats;
pub mod sweep;
pub mod tokens;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::gguf::Gguf;
use crate::registry::{ModelSpec, Registry, Weights};

use record::{BenchReport, BenchSettings, ModelFileInfo};
use tokens::PromptTokens;

/// Everything a bench run needs, validated.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The model and its weights.
    pub model: BenchModel,
    /// `cpu`, `cuda`, `cuda:N` or `metal`.
    pub device: String,
    /// Engine threads; `None` keeps candle's default (physical cores, or `RAYON_NUM_THREADS`).
    pub threads: Option<usize>,
    /// Prompt tokens per pp test (0: no pp tests).
    pub pp: usize,
    /// Generated tokens per tg test (0: no tg tests).
    pub tg: usize,
    /// Context depths pre-filled (untimed) before each test.
    pub depths: Vec<usize>,
    /// Rows per forward pass.
    pub batches: Vec<usize>,
    /// Timed runs per test.
    pub repetitions: usize,
    /// Untimed runs per test before the timed ones.
    pub warmup: usize,
    /// Where prompt ids come from.
    pub prompt_tokens: PromptTokens,
    /// Greedy tokens to generate at batch 1 after the sweep (0: none), for comparisons.
    pub greedy_tokens: usize,
    /// Run the dataset mode instead of the sweep.
    pub dataset: Option<dataset::DatasetOptions>,
    /// Draw a progress bar on stderr.
    pub show_progress: bool,
}

/// The model a bench loads.
#[derive(Debug, Clone)]
pub struct BenchModel {
    /// Registry id, or the file stem for a GGUF given by path.
    pub id: String,
    /// The GGUF file.
    pub weights: PathBuf,
    /// The registry entry, when the model came from the registry (dataset mode needs it).
    pub spec: Option<ModelSpec>,
}

impl BenchModel {
    /// `--model` as a registry id, or as a path to a `.gguf` file (id = file stem).
    ///
    /// # Errors
    /// An unknown id, an API model, weights not fetched, or safetensors weights (the bench reads
    /// GGUF files only).
    pub fn resolve(name: &str, registry: &Registry, models_dir: &Path) -> anyhow::Result<Self> {
        let as_path = Path::new(name);
        if name.ends_with(".gguf") && as_path.is_file() {
            let id = as_path.file_stem().map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned());
            return Ok(Self { id, weights: as_path.to_path_buf(), spec: None });
        }
        let spec = registry.get(name)?.clone();
        let ModelSpec::Local(local) = &spec else {
            anyhow::bail!("--model {name}: an API model; the bench measures the local engine only");
        };
        if !matches!(local.weights, Weights::Gguf { .. }) {
            anyhow::bail!("--model {name}: safetensors weights; the bench reads GGUF files only");
        }
        let weights = local.locate_weights(models_dir).with_context(|| {
            format!("--model {name}: weights not found; fetch them with: {}", local.fetch_command())
        })?;
        Ok(Self { id: local.id.to_string(), weights, spec: Some(spec) })
    }
}

/// Runs the sweep or the dataset mode and returns the report.
///
/// # Errors
/// Unreadable weights or prompt ids, a device this build lacks, sizes beyond the model's
/// context, or a failed generation.
pub fn run(options: &BenchOptions) -> anyhow::Result<BenchReport> {
    let threads = crate::engine::process::configure(options.threads)?;
    let environment = env::BenchEnv::capture(&options.device, threads);
    if let Some(ModelSpec::Local(local)) = &options.model.spec {
        local.verified_weights_sha256(&options.model.weights).map_err(anyhow::Error::msg)?;
    }
    let model = describe_model_file(&options.model.id, &options.model.weights)?;
    // Before the model loads, so the buffer is gone before memory is read.
    let read_bandwidth = if options.dataset.is_none() && options.device == "cpu" {
        Some(bound::measure_read_bandwidth(threads).context("measuring the read bandwidth")?)
    } else {
        None
    };
    let (mut records, greedy) = match &options.dataset {
        Some(dataset) => (dataset::run(options, dataset)?, None),
        None => sweep::run(options)?,
    };
    if let Some(bw) = &read_bandwidth {
        for record in &mut records {
            record.bound_tok_per_s = record.decode_bytes_per_token.map(|bytes| bound::bound_tok_per_s(bw, bytes));
        }
    }
    Ok(BenchReport {
        env: environment,
        model,
        repetitions: options.repetitions,
        settings: BenchSettings {
            pp: options.pp,
            tg: options.tg,
            depths: options.depths.clone(),
            batches: options.batches.clone(),
            warmup: options.warmup,
            prompt_tokens: match &options.prompt_tokens {
                PromptTokens::Synthetic => "synthetic".to_owned(),
                PromptTokens::File(path) => path.display().to_string(),
            },
            dataset: options.dataset.as_ref().map(|d| d.dataset.display().to_string()),
        },
        records,
        greedy,
        read_bandwidth,
    })
}

/// Size, hash and tensor types of a GGUF file.
///
/// # Errors
/// The file is unreadable or not GGUF.
pub fn describe_model_file(id: &str, path: &Path) -> anyhow::Result<ModelFileInfo> {
    let file_bytes = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    let sha256 = crate::files::sha256_file_recorded(path)?;
    let gguf = Gguf::open(path)?;
    let mut tensor_types = BTreeMap::new();
    for info in gguf.content().tensor_infos.values() {
        *tensor_types.entry(format!("{:?}", info.ggml_dtype)).or_insert(0) += 1;
    }
    Ok(ModelFileInfo { model_id: id.to_owned(), path: path.display().to_string(), file_bytes, sha256, tensor_types })
}

/// A bar of `total` timed-or-warm-up runs on stderr, hidden when `show` is false.
fn progress_bar(total: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} runs, {elapsed} (ETA {eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
