//! `mhbench analyze`: read a run's responses and ratings (or the MentalBench release), analyse
//! them and write `analysis.json`.
//!
//! Owns file reading and writing for the analysis; the statistics stay pure in the sibling
//! modules. A run folder holds `responses/<model>.jsonl` (written by `generate`), any
//! `ratings*.jsonl` files (human ratings exported from the rating store, imported sheets) and
//! the rating store `ratings.sqlite`, whose judge table holds every LLM judge's ratings (written
//! by `judge`). Judge ratings are read from the store only, and human ratings only from the
//! files (`rate export` writes human ratings alone), so no rating is counted twice.

use std::path::{Path, PathBuf};

use super::input::{ResponseEntry, RatingTable};
use super::mentalalign::{self, Protocol};
use super::{analyze, mentalbench, Analysis, AnalysisOptions};
use crate::files::{self, FileError};
use crate::registry::Makers;
use crate::rubric::Rubric;
use crate::schema::{Rating, ResponseRecord};

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
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeOptions {
    /// Input.
    pub input: AnalyzeInput,
    /// Rubric file.
    pub rubric: PathBuf,
    /// Who the judges (`llm:<model>`) and rated models are, from the registry.
    pub makers: Makers,
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

/// Analyse the input and write `analysis.json`; returns its path and the analysis.
///
/// # Errors
/// Unreadable or invalid inputs (named by `path:line: field`), no ratings, or a failed write.
/// `notes` receives, before the statistics are computed, one line per place where the
/// MentalBench release's two readings differ (counted on the data); runs give none.
pub fn run(options: &AnalyzeOptions, notes: &mut dyn FnMut(&str)) -> Result<(PathBuf, Analysis), AnalyzeError> {
    let rubric = Rubric::load(&options.rubric)?;
    if let Some(unknown) = options.analysis.safety_attribute.as_deref().filter(|id| rubric.attribute(id).is_none()) {
        let known = rubric.attribute_ids().join(", ");
        let what = format!("--safety-attribute `{unknown}` is not an attribute of this rubric ({known}); name one, or pass an empty value to skip safety failures");
        return Err(FileError::at(&options.rubric, None, what).into());
    }
    let (analysis, out_dir) = match &options.input {
        AnalyzeInput::Run { dir, ratings } => (analyze_run(dir, ratings, &rubric, options)?, dir.clone()),
        AnalyzeInput::MentalBench { dir, out } => {
            let release = mentalbench::load(dir)?;
            let protocol = options.analysis.protocol;
            notes(&format!("protocol {}: where the published and careful readings differ on this release:", protocol_name(protocol)));
            for note in mentalalign::notes(&release.rows, &release.inconsistent, options.analysis.self_judging) {
                notes(&format!("  {}", note.text));
            }
            (analyze_release(release, dir, &rubric, &options.analysis)?, out.clone())
        }
    };
    let path = out_dir.join("analysis.json");
    let mut json = serde_json::to_vec_pretty(&analysis).map_err(|e| FileError::at(&path, None, e.to_string()))?;
    json.push(b'\n');
    std::fs::create_dir_all(&out_dir).map_err(|e| FileError::io(&out_dir, e))?;
    files::write_atomic(&path, &json)?;
    Ok((path, analysis))
}

/// The judges' verdicts as console lines, one per judge and measure, under a header naming
/// the rule; empty without judges.
pub fn verdict_lines(analysis: &Analysis) -> String {
    let mut out = String::new();
    if analysis.judges.is_empty() {
        return out;
    }
    out += &format!(
        "judge verdicts ({} 95% CI lower bound on Koo & Li 2016 bands; bias = judge - experts):\n",
        super::verdict::VERDICT_ICC_FORM
    );
    for judge in &analysis.judges {
        for verdict in &judge.verdicts {
            out += &format!("{} / {}: {}\n", judge.judge, verdict.measure, verdict.text);
        }
    }
    out
}

/// The `.jsonl` files of `dir`, sorted; none when `dir` is absent.
fn jsonl_files(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, FileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::io(dir, e)),
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(".jsonl"))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The LLM judges' ratings in the run's rating store; none when the run has no store.
fn judge_ratings(dir: &Path) -> Result<Vec<Rating>, crate::rating::RatingError> {
    let path = crate::rating::store_path(dir);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    crate::rating::store::RatingStore::open_or_create(&path)?.judge_ratings()
}

fn analyze_run(dir: &Path, rating_files: &[PathBuf], rubric: &Rubric, options: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    let mut records: Vec<ResponseRecord> = Vec::new();
    for (_, file) in crate::runner::response_files(dir)? {
        records.extend(files::read_jsonl::<ResponseRecord>(&file)?);
    }
    let files = if rating_files.is_empty() { jsonl_files(dir, "ratings")? } else { rating_files.to_vec() };
    let mut ratings: Vec<Rating> = judge_ratings(dir)?;
    for file in &files {
        ratings.extend(files::read_jsonl::<Rating>(file)?);
    }
    if ratings.is_empty() {
        return Err(AnalyzeError::NoRatings(dir.display().to_string()));
    }
    let responses: Vec<ResponseEntry> = records.iter().map(ResponseEntry::from_record).collect();
    let table = RatingTable::build(rubric, &responses, &ratings, &options.makers);
    Ok(analyze(&table, rubric, &dir.display().to_string(), &options.analysis))
}

/// Analyse the MentalBench release in `dir` (no file written).
///
/// # Errors
/// Unreadable or malformed release files.
pub fn analyze_mentalbench(dir: &Path, rubric: &Rubric, options: &AnalysisOptions) -> Result<Analysis, AnalyzeError> {
    analyze_release(mentalbench::load(dir)?, dir, rubric, options)
}

fn analyze_release(release: mentalbench::Release, dir: &Path, rubric: &Rubric, options: &AnalysisOptions) -> Result<Analysis, AnalyzeError> {
    if release.ratings.is_empty() {
        return Err(AnalyzeError::NoRatings(dir.display().to_string()));
    }
    let table = RatingTable::build(rubric, &release.responses, &release.ratings, &release.makers);
    let mut analysis = analyze(&table, rubric, &dir.display().to_string(), options);
    analysis.mentalalign = Some(mentalalign::mentalalign(
        &release.rows,
        &release.inconsistent,
        options.protocol,
        options.self_judging,
        options.bootstrap,
    ));
    analysis.mentalbench = Some(release.report);
    Ok(analysis)
}

/// The protocol's name as `--protocol` spells it.
pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Careful => "careful",
        Protocol::Published => "published",
    }
}

/// The MentalAlign results of the chosen protocol as console lines (release only): per judge
/// and attribute the source-level ICCs with bootstrap CIs and label, bias and MSE.
pub fn mentalalign_lines(analysis: &Analysis) -> String {
    let Some(section) = &analysis.mentalalign else { return String::new() };
    let results = match section.protocol {
        Protocol::Published => &section.published,
        Protocol::Careful => &section.careful,
    };
    let mut out = format!(
        "MentalAlign, {} protocol (source-level ICCs with 95% bootstrap CIs over sources; bias and MSE over item pairs):\n",
        protocol_name(section.protocol)
    );
    let ci = |ci: Option<mentalalign::SourceBootstrap>| {
        ci.map_or_else(|| "no CI".to_owned(), |c| format!("{:.3} to {:.3}", c.ci95.low, c.ci95.high))
    };
    let number = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.3}"));
    for r in results {
        out += &format!(
            "{} / {}: ICC(C,1) = {} ({}; {}), ICC(A,1) = {} ({}), bias = {}, MSE = {}, {} sources, {} pairs\n",
            r.judge,
            r.attribute,
            number(r.icc_c1),
            ci(r.icc_c1_ci),
            r.reliability.map_or("no label", |l| match l {
                mentalalign::Reliability::Good => "good reliability",
                mentalalign::Reliability::Moderate => "moderate reliability",
                mentalalign::Reliability::Poor => "poor reliability",
            }),
            number(r.icc_a1),
            ci(r.icc_a1_ci),
            number(r.bias),
            number(r.mse),
            r.sources.len(),
            r.n_pairs
        );
    }
    out
}
