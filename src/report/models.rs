//! Who answered: the models, and the data set's own human reply set apart from them.
//!
//! Owns how a reply source is named and ordered everywhere in the report (tables, headlines,
//! figures, examples). A source in neither the closed nor the open group is the data set's own
//! human reply ([`crate::schema::ModelInfo::group`]; the MentalBench release's `original`): it
//! is labelled as such, listed after the models and never ranked among them.

use crate::analysis::Analysis;
use crate::schema::ModelInfo;

/// What the report calls the data set's own human reply.
pub const HUMAN_REPLY: &str = "data set's human reply, not a model";

/// Whether `info` is the data set's own human reply rather than a model.
pub fn is_human_reply(info: &ModelInfo) -> bool {
    info.group.is_none()
}

/// Whether reply source `id` of `analysis` is the data set's own human reply.
pub fn is_human_reply_id(analysis: &Analysis, id: &str) -> bool {
    analysis.models.iter().any(|m| m.id == id && is_human_reply(m))
}

/// The name shown for reply source `id`: the id, marked when it is the data set's human reply.
pub fn label(analysis: &Analysis, id: &str) -> String {
    if is_human_reply_id(analysis, id) {
        format!("{id} ({HUMAN_REPLY})")
    } else {
        id.to_owned()
    }
}

/// The group column of a reply source.
pub fn group(info: &ModelInfo) -> &'static str {
    match info.group {
        Some(crate::analysis::input::ModelGroup::Closed) => "closed",
        Some(crate::analysis::input::ModelGroup::Open) => "open",
        None => "human reply",
    }
}

/// Position of reply source `id` in report order: the models in analysis order, then the data
/// set's human replies; an unknown id last.
pub fn rank(analysis: &Analysis, id: &str) -> (bool, usize) {
    analysis.models.iter().position(|m| m.id == id).map_or((true, usize::MAX), |i| (is_human_reply(&analysis.models[i]), i))
}

/// Sort `items` into report order by the reply source `key` gives.
pub fn sort_by_source<T>(analysis: &Analysis, items: &mut [T], key: impl Fn(&T) -> &str) {
    items.sort_by_key(|item| rank(analysis, key(item)));
}

/// The reply sources in report order.
pub fn ordered(analysis: &Analysis) -> Vec<&ModelInfo> {
    let mut out: Vec<&ModelInfo> = analysis.models.iter().collect();
    out.sort_by_key(|m| rank(analysis, &m.id));
    out
}

/// The shorter name figures use for reply source `id` (axis labels have little room).
pub fn figure_label(analysis: &Analysis, id: &str) -> String {
    if is_human_reply_id(analysis, id) {
        format!("{id} (human reply)")
    } else {
        id.to_owned()
    }
}
