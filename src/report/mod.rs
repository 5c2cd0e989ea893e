//! `mhbench report`: render a run's `analysis.json` as a self-contained HTML page and a
//! Markdown file with SVG figures.
//!
//! Owns presentation only: it renders the record `analyze` wrote (statistics, and the run's
//! speed, memory, price and failures in its `performance` section) and nothing else; it reads
//! no other file and computes no statistic. Flow: `analysis.json` → [`view`] (tables, headline sentences) and [`gallery`] (which figures exist, and
//! why others do not) → [`figures`] (plotters SVGs) → [`render`] (minijinja templates) →
//! `RUN/report/index.html`, `RUN/report/report.md`, `RUN/report/figures/*.svg`.
//!
//! `report` does not run the analysis itself: bootstrap settings belong to `analyze`, so a
//! missing `analysis.json` is an error that says which command to run first.

pub mod console;
pub mod examples;
pub mod figures;
pub mod gallery;
pub mod methods;
pub mod models;
pub mod render;
pub mod sections;
pub mod view;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::analysis::{Analysis, ANALYSIS_VERSION};
use crate::files::{self, FileError};
use crate::run::Run;

/// What to render.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Folder holding `analysis.json` (a run folder, or `analyze --mentalbench --out DIR`).
    pub run_dir: PathBuf,
}

/// The files a report consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report/index.html`.
    pub html: PathBuf,
    /// `report/report.md`.
    pub markdown: PathBuf,
    /// `report/figures/<id>.svg`, in report order.
    pub figures: Vec<PathBuf>,
}

/// Why `report` failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read, parsed or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// The folder has no analysis yet.
    #[error("{}: not found; run `mhbench analyze --run {}` first", path.display(), run.display())]
    NoAnalysis {
        /// The missing `analysis.json`.
        path: PathBuf,
        /// The folder given.
        run: PathBuf,
    },
    /// The analysis was written in another layout.
    #[error("{}:1: analysis_version: {found} is not the supported {ANALYSIS_VERSION}; rerun `mhbench analyze` with this mhbench", path.display())]
    AnalysisVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// A figure could not be drawn.
    #[error(transparent)]
    Figure(#[from] figures::FigureError),
    /// A template failed (a defect of mhbench).
    #[error("rendering the report template: {0}")]
    Template(#[from] minijinja::Error),
}

#[derive(Deserialize)]
struct VersionOnly {
    analysis_version: u32,
}

/// Read `dir/analysis.json`.
///
/// # Errors
/// Missing, unreadable, malformed, or of another layout version.
pub fn read_analysis(dir: &Path) -> Result<Analysis, ReportError> {
    let path = Run::at(dir).analysis_path();
    if !path.is_file() {
        return Err(ReportError::NoAnalysis { path, run: dir.to_owned() });
    }
    let text = files::read_text(&path)?;
    let version: VersionOnly = files::parse_json_document(&path, &text)?;
    if version.analysis_version != ANALYSIS_VERSION {
        return Err(ReportError::AnalysisVersion { path, found: version.analysis_version });
    }
    Ok(files::parse_json_document(&path, &text)?)
}

/// Render the report of `options.run_dir` into `run_dir/report/`.
///
/// # Errors
/// See [`ReportError`].
pub fn run(options: &ReportOptions) -> Result<ReportFiles, ReportError> {
    let analysis = read_analysis(&options.run_dir)?;
    let view = view::build(&analysis);
    let gallery = gallery::build(&analysis)?;
    let out = Run::at(&options.run_dir).report_dir();
    let figures_dir = out.join("figures");
    clear_old_figures(&figures_dir)?;
    std::fs::create_dir_all(&figures_dir).map_err(|e| FileError::io(&figures_dir, e))?;
    let mut figure_paths = Vec::new();
    for figure in &gallery.figures {
        let path = figures_dir.join(format!("{}.svg", figure.id));
        files::write_atomic(&path, figure.svg.as_bytes())?;
        figure_paths.push(path);
    }
    let html = out.join("index.html");
    files::write_atomic(&html, render::html(&view, &gallery)?.as_bytes())?;
    let markdown = out.join("report.md");
    files::write_atomic(&markdown, render::markdown(&view, &gallery)?.as_bytes())?;
    Ok(ReportFiles { html, markdown, figures: figure_paths })
}

/// Remove the SVGs of an earlier report so none of a vanished figure lingers.
fn clear_old_figures(dir: &Path) -> Result<(), FileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FileError::io(dir, e)),
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "svg")) {
        std::fs::remove_file(&path).map_err(|e| FileError::io(&path, e))?;
    }
    Ok(())
}
