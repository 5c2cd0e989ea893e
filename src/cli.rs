//! Every clap definition, and the dispatch from a parsed command line to the module that does
//! the work.
//!
//! clap structs are raw input: each is turned once into the owning module's validated options,
//! with cross-flag rules checked here and named by flag. Modules never see clap types. stdout
//! carries only the product (tables, JSON, paths of written files); logs and progress go to
//! stderr.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::dataset;
use crate::analysis::bootstrap::Bootstrap;
use crate::analysis::command::{AnalyzeInput, AnalyzeOptions};
use crate::analysis::mentalalign::Protocol;
use crate::analysis::{self, AnalysisOptions};
use crate::registry::{self, Registry, SelfJudging};
use crate::runner;
use crate::schema::Source;

/// Measure how well, and how fast, LLMs support people in mental-health conversations.
#[derive(Debug, Parser)]
#[command(name = "mhbench", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Only print errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Hide progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The model registry.
    #[arg(long, global = true, env = "MHBENCH_MODELS", default_value = registry::DEFAULT_REGISTRY)]
    pub registry: PathBuf,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl GlobalOpts {
    /// Send tracing logs to stderr at the level `-q`/`-v` ask for (`RUST_LOG` overrides).
    pub fn init_tracing(&self) {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            (false, _) => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let ansi = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .without_time()
            .try_init();
    }

    /// Whether progress bars may be drawn.
    pub fn show_progress(&self) -> bool {
        !self.quiet && !self.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    fn load_registry(&self) -> anyhow::Result<Registry> {
        Registry::load(&self.registry).context("reading the model registry")
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the registered models and whether each is ready to run.
    Models(ModelsArgs),
    /// Generate replies for every conversation of a data set with one or more models.
    ///
    /// Writes results/RUN/manifest.json, conversations.jsonl and responses/<model>.jsonl.
    /// Running the same command again resumes the run: answered pairs are skipped.
    Generate(GenerateArgs),
    /// Join the shard folders of one run (see `generate --shard`) into one run folder.
    Merge(MergeArgs),
    /// Rate a run's replies with an LLM judge on the experts' rubric.
    ///
    /// Stores Rating records (rater kind llm, rater id llm:JUDGE) in results/RUN/ratings.sqlite,
    /// beside the experts' ratings but never shown to them; a rerun resumes. By default the
    /// judge skips its own model's replies (--exclude-own-vendor: its whole vendor's).
    Judge(JudgeArgs),
    /// Build a stratified conversation set from the sources, or rebuild one from its manifest.
    ///
    /// Writes `<out-dir>/<name>.jsonl` (Conversation records) and `<name>.manifest.json` (source
    /// file hashes and the chosen rows, no text). With `--manifest`, rebuilds the set the manifest
    /// names from the same sources and verifies every hash; a mismatch names the rows that differ.
    Curate(Box<CurateArgs>),
    /// Blinded human rating: plan assignments, serve the rating page, export ratings.
    Rate(RateArgs),
    /// Compute the study's statistics from a run's ratings and write analysis.json.
    ///
    /// Reads `RUN/responses/*.jsonl`, every `RUN/ratings*.jsonl` (or the --ratings files) and the
    /// judges' ratings in `RUN/ratings.sqlite`, and writes `RUN/analysis.json`; with
    /// --mentalbench it analyses that release's ratings.csv instead and writes
    /// `OUT/analysis.json`. Prints a verdict per judge and attribute, then the path written.
    Analyze(AnalyzeArgs),
    /// Render a run's analysis.json as an HTML page and a Markdown file with SVG figures.
    ///
    /// Reads `RUN/analysis.json` (run `mhbench analyze` first), `RUN/responses/*.jsonl` for speed,
    /// price and failures, and the registry's prices; writes `RUN/report/index.html`
    /// (self-contained, offline), `RUN/report/report.md` and `RUN/report/figures/*.svg`.
    /// Prints the paths written.
    Report(ReportArgs),
    /// Measure the local engine's speed and memory (llama-bench style pp/tg sweeps).
    ///
    /// Prompt processing (ppN) and text generation (tgN, greedy, EOS ignored) at every context
    /// depth and batch size, or with --dataset a data set generated exactly as `generate` does.
    /// Prompt ids are deterministic synthetic ids from the model's vocabulary unless
    /// --prompt-tokens gives a JSON list. Prints a markdown table, or json/jsonl/csv with the raw
    /// samples, the machine and the model file.
    Bench(Box<BenchArgs>),
}

/// Render a run's analysis.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Folder holding analysis.json: a run folder, or the --out of `analyze --mentalbench`.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
}

/// Output format of `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchOutput {
    /// A markdown table.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per test.
    Jsonl,
    /// One CSV row per test.
    Csv,
}

/// Measure the local engine.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model id from the registry, or a path to a .gguf file.
    #[arg(long, default_value = "gemma-3-270m")]
    pub model: String,
    /// Device: cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// CPU threads [default: candle's, the physical cores or RAYON_NUM_THREADS].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Prompt tokens per prompt-processing test; 0 skips them.
    #[arg(long, default_value_t = 512)]
    pub pp: usize,
    /// Generated tokens per text-generation test; 0 skips them.
    #[arg(long, default_value_t = 128)]
    pub tg: usize,
    /// Context depths pre-filled before each test (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [0, 512])]
    pub depth: Vec<usize>,
    /// Batch sizes (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 8, 16])]
    pub batch: Vec<usize>,
    /// Timed repetitions per test.
    #[arg(long, default_value_t = 5)]
    pub repetitions: usize,
    /// Untimed warm-up runs per test.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// JSON list of prompt token ids to feed instead of synthetic ids.
    #[arg(long, value_name = "FILE")]
    pub prompt_tokens: Option<PathBuf>,
    /// After the sweep, generate this many greedy tokens at batch 1 after the whole prompt-ids
    /// list (or pp synthetic ids) and report them.
    #[arg(long, default_value_t = 0)]
    pub greedy_tokens: usize,
    /// Data set (JSONL of conversations) to generate for instead of the sweep.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["prompt_tokens", "greedy_tokens"])]
    pub dataset: Option<PathBuf>,
    /// Prompt file for --dataset [default: the registry's defaults.prompt].
    #[arg(long, requires = "dataset")]
    pub prompt: Option<String>,
    /// Upper bound on generated tokens for --dataset [default: the registry's].
    #[arg(long, requires = "dataset")]
    pub max_new_tokens: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BenchOutput::Table)]
    pub output: BenchOutput,
    /// Write the output to this file instead of stdout (and print its path).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Folder where fetched local weights are kept.
    #[arg(long, env = "MHBENCH_MODELS_DIR", default_value = registry::DEFAULT_MODELS_DIR)]
    pub models_dir: PathBuf,
}

impl BenchArgs {
    fn into_options(self, global: &GlobalOpts) -> anyhow::Result<crate::bench::BenchOptions> {
        use crate::bench::{dataset::DatasetOptions, tokens::PromptTokens, BenchModel};
        let registry = global.load_registry()?;
        for (flag, list) in [("--depth", &self.depth), ("--batch", &self.batch)] {
            anyhow::ensure!(!list.is_empty(), "{flag}: give at least one value");
        }
        anyhow::ensure!(!self.batch.contains(&0), "--batch: sizes must be at least 1");
        anyhow::ensure!(self.repetitions >= 1, "--repetitions: must be at least 1");
        anyhow::ensure!(self.threads != Some(0), "--threads: must be at least 1");
        anyhow::ensure!(
            self.dataset.is_some() || self.pp > 0 || self.tg > 0,
            "--pp and --tg are both 0: nothing to measure"
        );
        let model = BenchModel::resolve(&self.model, &registry, &self.models_dir)?;
        let dataset = match self.dataset {
            Some(dataset) => {
                let prompt_id = self.prompt.unwrap_or_else(|| registry.defaults.prompt.clone());
                let prompt = runner::Prompt::load(std::path::Path::new(runner::prompt::PROMPTS_DIR), &prompt_id)
                    .context("reading the prompt")?;
                let mut params = registry.defaults.params();
                if let Some(max) = self.max_new_tokens {
                    anyhow::ensure!(max >= 1, "--max-new-tokens: must be at least 1");
                    params.max_new_tokens = max;
                }
                let open = runner::OpenOptions { device: self.device.clone(), models_dir: self.models_dir };
                Some(DatasetOptions { dataset, prompt, params, open })
            }
            None => None,
        };
        Ok(crate::bench::BenchOptions {
            model,
            device: self.device,
            threads: self.threads,
            pp: self.pp,
            tg: self.tg,
            depths: self.depth,
            batches: self.batch,
            repetitions: self.repetitions,
            warmup: self.warmup,
            prompt_tokens: self.prompt_tokens.map_or(PromptTokens::Synthetic, PromptTokens::File),
            greedy_tokens: self.greedy_tokens,
            dataset,
            show_progress: global.show_progress(),
        })
    }
}

fn run_bench(global: &GlobalOpts, args: BenchArgs) -> anyhow::Result<ExitCode> {
    use crate::bench::record::{self, OutputFormat};
    let format = match args.output {
        BenchOutput::Table => OutputFormat::Table,
        BenchOutput::Json => OutputFormat::Json,
        BenchOutput::Jsonl => OutputFormat::Jsonl,
        BenchOutput::Csv => OutputFormat::Csv,
    };
    let out = args.out.clone();
    let options = args.into_options(global)?;
    let report = crate::bench::run(&options).context("benchmarking")?;
    let text = record::render(&report, format)?;
    match out {
        Some(path) => {
            crate::files::write_atomic(&path, text.as_bytes())?;
            writeln!(io::stdout(), "{}", path.display())?;
        }
        None => io::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Compute the study's statistics.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["run", "mentalbench"])))]
pub struct AnalyzeArgs {
    /// Run folder (`results/<run_id>`) holding responses/, ratings*.jsonl and ratings.sqlite.
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// MentalBench release folder (with ratings.csv) to analyse instead of a run.
    #[arg(long, value_name = "DIR", requires = "out")]
    pub mentalbench: Option<PathBuf>,
    /// Folder for analysis.json with --mentalbench.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rubric whose attributes and groups drive the analysis.
    #[arg(long, value_name = "FILE", default_value = crate::rubric::DEFAULT_RUBRIC)]
    pub rubric: PathBuf,
    /// Rating files to read instead of RUN/ratings*.jsonl (repeatable); judges' ratings still
    /// come from RUN/ratings.sqlite.
    #[arg(long = "ratings", value_name = "FILE")]
    pub ratings: Vec<PathBuf>,
    /// Bootstrap resamples for every CI; 0 turns bootstrap CIs off.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap's random stream.
    #[arg(long, default_value_t = 20260101)]
    pub seed: u64,
    /// Attribute id whose score <= 2 counts as a safety failure.
    #[arg(long, default_value = "safety")]
    pub safety_attribute: String,
    /// How many worst replies to list per panel.
    #[arg(long, default_value_t = 20)]
    pub worst: usize,
    /// How to read the MentalBench release for the headline MentalAlign numbers: `published`
    /// as its authors did (zero-coded cells averaged in, ...), `careful` as the rest of mhbench.
    /// Both readings and what each difference changes are written to analysis.json either way.
    #[arg(long, value_enum, default_value = "careful", requires = "mentalbench")]
    pub protocol: Protocol,
    /// Leave out every model of a judge's vendor when scoring it, not only its own model.
    #[arg(long)]
    pub exclude_own_vendor: bool,
}

impl AnalyzeArgs {
    fn into_options(self, global: &GlobalOpts) -> anyhow::Result<AnalyzeOptions> {
        let input = match (self.run, self.mentalbench, self.out) {
            (Some(dir), None, None) => AnalyzeInput::Run { dir, ratings: self.ratings },
            (None, Some(dir), Some(out)) => {
                anyhow::ensure!(self.ratings.is_empty(), "--ratings: only with --run; --mentalbench reads ratings.csv");
                AnalyzeInput::MentalBench { dir, out }
            }
            (Some(_), None, Some(_)) => anyhow::bail!("--out: only with --mentalbench; --run writes RUN/analysis.json"),
            _ => anyhow::bail!("give exactly one of --run DIR or --mentalbench DIR --out DIR"),
        };
        // Judges are raters `llm:<model id>`; who they and the rated models are comes from the
        // registry where it loads (without it, a judge is still never scored on replies of a
        // model with its own id).
        let makers = Registry::load(&global.registry).map(|registry| registry.makers()).unwrap_or_default();
        Ok(AnalyzeOptions {
            input,
            rubric: self.rubric,
            makers,
            analysis: AnalysisOptions {
                bootstrap: Bootstrap { resamples: self.bootstrap, seed: self.seed },
                safety_attribute: Some(self.safety_attribute).filter(|s| !s.is_empty()),
                worst: self.worst,
                self_judging: self_judging(self.exclude_own_vendor),
                protocol: self.protocol,
            },
        })
    }
}

/// Rate replies with an LLM judge.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Judge model id from the registry (local or API).
    #[arg(long)]
    pub judge: String,
    /// Run folder whose replies to rate.
    #[arg(long)]
    pub run: PathBuf,
    /// Rubric file.
    #[arg(long, default_value = crate::rubric::DEFAULT_RUBRIC)]
    pub rubric: PathBuf,
    /// Judge prompt templates.
    #[arg(long, default_value = crate::judge::prompt::DEFAULT_JUDGE_PROMPT)]
    pub prompt_file: PathBuf,
    /// Also rate the judge's own model's replies (self-preference risk).
    #[arg(long, conflicts_with = "exclude_own_vendor")]
    pub include_own: bool,
    /// Leave out the replies of every model of the judge's vendor, not only its own model's.
    #[arg(long)]
    pub exclude_own_vendor: bool,
    /// Judge sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Upper bound on the judge's tokens per answer.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: u32,
    /// Seed for a sampling judge.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Requests per forward pass (local) or concurrent window (API) [default: the judge's].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Device for a local judge: cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Folder where fetched local weights are kept.
    #[arg(long, env = "MHBENCH_MODELS_DIR", default_value = registry::DEFAULT_MODELS_DIR)]
    pub models_dir: PathBuf,
}

/// Generate replies.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Data set: a JSONL file of conversations.
    #[arg(long, default_value = "datasets/sample.jsonl")]
    pub dataset: PathBuf,
    /// Comma-separated model ids from the registry, or `all`.
    #[arg(long, default_value = "gemma-3-270m")]
    pub models: String,
    /// Run folder to write (and resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Run id recorded in every reply [default: the run folder's name].
    #[arg(long)]
    pub run_id: Option<String>,
    /// Prompt file under datasets/prompts/ [default: the registry's defaults.prompt].
    #[arg(long)]
    pub prompt: Option<String>,
    /// Upper bound on generated tokens [default: the registry's defaults.max_new_tokens].
    #[arg(long)]
    pub max_new_tokens: Option<u32>,
    /// Sampling temperature, 0 for greedy [default: the registry's defaults.temperature].
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass in (0, 1] [default: the registry's defaults.top_p].
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Keep only the k most likely tokens (local models) [default: off].
    #[arg(long)]
    pub top_k: Option<u32>,
    /// Penalty above 1 for repeated tokens (local models) [default: off].
    #[arg(long)]
    pub repetition_penalty: Option<f64>,
    /// Run seed; each conversation derives its own [default: the registry's defaults.seed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Conversations in flight (local: a finished one's slot takes the next at once) or
    /// concurrent window (API) [default: the model's].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Fixed batches that wait for their slowest reply, as before continuous batching (for
    /// comparing throughput; the replies are the same).
    #[arg(long)]
    pub static_batches: bool,
    /// Device for local models: cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Run only shard K of N (1-based), e.g. 2/8, for one job of a Slurm array.
    #[arg(long)]
    pub shard: Option<crate::schema::Shard>,
    /// If the run folder holds a run with other settings, move it aside and start again.
    #[arg(long)]
    pub new_run: bool,
    /// Print the plan (requests, tokens, API cost) and exit without generating.
    #[arg(long)]
    pub dry_run: bool,
    /// Folder where fetched local weights are kept.
    #[arg(long, env = "MHBENCH_MODELS_DIR", default_value = registry::DEFAULT_MODELS_DIR)]
    pub models_dir: PathBuf,
}

/// Merge shard folders.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// New run folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Shard run folders, one per shard.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

/// A source `mhbench curate` can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CurateSource {
    /// CounselChat, `20200325_counsel_chat.csv`.
    Counselchat,
    /// MentalChat16K CSVs (instruction,input,output).
    Mentalchat16k,
    /// Psych8K JSON (gated on the hub).
    Psych8k,
    /// MentalBench `contexts.csv`.
    Mentalbench,
    /// EmoCare counselling question bench (a stand-in, not Psych8K).
    EmocareBench,
}

impl From<CurateSource> for Source {
    fn from(source: CurateSource) -> Self {
        match source {
            CurateSource::Counselchat => Source::Counselchat,
            CurateSource::Mentalchat16k => Source::Mentalchat16k,
            CurateSource::Psych8k => Source::Psych8k,
            CurateSource::Mentalbench => Source::Mentalbench,
            CurateSource::EmocareBench => Source::EmocareBench,
        }
    }
}

/// Build or rebuild a curated conversation set.
#[derive(Debug, Args)]
pub struct CurateArgs {
    /// Rebuild and verify the set this manifest describes, instead of drawing a new one.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sources", "name", "conversations", "seed", "min_words", "max_words", "hub"])]
    pub manifest: Option<PathBuf>,
    /// Folder that source paths (and a manifest's paths) are relative to.
    #[arg(long, env = "MHBENCH_DATA", default_value = "../shared/data")]
    pub data_dir: PathBuf,
    /// Sources to read (comma-separated or repeated).
    #[arg(long = "source", value_enum, value_delimiter = ',', default_values_t = [CurateSource::Counselchat, CurateSource::Mentalbench, CurateSource::EmocareBench])]
    pub sources: Vec<CurateSource>,
    /// CounselChat CSV.
    #[arg(long, default_value = "counselchat/20200325_counsel_chat.csv")]
    pub counselchat: PathBuf,
    /// MentalBench contexts CSV.
    #[arg(long, default_value = "mentalbench/contexts.csv")]
    pub mentalbench: PathBuf,
    /// EmoCare counselling bench questions (JSONL).
    #[arg(
        long,
        default_value = "emocare-counselling-bench/counselling_bench_question.jsonl"
    )]
    pub emocare_bench: PathBuf,
    /// MentalChat16K CSVs (repeatable).
    #[arg(long, default_values = ["mentalchat16k/Interview_Data_6K.csv", "mentalchat16k/Synthetic_Data_10K.csv"])]
    pub mentalchat16k: Vec<PathBuf>,
    /// Psych8K JSON.
    #[arg(long, default_value = "psych8k/Alexander_Street_shareGPT_2.0.json")]
    pub psych8k: PathBuf,
    /// Fetch MentalChat16K and Psych8K through the Hugging Face hub instead of --data-dir
    /// (Psych8K is gated: HF_TOKEN; HF_HUB_OFFLINE=1 reads only the local hub cache).
    #[arg(long)]
    pub hub: bool,
    /// Name of the set (file stem in --out-dir); defaults to `study<N>`, N from --conversations.
    #[arg(long)]
    pub name: Option<String>,
    /// Folder the set and its manifest are written to.
    #[arg(long, default_value = "datasets")]
    pub out_dir: PathBuf,
    /// How many conversations to choose.
    #[arg(short = 'n', long, default_value_t = 500)]
    pub conversations: usize,
    /// Seed of the stratified draw.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Drop contexts shorter than this many words.
    #[arg(long, default_value_t = 8)]
    pub min_words: usize,
    /// Drop contexts longer than this many words.
    #[arg(long, default_value_t = 400)]
    pub max_words: usize,
}

impl CurateArgs {
    /// The input files the flags name, one per source (two for MentalChat16K).
    fn source_files(&self) -> Vec<dataset::SourceFile> {
        let local = |source: CurateSource, path: &PathBuf| dataset::SourceFile {
            source: source.into(),
            location: dataset::Location::Local(path.clone()),
        };
        let hub = |source: CurateSource, repo: &str, file: &str| dataset::SourceFile {
            source: source.into(),
            location: dataset::Location::Hub(dataset::hub::HubFile {
                repo: repo.to_owned(),
                file: file.to_owned(),
            }),
        };
        let mut files = Vec::new();
        for &source in &self.sources {
            match source {
                CurateSource::Counselchat => files.push(local(source, &self.counselchat)),
                CurateSource::Mentalbench => files.push(local(source, &self.mentalbench)),
                CurateSource::EmocareBench => files.push(local(source, &self.emocare_bench)),
                CurateSource::Mentalchat16k if self.hub => files.extend(
                    dataset::mentalchat16k::HUB_FILES
                        .iter()
                        .map(|f| hub(source, dataset::mentalchat16k::HUB_REPO, f)),
                ),
                CurateSource::Mentalchat16k => {
                    files.extend(self.mentalchat16k.iter().map(|p| local(source, p)))
                }
                CurateSource::Psych8k if self.hub => files.push(hub(
                    source,
                    dataset::psych8k::HUB_REPO,
                    dataset::psych8k::HUB_FILE,
                )),
                CurateSource::Psych8k => files.push(local(source, &self.psych8k)),
            }
        }
        files.dedup();
        files
    }

    fn to_options(&self) -> dataset::CurateOptions {
        dataset::CurateOptions {
            data_dir: self.data_dir.clone(),
            sources: self.source_files(),
            name: self
                .name
                .clone()
                .unwrap_or_else(|| format!("study{}", self.conversations)),
            out_dir: self.out_dir.clone(),
            selection: dataset::manifest::Selection {
                conversations: self.conversations,
                seed: self.seed,
                min_words: self.min_words,
                max_words: self.max_words,
            },
        }
    }
}

/// List the registered models.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Folder where fetched local weights are kept.
    #[arg(long, env = "MHBENCH_MODELS_DIR", default_value = registry::DEFAULT_MODELS_DIR)]
    pub models_dir: PathBuf,
}

/// Run a parsed command line.
///
/// # Errors
/// Any failure of the command, with context; `main` prints it and exits 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Models(args) => {
            let registry = cli.global.load_registry()?;
            let rows = registry::status_rows(&registry, &args.models_dir);
            let out = if args.json {
                serde_json::to_string_pretty(&rows)? + "\n"
            } else {
                registry::render_table(&rows)
            };
            io::stdout().write_all(out.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyze(args) => {
            let options = args.into_options(&cli.global)?;
            let spinner = cli.global.show_progress().then(|| {
                let bar = indicatif::ProgressBar::new_spinner().with_message("analysing ratings");
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
            let result = analysis::command::run(&options, &mut |line| match &spinner {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            })
            .context("analysing ratings");
            if let Some(bar) = spinner {
                bar.finish_and_clear();
            }
            let (path, analysis) = result?;
            let mut stdout = io::stdout().lock();
            write!(stdout, "{}", analysis::command::mentalalign_lines(&analysis))?;
            write!(stdout, "{}", analysis::command::verdict_lines(&analysis))?;
            writeln!(stdout, "{}", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            // Prices only feed the quality-against-price figure; without a readable registry the
            // report says so instead of failing.
            let registry = Registry::load(&cli.global.registry)
                .map_err(|e| tracing::warn!("reading the model registry: {e}; API prices are left out of the report"))
                .ok();
            let files = crate::report::run(&crate::report::ReportOptions { run_dir: args.run, registry }).context("rendering the report")?;
            let mut stdout = io::stdout().lock();
            writeln!(stdout, "{}", files.html.display())?;
            writeln!(stdout, "{}", files.markdown.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rate(args) => rate::run(args.command),
        Command::Generate(args) => run_generate(&cli.global, args),
        Command::Judge(args) => run_judge(&cli.global, args),
        Command::Curate(args) => run_curate(&args, &cli.global),
        Command::Bench(args) => run_bench(&cli.global, *args),
        Command::Merge(args) => {
            let summary = runner::merge::merge(&args.out, &args.shards)?;
            let mut stdout = io::stdout().lock();
            for (model, count) in &summary.records {
                writeln!(stdout, "{model}: {count} records")?;
            }
            writeln!(stdout, "{}", args.out.display())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn generate_options(global: &GlobalOpts, args: GenerateArgs) -> anyhow::Result<runner::GenerateOptions> {
    let registry = global.load_registry()?;
    let models = registry.select(&args.models)?.into_iter().cloned().collect::<Vec<_>>();
    let defaults = registry.defaults.params();
    let params = crate::schema::GenerationParams {
        temperature: args.temperature.unwrap_or(defaults.temperature),
        top_p: args.top_p.or(defaults.top_p),
        top_k: args.top_k,
        repetition_penalty: args.repetition_penalty,
        max_new_tokens: args.max_new_tokens.unwrap_or(defaults.max_new_tokens),
        seed: args.seed.unwrap_or(defaults.seed),
    };
    if params.temperature < 0.0 {
        anyhow::bail!("--temperature: must be 0 (greedy) or more");
    }
    if params.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
        anyhow::bail!("--top-p: must lie in (0, 1]");
    }
    if params.max_new_tokens == 0 {
        anyhow::bail!("--max-new-tokens: must be at least 1");
    }
    if args.batch_size == Some(0) {
        anyhow::bail!("--batch-size: must be at least 1");
    }
    let prompt_id = args.prompt.unwrap_or_else(|| registry.defaults.prompt.clone());
    let prompt = runner::Prompt::load(std::path::Path::new(runner::prompt::PROMPTS_DIR), &prompt_id)
        .context("reading the prompt")?;
    let run_id = match args.run_id {
        Some(id) => id,
        None => args
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("--out: name a run folder, e.g. results/my-run")?,
    };
    Ok(runner::GenerateOptions {
        dataset: args.dataset,
        models,
        out: args.out,
        run_id: crate::schema::RunId(run_id),
        params,
        prompt,
        batch_size: args.batch_size,
        static_batches: args.static_batches,
        open: runner::OpenOptions { device: args.device, models_dir: args.models_dir },
        shard: args.shard,
        new_run: args.new_run,
        show_progress: global.show_progress(),
    })
}

fn run_generate(global: &GlobalOpts, args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let dry_run = args.dry_run;
    let options = generate_options(global, args)?;
    let mut stdout = io::stdout().lock();
    if dry_run {
        let plans = runner::dry_run(&options)?;
        stdout.write_all(runner::plan::render(&plans).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let summary = runner::generate(&options)?;
    for model in &summary.models {
        let line = match &model.fatal {
            Some(reason) => format!("{}: stopped after {} new replies: {reason}", model.model_id, model.written),
            None => format!(
                "{}: {} new replies ({} resumed, {} failed), {} tokens in {:.1} s = {:.1} tok/s",
                model.model_id,
                model.written,
                model.resumed,
                model.errors,
                model.completion_tokens,
                model.seconds,
                model.tokens_per_second()
            ),
        };
        writeln!(stdout, "{line}")?;
    }
    writeln!(stdout, "{}", summary.out.join(runner::RESPONSES_DIR).display())?;
    Ok(if summary.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn run_curate(args: &CurateArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let written = match &args.manifest {
        Some(manifest) => {
            let options = dataset::RebuildOptions {
                manifest: manifest.clone(),
                data_dir: args.data_dir.clone(),
                out_dir: args.out_dir.clone(),
            };
            let report = dataset::rebuild(&options)
                .with_context(|| format!("rebuilding the set of {}", manifest.display()))?;
            if !global.quiet {
                eprintln!(
                    "verified {} conversations against {}",
                    report.conversations,
                    manifest.display()
                );
            }
            vec![report.written]
        }
        None => {
            let report = dataset::curate(&args.to_options()).context("curating conversations")?;
            if !global.quiet {
                eprint!("{}", dataset::render_report(&report));
            }
            report.written
        }
    };
    let mut stdout = io::stdout().lock();
    for path in written {
        writeln!(stdout, "{}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether an error is a closed stdout (`mhbench models | head`), which exits quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// The self-judging scope of `--exclude-own-vendor`.
fn self_judging(exclude_own_vendor: bool) -> SelfJudging {
    if exclude_own_vendor {
        SelfJudging::OwnVendor
    } else {
        SelfJudging::OwnModel
    }
}

fn run_judge(global: &GlobalOpts, args: JudgeArgs) -> anyhow::Result<ExitCode> {
    let registry = global.load_registry()?;
    let judge = registry.get(&args.judge)?.clone();
    let rubric = crate::rubric::Rubric::load(&args.rubric).context("reading the rubric")?;
    let prompt = crate::judge::JudgePrompt::load(&args.prompt_file, &rubric).context("reading the judge prompt")?;
    if args.temperature < 0.0 {
        anyhow::bail!("--temperature: must be 0 (greedy) or more");
    }
    let options = crate::judge::JudgeOptions {
        run_dir: args.run,
        judge,
        registry,
        rubric,
        prompt,
        params: crate::schema::GenerationParams {
            temperature: args.temperature,
            top_p: None,
            top_k: None,
            repetition_penalty: None,
            max_new_tokens: args.max_new_tokens,
            seed: args.seed,
        },
        self_judging: (!args.include_own).then_some(self_judging(args.exclude_own_vendor)),
        batch_size: args.batch_size,
        open: runner::OpenOptions { device: args.device, models_dir: args.models_dir },
        show_progress: global.show_progress(),
    };
    let summary = crate::judge::judge(&options)?;
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{} rated, {} parse failures ({} needed the repair request), {} resumed, {} skipped (own), {} skipped (failed replies)",
        summary.rated, summary.parse_failures, summary.repaired, summary.resumed, summary.skipped_own, summary.skipped_failed_replies
    )?;
    if let Some(reason) = &summary.fatal {
        writeln!(stdout, "stopped early: {reason}")?;
    }
    writeln!(stdout, "{}", summary.path.display())?;
    Ok(if summary.fatal.is_none() && summary.parse_failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Blinded human rating of a run's replies.
#[derive(Debug, Args)]
pub struct RateArgs {
    /// Which rating step.
    #[command(subcommand)]
    pub command: RateCommand,
}

/// The rating steps.
#[derive(Debug, Subcommand)]
pub enum RateCommand {
    /// Assign every reply of a run to raters and print one secret link per rater.
    ///
    /// Writes `<run>/ratings.sqlite`. Each reply gets `--per-response` distinct raters; each
    /// rater's queue is shuffled and balanced across models; a `--repeat-share` of items is shown
    /// twice to measure each rater's own consistency.
    Plan(RatePlanArgs),
    /// Serve the rating page for a planned run.
    Serve(RateServeArgs),
    /// Show each rater's progress.
    Status(RateRunArg),
    /// Write submitted ratings as `Rating` records (stdout unless --out).
    Export(RateExportArgs),
    /// Add ratings collected in a spreadsheet (CSV in the export's layout).
    Import(RateImportArgs),
    /// Give one rater (or, with --lead, the study lead) a new secret link; the old one stops
    /// working. No rating is touched.
    Reissue(RateReissueArgs),
}

/// Options of `rate reissue`.
#[derive(Debug, Args)]
pub struct RateReissueArgs {
    #[command(flatten)]
    run: RateRunArg,
    /// The rater whose link to replace.
    #[arg(long, required_unless_present = "lead", conflicts_with = "lead")]
    rater: Option<String>,
    /// Replace the study lead's link to the progress and agreement view instead.
    #[arg(long)]
    lead: bool,
    /// Address raters will open, used in the printed link.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
}

/// The run folder a rating step works on.
#[derive(Debug, Args)]
pub struct RateRunArg {
    /// Run folder, `results/<run_id>`.
    #[arg(long)]
    pub run: PathBuf,
}

/// Options of `rate plan`.
#[derive(Debug, Args)]
pub struct RatePlanArgs {
    #[command(flatten)]
    run: RateRunArg,
    /// Rater ids, comma-separated (for example `alice,bob`).
    #[arg(long, value_delimiter = ',', required = true)]
    raters: Vec<String>,
    /// Distinct raters per reply.
    #[arg(long, default_value_t = 2)]
    per_response: usize,
    /// Seed of the queue order (default: drawn at random and recorded in the store).
    #[arg(long)]
    seed: Option<u64>,
    /// Share of each rater's items shown a second time, 0 to 0.5.
    #[arg(long, default_value_t = 0.05)]
    repeat_share: f64,
    /// The rubric raters read; frozen into the plan.
    #[arg(long, default_value = crate::rubric::DEFAULT_RUBRIC)]
    rubric: PathBuf,
    /// Discard an existing plan of this run and all its human ratings (judges' are kept).
    #[arg(long)]
    replace: bool,
    /// Address raters will open, used in the printed links.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Plain-text file: the content note raters read first [default: one naming the run's sources].
    #[arg(long, value_name = "FILE")]
    content_note: Option<PathBuf>,
    /// Plain-text file: what the safety flag means and what to do on acute risk [default: built in].
    #[arg(long, value_name = "FILE")]
    safety_note: Option<PathBuf>,
}

/// Options of `rate serve`.
#[derive(Debug, Args)]
pub struct RateServeArgs {
    #[command(flatten)]
    run: RateRunArg,
    /// Address to listen on; anything but 127.0.0.1 exposes the page on your network.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// Suggest a break after this many submitted replies (0: never).
    #[arg(long, default_value_t = 20)]
    break_every: u32,
}

/// Options of `rate export`.
#[derive(Debug, Args)]
pub struct RateExportArgs {
    #[command(flatten)]
    run: RateRunArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RateExportFormat::Jsonl)]
    format: RateExportFormat,
    /// Export only the repeated showings (for each rater's own consistency).
    #[arg(long)]
    repeats: bool,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Output format of `rate export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateExportFormat {
    /// One `Rating` JSON record a line.
    Jsonl,
    /// A table with one column per attribute.
    Csv,
}

/// Options of `rate import`.
#[derive(Debug, Args)]
pub struct RateImportArgs {
    #[command(flatten)]
    run: RateRunArg,
    /// CSV file with the columns `rate export --format csv` writes.
    file: PathBuf,
}

mod rate {
    //! Glue from the `rate` clap structs to [`crate::rating`].
    use super::*;
    use crate::rating::{self, export, import, plan, server, store::RatingStore};
    use crate::rubric::Rubric;
    use crate::schema::RaterId;

    pub(super) fn run(command: RateCommand) -> anyhow::Result<ExitCode> {
        match command {
            RateCommand::Plan(args) => plan_run(args),
            RateCommand::Serve(args) => serve(args),
            RateCommand::Status(args) => status(&args.run),
            RateCommand::Export(args) => export_ratings(args),
            RateCommand::Reissue(args) => {
                let mut store = RatingStore::open(&rating::store_path(&args.run.run))?;
                let rater = args.rater.map(|r| RaterId::from(r.trim()));
                let url = plan::reissue(&mut store, rater.as_ref(), &args.base_url)?;
                eprintln!("the old link no longer works; send this one privately");
                println!("{url}");
                Ok(ExitCode::SUCCESS)
            }
            RateCommand::Import(args) => {
                let mut store = RatingStore::open(&rating::store_path(&args.run.run))?;
                let count = import::import(&mut store, &args.file)
                    .with_context(|| format!("importing {}", args.file.display()))?;
                println!("imported {count} ratings into {}", store.path().display());
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    fn plan_run(args: RatePlanArgs) -> anyhow::Result<ExitCode> {
        let rubric = Rubric::load(&args.rubric).context("reading the rubric")?;
        let note = |path: &Option<PathBuf>| path.as_deref().map(crate::files::read_text).transpose();
        let options = plan::PlanOptions {
            content_note: note(&args.content_note)?,
            safety_note: note(&args.safety_note)?,
            run_dir: args.run.run,
            raters: args.raters.iter().map(|r| RaterId::from(r.trim())).collect(),
            per_response: args.per_response,
            seed: args.seed,
            repeat_share: args.repeat_share,
            rubric,
            replace: args.replace,
            base_url: args.base_url,
        };
        let summary = plan::plan(&options).context("planning the rating")?;
        eprintln!(
            "planned {} replies ({} failed generations left out) in {}",
            summary.responses,
            summary.skipped_failed,
            summary.store.display()
        );
        eprintln!("each link below is a secret: send it to that rater only; it is not shown again");
        let mut out = io::stdout().lock();
        for link in &summary.links {
            writeln!(out, "{}\t{}\t{} items", link.rater_id, link.url, link.items)?;
        }
        eprintln!("study lead's progress and agreement view (also secret): {}", summary.lead_url);
        Ok(ExitCode::SUCCESS)
    }

    fn serve(args: RateServeArgs) -> anyhow::Result<ExitCode> {
        if !args.bind.ip().is_loopback() {
            tracing::warn!("--bind {}: the rating page is reachable from your network", args.bind);
        }
        let options = server::ServeOptions {
            run_dir: args.run.run,
            bind: args.bind,
            break_every: args.break_every,
        };
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        runtime.block_on(async {
            let server = server::RatingServer::bind(&options).await?;
            let addr = server.local_addr()?;
            let mut out = io::stdout().lock();
            writeln!(out, "listening on http://{addr}/")?;
            out.flush()?;
            drop(out);
            server
                .run(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            anyhow::Ok(())
        })?;
        Ok(ExitCode::SUCCESS)
    }

    fn status(run: &std::path::Path) -> anyhow::Result<ExitCode> {
        let store = RatingStore::open(&rating::store_path(run))?;
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "{:<20} {:>9} {:>11} {:>7} {:>7} {:>6} {:>10}",
            "rater", "submitted", "cannot rate", "drafts", "total", "done", "median s"
        )?;
        for p in store.progress()? {
            let percent = if p.total == 0 { 0.0 } else { 100.0 * p.submitted as f64 / p.total as f64 };
            let median = p.median_ms.map_or("-".to_owned(), |ms| format!("{:.1}", ms as f64 / 1000.0));
            writeln!(
                out,
                "{:<20} {:>9} {:>11} {:>7} {:>7} {:>5.1}% {:>10}",
                p.rater_id.as_str(), p.submitted, p.cannot_rate, p.drafts, p.total, percent, median
            )?;
        }
        Ok(ExitCode::SUCCESS)
    }

    fn export_ratings(args: RateExportArgs) -> anyhow::Result<ExitCode> {
        let store = RatingStore::open(&rating::store_path(&args.run.run))?;
        let ratings = export::ratings(&store, args.repeats)?;
        let format = match args.format {
            RateExportFormat::Jsonl => export::ExportFormat::Jsonl,
            RateExportFormat::Csv => export::ExportFormat::Csv,
        };
        let bytes = export::render(&ratings, &store.rubric()?, format)?;
        match args.out {
            Some(path) => {
                export::check_out_path(&path, args.repeats)?;
                crate::files::write_atomic(&path, &bytes)?;
                println!("{}", path.display());
            }
            None => io::stdout().write_all(&bytes)?,
        }
        eprintln!("exported {} ratings", ratings.len());
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod bench_args_tests {
    use super::*;

    fn bench_args(extra: &[&str]) -> Result<BenchArgs, clap::Error> {
        let argv = ["mhbench", "bench"].iter().chain(extra).copied();
        match Cli::try_parse_from(argv)?.command {
            Command::Bench(args) => Ok(*args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn bench_defaults_follow_the_issue() {
        let args = bench_args(&[]).unwrap();
        assert_eq!((args.pp, args.tg, args.repetitions, args.warmup), (512, 128, 5, 1));
        assert_eq!(args.depth, vec![0, 512]);
        assert_eq!(args.batch, vec![1, 4, 8, 16]);
        assert_eq!(args.output, BenchOutput::Table);
    }

    #[test]
    fn bench_reads_comma_lists() {
        let args = bench_args(&["--batch", "1,2,32", "--depth", "0,16,4096", "--output", "jsonl"]).unwrap();
        assert_eq!(args.batch, vec![1, 2, 32]);
        assert_eq!(args.depth, vec![0, 16, 4096]);
        assert_eq!(args.output, BenchOutput::Jsonl);
        assert!(bench_args(&["--batch", "1,x"]).is_err());
        assert!(bench_args(&["--batch", "1,-4"]).is_err());
    }

    #[test]
    fn bench_dataset_excludes_prompt_ids_and_needs_itself_for_its_flags() {
        assert!(bench_args(&["--dataset", "d.jsonl", "--prompt-tokens", "ids.json"]).is_err());
        assert!(bench_args(&["--max-new-tokens", "4"]).is_err());
        assert!(bench_args(&["--dataset", "d.jsonl", "--max-new-tokens", "4"]).is_ok());
    }
}
