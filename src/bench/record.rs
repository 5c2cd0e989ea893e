//! The bench's output: one [`BenchRecord`] per test, rendered as a markdown table (the
//! llama-bench layout), JSON, JSON Lines or CSV. Raw samples are always kept beside the summary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::env::BenchEnv;
use super::stats::Summary;

/// What one test measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Prompt processing: one forward pass over `n_prompt` tokens per row.
    Pp,
    /// Text generation: `n_gen` single-token steps per row, EOS ignored.
    Tg,
    /// `generate` over a data set, end to end.
    Dataset,
}

/// Resident memory at the bench's phases, in bytes (`None` where the OS gives no reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Resident size right after the model loaded.
    pub after_load_rss_bytes: Option<u64>,
    /// Peak resident size during prefill.
    pub prefill_peak_rss_bytes: Option<u64>,
    /// Peak resident size during decode.
    pub decode_peak_rss_bytes: Option<u64>,
    /// Size of the KV cache at the test's longest context, computed from the model's shape.
    pub kv_cache_bytes: u64,
}

/// The model file a bench ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFileInfo {
    /// Model id.
    pub model_id: String,
    /// Weights path.
    pub path: String,
    /// File size in bytes.
    pub file_bytes: u64,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Tensor count per storage type (`Q4K`, `Q8_0`, `F32`, ...) as loaded.
    pub tensor_types: BTreeMap<String, usize>,
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// Test kind.
    pub test: TestKind,
    /// Rows per forward pass.
    pub batch: usize,
    /// Prompt tokens per row (pp), or mean prompt tokens (dataset).
    pub n_prompt: usize,
    /// Generated tokens per row (tg), or total generated (dataset).
    pub n_gen: usize,
    /// Context already in the KV cache before the timed part.
    pub depth: usize,
    /// Aggregate tokens per second, one sample per repetition.
    pub samples_tok_per_s: Vec<f64>,
    /// Summary of `samples_tok_per_s`.
    pub tok_per_s: Summary,
    /// Tokens per second of one sequence (aggregate / batch).
    pub per_sequence_tok_per_s: f64,
    /// Time to first token in ms, per reply (dataset mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Summary>,
    /// Per-token decode latency in ms, per reply (dataset mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_latency_ms: Option<Summary>,
    /// Memory.
    pub memory: MemoryReport,
}

/// A whole bench run: the machine, the model and every test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The machine and build.
    pub env: BenchEnv,
    /// The model file.
    pub model: ModelFileInfo,
    /// Repetitions per test after the warm-up.
    pub repetitions: usize,
    /// Results.
    pub records: Vec<BenchRecord>,
}

impl BenchRecord {
    /// The llama-bench style test name: `pp512`, `tg128`, `pp512 @ d512`, `dataset`.
    pub fn name(&self) -> String {
        let base = match self.test {
            TestKind::Pp => format!("pp{}", self.n_prompt),
            TestKind::Tg => format!("tg{}", self.n_gen),
            TestKind::Dataset => "dataset".to_owned(),
        };
        if self.depth > 0 { format!("{base} @ d{}", self.depth) } else { base }
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_owned(), |b| format!("{:.0}", b as f64 / 1048576.0))
}

/// The report as a markdown table.
pub fn to_markdown(report: &BenchReport) -> String {
    let mut out = format!(
        "model: {} ({}, {:.0} MiB) | device: {} | threads: {} | cpu: {}\n\n",
        report.model.model_id,
        report.model.path,
        report.model.file_bytes as f64 / 1048576.0,
        report.env.device,
        report.env.threads,
        report.env.cpu_model
    );
    out.push_str("| test | batch | t/s (mean ± sd) | t/s per seq | load MiB | prefill peak MiB | decode peak MiB | KV MiB |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &report.records {
        out.push_str(&format!(
            "| {} | {} | {:.2} ± {:.2} | {:.2} | {} | {} | {} | {:.1} |\n",
            r.name(),
            r.batch,
            r.tok_per_s.mean,
            r.tok_per_s.sd,
            r.per_sequence_tok_per_s,
            mib(r.memory.after_load_rss_bytes),
            mib(r.memory.prefill_peak_rss_bytes),
            mib(r.memory.decode_peak_rss_bytes),
            r.memory.kv_cache_bytes as f64 / 1048576.0
        ));
    }
    for r in report.records.iter().filter(|r| r.ttft_ms.is_some()) {
        if let (Some(ttft), Some(lat)) = (r.ttft_ms, r.token_latency_ms) {
            out.push_str(&format!(
                "\n{}: TTFT ms mean {:.1} p50 {:.1} p90 {:.1} p99 {:.1}; per-token ms mean {:.2} p50 {:.2} p90 {:.2} p99 {:.2}\n",
                r.name(), ttft.mean, ttft.p50, ttft.p90, ttft.p99, lat.mean, lat.p50, lat.p90, lat.p99
            ));
        }
    }
    out
}

/// One CSV row per test, with the environment repeated on each row.
///
/// # Errors
/// CSV serialisation failure.
pub fn to_csv(report: &BenchReport) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "model_id", "sha256", "device", "threads", "cpu_model", "test", "batch", "n_prompt", "n_gen", "depth",
        "tok_per_s_mean", "tok_per_s_sd", "per_sequence_tok_per_s", "samples", "after_load_rss_bytes",
        "prefill_peak_rss_bytes", "decode_peak_rss_bytes", "kv_cache_bytes", "git_commit",
    ])?;
    let opt = |v: Option<u64>| v.map(|b| b.to_string()).unwrap_or_default();
    for r in &report.records {
        let samples = r.samples_tok_per_s.iter().map(|s| format!("{s:.4}")).collect::<Vec<_>>().join(";");
        writer.write_record([
            report.model.model_id.clone(),
            report.model.sha256.clone(),
            report.env.device.clone(),
            report.env.threads.to_string(),
            report.env.cpu_model.clone(),
            r.name(),
            r.batch.to_string(),
            r.n_prompt.to_string(),
            r.n_gen.to_string(),
            r.depth.to_string(),
            format!("{:.4}", r.tok_per_s.mean),
            format!("{:.4}", r.tok_per_s.sd),
            format!("{:.4}", r.per_sequence_tok_per_s),
            samples,
            opt(r.memory.after_load_rss_bytes),
            opt(r.memory.prefill_peak_rss_bytes),
            opt(r.memory.decode_peak_rss_bytes),
            r.memory.kv_cache_bytes.to_string(),
            report.env.git_commit.clone(),
        ])?;
    }
    let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
