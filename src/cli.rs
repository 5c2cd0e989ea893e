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
    /// Build a stratified conversation set from the sources, or rebuild one from its manifest.
    ///
    /// Writes `<out-dir>/<name>.jsonl` (Conversation records) and `<name>.manifest.json` (source
    /// file hashes and the chosen rows, no text). With `--manifest`, rebuilds the set the manifest
    /// names from the same sources and verifies every hash; a mismatch names the rows that differ.
    Curate(Box<CurateArgs>),
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
        Command::Curate(args) => run_curate(&args, &cli.global),
    }
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
