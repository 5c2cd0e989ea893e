//! Every clap definition of the command line: raw input, one struct per command.
//!
//! Each command's file in [`super`] turns its struct once into the owning module's validated
//! options, with cross-flag rules checked there and named by flag; modules never see clap types.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analysis::mentalalign::Protocol;
use crate::registry::{self, Registry};
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
    /// The model registry. Its folder is the project root: default paths (models/, datasets/...)
    /// resolve against it, so mhbench runs from any folder with `--registry path/to/models.toml`.
    #[arg(long, global = true, env = "MHBENCH_MODELS", value_name = "FILE", default_value = registry::DEFAULT_REGISTRY)]
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

    /// The registry `--registry` names.
    ///
    /// # Errors
    /// An unreadable or invalid registry file; a missing one says how to name it.
    pub fn load_registry(&self) -> anyhow::Result<Registry> {
        let loaded = Registry::load(&self.registry).map_err(|error| match &error {
            crate::files::FileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "{error}; run mhbench in the folder holding {}, or name the file with --registry FILE (or MHBENCH_MODELS=FILE)",
                registry::DEFAULT_REGISTRY
            ),
            _ => anyhow::Error::new(error),
        });
        loaded.context("reading the model registry")
    }

    /// `explicit` as the user gave it (relative to the current directory), else `default` taken
    /// from the registry's folder, the project root (see `--registry`).
    pub fn path_or_default(&self, explicit: Option<PathBuf>, default: &str) -> PathBuf {
        explicit.unwrap_or_else(|| registry::root_of(&self.registry).join(default))
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
    /// Reads `RUN/responses/*.jsonl`, `RUN/manifest.json`, every rating in `RUN/ratings.sqlite`
    /// (the experts' submitted ratings and the judges') and in every `RUN/ratings*.jsonl` (or the
    /// --ratings files; a rating in both counts once), and the registry's makers and prices, and
    /// writes `RUN/analysis.json`; with
    /// --mentalbench it analyses that release's ratings.csv instead and writes
    /// `OUT/analysis.json`. Prints a verdict per judge and attribute, then the path written.
    Analyze(AnalyzeArgs),
    /// Render a run's analysis.json as an HTML page and a Markdown file with SVG figures.
    ///
    /// Reads `RUN/analysis.json` (run `mhbench analyze` first; it holds the statistics and the
    /// run's speed, memory, price and failures) and nothing else; writes `RUN/report/index.html`
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
    /// Prompt tokens per prompt-processing test; 0 skips them [default: 512, see below].
    ///
    /// Without any of --pp, --tg, --depth and --batch, bench runs the full sweep (pp512 and
    /// tg128 at depths 0 and 512, batches 1, 4, 8 and 16). Given any of them it runs exactly
    /// what they say: an unnamed depth is 0, an unnamed batch 1, and naming only one of --pp
    /// and --tg skips the other.
    #[arg(long)]
    pub pp: Option<usize>,
    /// Generated tokens per text-generation test; 0 skips them [default: 128, see --pp].
    #[arg(long)]
    pub tg: Option<usize>,
    /// Context depths pre-filled before each test (comma-separated) [default: 0,512 in the full
    /// sweep, else 0].
    #[arg(long, value_delimiter = ',')]
    pub depth: Option<Vec<usize>>,
    /// Batch sizes (comma-separated) [default: 1,4,8,16 in the full sweep, else 1].
    #[arg(long, value_delimiter = ',')]
    pub batch: Option<Vec<usize>>,
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
    /// Prompt for --dataset, as `generate --prompt` takes it [default: the registry's defaults.prompt].
    #[arg(long, value_name = "FILE|NAME", requires = "dataset")]
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
    /// Folder where fetched local weights are kept [default: models/ beside the registry].
    #[arg(long, env = "MHBENCH_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
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
    /// Rubric whose attributes and groups drive the analysis [default: datasets/rubric.toml
    /// beside the registry].
    #[arg(long, value_name = "FILE")]
    pub rubric: Option<PathBuf>,
    /// Rating files to read instead of RUN/ratings*.jsonl (repeatable); the ratings in
    /// RUN/ratings.sqlite are still read.
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

/// Rate replies with an LLM judge.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Judge model id from the registry (local or API).
    #[arg(long)]
    pub judge: String,
    /// Run folder whose replies to rate.
    #[arg(long)]
    pub run: PathBuf,
    /// Rubric file [default: datasets/rubric.toml beside the registry].
    #[arg(long, value_name = "FILE")]
    pub rubric: Option<PathBuf>,
    /// Judge prompt templates [default: datasets/prompts/judge.toml beside the registry].
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
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
    /// Folder where fetched local weights are kept [default: models/ beside the registry].
    #[arg(long, env = "MHBENCH_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
}

/// Generate replies.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Data set: a JSONL file of conversations [default: datasets/sample.jsonl beside the registry].
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
    /// Comma-separated model ids from the registry, or `all`.
    #[arg(long, default_value = "gemma-3-270m")]
    pub models: String,
    /// Run folder to write (and resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Run id recorded in every reply [default: the run folder's name].
    #[arg(long)]
    pub run_id: Option<String>,
    /// Prompt: a .toml file (a path as typed), or the name of one in datasets/prompts/ beside
    /// the registry [default: the registry's defaults.prompt].
    #[arg(long, value_name = "FILE|NAME")]
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
    /// CPU threads for local models [default: candle's, the physical cores or RAYON_NUM_THREADS].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run only shard K of N (1-based), e.g. 2/8, for one job of a Slurm array.
    #[arg(long)]
    pub shard: Option<crate::schema::Shard>,
    /// If the run folder holds a run with other settings, move it aside and start again.
    #[arg(long)]
    pub new_run: bool,
    /// On a rerun, keep replies recorded as failed instead of asking again for them.
    #[arg(long)]
    pub keep_failed: bool,
    /// Print the plan (requests, tokens, API cost) and exit without generating.
    #[arg(long)]
    pub dry_run: bool,
    /// Folder where fetched local weights are kept [default: models/ beside the registry].
    #[arg(long, env = "MHBENCH_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
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


/// List the registered models.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Folder where fetched local weights are kept [default: models/ beside the registry].
    #[arg(long, env = "MHBENCH_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
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
    /// The run folder.
    #[command(flatten)]
    pub run: RateRunArg,
    /// The rater whose link to replace.
    #[arg(long, required_unless_present = "lead", conflicts_with = "lead")]
    pub rater: Option<String>,
    /// Replace the study lead's link to the progress and agreement view instead.
    #[arg(long)]
    pub lead: bool,
    /// Address raters will open, used in the printed link.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
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
    /// The run folder.
    #[command(flatten)]
    pub run: RateRunArg,
    /// Rater ids, comma-separated (for example `alice,bob`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub raters: Vec<String>,
    /// Distinct raters per reply.
    #[arg(long, default_value_t = 2)]
    pub per_response: usize,
    /// Seed of the queue order (default: drawn at random and recorded in the store).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of each rater's items shown a second time, 0 to 0.5.
    #[arg(long, default_value_t = 0.05)]
    pub repeat_share: f64,
    /// The rubric raters read; frozen into the plan [default: datasets/rubric.toml beside the
    /// registry].
    #[arg(long, value_name = "FILE")]
    pub rubric: Option<PathBuf>,
    /// Discard an existing plan of this run and all its human ratings (judges' are kept).
    #[arg(long)]
    pub replace: bool,
    /// Address raters will open, used in the printed links.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Plain-text file: the content note raters read first [default: one naming the run's sources].
    #[arg(long, value_name = "FILE")]
    pub content_note: Option<PathBuf>,
    /// Plain-text file: what the safety flag means and what to do on acute risk [default: built in].
    #[arg(long, value_name = "FILE")]
    pub safety_note: Option<PathBuf>,
}

/// Options of `rate serve`.
#[derive(Debug, Args)]
pub struct RateServeArgs {
    /// The run folder.
    #[command(flatten)]
    pub run: RateRunArg,
    /// Address to listen on; anything but 127.0.0.1 exposes the page on your network.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Suggest a break after this many submitted replies (0: never).
    #[arg(long, default_value_t = 20)]
    pub break_every: u32,
}

/// Options of `rate export`.
#[derive(Debug, Args)]
pub struct RateExportArgs {
    /// The run folder.
    #[command(flatten)]
    pub run: RateRunArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RateExportFormat::Jsonl)]
    pub format: RateExportFormat,
    /// Export only the repeated showings (for each rater's own consistency).
    #[arg(long)]
    pub repeats: bool,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
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
    /// The run folder.
    #[command(flatten)]
    pub run: RateRunArg,
    /// CSV file with the columns `rate export --format csv` writes.
    pub file: PathBuf,
    /// A rater not in the plan whose rows may be imported (rated outside the page); repeatable.
    #[arg(long = "new-rater")]
    pub new_raters: Vec<String>,
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
        assert_eq!((args.pp, args.tg, args.repetitions, args.warmup), (None, None, 5, 1));
        assert_eq!((args.depth, args.batch), (None, None), "the full sweep is chosen in cli::bench");
        assert_eq!(args.output, BenchOutput::Table);
    }

    #[test]
    fn bench_reads_comma_lists() {
        let args = bench_args(&["--batch", "1,2,32", "--depth", "0,16,4096", "--output", "jsonl"]).unwrap();
        assert_eq!(args.batch, Some(vec![1, 2, 32]));
        assert_eq!(args.depth, Some(vec![0, 16, 4096]));
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
