//! Composite means per model within each source data set and each topic of the conversations,
//! so a reader can see whether a model's standing holds across the kinds of conversation.
//!
//! Owns the grouping of conversations by their labels (a run's `conversations.jsonl` carries
//! `source` and, for CounselChat, `topic`); the means and their percentile bootstrap CIs
//! (resampling the group's conversations) are those of `composite`. The MentalBench release does
//! not label its contexts, so it has no breakdown.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::bootstrap::{Bootstrap, BootstrapCi};
use super::composite::{self, CompositeDef};
use super::descriptive::mean_of_drawn;
use super::input::{self, PanelScores, RatingTable};
use crate::schema::Conversation;

/// What a conversation is labelled with, for grouping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationLabels {
    /// The data set it came from.
    pub source: Option<String>,
    /// Its topic, where the source has one.
    pub topic: Option<String>,
}

/// The label of conversations without a topic.
pub const NO_TOPIC: &str = "(no topic)";

/// Labels by conversation id, from a run's conversations.
pub fn labels(conversations: &[Conversation]) -> HashMap<String, ConversationLabels> {
    conversations
        .iter()
        .map(|c| (c.id.to_string(), ConversationLabels { source: Some(c.source.to_string()), topic: c.topic.clone() }))
        .collect()
}

/// One composite's mean in one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupComposite {
    /// Short name (`CSS`).
    pub composite: String,
    /// Replies with a complete composite in the group.
    pub n: usize,
    /// Mean; null when no reply has one.
    pub mean: Option<f64>,
    /// Bootstrap 95% CI over the group's conversations.
    pub mean_ci: Option<BootstrapCi>,
}

/// One model's composites in one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupModel {
    /// Model id.
    pub model: String,
    /// One per composite, rubric order.
    pub composites: Vec<GroupComposite>,
}

/// One group (a source or a topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The source or topic label.
    pub label: String,
    /// Conversations in the group.
    pub conversations: usize,
    /// Per model.
    pub models: Vec<GroupModel>,
}

/// Composite means by one kind of label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// `source` or `topic`.
    pub by: String,
    /// Groups in label order.
    pub groups: Vec<Group>,
}

/// Every breakdown of one panel's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelBreakdowns {
    /// Panel id (`human` or the judge's rater id).
    pub panel: String,
    /// By source, then by topic (each only when some conversation carries that label).
    pub breakdowns: Vec<Breakdown>,
}

/// Breakdowns of every panel of `table` by the `labels` of its conversations; empty when no
/// conversation is labelled.
pub fn breakdowns(table: &RatingTable, labels: &HashMap<String, ConversationLabels>, defs: &[CompositeDef], bootstrap: Bootstrap) -> Vec<PanelBreakdowns> {
    let label_of = |c: &str, by: &str| -> Option<String> {
        let l = labels.get(c)?;
        match by {
            "source" => l.source.clone(),
            _ => Some(l.topic.clone().unwrap_or_else(|| NO_TOPIC.to_owned())),
        }
    };
    let mut kinds: Vec<(&str, BTreeMap<String, Vec<usize>>)> = Vec::new();
    for by in ["source", "topic"] {
        let labelled = match by {
            "source" => table.conversations.iter().any(|c| labels.get(c).is_some_and(|l| l.source.is_some())),
            _ => table.conversations.iter().any(|c| labels.get(c).is_some_and(|l| l.topic.is_some())),
        };
        if !labelled {
            continue;
        }
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, c) in table.conversations.iter().enumerate() {
            if let Some(label) = label_of(c, by) {
                groups.entry(label).or_default().push(i);
            }
        }
        kinds.push((by, groups));
    }
    if kinds.is_empty() {
        return Vec::new();
    }
    input::panels(table)
        .into_iter()
        .map(|(panel, members)| {
            let scores = PanelScores::new(table, panel, &members);
            let breakdowns = kinds
                .iter()
                .map(|(by, groups)| Breakdown {
                    by: (*by).to_owned(),
                    groups: groups.iter().map(|(label, members)| group(table, &scores, defs, label, members, bootstrap)).collect(),
                })
                .collect();
            PanelBreakdowns { panel: scores.panel.id.clone(), breakdowns }
        })
        .collect()
}

fn group(table: &RatingTable, scores: &PanelScores, defs: &[CompositeDef], label: &str, conversations: &[usize], bootstrap: Bootstrap) -> Group {
    let models = table
        .models
        .iter()
        .enumerate()
        .map(|(m, model)| GroupModel {
            model: model.id.clone(),
            composites: defs
                .iter()
                .map(|def| {
                    let all = composite::per_conversation(scores, def, m);
                    let values: Vec<Option<f64>> = conversations.iter().map(|&c| all.get(c).copied().flatten()).collect();
                    let present: Vec<f64> = values.iter().flatten().copied().collect();
                    GroupComposite {
                        composite: def.short.clone(),
                        n: present.len(),
                        mean: super::basic::mean(&present),
                        mean_ci: bootstrap.ci(values.len(), |drawn| mean_of_drawn(&values, drawn)),
                    }
                })
                .collect(),
        })
        .collect();
    Group { label: label.to_owned(), conversations: conversations.len(), models }
}
