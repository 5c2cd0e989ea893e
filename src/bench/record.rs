//! The bench's output: one [`BenchRecord`] per test, rendered as a markdown table (the
//! llama-bench layout), JSON, JSON Lines or CSV. Raw samples are always kept beside the summary,
//! and every machine-readable format carries the environment and the model file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bound::ReadBandwidth;
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
    /// Peak resident size during prefill (dataset mode: `None`, prefill and decode interleave).
    pub prefill_peak_rss_bytes: Option<u64>,
    /// Peak resident size during decode (dataset mode: during the whole `generate` pass).
    pub decode_peak_rss_bytes: Option<u64>,
    /// Whether the peaks were reset between phases (Linux `clear_refs`); when false each peak is
    /// the process's peak so far ("not resettable").
    pub peak_per_phase: bool,
    /// Size of the KV cache at the test's longest context, computed from the model's shape
    /// (see `bench::memory::KvShape`).
    pub kv_cache_bytes: u64,
    /// Device memory held by this process after the test (CUDA, through nvidia-smi); `None` on
    /// CPU or where it cannot be read.
    pub device_bytes: Option<u64>,
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
    /// Tensor count per GGML storage type (`Q4K`, `Q8_0`, `F32`, ...) as stored in the file (the
    /// engine may re-quantise some types at load; see `engine::weights`).
    pub tensor_types: BTreeMap<String, usize>,
}

/// The sizes a sweep ran with, so a result file says what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchSettings {
    /// Prompt tokens per prompt-processing test (0: none).
    pub pp: usize,
    /// Generated tokens per text-generation test (0: none).
    pub tg: usize,
    /// Context depths.
    pub depths: Vec<usize>,
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Untimed runs before the timed repetitions.
    pub warmup: usize,
    /// Where prompt ids came from: `synthetic` or the `--prompt-tokens` path.
    pub prompt_tokens: String,
    /// Data set file in dataset mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
}

/// Greedy tokens at batch 1 for a fixed prompt, for the comparison with llama.cpp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreedyTokens {
    /// The prompt ids fed.
    pub prompt: Vec<u32>,
    /// The ids generated, EOS not special.
    pub tokens: Vec<u32>,
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
    /// Mean bytes a generated token reads (tg tests; see `bench::bound`): the weights once per
    /// step shared by the batch, an embedding row and the attended KV cache per sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_bytes_per_token: Option<f64>,
    /// Aggregate tokens/s the measured read bandwidth allows at `decode_bytes_per_token`
    /// (CPU tg tests): the memory-bandwidth bound this test's `tok_per_s` is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_tok_per_s: Option<f64>,
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
    /// Sizes asked for.
    pub settings: BenchSettings,
    /// Results.
    pub records: Vec<BenchRecord>,
    /// Greedy tokens at batch 1 (`--greedy-tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy: Option<GreedyTokens>,
    /// Streaming read bandwidth measured before the sweep with the bench's threads (CPU sweeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_bandwidth: Option<ReadBandwidth>,
}

/// How to write a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A markdown table for people.
    Table,
    /// One pretty JSON document ([`BenchReport`]).
    Json,
    /// One JSON object per test, each carrying the environment and model ([`JsonlLine`]).
    Jsonl,
    /// One CSV row per test, the environment repeated on each row.
    Csv,
}

/// One line of the JSON Lines output: a test with everything needed to read it alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonlLine {
    /// The machine and build.
    pub env: BenchEnv,
    /// The model file.
    pub model: ModelFileInfo,
    /// Repetitions after the warm-up.
    pub repetitions: usize,
    /// Test name (`pp512`, `tg128 @ d512`, `dataset`).
    pub name: String,
    /// The test's result.
    #[serde(flatten)]
    pub record: BenchRecord,
}

/// The report in `format`.
///
/// # Errors
/// Serialisation failure.
pub fn render(report: &BenchReport, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table => to_markdown(report),
        OutputFormat::Json => serde_json::to_string_pretty(report)? + "\n",
        OutputFormat::Jsonl => to_jsonl(report)?,
        OutputFormat::Csv => to_csv(report)?,
    })
}

/// One [`JsonlLine`] per test.
///
/// # Errors
/// Serialisation failure.
pub fn to_jsonl(report: &BenchReport) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for record in &report.records {
        let line = JsonlLine {
            env: report.env.clone(),
            model: report.model.clone(),
            repetitions: report.repetitions,
            name: record.name(),
            record: record.clone(),
        };
        out.push_str(&serde_json::to_string(&line)?);
        out.push('\n');
    }
    Ok(out)
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

    /// The warning `bench` prints when this test's repetitions spread as on a busy machine
    /// ([`super::stats::BUSY_CV`]): the test, its batch and the spread.
    pub fn busy_warning(&self) -> Option<String> {
        let s = &self.tok_per_s;
        s.looks_busy().then(|| {
            format!(
                "{} batch {}: repetitions spread {:.0}% of the mean (SD {:.1} around {:.1} tok/s over {} runs, above {:.0}%): \
                 the machine looks busy; close other work and rerun before comparing these numbers",
                self.name(),
                self.batch,
                100.0 * s.cv().unwrap_or(0.0),
                s.sd,
                s.mean,
                s.n,
                100.0 * super::stats::BUSY_CV
            )
        })
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_owned(), |b| format!("{:.0}", b as f64 / 1048576.0))
}

/// `value` with `decimals`, or `-` when absent.
fn or_dash(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The bandwidth line of the table header, when a bandwidth was measured.
fn bandwidth_line(report: &BenchReport) -> String {
    report.read_bandwidth.map_or_else(String::new, |bw| {
        format!(
            "read bandwidth: {:.2} GB/s ({} threads, best of {} passes over {} MiB); bound t/s = bandwidth / bytes read per decoded token\n",
            bw.bytes_per_s / 1e9,
            bw.threads,
            bw.passes,
            bw.buffer_bytes >> 20,
        )
    })
}

/// The report as a markdown table.
pub fn to_markdown(report: &BenchReport) -> String {
    let types = report.model.tensor_types.iter().map(|(t, n)| format!("{t}×{n}")).collect::<Vec<_>>().join(" ");
    let mut out = format!(
        "model: {} ({}, {:.0} MiB, sha256 {}) | tensors: {types}\ndevice: {} | threads: {} | cpu: {} [{}] | mhbench {} ({}, {})\n",
        report.model.model_id,
        report.model.path,
        report.model.file_bytes as f64 / 1048576.0,
        report.model.sha256,
        report.env.device,
        report.env.threads,
        report.env.cpu_model,
        report.env.cpu_flags.join(" "),
        report.env.mhbench_version,
        report.env.git_commit,
        report.env.profile,
    );
    out.push_str(&bandwidth_line(report));
    out.push_str(&format!(
        "repetitions: {} after {} warm-up | prompt ids: {}{}\n\n",
        report.repetitions,
        report.settings.warmup,
        report.settings.prompt_tokens,
        if report.records.iter().all(|r| r.memory.peak_per_phase) { "" } else { " | peak memory not resettable: peaks are process peaks so far" },
    ));
    out.push_str("| test | batch | t/s (mean ± sd) | t/s per seq | bound t/s | MB/token | load MiB | prefill peak MiB | decode peak MiB | KV MiB |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &report.records {
        out.push_str(&format!(
            "| {} | {} | {:.2} ± {:.2} | {:.2} | {} | {} | {} | {} | {} | {:.1} |\n",
            r.name(),
            r.batch,
            r.tok_per_s.mean,
            r.tok_per_s.sd,
            r.per_sequence_tok_per_s,
            or_dash(r.bound_tok_per_s, 1),
            or_dash(r.decode_bytes_per_token.map(|b| b / 1e6), 1),
            mib(r.memory.after_load_rss_bytes),
            mib(r.memory.prefill_peak_rss_bytes),
            mib(r.memory.decode_peak_rss_bytes),
            r.memory.kv_cache_bytes as f64 / 1048576.0
        ));
    }
    if let Some(greedy) = &report.greedy {
        out.push_str(&format!("\ngreedy tokens after a {}-token prompt: {:?}\n", greedy.prompt.len(), greedy.tokens));
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
        "prefill_peak_rss_bytes", "decode_peak_rss_bytes", "peak_per_phase", "kv_cache_bytes", "device_bytes",
        "ttft_ms_mean", "token_latency_ms_mean", "cpu_flags", "mhbench_version", "git_commit", "file_bytes",
        "tensor_types", "decode_bytes_per_token", "bound_tok_per_s", "read_bandwidth_bytes_per_s",
    ])?;
    let opt = |v: Option<u64>| v.map(|b| b.to_string()).unwrap_or_default();
    let real = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    let types = report.model.tensor_types.iter().map(|(t, n)| format!("{t}={n}")).collect::<Vec<_>>().join(";");
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
            r.memory.peak_per_phase.to_string(),
            r.memory.kv_cache_bytes.to_string(),
            opt(r.memory.device_bytes),
            r.ttft_ms.map(|s| format!("{:.4}", s.mean)).unwrap_or_default(),
            r.token_latency_ms.map(|s| format!("{:.4}", s.mean)).unwrap_or_default(),
            report.env.cpu_flags.join(" "),
            report.env.mhbench_version.clone(),
            report.env.git_commit.clone(),
            report.model.file_bytes.to_string(),
            types.clone(),
            real(r.decode_bytes_per_token),
            real(r.bound_tok_per_s),
            real(report.read_bandwidth.map(|bw| bw.bytes_per_s)),
        ])?;
    }
    let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> BenchReport {
        let samples = vec![100.0, 110.0, 90.0];
        let record = BenchRecord {
            test: TestKind::Tg,
            batch: 4,
            n_prompt: 0,
            n_gen: 128,
            depth: 512,
            tok_per_s: Summary::of(&samples).unwrap(),
            per_sequence_tok_per_s: 25.0,
            samples_tok_per_s: samples,
            ttft_ms: None,
            token_latency_ms: None,
            memory: MemoryReport {
                after_load_rss_bytes: Some(300 << 20),
                prefill_peak_rss_bytes: Some(320 << 20),
                decode_peak_rss_bytes: Some(330 << 20),
                peak_per_phase: true,
                kv_cache_bytes: 36_864 * 640 * 4,
                device_bytes: None,
            },
            decode_bytes_per_token: Some(250e6),
            bound_tok_per_s: Some(80.0),
        };
        BenchReport {
            env: BenchEnv::capture("cpu", 2),
            model: ModelFileInfo {
                model_id: "gemma-3-270m".into(),
                path: "models/gemma-3-270m-q4_k_m.gguf".into(),
                file_bytes: 253_000_000,
                sha256: "a5fd".into(),
                tensor_types: BTreeMap::from([("Q4K".into(), 27), ("F32".into(), 109)]),
            },
            repetitions: 3,
            settings: BenchSettings {
                pp: 0,
                tg: 128,
                depths: vec![512],
                batches: vec![4],
                warmup: 1,
                prompt_tokens: "synthetic".into(),
                dataset: None,
            },
            records: vec![record],
            greedy: Some(GreedyTokens { prompt: vec![2, 651], tokens: vec![7, 8, 9] }),
            read_bandwidth: Some(ReadBandwidth { bytes_per_s: 20e9, buffer_bytes: 512 << 20, passes: 5, threads: 2 }),
        }
    }

    #[test]
    fn a_busy_spread_is_named_with_its_test_and_spread() {
        let mut record = report().records.remove(0);
        assert_eq!(record.busy_warning(), None, "SD 10 around 100 is within the quiet spread");
        record.samples_tok_per_s = vec![100.0, 101.0, 70.0];
        record.tok_per_s = Summary::of(&record.samples_tok_per_s).unwrap();
        let warning = record.busy_warning().unwrap();
        assert!(
            warning.starts_with("tg128 @ d512 batch 4: repetitions spread 20% of the mean (SD 17.6 around 90.3 tok/s over 3 runs, above 10%): the machine looks busy"),
            "{warning}"
        );
    }

    #[test]
    fn test_names_follow_llama_bench() {
        let mut record = report().records.remove(0);
        assert_eq!(record.name(), "tg128 @ d512");
        record.depth = 0;
        assert_eq!(record.name(), "tg128");
        record.test = TestKind::Pp;
        record.n_prompt = 512;
        assert_eq!(record.name(), "pp512");
    }

    #[test]
    fn json_round_trips_with_samples_env_and_memory() {
        let report = report();
        let json = render(&report, OutputFormat::Json).unwrap();
        let back: BenchReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["records"][0]["samples_tok_per_s"], serde_json::json!([100.0, 110.0, 90.0]));
        assert_eq!(value["records"][0]["memory"]["kv_cache_bytes"], 36_864 * 640 * 4);
        assert_eq!(value["env"]["threads"], 2);
    }

    #[test]
    fn jsonl_has_one_self_contained_line_per_test() {
        let report = report();
        let text = render(&report, OutputFormat::Jsonl).unwrap();
        assert_eq!(text.lines().count(), 1);
        let line: JsonlLine = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line.name, "tg128 @ d512");
        assert_eq!(line.record, report.records[0]);
        assert_eq!(line.env, report.env);
        assert_eq!(line.model.sha256, "a5fd");
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_test_with_raw_samples() {
        let text = render(&report(), OutputFormat::Csv).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let field = |name: &str| rows[0].get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
        assert_eq!(field("test"), "tg128 @ d512");
        assert_eq!(field("samples"), "100.0000;110.0000;90.0000");
        assert_eq!(field("tok_per_s_mean"), "100.0000");
        assert_eq!(field("tensor_types"), "F32=109;Q4K=27");
        assert_eq!(field("peak_per_phase"), "true");
        assert_eq!(field("device_bytes"), "");
        assert_eq!(field("bound_tok_per_s"), "80.0000");
        assert_eq!(field("decode_bytes_per_token"), "250000000.0000");
        assert_eq!(field("read_bandwidth_bytes_per_s"), "20000000000.0000");
    }

    #[test]
    fn table_shows_each_test_and_the_greedy_tokens() {
        let text = render(&report(), OutputFormat::Table).unwrap();
        assert!(text.contains("| tg128 @ d512 | 4 | 100.00 ± 10.00 | 25.00 | 80.0 | 250.0 | 300 | 320 | 330 | 90.0 |"), "{text}");
        assert!(text.contains("read bandwidth: 20.00 GB/s (2 threads, best of 5 passes over 512 MiB)"), "{text}");
        assert!(text.contains("greedy tokens after a 2-token prompt: [7, 8, 9]"), "{text}");
        assert!(text.contains("tensors: F32×109 Q4K×27"), "{text}");
        assert!(!text.contains("not resettable"));
    }
}
