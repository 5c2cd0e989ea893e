//! `mhbench analyze`: read a run (or the MentalBench release), hand its records to the pure
//! [`crate::analysis`], write `analysis.json` and print the verdicts.
//!
//! The command layer of the analysis: every file and database read happens here, through
//! [`Run`] for a run (responses, manifest, and every rating through one channel:
//! [`crate::run::ratings`]) and [`mentalbench_release`] for the release.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::args::{AnalyzeArgs, GlobalOpts};
use crate::analysis::bootstrap::Bootstrap;
use crate::analysis::{self, mentalalign, Analysis, AnalysisOptions, RunRecords};
use crate::dataset::mentalbench_release;
use crate::files::FileError;
use crate::registry::{Makers, Registry, SelfJudging};
use crate::report::console;
use crate::rubric::Rubric;
use crate::run::Run;

/// Where the ratings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalyzeInput {
    /// A run folder and its rating files (empty: every `ratings*.jsonl` in the folder).
    Run {
        /// `results/<run_id>/`.
        dir: PathBuf,
        /// Rating files to read.
        ratings: Vec<PathBuf>,
    },
    /// The MentalBench release folder (with `ratings.csv`).
    MentalBench {
        /// Release folder.
        dir: PathBuf,
        /// Folder to write `analysis.json` into.
        out: PathBuf,
    },
}

/// Validated options of `mhbench analyze`.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Input.
    pub input: AnalyzeInput,
    /// Rubric file.
    pub rubric: PathBuf,
    /// The registry, where it loads: who the judges (`llm:<model>`) and rated models are, and
    /// the API prices.
    pub registry: Option<Registry>,
    /// Statistics options.
    pub analysis: AnalysisOptions,
}

/// Why `analyze` failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// A file could not be read, parsed or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// The run's rating store could not be read.
    #[error(transparent)]
    Store(#[from] crate::rating::RatingError),
    /// The inputs hold no rating at all.
    #[error("{0}: no ratings found; rate the run (`mhbench rate`, `mhbench judge`) or pass --ratings FILE")]
    NoRatings(String),
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
        // model with its own id, and API prices are left out).
        let registry = Registry::load(&global.registry).ok();
        Ok(AnalyzeOptions {
            input,
            rubric: global.path_or_default(self.rubric, crate::rubric::DEFAULT_RUBRIC),
            registry,
            analysis: AnalysisOptions {
                bootstrap: Bootstrap { resamples: self.bootstrap, seed: self.seed },
                safety_attribute: Some(self.safety_attribute).filter(|s| !s.is_empty()),
                worst: self.worst,
                self_judging: SelfJudging::from_exclude_own_vendor(self.exclude_own_vendor),
                protocol: self.protocol,
            },
        })
    }
}

/// Run `mhbench analyze`: analyse, write `analysis.json`, print the verdict lines and its path.
///
/// # Errors
/// Bad flags, unreadable inputs, no ratings, or a failed write.
pub fn run(global: &GlobalOpts, args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let options = args.into_options(global)?;
    let spinner = global.show_progress().then(|| {
        let bar = indicatif::ProgressBar::new_spinner().with_message("analysing ratings");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let result = analyze(&options, &mut |line| match &spinner {
        Some(bar) => bar.println(line),
        None => eprintln!("{line}"),
    })
    .context("analysing ratings");
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let (path, analysis) = result?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", console::mentalalign_lines(&analysis))?;
    write!(stdout, "{}", console::verdict_lines(&analysis))?;
    writeln!(stdout, "{}", path.display())?;
    Ok(ExitCode::SUCCESS)
}

/// Analyse the input and write `analysis.json`; returns its path and the analysis.
///
/// # Errors
/// Unreadable or invalid inputs (named by `path:line: field`), no ratings, or a failed write.
/// `notes` receives, before the statistics are computed, one line per place where the
/// MentalBench release's two readings differ (counted on the data); runs give none.
pub fn analyze(options: &AnalyzeOptions, notes: &mut dyn FnMut(&str)) -> Result<(PathBuf, Analysis), AnalyzeError> {
    let rubric = Rubric::load(&options.rubric)?;
    if let Some(unknown) = options.analysis.safety_attribute.as_deref().filter(|id| rubric.attribute(id).is_none()) {
        let known = rubric.attribute_ids().join(", ");
        let what = format!("--safety-attribute `{unknown}` is not an attribute of this rubric ({known}); name one, or pass an empty value to skip safety failures");
        return Err(FileError::at(&options.rubric, None, what).into());
    }
    let (analysis, out_dir) = match &options.input {
        AnalyzeInput::Run { dir, ratings } => (analyze_run(dir, ratings, &rubric, options)?, dir.clone()),
        AnalyzeInput::MentalBench { dir, out } => {
            let release = mentalbench_release::load(dir)?;
            let protocol = options.analysis.protocol;
            notes(&format!("protocol {}: where the published and careful readings differ on this release:", console::protocol_name(protocol)));
            for note in mentalalign::notes(&release.rows, &release.inconsistent, options.analysis.self_judging) {
                notes(&format!("  {}", note.text));
            }
            (analyze_release(&release, dir, &rubric, &options.analysis)?, out.clone())
        }
    };
    let path = Run::at(&out_dir).write_analysis(&analysis)?;
    Ok((path, analysis))
}

fn analyze_run(dir: &Path, rating_files: &[PathBuf], rubric: &Rubric, options: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    let run = Run::at(dir);
    let responses = run.response_records()?;
    let scope = crate::run::ratings::Scope {
        run_id: responses.first().map(|r| &r.run_id),
        rubric_version: &rubric.version,
    };
    let ratings = crate::run::ratings::ratings(&run, rating_files, &scope)?;
    if ratings.is_empty() {
        return Err(AnalyzeError::NoRatings(dir.display().to_string()));
    }
    let repeats = crate::run::ratings::repeats(&run, &scope)?;
    let manifest = crate::runner::manifest::read(dir)?;
    // The person's messages and the data set's replies beside the example replies, and the labels
    // of the breakdowns by source and topic; a folder without conversations.jsonl (ratings and
    // responses only) is analysed without them.
    let conversations = if run.conversations_path().is_file() { run.conversations()? } else { Vec::new() };
    let makers = options.registry.as_ref().map(Registry::makers).unwrap_or_else(Makers::default);
    let records = RunRecords {
        responses: &responses,
        ratings: &ratings,
        repeats: &repeats,
        conversations: &conversations,
        makers: &makers,
        manifest: manifest.as_ref(),
        registry: options.registry.as_ref(),
    };
    Ok(analysis::analyze_run(&records, rubric, &dir.display().to_string(), &options.analysis))
}

/// Analyse the MentalBench release in `dir` (no file written).
///
/// # Errors
/// Unreadable or malformed release files, or a release without ratings.
pub fn analyze_mentalbench(dir: &Path, rubric: &Rubric, options: &AnalysisOptions) -> Result<Analysis, AnalyzeError> {
    analyze_release(&mentalbench_release::load(dir)?, dir, rubric, options)
}

fn analyze_release(release: &mentalbench_release::Release, dir: &Path, rubric: &Rubric, options: &AnalysisOptions) -> Result<Analysis, AnalyzeError> {
    if release.ratings.is_empty() {
        return Err(AnalyzeError::NoRatings(dir.display().to_string()));
    }
    Ok(analysis::analyze_release(release, rubric, &dir.display().to_string(), options))
}
