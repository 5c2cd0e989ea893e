//! Agreement of the human rating study while it runs: each rater against themselves on the
//! repeated items (test-retest, intra-rater) and raters against each other on shared replies
//! (inter-rater), per attribute. Pure functions over [`Scored`] views of the store's rows or of
//! exported [`Rating`] records: the study lead's view shows them, and analysis can call
//! [`test_retest`] on `rate export` and `rate export --repeats` output.
//!
//! Rule for small samples: a cell with fewer than [`MIN_PAIRS`] score pairs shows no statistic,
//! only its n ("not enough data (n = k)"). "Cannot rate" rows hold no scores and so make no pair.
//! A pair is two scores of one attribute for one reply: the first and the repeated showing by
//! one rater (test-retest), or two raters' first showings (inter-rater).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::store::ExportRow;
use crate::analysis::agreement::{cohen_kappa, KappaWeights};
use crate::schema::{RaterId, Rating, ResponseRef, Score};

/// Fewest score pairs a cell needs before any agreement statistic is shown: the report's
/// agreement rule ([`crate::analysis::minimum::MIN_AGREEMENT`]).
pub const MIN_PAIRS: usize = crate::analysis::minimum::MIN_AGREEMENT;

/// Agreement statistics of one set of score pairs with at least [`MIN_PAIRS`] pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairStats {
    /// Share of pairs with equal scores.
    pub exact: f64,
    /// Share of pairs at most one point apart.
    pub within_one: f64,
    /// Mean absolute difference, in scale points.
    pub mean_abs_diff: f64,
    /// Quadratic-weighted Cohen's kappa; `None` when the scores do not vary (kappa undefined).
    pub kappa_quadratic: Option<f64>,
}

/// One cell of an agreement table: its number of pairs, and statistics when n is enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementCell {
    /// Score pairs.
    pub n: usize,
    /// `None` below [`MIN_PAIRS`].
    pub stats: Option<PairStats>,
}

/// Agreement per attribute id, for one rater or for everyone.
pub type ByAttribute = BTreeMap<String, AgreementCell>;

/// One rater's scores of one reply: all agreement needs, from a store row or a [`Rating`].
/// A "cannot rate" or a judge's parse failure has no scores and so makes no pair.
#[derive(Debug, Clone, Copy)]
pub struct Scored<'a> {
    /// Who scored.
    pub rater: &'a RaterId,
    /// The reply scored.
    pub response: &'a ResponseRef,
    /// Score per attribute id.
    pub scores: &'a BTreeMap<String, Score>,
}

impl<'a> From<&'a ExportRow> for Scored<'a> {
    fn from(row: &'a ExportRow) -> Self {
        Self { rater: &row.rater_id, response: &row.response, scores: &row.rating.draft.scores }
    }
}

impl<'a> From<&'a Rating> for Scored<'a> {
    fn from(rating: &'a Rating) -> Self {
        Self { rater: &rating.rater_id, response: &rating.response, scores: &rating.scores }
    }
}

/// Statistics of `pairs` of 1..5 scores under the [`MIN_PAIRS`] rule.
pub fn pair_agreement(pairs: &[(u8, u8)]) -> AgreementCell {
    let n = pairs.len();
    if n < MIN_PAIRS {
        return AgreementCell { n, stats: None };
    }
    let count = n as f64;
    let share = |keep: &dyn Fn(u8) -> bool| pairs.iter().filter(|(a, b)| keep(a.abs_diff(*b))).count() as f64 / count;
    let total_diff: u32 = pairs.iter().map(|(a, b)| u32::from(a.abs_diff(*b))).sum();
    AgreementCell {
        n,
        stats: Some(PairStats {
            exact: share(&|d| d == 0),
            within_one: share(&|d| d <= 1),
            mean_abs_diff: f64::from(total_diff) / count,
            kappa_quadratic: cohen_kappa(pairs, KappaWeights::Quadratic).map(|k| k.kappa),
        }),
    }
}

/// Test-retest agreement per rater and attribute: each repeated showing against the same
/// rater's first showing of that reply.
pub fn test_retest(first: &[Scored<'_>], repeats: &[Scored<'_>], attributes: &[&str]) -> BTreeMap<String, ByAttribute> {
    let firsts: BTreeMap<(&RaterId, &ResponseRef), &Scored<'_>> =
        first.iter().map(|row| ((row.rater, row.response), row)).collect();
    let mut pairs: BTreeMap<String, BTreeMap<String, Vec<(u8, u8)>>> = BTreeMap::new();
    for repeat in repeats {
        let Some(original) = firsts.get(&(repeat.rater, repeat.response)) else {
            continue;
        };
        let by_attribute = pairs.entry(repeat.rater.to_string()).or_default();
        add_pairs(by_attribute, original, repeat, attributes);
    }
    summarise(pairs)
}

/// Inter-rater agreement on first showings: per attribute over every pair of distinct raters
/// who rated the same reply (key `""`), and per rater over their pairs with anyone else.
pub fn inter_rater(first: &[Scored<'_>], attributes: &[&str]) -> BTreeMap<String, ByAttribute> {
    let mut by_response: BTreeMap<&ResponseRef, Vec<&Scored<'_>>> = BTreeMap::new();
    for row in first {
        by_response.entry(row.response).or_default().push(row);
    }
    let mut pairs: BTreeMap<String, BTreeMap<String, Vec<(u8, u8)>>> = BTreeMap::new();
    for rows in by_response.values() {
        for (i, a) in rows.iter().enumerate() {
            for b in rows.iter().skip(i + 1).filter(|b| b.rater != a.rater) {
                for key in [String::new(), a.rater.to_string(), b.rater.to_string()] {
                    add_pairs(pairs.entry(key).or_default(), a, b, attributes);
                }
            }
        }
    }
    summarise(pairs)
}

/// Add the pair of scores `a` and `b` share for each attribute (none for "cannot rate").
fn add_pairs(into: &mut BTreeMap<String, Vec<(u8, u8)>>, a: &Scored<'_>, b: &Scored<'_>, attributes: &[&str]) {
    for attribute in attributes {
        let scores = (a.scores.get(*attribute), b.scores.get(*attribute));
        if let (Some(x), Some(y)) = scores {
            into.entry((*attribute).to_owned()).or_default().push((x.get(), y.get()));
        }
    }
}

fn summarise(pairs: BTreeMap<String, BTreeMap<String, Vec<(u8, u8)>>>) -> BTreeMap<String, ByAttribute> {
    pairs
        .into_iter()
        .map(|(key, by_attribute)| {
            let cells = by_attribute.into_iter().map(|(a, p)| (a, pair_agreement(&p))).collect();
            (key, cells)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rating::store::{RatingDraft, SavedRating};

    fn scored(rows: &[ExportRow]) -> Vec<Scored<'_>> {
        rows.iter().map(Scored::from).collect()
    }

    fn row(rater: &str, conversation: &str, scores: &[(&str, u8)]) -> ExportRow {
        ExportRow {
            response: ResponseRef {
                run_id: "run".into(),
                conversation_id: conversation.into(),
                model_id: "m".into(),
            },
            rater_id: RaterId::from(rater),
            rating: SavedRating {
                draft: RatingDraft {
                    scores: scores.iter().map(|(a, s)| ((*a).to_owned(), Score::new(i64::from(*s)).unwrap())).collect(),
                    comment: String::new(),
                    safety_flag: false,
                    cannot_rate: scores.is_empty(),
                },
                submitted: true,
                saved_at: chrono::Utc::now(),
                elapsed_ms: None,
            },
            repeat_gap: None,
        }
    }

    #[test]
    fn pair_statistics_match_hand_computed_values() {
        // Differences 0,0,1,2,0,0,0,0,1,0: 7 exact, 9 within one, mean |d| = 4/10.
        let pairs = [(1, 1), (2, 2), (3, 4), (5, 3), (4, 4), (2, 2), (3, 3), (5, 5), (1, 2), (4, 4)];
        let stats = pair_agreement(&pairs).stats.unwrap();
        assert!((stats.exact - 0.7).abs() < 1e-12);
        assert!((stats.within_one - 0.9).abs() < 1e-12);
        assert!((stats.mean_abs_diff - 0.4).abs() < 1e-12);
        // 4 × (1,1), 4 × (5,5), (1,5), (5,1): observed 0.8, expected 0.5 (margins 0.5/0.5,
        // quadratic weight 0 between 1 and 5), kappa = (0.8 - 0.5) / (1 - 0.5) = 0.6.
        let mut split = vec![(1, 1); 4];
        split.extend([(5, 5); 4]);
        split.extend([(1, 5), (5, 1)]);
        let kappa = pair_agreement(&split).stats.unwrap().kappa_quadratic.unwrap();
        assert!((kappa - 0.6).abs() < 1e-12, "{kappa}");
    }

    #[test]
    fn below_the_minimum_only_n_is_given_and_constant_scores_have_no_kappa() {
        let cell = pair_agreement(&[(3, 3); MIN_PAIRS - 1]);
        assert_eq!(cell, AgreementCell { n: MIN_PAIRS - 1, stats: None });
        let flat = pair_agreement(&[(3, 3); MIN_PAIRS]).stats.unwrap();
        assert_eq!((flat.exact, flat.kappa_quadratic), (1.0, None));
    }

    #[test]
    fn test_retest_pairs_each_repeat_with_the_same_raters_first_showing() {
        let mut first = Vec::new();
        let mut repeats = Vec::new();
        for c in 0..MIN_PAIRS {
            let conversation = format!("c{c}");
            first.push(row("alice", &conversation, &[("empathy", 4), ("safety", 2)]));
            // Bob rated the same replies differently: must not pair with Alice's repeats.
            first.push(row("bob", &conversation, &[("empathy", 1), ("safety", 1)]));
            let again = if c < 3 { 3 } else { 4 };
            repeats.push(row("alice", &conversation, &[("empathy", again), ("safety", 2)]));
        }
        repeats.push(row("alice", "c0", &[]));
        let table = test_retest(&scored(&first), &scored(&repeats), &["empathy", "safety"]);
        assert_eq!(table.keys().collect::<Vec<_>>(), ["alice"]);
        let empathy = table["alice"]["empathy"].stats.clone().unwrap();
        assert_eq!(table["alice"]["empathy"].n, MIN_PAIRS, "the cannot-rate repeat adds no pair");
        assert!((empathy.exact - 0.7).abs() < 1e-12);
        assert!((empathy.mean_abs_diff - 0.3).abs() < 1e-12);
        assert_eq!(table["alice"]["safety"].stats.as_ref().unwrap().exact, 1.0);
    }

    #[test]
    fn inter_rater_counts_pairs_overall_and_per_rater() {
        let first = vec![
            row("alice", "c0", &[("empathy", 4)]),
            row("bob", "c0", &[("empathy", 4)]),
            row("carol", "c0", &[("empathy", 2)]),
            row("alice", "c1", &[("empathy", 3)]),
            row("bob", "c1", &[]),
        ];
        let table = inter_rater(&scored(&first), &["empathy"]);
        assert_eq!(table[""]["empathy"].n, 3, "alice-bob, alice-carol, bob-carol on c0");
        assert_eq!(table["alice"]["empathy"].n, 2);
        assert_eq!(table["carol"]["empathy"].n, 2);
        assert_eq!(table["bob"]["empathy"].n, 2, "bob's cannot-rate on c1 makes no pair");
    }
}
