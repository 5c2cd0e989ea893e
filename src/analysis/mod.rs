//! The study's statistics: per-model scores, composites and the cognitive-affective gap,
//! failures, model comparisons, inter-rater agreement and judge-vs-human agreement.
//!
//! Owns pure functions from a study's records (response records or a release's rated replies,
//! `Rating`s from every rater through one channel, the run manifest) to one serialisable, versioned
//! [`Analysis`], written as `analysis.json` by `mhbench analyze`; reads and writes no file
//! (the `analyze` command does, through `crate::run::Run`) and renders nothing (see `report`). Attribute names and composite groups come from the rubric. Each family has its
//! own file and cites its formulas and the reference tool its tests match
//! (`scripts/reference_stats.py` → `tests/fixtures/stats/reference.json`).
//!
//! Panels and rater sets are analysed in parallel (rayon); every bootstrap has its own seeded
//! stream, so the output does not depend on scheduling.
//!
//! Scores are analysed per *panel*: the human panel (the mean of all human raters' scores for a
//! reply, over the raters who gave one) and each LLM judge alone.

pub mod agreement;
pub mod basic;
pub mod bootstrap;
pub mod breakdown;
pub mod compare;
pub mod composite;
pub mod descriptive;
pub mod examples;
pub mod failure;
pub mod input;
pub mod judge;
pub mod mentalalign;
pub mod minimum;
pub mod performance;
pub mod variability;
pub mod verdict;

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::bootstrap::Bootstrap;
use self::input::{Dropped, ModelInfo, Panel, PanelScores, RaterCoverage, RaterInfo, RatingTable, ResponseEntry};
use crate::dataset::mentalbench_release::Release;
use crate::registry::{Makers, Registry, SelfJudging};
use crate::rubric::Rubric;
use crate::schema::{Conversation, RaterKind, Rating, ResponseRecord, RunManifest};

/// Layout version of `analysis.json`; bumped whenever its shape changes (4: `performance`, and
/// undefined statistics as `null` in optional fields only; 5: `performance` measures wall time
/// and per-row latency, `unsafe_replies` per model, Wilcoxon's `exact`; 6: the rubric's texts in
/// `rubric`, `examples`, `variability` per panel, `breakdowns` by source and topic, `test_retest`
/// per rater).
pub const ANALYSIS_VERSION: u32 = 6;

/// What to compute and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOptions {
    /// Bootstrap resamples and seed for every bootstrap CI.
    pub bootstrap: Bootstrap,
    /// Attribute id whose score <= 2 counts as a safety failure; `None` skips that share.
    pub safety_attribute: Option<String>,
    /// How many worst replies to list per panel.
    pub worst: usize,
    /// Which replies a judge is not scored on (the project's one self-judging rule).
    #[serde(default)]
    pub self_judging: SelfJudging,
    /// How the MentalBench release is read for the headline MentalAlign numbers
    /// (`analyze --protocol`); both readings are always in [`Analysis::mentalalign`].
    #[serde(default)]
    pub protocol: mentalalign::Protocol,
}

/// Rubric facts repeated in the output so a reader needs no other file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RubricSummary {
    /// Rubric id.
    pub id: String,
    /// Rubric version.
    pub version: String,
    /// Attribute ids in order.
    pub attributes: Vec<String>,
    /// Composites: group id, short name and attributes.
    pub composites: Vec<composite::CompositeDef>,
    /// The rubric's title.
    #[serde(default)]
    pub title: String,
    /// Its groups with their names and descriptions, for the report's methods and glossary.
    #[serde(default)]
    pub groups: Vec<crate::rubric::Group>,
    /// Its attributes with names, definitions and anchors, for the same.
    #[serde(default)]
    pub definitions: Vec<crate::rubric::Attribute>,
}

/// Everything computed for one panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelAnalysis {
    /// Who the scores come from.
    pub panel: Panel,
    /// Replies where only some of the panel's raters scored some attribute.
    pub partially_rated: usize,
    /// Per model x attribute.
    pub descriptives: Vec<descriptive::CellStats>,
    /// Per model composites and gap.
    pub composites: Vec<composite::ModelComposites>,
    /// Low scores, unsafe replies, worst replies.
    pub failures: failure::Failures,
    /// Model comparisons per attribute, then per composite.
    pub comparisons: Vec<compare::MeasureComparison>,
    /// Per model the spread (SD, CV, IQR with bootstrap CIs) of each attribute and composite,
    /// and the difference in spread between the first two composites (since `analysis_version` 6).
    #[serde(default)]
    pub variability: Vec<variability::ModelVariability>,
}

/// Agreement among one set of raters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaterSetAgreement {
    /// Rater ids (columns, in this order).
    pub raters: Vec<String>,
    /// Per attribute.
    pub attributes: Vec<agreement::AttributeAgreement>,
}

/// One judge against the human panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAnalysis {
    /// Judge rater id.
    pub judge: String,
    /// Judge's vendor, where known.
    pub provider: Option<String>,
    /// Models whose replies this judge is not scored on: its own model, or with
    /// `self_judging = own_vendor` every model of its vendor ([`SelfJudging`]). Every measure
    /// below leaves them out.
    pub excluded_models: Vec<String>,
    /// Per attribute, then per composite.
    pub measures: Vec<judge::JudgeMeasure>,
    /// A plain verdict per measure (same order as `measures`): agreement band from the
    /// item-level ICC(A,1) CI and the direction of the bias; rules in [`verdict`].
    pub verdicts: Vec<verdict::JudgeVerdict>,
}

/// The whole analysis, as written to `analysis.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Layout version ([`ANALYSIS_VERSION`]).
    pub analysis_version: u32,
    /// mhbench version that wrote it.
    pub mhbench_version: String,
    /// What was analysed (run folder or data set path).
    pub source: String,
    /// What the MentalBench loader changed or left out, when the source is that release.
    pub mentalbench: Option<crate::dataset::mentalbench_release::LoadReport>,
    /// The MentalAlign analysis under the published and the careful reading, with the
    /// sensitivity table (release only; since `analysis_version` 3).
    #[serde(default)]
    pub mentalalign: Option<mentalalign::MentalAlign>,
    /// Options used.
    pub options: AnalysisOptions,
    /// Rubric used.
    pub rubric: RubricSummary,
    /// Models, with closed/open group and provider.
    pub models: Vec<ModelInfo>,
    /// Number of conversations.
    pub conversations: usize,
    /// Number of replies.
    pub responses: usize,
    /// Raters.
    pub raters: Vec<RaterInfo>,
    /// How completely each rater covered the replies.
    pub coverage: Vec<RaterCoverage>,
    /// Ratings that could not be joined.
    pub dropped: Dropped,
    /// Per panel: human first, then each LLM judge.
    pub panels: Vec<PanelAnalysis>,
    /// Agreement per pair of raters, then among all humans and among all judges when more
    /// than two.
    pub agreement: Vec<RaterSetAgreement>,
    /// Each LLM judge against the human panel (empty without human ratings).
    pub judges: Vec<JudgeAnalysis>,
    /// Per model, what its replies cost to make: speed, peak memory, price, failures (runs only;
    /// since `analysis_version` 4).
    #[serde(default)]
    pub performance: Vec<performance::ModelPerformance>,
    /// Example replies of the first panel for reading, with the person's message (since
    /// `analysis_version` 6); `None` without a panel.
    #[serde(default)]
    pub examples: Option<examples::Examples>,
    /// Per panel, composite means per model within each source data set and topic (runs whose
    /// conversations carry those labels; since `analysis_version` 6).
    #[serde(default)]
    pub breakdowns: Vec<breakdown::PanelBreakdowns>,
    /// Test-retest (intra-rater) agreement per human rater and attribute: each repeated showing
    /// of the rating study against the same rater's first rating of the reply; a cell below
    /// [`minimum::MIN_AGREEMENT`] pairs holds only its n (runs with a rating plan; since
    /// `analysis_version` 6).
    #[serde(default)]
    pub test_retest: BTreeMap<String, crate::rating::consistency::ByAttribute>,
}

/// Analyse a run's records: its responses, every rating of them (human and judge alike, read
/// through one channel) and, for performance, its manifest and the registry's prices.
pub fn analyze_run(run: &RunRecords<'_>, rubric: &Rubric, source: &str, options: &AnalysisOptions) -> Analysis {
    let entries: Vec<ResponseEntry> = run.responses.iter().map(ResponseEntry::from_record).collect();
    let table = RatingTable::build(rubric, &entries, run.ratings, run.makers);
    let texts = run
        .conversations
        .iter()
        .map(|c| (c.id.to_string(), examples::ExampleConversation { context: Some(c.context.clone()), reference: c.reference_response.clone() }))
        .collect();
    let mut analysis = analyze(&table, rubric, source, options, &texts);
    analysis.performance = performance::performance(run.responses, run.manifest, run.registry);
    let defs = composite::definitions(rubric, &table);
    analysis.breakdowns = breakdown::breakdowns(&table, &breakdown::labels(run.conversations), &defs, options.bootstrap);
    analysis.test_retest = test_retest(rubric, run.ratings, run.repeats);
    analysis
}

/// Test-retest agreement of each human rater: `repeats` against their first ratings among
/// `ratings` (human first showings).
fn test_retest(rubric: &Rubric, ratings: &[Rating], repeats: &[Rating]) -> BTreeMap<String, crate::rating::consistency::ByAttribute> {
    use crate::rating::consistency::{self, Scored};
    let first: Vec<Scored<'_>> = ratings.iter().filter(|r| r.rater_kind == RaterKind::Human).map(Scored::from).collect();
    let repeated: Vec<Scored<'_>> = repeats.iter().map(Scored::from).collect();
    consistency::test_retest(&first, &repeated, &rubric.attribute_ids())
}

/// A run's records as [`analyze_run`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct RunRecords<'a> {
    /// Every response of the run.
    pub responses: &'a [ResponseRecord],
    /// Every rating of the run's replies (first showings of the rating study).
    pub ratings: &'a [Rating],
    /// The rating study's repeated showings, for test-retest agreement.
    pub repeats: &'a [Rating],
    /// The run's conversations (empty where unknown): the person's message and the data set's
    /// reply beside the example replies, and the breakdowns by source and topic.
    pub conversations: &'a [Conversation],
    /// Who the judges and rated models are, for the self-judging rule.
    pub makers: &'a Makers,
    /// The run manifest, for peak memory.
    pub manifest: Option<&'a RunManifest>,
    /// The registry, for API prices.
    pub registry: Option<&'a Registry>,
}

/// Analyse the MentalBench release: the study's statistics and the MentalAlign readings.
pub fn analyze_release(release: &Release, rubric: &Rubric, source: &str, options: &AnalysisOptions) -> Analysis {
    let table = RatingTable::build(rubric, &release.responses, &release.ratings, &release.makers);
    let mut analysis = analyze(&table, rubric, source, options, &examples::ConversationTexts::new());
    analysis.mentalalign = Some(mentalalign::mentalalign(
        &release.rows,
        &release.inconsistent,
        options.protocol,
        options.self_judging,
        options.bootstrap,
    ));
    analysis.mentalbench = Some(release.report.clone());
    analysis
}

/// Analyse `table` under `rubric`; `texts` holds the conversations' texts for the examples.
pub fn analyze(table: &RatingTable, rubric: &Rubric, source: &str, options: &AnalysisOptions, texts: &examples::ConversationTexts) -> Analysis {
    let defs = composite::definitions(rubric, table);
    let panels: Vec<(PanelScores, Vec<usize>)> = input::panels(table)
        .into_iter()
        .map(|(panel, members)| (PanelScores::new(table, panel, &members), members))
        .collect();
    let panel_analyses = panels.par_iter().map(|(scores, members)| analyze_panel(table, scores, members, &defs, options)).collect();
    let human = panels.iter().find(|(s, _)| s.panel.kind == RaterKind::Human);
    let judges = match human {
        Some((human, _)) => panels
            .iter()
            .filter(|(s, _)| s.panel.kind == RaterKind::Llm)
            .map(|(scores, members)| judge_analysis(table, human, scores, members, &defs, options))
            .collect(),
        None => Vec::new(),
    };
    Analysis {
        analysis_version: ANALYSIS_VERSION,
        mhbench_version: env!("CARGO_PKG_VERSION").to_owned(),
        source: source.to_owned(),
        mentalbench: None,
        mentalalign: None,
        options: options.clone(),
        rubric: RubricSummary {
            id: rubric.id.clone(),
            version: rubric.version.clone(),
            attributes: table.attributes.clone(),
            composites: defs.clone(),
            title: rubric.title.clone(),
            groups: rubric.groups.clone(),
            definitions: rubric.attributes.clone(),
        },
        models: table.models.clone(),
        conversations: table.conversations.len(),
        responses: table.response_count(),
        raters: table.raters.clone(),
        coverage: table.coverage.clone(),
        dropped: table.dropped.clone(),
        panels: panel_analyses,
        agreement: rater_sets(table).par_iter().map(|set| set_agreement(table, set, options.bootstrap)).collect(),
        judges,
        performance: Vec::new(),
        examples: panels.first().map(|(scores, members)| examples::examples(table, scores, members, &defs, texts)),
        breakdowns: Vec::new(),
        test_retest: BTreeMap::new(),
    }
}

/// Every measure of a panel as `(name, values[model][conversation])`: attributes, then composites.
fn measures(table: &RatingTable, scores: &PanelScores, defs: &[composite::CompositeDef]) -> Vec<(String, Vec<Vec<Option<f64>>>)> {
    let models = 0..table.models.len();
    let mut out: Vec<(String, Vec<Vec<Option<f64>>>)> = table
        .attributes
        .iter()
        .enumerate()
        .map(|(a, id)| (id.clone(), models.clone().map(|m| descriptive::per_conversation(scores, m, a)).collect()))
        .collect();
    for def in defs {
        out.push((def.short.clone(), models.clone().map(|m| composite::per_conversation(scores, def, m)).collect()));
    }
    out
}

fn analyze_panel(table: &RatingTable, scores: &PanelScores, members: &[usize], defs: &[composite::CompositeDef], options: &AnalysisOptions) -> PanelAnalysis {
    let model_ids: Vec<String> = table.models.iter().map(|m| m.id.clone()).collect();
    let groups: Vec<_> = table.models.iter().map(|m| m.group).collect();
    PanelAnalysis {
        panel: scores.panel.clone(),
        partially_rated: scores.partially_rated,
        descriptives: descriptive::describe(table, scores, members, options.bootstrap),
        composites: composite::composites(table, scores, defs, options.bootstrap),
        failures: failure::failures(table, scores, members, options.safety_attribute.as_deref(), options.worst),
        comparisons: measures(table, scores, defs)
            .iter()
            .map(|(name, values)| compare::compare_models(name, &model_ids, &groups, values, options.bootstrap))
            .collect(),
        variability: variability::variability(table, scores, defs, options.bootstrap),
    }
}

fn judge_analysis(
    table: &RatingTable,
    human: &PanelScores,
    judge: &PanelScores,
    members: &[usize],
    defs: &[composite::CompositeDef],
    options: &AnalysisOptions,
) -> JudgeAnalysis {
    let provider = members.first().and_then(|&r| table.raters.get(r)).and_then(|r| r.provider.clone());
    let excluded = own_models(table, &judge.panel.id, options.self_judging);
    let human_measures = measures(table, human, defs);
    let mut judge_measures = measures(table, judge, defs);
    for (_, values) in &mut judge_measures {
        for (row, _) in values.iter_mut().zip(&excluded).filter(|(_, own)| **own) {
            row.iter_mut().for_each(|v| *v = None);
        }
    }
    let (measures, verdicts) = human_measures
        .iter()
        .zip(&judge_measures)
        .map(|((name, h), (_, j))| {
            let measure = judge::judge_measure(name, &table.models, h, j);
            let verdict = verdict::judge_verdict(&measure, h, j, options.bootstrap);
            (measure, verdict)
        })
        .unzip();
    let excluded_models = table.models.iter().zip(&excluded).filter(|(_, e)| **e).map(|(m, _)| m.id.clone()).collect();
    JudgeAnalysis { judge: judge.panel.id.clone(), provider, excluded_models, measures, verdicts }
}

/// Per model of `table`: whether judge rater `judge` is itself there under `scope`
/// ([`crate::registry::Makers::judge`]).
fn own_models(table: &RatingTable, judge: &str, scope: SelfJudging) -> Vec<bool> {
    let maker = table.makers.judge(judge);
    table.models.iter().map(|m| maker.as_ref().is_some_and(|j| scope.is_self(j, &table.makers.model(&m.id)))).collect()
}

/// Rater index sets to measure agreement on: every pair, then all humans and all judges when
/// there are more than two of them.
fn rater_sets(table: &RatingTable) -> Vec<Vec<usize>> {
    let n = table.raters.len();
    let mut sets: Vec<Vec<usize>> = (0..n).flat_map(|a| (a + 1..n).map(move |b| vec![a, b])).collect();
    for kind in [RaterKind::Human, RaterKind::Llm] {
        let members: Vec<usize> = (0..n).filter(|&r| table.raters[r].kind == kind).collect();
        if members.len() > 2 {
            sets.push(members);
        }
    }
    sets
}

fn set_agreement(table: &RatingTable, set: &[usize], bootstrap: Bootstrap) -> RaterSetAgreement {
    let nc = table.conversations.len();
    let response_count = table.models.len() * nc;
    let na = table.attributes.len();
    // units[response][attribute][rater position]
    let mut units = vec![vec![vec![None; set.len()]; na]; response_count];
    for cell in &table.ratings {
        let Some(position) = set.iter().position(|&r| r == cell.rater) else { continue };
        let response = cell.model * nc + cell.conversation;
        for (a, score) in cell.scores.iter().enumerate() {
            units[response][a][position] = *score;
        }
    }
    RaterSetAgreement {
        raters: set.iter().map(|&r| table.raters[r].id.clone()).collect(),
        attributes: table
            .attributes
            .iter()
            .enumerate()
            .map(|(a, id)| {
                let rows: Vec<Vec<Option<u8>>> = units.iter().map(|u| u[a].clone()).collect();
                agreement::agreement(id, &rows, bootstrap)
            })
            .collect(),
    }
}
