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
    /// Blinded human rating: plan assignments, serve the rating page, export ratings.
    Rate(RateArgs),
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
        Command::Rate(args) => rate::run(args.command),
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
    }
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
    /// Discard an existing plan of this run and all its ratings.
    #[arg(long)]
    replace: bool,
    /// Address raters will open, used in the printed links.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
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
        let options = plan::PlanOptions {
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
        writeln!(out, "{:<20} {:>9} {:>7} {:>7} {:>6}", "rater", "submitted", "drafts", "total", "done")?;
        for p in store.progress()? {
            let percent = if p.total == 0 { 0.0 } else { 100.0 * p.submitted as f64 / p.total as f64 };
            writeln!(
                out,
                "{:<20} {:>9} {:>7} {:>7} {:>5.1}%",
                p.rater_id.as_str(), p.submitted, p.drafts, p.total, percent
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
                crate::files::write_atomic(&path, &bytes)?;
                println!("{}", path.display());
            }
            None => io::stdout().write_all(&bytes)?,
        }
        eprintln!("exported {} ratings", ratings.len());
        Ok(ExitCode::SUCCESS)
    }
}

/// Whether an error is a closed stdout (`mhbench models | head`), which exits quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
