//! The MentalAlign judge-versus-expert analysis of the MentalBench release, read two ways: as
//! its authors read it (`published`) and the careful way the rest of mhbench reads it, with
//! a sensitivity table saying which reading rule moves which number.
//!
//! Owns the release's reading rules ([`Treatment`]) and the MentalAlign statistics; the
//! release's cells come from [`crate::dataset::mentalbench_release::read_rows`]. For each judge and attribute:
//! - Pairs: a (human, judge) pair per ConvID and rated source where both cells hold a value.
//! - Sources: the ten rated sources less the ones the judge may not be scored on
//!   ([`SelfJudging`]); one row per source with a pair: (human mean, judge mean) over its pairs.
//! - ICC(C,1) and ICC(A,1) of those rows, k = 2, McGraw & Wong (1996) single-measure forms
//!   from two-way ANOVA mean squares ([`agreement::mean_squares`]).
//! - 95% percentile bootstrap over sources ([`Bootstrap`], numpy's linear percentile), each
//!   resample keeping both ICCs only when they lie in [0, 1]; a CI only when at least
//!   [`MIN_KEPT_RESAMPLES`] resamples are kept.
//! - Reliability from the width of the ICC(C,1) CI: good <= 0.355 < moderate <= 0.560 < poor
//!   (the authors' labels).
//! - Bias = mean(judge - human) and MSE = mean((judge - human)^2) over the item pairs of the
//!   same sources.
//!
//! The published reading (the authors' `icc_corrected_with_bootstrap_ci.py` and
//! `calculate_real_mse_rmse.py` on their joined sheets) differs from the careful one in
//! [`Treatment`]s; the self-judging scope differs only when the careful reading is asked to
//! leave out the judge's whole vendor.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::agreement;
use super::bootstrap::{Bootstrap, Interval};
use crate::dataset::mentalbench_release::{self as mentalbench, RawRow, HUMAN_RATER, SCORE_COLUMNS};
use crate::registry::{Maker, SelfJudging};

/// Fewest resamples kept (ICC in [0, 1]) for a bootstrap CI, as published.
pub const MIN_KEPT_RESAMPLES: usize = 10;
/// Widest ICC(C,1) CI called good reliability, as published.
pub const GOOD_MAX_WIDTH: f64 = 0.355;
/// Widest ICC(C,1) CI called moderate reliability, as published.
pub const MODERATE_MAX_WIDTH: f64 = 0.560;

/// How to read the release.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// mhbench's reading: empty and off-scale cells missing, broken judge JSON recovered,
    /// ConvIDs whose context differs between the sheets left out.
    #[default]
    Careful,
    /// The authors' reading of their release, number for number.
    Published,
}

/// One place where the two readings differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// Cells coded 0 (the expert left them empty): scores of 0 (published) or missing.
    ZeroCells,
    /// Whole numbers above 5 (a few 6s in the human sheet): kept (published) or missing.
    OffScaleCells,
    /// Answers the authors' JSON reader cannot parse (broken JSON, `regex_fallback` in
    /// ratings.csv, or prose around the JSON; see [`mentalbench::authors_can_read`]): missing
    /// (published, `json.loads` fails) or the scores ratings.csv recovered.
    BrokenJson,
    /// ConvIDs whose context differs between the human and judge sheets: joined by ConvID
    /// (published) or left out.
    InconsistentContexts,
    /// Which rated sources a judge is not scored on: its own model (published) or its vendor's.
    SelfJudgingScope,
}

impl Treatment {
    /// Every treatment, in table order.
    pub const ALL: [Treatment; 5] = [
        Treatment::ZeroCells,
        Treatment::OffScaleCells,
        Treatment::BrokenJson,
        Treatment::InconsistentContexts,
        Treatment::SelfJudgingScope,
    ];

    /// Short name for tables.
    pub fn label(self) -> &'static str {
        match self {
            Treatment::ZeroCells => "zero-coded cells",
            Treatment::OffScaleCells => "off-scale cells",
            Treatment::BrokenJson => "unparsed JSON",
            Treatment::InconsistentContexts => "inconsistent ConvIDs",
            Treatment::SelfJudgingScope => "self-judging scope",
        }
    }
}

/// The reading rules, one per [`Treatment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Zero-coded cells are scores of 0.
    pub zeros_averaged: bool,
    /// Values above 5 are kept.
    pub off_scale_kept: bool,
    /// Judge answers with broken JSON are missing.
    pub broken_json_missing: bool,
    /// ConvIDs with differing contexts are joined.
    pub inconsistent_joined: bool,
    /// Which sources a judge is not scored on.
    pub self_judging: SelfJudging,
}

impl Reading {
    /// The authors' reading.
    pub fn published() -> Self {
        Reading {
            zeros_averaged: true,
            off_scale_kept: true,
            broken_json_missing: true,
            inconsistent_joined: true,
            self_judging: SelfJudging::OwnModel,
        }
    }

    /// mhbench's reading, with the project's self-judging scope.
    pub fn careful(self_judging: SelfJudging) -> Self {
        Reading {
            zeros_averaged: false,
            off_scale_kept: false,
            broken_json_missing: false,
            inconsistent_joined: false,
            self_judging,
        }
    }

    /// The reading of `protocol`.
    pub fn of(protocol: Protocol, self_judging: SelfJudging) -> Self {
        match protocol {
            Protocol::Published => Reading::published(),
            Protocol::Careful => Reading::careful(self_judging),
        }
    }

    /// This reading with `treatment` taken from `other`.
    pub fn with(mut self, treatment: Treatment, other: &Reading) -> Self {
        match treatment {
            Treatment::ZeroCells => self.zeros_averaged = other.zeros_averaged,
            Treatment::OffScaleCells => self.off_scale_kept = other.off_scale_kept,
            Treatment::BrokenJson => self.broken_json_missing = other.broken_json_missing,
            Treatment::InconsistentContexts => self.inconsistent_joined = other.inconsistent_joined,
            Treatment::SelfJudgingScope => self.self_judging = other.self_judging,
        }
        self
    }

    /// The treatments on which `self` and `other` differ.
    pub fn differences(&self, other: &Reading) -> Vec<Treatment> {
        Treatment::ALL.into_iter().filter(|t| self.with(*t, other) != *self).collect()
    }

    /// The value a cell contributes, or `None` when it is missing under this reading.
    fn value(&self, row: &RawRow, attribute: usize, inconsistent: bool) -> Option<f64> {
        let is_judge = row.judge != HUMAN_RATER;
        let usable = !matches!(row.status.as_str(), "missing" | "unparseable") && !(self.broken_json_missing && unreadable(row));
        if !usable || (is_judge && inconsistent && !self.inconsistent_joined) {
            return None;
        }
        match row.scores[attribute]? {
            0 => self.zeros_averaged.then_some(0.0),
            v if v > 5 => self.off_scale_kept.then_some(v as f64),
            v => Some(v as f64),
        }
    }
}

/// Whether the authors' reader fails on the row's cell: known from the original workbook, else
/// guessed from ratings.csv (`regex_fallback`: broken JSON; prose around valid JSON is missed).
fn unreadable(row: &RawRow) -> bool {
    match row.authors_readable {
        Some(readable) => !readable,
        None => row.status == "regex_fallback",
    }
}

/// The release's cells under one reading: the expert's values per (ConvID, source) and each
/// judge's per source, in ConvID order.
struct Cells {
    /// Rated sources, sorted.
    sources: Vec<String>,
    /// LLM judges, sorted.
    judges: Vec<String>,
    /// (ConvID, source) -> the expert's seven values.
    human: HashMap<(String, String), [Option<f64>; 7]>,
    /// (judge, source) -> (ConvID, the judge's seven values), in ConvID order.
    judge: BTreeMap<(String, String), Vec<(String, [Option<f64>; 7])>>,
}

impl Cells {
    fn read(rows: &[RawRow], inconsistent: &BTreeSet<String>, reading: &Reading) -> Self {
        let mut sources = BTreeSet::new();
        let mut human = HashMap::new();
        let mut judge: BTreeMap<(String, String), Vec<(String, [Option<f64>; 7])>> = BTreeMap::new();
        for row in rows {
            sources.insert(row.model.clone());
            let values: [Option<f64>; 7] = std::array::from_fn(|a| reading.value(row, a, inconsistent.contains(&row.conv)));
            if row.judge == HUMAN_RATER {
                human.insert((row.conv.clone(), row.model.clone()), values);
            } else {
                judge.entry((row.judge.clone(), row.model.clone())).or_default().push((row.conv.clone(), values));
            }
        }
        for cells in judge.values_mut() {
            cells.sort_by(|a, b| conv_order(&a.0, &b.0));
        }
        let judges: BTreeSet<String> = judge.keys().map(|(j, _)| j.clone()).collect();
        Cells { sources: sources.into_iter().collect(), judges: judges.into_iter().collect(), human, judge }
    }

    /// (human, judge) pairs of `judge` on `source` and `attribute`, in ConvID order.
    fn pairs(&self, judge: &str, source: &str, attribute: usize) -> Vec<(f64, f64)> {
        let Some(cells) = self.judge.get(&(judge.to_owned(), source.to_owned())) else { return Vec::new() };
        cells
            .iter()
            .filter_map(|(conv, values)| {
                let h = self.human.get(&(conv.clone(), source.to_owned()))?[attribute]?;
                Some((h, values[attribute]?))
            })
            .collect()
    }
}

/// ConvIDs in numeric order where both are numbers, else as text.
fn conv_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// One source's means under one judge and attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceMeans {
    /// Rated source.
    pub source: String,
    /// Pairs.
    pub n: usize,
    /// Mean of the expert's values over the pairs.
    pub human: f64,
    /// Mean of the judge's values over the pairs.
    pub judge: f64,
}

/// A bootstrap CI of an ICC over sources.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SourceBootstrap {
    /// 2.5th and 97.5th percentiles of the kept resamples.
    pub ci95: Interval,
    /// Resamples whose ICC lay in [0, 1].
    pub kept: usize,
    /// high - low.
    pub width: f64,
}

/// The authors' reliability label, from the width of the ICC(C,1) bootstrap CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reliability {
    /// Width <= 0.355.
    Good,
    /// 0.355 < width <= 0.560.
    Moderate,
    /// Width > 0.560.
    Poor,
}

impl Reliability {
    /// The label of a CI of `width`.
    pub fn of_width(width: f64) -> Self {
        if width <= GOOD_MAX_WIDTH {
            Reliability::Good
        } else if width <= MODERATE_MAX_WIDTH {
            Reliability::Moderate
        } else {
            Reliability::Poor
        }
    }
}

/// One judge against the experts on one attribute, at the level of rated sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAttribute {
    /// Judge name as in ratings.csv.
    pub judge: String,
    /// Attribute (ratings.csv column).
    pub attribute: String,
    /// Sources the judge is not scored on.
    pub excluded_sources: Vec<String>,
    /// One row per remaining source with at least one pair.
    pub sources: Vec<SourceMeans>,
    /// ICC(C,1) of the source rows.
    pub icc_c1: Option<f64>,
    /// ICC(A,1) of the source rows.
    pub icc_a1: Option<f64>,
    /// Bootstrap CI of ICC(C,1).
    pub icc_c1_ci: Option<SourceBootstrap>,
    /// Bootstrap CI of ICC(A,1).
    pub icc_a1_ci: Option<SourceBootstrap>,
    /// Label from the ICC(C,1) CI width.
    pub reliability: Option<Reliability>,
    /// Item pairs over the same sources.
    pub n_pairs: usize,
    /// mean(judge - human) over the item pairs.
    pub bias: Option<f64>,
    /// mean((judge - human)^2) over the item pairs.
    pub mse: Option<f64>,
}

impl JudgeAttribute {
    /// The value of a sensitivity measure.
    fn measure(&self, measure: Measure) -> Option<f64> {
        match measure {
            Measure::IccC1 => self.icc_c1,
            Measure::IccA1 => self.icc_a1,
            Measure::Bias => self.bias,
            Measure::Mse => self.mse,
        }
    }
}

/// Every judge x attribute under `reading` (judges and attributes in release order).
fn compute(cells: &Cells, makers: &BTreeMap<String, Maker>, reading: &Reading, bootstrap: Bootstrap) -> Vec<JudgeAttribute> {
    let mut out = Vec::new();
    for judge in &cells.judges {
        let maker = makers.get(judge);
        let excluded: Vec<String> = cells
            .sources
            .iter()
            .filter(|s| maker.is_some_and(|m| reading.self_judging.is_self(m, &mentalbench::source_maker(s))))
            .cloned()
            .collect();
        for (a, attribute) in SCORE_COLUMNS.iter().enumerate() {
            let pairs: Vec<(String, Vec<(f64, f64)>)> = cells
                .sources
                .iter()
                .filter(|s| !excluded.contains(s))
                .map(|s| (s.clone(), cells.pairs(judge, s, a)))
                .filter(|(_, p)| !p.is_empty())
                .collect();
            out.push(judge_attribute(judge, attribute, excluded.clone(), &pairs, bootstrap));
        }
    }
    out
}

/// The statistics of one judge and attribute from its pairs per source.
pub fn judge_attribute(
    judge: &str,
    attribute: &str,
    excluded_sources: Vec<String>,
    pairs: &[(String, Vec<(f64, f64)>)],
    bootstrap: Bootstrap,
) -> JudgeAttribute {
    let sources: Vec<SourceMeans> = pairs
        .iter()
        .map(|(source, p)| {
            let n = p.len() as f64;
            SourceMeans {
                source: source.clone(),
                n: p.len(),
                human: p.iter().map(|x| x.0).sum::<f64>() / n,
                judge: p.iter().map(|x| x.1).sum::<f64>() / n,
            }
        })
        .collect();
    let rows: Vec<Vec<f64>> = sources.iter().map(|s| vec![s.human, s.judge]).collect();
    let squares = agreement::mean_squares(&rows);
    let (icc_c1_ci, icc_a1_ci) = source_bootstrap(&rows, bootstrap);
    let differences: Vec<f64> = pairs.iter().flat_map(|(_, p)| p.iter().map(|(h, j)| j - h)).collect();
    let n_pairs = differences.len();
    let mean = |values: &mut dyn Iterator<Item = f64>| (n_pairs > 0).then(|| values.sum::<f64>() / n_pairs as f64);
    JudgeAttribute {
        judge: judge.to_owned(),
        attribute: attribute.to_owned(),
        excluded_sources,
        icc_c1: squares.and_then(|s| s.icc_c1()),
        icc_a1: squares.and_then(|s| s.icc_a1()),
        reliability: icc_c1_ci.map(|ci| Reliability::of_width(ci.width)),
        icc_c1_ci,
        icc_a1_ci,
        n_pairs,
        bias: mean(&mut differences.iter().copied()),
        mse: mean(&mut differences.iter().map(|d| d * d)),
        sources,
    }
}

/// Percentile CIs of ICC(C,1) and ICC(A,1) over resamples of the source rows, each keeping
/// only resampled values in [0, 1] and given only with [`MIN_KEPT_RESAMPLES`] kept.
fn source_bootstrap(rows: &[Vec<f64>], bootstrap: Bootstrap) -> (Option<SourceBootstrap>, Option<SourceBootstrap>) {
    let in_unit = |v: Option<f64>| v.filter(|v| (0.0..=1.0).contains(v));
    let cis = bootstrap.cis(rows.len(), 2, |drawn| {
        let resampled: Vec<Vec<f64>> = drawn.iter().map(|&i| rows[i].clone()).collect();
        let squares = agreement::mean_squares(&resampled);
        vec![in_unit(squares.and_then(|s| s.icc_c1())), in_unit(squares.and_then(|s| s.icc_a1()))]
    });
    let kept = |ci: Option<super::bootstrap::BootstrapCi>| {
        ci.filter(|ci| ci.resamples_used >= MIN_KEPT_RESAMPLES).map(|ci| SourceBootstrap {
            ci95: ci.ci95,
            kept: ci.resamples_used,
            width: ci.ci95.high - ci.ci95.low,
        })
    };
    (kept(cis[0]), kept(cis[1]))
}

/// Which sensitivity measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Source-level ICC(C,1).
    IccC1,
    /// Source-level ICC(A,1).
    IccA1,
    /// Item-level bias.
    Bias,
    /// Item-level MSE.
    Mse,
}

impl Measure {
    /// Every measure, in table order.
    pub const ALL: [Measure; 4] = [Measure::IccC1, Measure::IccA1, Measure::Bias, Measure::Mse];

    /// Column header.
    pub fn label(self) -> &'static str {
        match self {
            Measure::IccC1 => "ICC(C,1)",
            Measure::IccA1 => "ICC(A,1)",
            Measure::Bias => "bias",
            Measure::Mse => "MSE",
        }
    }
}

/// What one treatment alone does to a number: the published reading with only this
/// treatment switched to the careful rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreatmentEffect {
    /// The treatment switched.
    pub treatment: Treatment,
    /// The value then.
    pub value: Option<f64>,
    /// value - published.
    pub change: Option<f64>,
}

/// One number under both readings and what moves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityRow {
    /// Judge name.
    pub judge: String,
    /// Attribute.
    pub attribute: String,
    /// Which number.
    pub measure: Measure,
    /// Under the published reading.
    pub published: Option<f64>,
    /// Under the careful reading.
    pub careful: Option<f64>,
    /// careful - published.
    pub difference: Option<f64>,
    /// Each differing treatment switched alone.
    pub effects: Vec<TreatmentEffect>,
    /// The treatment whose switch alone moves the number most; `None` when the readings
    /// agree (|difference| < 1e-12) or no treatment differs.
    pub accounts_for: Option<Treatment>,
}

/// One place the two readings differ on this release, with its size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreatmentNote {
    /// Which treatment.
    pub treatment: Treatment,
    /// Cells, answers, ConvIDs or sources it touches (see `text`).
    pub count: usize,
    /// The sentence printed when the run starts.
    pub text: String,
}

/// The MentalAlign section of `analysis.json` (release only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MentalAlign {
    /// The protocol chosen with `--protocol`; its numbers are the ones printed.
    pub protocol: Protocol,
    /// Where the two readings differ on this release, with counts.
    pub treatments: Vec<TreatmentNote>,
    /// Every judge x attribute under the published reading.
    pub published: Vec<JudgeAttribute>,
    /// Every judge x attribute under the careful reading.
    pub careful: Vec<JudgeAttribute>,
    /// Per judge, attribute and measure: both values and what each treatment does.
    pub sensitivity: Vec<SensitivityRow>,
}

/// The whole MentalAlign section from the release's rows.
pub fn mentalalign(
    rows: &[RawRow],
    inconsistent: &BTreeSet<String>,
    protocol: Protocol,
    self_judging: SelfJudging,
    bootstrap: Bootstrap,
) -> MentalAlign {
    let makers = judge_makers(rows);
    let published_reading = Reading::published();
    let careful_reading = Reading::careful(self_judging);
    let run = |reading: &Reading, bootstrap: Bootstrap| compute(&Cells::read(rows, inconsistent, reading), &makers, reading, bootstrap);
    let published = run(&published_reading, bootstrap);
    let careful = run(&careful_reading, bootstrap);
    let off = Bootstrap { resamples: 0, seed: bootstrap.seed };
    let switched: Vec<(Treatment, Vec<JudgeAttribute>)> = published_reading
        .differences(&careful_reading)
        .into_iter()
        .map(|t| (t, run(&published_reading.with(t, &careful_reading), off)))
        .collect();
    MentalAlign {
        protocol,
        treatments: notes(rows, inconsistent, self_judging),
        sensitivity: sensitivity(&published, &careful, &switched),
        published,
        careful,
    }
}

fn sensitivity(published: &[JudgeAttribute], careful: &[JudgeAttribute], switched: &[(Treatment, Vec<JudgeAttribute>)]) -> Vec<SensitivityRow> {
    let mut out = Vec::new();
    for (i, (p, c)) in published.iter().zip(careful).enumerate() {
        for measure in Measure::ALL {
            let (pv, cv) = (p.measure(measure), c.measure(measure));
            let difference = pv.zip(cv).map(|(p, c)| c - p);
            let effects: Vec<TreatmentEffect> = switched
                .iter()
                .map(|(treatment, results)| {
                    let value = results[i].measure(measure);
                    TreatmentEffect { treatment: *treatment, value, change: value.zip(pv).map(|(v, p)| v - p) }
                })
                .collect();
            let moved = difference.is_some_and(|d| d.abs() >= 1e-12);
            let accounts_for = effects
                .iter()
                .filter(|_| moved)
                .filter_map(|e| Some((e.treatment, e.change?.abs())))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(t, _)| t);
            out.push(SensitivityRow {
                judge: p.judge.clone(),
                attribute: p.attribute.clone(),
                measure,
                published: pv,
                careful: cv,
                difference,
                effects,
                accounts_for,
            });
        }
    }
    out
}

/// Each judge's maker, by judge name.
fn judge_makers(rows: &[RawRow]) -> BTreeMap<String, Maker> {
    rows.iter().filter_map(|r| Some((r.judge.clone(), mentalbench::judge_maker(&r.judge)?))).collect()
}

/// Where the published reading and the careful one (with `self_judging`) differ on the
/// release's `rows`, each with its count and the sentence to print.
pub fn notes(rows: &[RawRow], inconsistent: &BTreeSet<String>, self_judging: SelfJudging) -> Vec<TreatmentNote> {
    let makers = &judge_makers(rows);
    let (published, careful) = (&Reading::published(), &Reading::careful(self_judging));
    let usable = |r: &&RawRow| !matches!(r.status.as_str(), "missing" | "unparseable");
    let cells = |keep: &dyn Fn(i64) -> bool, human: bool| {
        rows.iter().filter(usable).filter(|r| (r.judge == HUMAN_RATER) == human).flat_map(|r| r.scores).flatten().filter(|v| keep(*v)).count()
    };
    published
        .differences(careful)
        .into_iter()
        .map(|treatment| {
            let (count, text) = match treatment {
                Treatment::ZeroCells => {
                    let (h, j) = (cells(&|v| v == 0, true), cells(&|v| v == 0, false));
                    (h + j, format!("{h} zero-coded human cells and {j} zero-coded judge cells averaged in as 0, as published (careful: missing)"))
                }
                Treatment::OffScaleCells => {
                    let (h, j) = (cells(&|v| v > 5, true), cells(&|v| v > 5, false));
                    (h + j, format!("{h} human and {j} judge cells above 5 averaged in as they are, as published (careful: missing)"))
                }
                Treatment::BrokenJson => {
                    let unread: Vec<&RawRow> = rows.iter().filter(usable).filter(|r| unreadable(r)).collect();
                    let broken = unread.iter().filter(|r| r.status == "regex_fallback").count();
                    let known = rows.iter().all(|r| r.authors_readable.is_some());
                    let caveat = if known { "" } else { "; original workbooks absent, so answers with prose around valid JSON are not found" };
                    (
                        unread.len(),
                        format!(
                            "{} answers the authors' JSON reader cannot parse ({broken} broken JSON, {} prose around the JSON) left out, as published (careful: scores read){caveat}",
                            unread.len(),
                            unread.len() - broken
                        ),
                    )
                }
                Treatment::InconsistentContexts => {
                    let n = rows.iter().filter(|r| r.judge != HUMAN_RATER && inconsistent.contains(&r.conv)).count();
                    (
                        inconsistent.len(),
                        format!(
                            "{} ConvIDs whose context differs between the human and judge sheets joined by ConvID as they are ({n} judge rows), as published (careful: left out)",
                            inconsistent.len()
                        ),
                    )
                }
                Treatment::SelfJudgingScope => {
                    let scoped = |scope: SelfJudging| {
                        makers
                            .iter()
                            .map(|(judge, maker)| {
                                let sources: BTreeSet<&String> = rows
                                    .iter()
                                    .map(|r| &r.model)
                                    .filter(|s| scope.is_self(maker, &mentalbench::source_maker(s)))
                                    .collect();
                                format!("{judge} without {}", sources.into_iter().cloned().collect::<Vec<_>>().join("+"))
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    (
                        makers.len(),
                        format!(
                            "each judge scored without {} ({}), as published (careful: without {}: {})",
                            published.self_judging.describe(),
                            scoped(published.self_judging),
                            careful.self_judging.describe(),
                            scoped(careful.self_judging)
                        ),
                    )
                }
            };
            TreatmentNote { treatment, count, text }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(conv: &str, judge: &str, model: &str, status: &str, guidance: Option<i64>) -> RawRow {
        let mut scores = [Some(3); 7];
        scores[0] = guidance;
        RawRow {
            line: 0,
            conv: conv.into(),
            judge: judge.into(),
            model: model.into(),
            status: status.into(),
            scores,
            explanation: String::new(),
            authors_readable: None,
        }
    }

    #[test]
    fn each_reading_rule_by_hand() {
        let published = Reading::published();
        let careful = Reading::careful(SelfJudging::OwnModel);
        let human = |status, g| row("1", HUMAN_RATER, "qwen_3", status, g);
        let judge = |status, g| row("1", "gpt-4o", "qwen_3", status, g);
        // Zero-coded: 0 averaged in, or missing.
        assert_eq!(published.value(&human("ok", Some(0)), 0, false), Some(0.0));
        assert_eq!(careful.value(&human("ok", Some(0)), 0, false), None);
        // Off-scale 6: kept, or missing.
        assert_eq!(published.value(&human("ok", Some(6)), 0, false), Some(6.0));
        assert_eq!(careful.value(&human("ok", Some(6)), 0, false), None);
        // Broken JSON recovered by pattern: missing as published (json.loads fails), else kept.
        assert_eq!(published.value(&judge("regex_fallback", Some(4)), 0, false), None);
        assert_eq!(careful.value(&judge("regex_fallback", Some(4)), 0, false), Some(4.0));
        // An answer with prose before its JSON: ratings.csv read it ("ok"), the authors could not.
        let prose = RawRow { authors_readable: Some(false), ..judge("ok", Some(4)) };
        assert_eq!(published.value(&prose, 0, false), None);
        assert_eq!(careful.value(&prose, 0, false), Some(4.0));
        // A judge row of an inconsistent ConvID: joined, or left out; the expert's row stays.
        assert_eq!(published.value(&judge("ok", Some(4)), 0, true), Some(4.0));
        assert_eq!(careful.value(&judge("ok", Some(4)), 0, true), None);
        assert_eq!(careful.value(&human("ok", Some(4)), 0, true), Some(4.0));
        // Empty, missing and unparseable cells are missing under both.
        for reading in [published, careful] {
            assert_eq!(reading.value(&human("partial", None), 0, false), None);
            assert_eq!(reading.value(&judge("missing", Some(4)), 0, false), None);
            assert_eq!(reading.value(&judge("unparseable", Some(4)), 0, false), None);
        }
        assert_eq!(published.differences(&careful).len(), 4, "scope agrees unless the vendor option is on");
        assert_eq!(published.differences(&Reading::careful(SelfJudging::OwnVendor)).len(), 5);
    }

    #[test]
    fn statistics_by_hand_on_three_sources() {
        // Sources a, b, c with (human, judge) pairs:
        //   a: (1, 2), (3, 4)  -> means (2, 3)
        //   b: (2, 2)          -> means (2, 2)
        //   c: (4, 5), (4, 5)  -> means (4, 5)
        // Rows (2,3), (2,2), (4,5): grand 3; row means 2.5, 2, 4.5; column means 8/3, 10/3.
        // SS_rows = 2 * (0.25 + 1 + 2.25) = 7, MSR = 3.5; SS_cols = 3 * (1/9 + 1/9) = 2/3, MSC = 2/3;
        // SS_total = 1 + 0 + 1 + 1 + 1 + 4 = 8, SS_error = 8 - 7 - 2/3 = 1/3, MSE = 1/6.
        // ICC(C,1) = (3.5 - 1/6) / (3.5 + 1/6) = 20/22 = 10/11;
        // ICC(A,1) = (10/3) / (11/3 + 2 * (2/3 - 1/6) / 3) = (10/3) / (4) = 5/6.
        // Differences over the 5 pairs: 1, 1, 0, 1, 1 -> bias 4/5, MSE 4/5.
        let pairs = vec![
            ("a".to_owned(), vec![(1.0, 2.0), (3.0, 4.0)]),
            ("b".to_owned(), vec![(2.0, 2.0)]),
            ("c".to_owned(), vec![(4.0, 5.0), (4.0, 5.0)]),
        ];
        let r = judge_attribute("j", "guidance", vec![], &pairs, Bootstrap { resamples: 0, seed: 1 });
        assert!((r.icc_c1.unwrap() - 10.0 / 11.0).abs() < 1e-12, "{:?}", r.icc_c1);
        assert!((r.icc_a1.unwrap() - 5.0 / 6.0).abs() < 1e-12, "{:?}", r.icc_a1);
        assert_eq!(r.n_pairs, 5);
        assert!((r.bias.unwrap() - 0.8).abs() < 1e-12 && (r.mse.unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(r.sources[0], SourceMeans { source: "a".into(), n: 2, human: 2.0, judge: 3.0 });
        assert!(r.icc_c1_ci.is_none() && r.reliability.is_none(), "no bootstrap, no CI");
    }

    #[test]
    fn bootstrap_keeps_only_unit_interval_iccs_and_needs_ten() {
        // Two sources: a resample drawing one source twice has no spread (undefined); with 8
        // resamples at most 8 are kept, fewer than 10, so no CI.
        let pairs = vec![("a".to_owned(), vec![(1.0, 1.5)]), ("b".to_owned(), vec![(4.0, 4.0)])];
        let r = judge_attribute("j", "guidance", vec![], &pairs, Bootstrap { resamples: 8, seed: 1 });
        assert!(r.icc_c1_ci.is_none() && r.icc_a1_ci.is_none(), "{:?}", r.icc_c1_ci);
        // Perfect agreement on five sources: every defined resample is 1 up to rounding (values
        // a rounding step above 1 are dropped as outside [0, 1]); the CI sits at 1.
        let pairs: Vec<(String, Vec<(f64, f64)>)> = (1..=5).map(|i| (format!("s{i}"), vec![(i as f64, i as f64)])).collect();
        let r = judge_attribute("j", "guidance", vec![], &pairs, Bootstrap { resamples: 200, seed: 1 });
        let ci = r.icc_c1_ci.unwrap();
        assert!(ci.ci95.low >= 1.0 - 1e-12 && ci.ci95.high <= 1.0 && ci.width < 1e-12, "{ci:?}");
        assert!(ci.kept >= MIN_KEPT_RESAMPLES && ci.kept <= 200, "{}", ci.kept);
        assert_eq!(r.reliability, Some(Reliability::Good));
        // A statistical sanity check on real spread: the CI holds the point estimate.
        let pairs: Vec<(String, Vec<(f64, f64)>)> =
            [(1.0, 1.4), (2.0, 2.9), (3.0, 2.8), (4.0, 4.6), (5.0, 4.7), (2.5, 3.1)].iter().enumerate().map(|(i, p)| (format!("s{i}"), vec![*p])).collect();
        let r = judge_attribute("j", "guidance", vec![], &pairs, Bootstrap { resamples: 500, seed: 2 });
        let (icc, ci) = (r.icc_c1.unwrap(), r.icc_c1_ci.unwrap());
        assert!(ci.ci95.low <= icc && icc <= ci.ci95.high && ci.ci95.high <= 1.0, "{icc} {ci:?}");
    }

    #[test]
    fn reliability_bands_are_closed_above() {
        assert_eq!(Reliability::of_width(0.355), Reliability::Good);
        assert_eq!(Reliability::of_width(0.3551), Reliability::Moderate);
        assert_eq!(Reliability::of_width(0.560), Reliability::Moderate);
        assert_eq!(Reliability::of_width(0.5601), Reliability::Poor);
    }

    #[test]
    fn self_judging_scope_and_sensitivity_name_the_treatment() {
        // gpt-4o judges 3 sources on 2 ConvIDs; the human zero on qwen_3 / ConvID 2 is the only
        // difference between the readings (besides nothing else), so it accounts for any change.
        let mut rows = Vec::new();
        for (conv, g) in [("1", [4, 2, 5]), ("2", [3, 0, 4])] {
            for (source, h) in ["gpt4o", "qwen_3", "claude"].iter().zip(g) {
                rows.push(row(conv, HUMAN_RATER, source, "ok", Some(h)));
                rows.push(row(conv, "gpt-4o", source, "ok", Some(h.max(1) + 1)));
            }
        }
        let section = mentalalign(&rows, &BTreeSet::new(), Protocol::Published, SelfJudging::OwnModel, Bootstrap { resamples: 0, seed: 1 });
        let guidance = |results: &[JudgeAttribute]| results.iter().find(|r| r.attribute == "guidance").unwrap().clone();
        let published = guidance(&section.published);
        assert_eq!(published.excluded_sources, ["gpt4o"], "only its own model");
        // Published: qwen_3 pairs (2, 3) and (0, 2); claude (5, 6) and (4, 5): bias (1+2+1+1)/4.
        assert_eq!(published.bias, Some(1.25));
        // Careful: the zero is missing, so qwen_3 keeps one pair: bias (1+1+1)/3 = 1.
        assert_eq!(guidance(&section.careful).bias, Some(1.0));
        let row = section.sensitivity.iter().find(|r| r.attribute == "guidance" && r.measure == Measure::Bias).unwrap();
        assert_eq!(row.difference, Some(-0.25));
        assert_eq!(row.accounts_for, Some(Treatment::ZeroCells));
        let zero = row.effects.iter().find(|e| e.treatment == Treatment::ZeroCells).unwrap();
        assert_eq!(zero.change, Some(-0.25));
        assert_eq!(section.treatments[0].text, "1 zero-coded human cells and 0 zero-coded judge cells averaged in as 0, as published (careful: missing)");
        // The vendor scope is a treatment only when asked for; then gpt-4o also loses nothing
        // here (no other OpenAI source), but the note names both scopes.
        let vendor = mentalalign(&rows, &BTreeSet::new(), Protocol::Careful, SelfJudging::OwnVendor, Bootstrap { resamples: 0, seed: 1 });
        let note = vendor.treatments.iter().find(|n| n.treatment == Treatment::SelfJudgingScope).unwrap();
        assert_eq!(note.text, "each judge scored without its own model (gpt-4o without gpt4o), as published (careful: without every model of its vendor: gpt-4o without gpt4o)");
    }
}
