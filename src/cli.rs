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

use crate::analysis::bootstrap::Bootstrap;
use crate::analysis::command::{AnalyzeInput, AnalyzeOptions};
use crate::analysis::{self, AnalysisOptions};
use crate::registry::{self, Registry};

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
    /// Compute the study's statistics from a run's ratings and write analysis.json.
    ///
    /// Reads `RUN/responses.jsonl` and every `RUN/ratings*.jsonl` (or the --ratings files) and
    /// writes `RUN/analysis.json`; with --mentalbench it analyses that release's ratings.csv
    /// instead and writes `OUT/analysis.json`. Prints the path written.
    Analyze(AnalyzeArgs),
}

/// Compute the study's statistics.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["run", "mentalbench"])))]
pub struct AnalyzeArgs {
    /// Run folder (`results/<run_id>`) holding responses.jsonl and ratings*.jsonl.
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
    /// Rating files to read instead of RUN/ratings*.jsonl (repeatable).
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
        // Judges are raters `llm:<model id>`; their provider comes from the registry where it
        // loads (an unreadable registry only loses the own-provider exclusion).
        let rater_providers = Registry::load(&global.registry)
            .map(|registry| {
                registry
                    .models
                    .iter()
                    .map(|spec| match spec {
                        registry::ModelSpec::Api(m) => (format!("llm:{}", m.id), m.provider.to_string()),
                        registry::ModelSpec::Local(m) => (format!("llm:{}", m.id), "candle".to_owned()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(AnalyzeOptions {
            input,
            rubric: self.rubric,
            rater_providers,
            analysis: AnalysisOptions {
                bootstrap: Bootstrap { resamples: self.bootstrap, seed: self.seed },
                safety_attribute: Some(self.safety_attribute).filter(|s| !s.is_empty()),
                worst: self.worst,
            },
        })
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
            let result = analysis::command::run(&options).context("analysing ratings");
            if let Some(bar) = spinner {
                bar.finish_and_clear();
            }
            let path = result?;
            writeln!(io::stdout(), "{}", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether an error is a closed stdout (`mhbench models | head`), which exits quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
