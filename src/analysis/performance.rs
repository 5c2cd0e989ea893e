//! What each model's replies cost to make in a run: speed and peak memory of local models,
//! price of API models, and how many replies failed, from the run's response records and its
//! manifest (peak memory, recorded by `generate` per model).
//!
//! Owns summing the run's own measurements (token counts, wall-clock times, finish reasons)
//! and pricing token counts at `models.toml`'s prices; reads no file (the command layer reads
//! the run through `crate::run::Run`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::estimate_cost;
use crate::registry::{ModelSpec, Registry};
use crate::schema::{FinishReason, ModelKind, ResponseRecord, RunManifest};

/// One model's replies in the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPerformance {
    /// Model id.
    pub model: String,
    /// Local engine or API.
    pub kind: ModelKind,
    /// Replies recorded.
    pub replies: usize,
    /// Replies whose generation failed (`finish_reason: error`).
    pub errors: usize,
    /// Replies the provider withheld or cut for safety.
    pub safety_blocks: usize,
    /// Replies cut at `max_new_tokens`.
    pub truncated: usize,
    /// Throughput as `generate` and `bench` measure it: completion tokens of the successful
    /// replies that report counts, over [`ModelPerformance::wall_s`]; `None` for API models or
    /// without counts.
    pub tokens_per_s: Option<f64>,
    /// Wall-clock seconds the model spent generating: the union of every counted reply's
    /// interval from request to complete reply (`created_at - total_ms` to `created_at`), so
    /// replies that shared a batch count their common time once and the pauses between
    /// invocations of `generate` not at all; `None` where `tokens_per_s` is.
    pub wall_s: Option<f64>,
    /// Per-row latency: the median over counted replies of `total_ms`, the time from request to
    /// complete reply, in seconds (a batched reply waits on its batch); `None` without replies.
    pub median_reply_s: Option<f64>,
    /// Estimated US dollars per 1,000 replies at the registry's prices; `None` for local models,
    /// models the registry does not price, or without token counts.
    pub usd_per_1000_replies: Option<f64>,
    /// Peak resident memory while the model loaded and generated, in bytes, from the run's
    /// manifest; `None` for API models and runs that did not record it.
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Default)]
struct Totals {
    kind: Option<ModelKind>,
    replies: usize,
    errors: usize,
    safety_blocks: usize,
    truncated: usize,
    completion_tokens: u64,
    prompt_tokens: u64,
    counted_replies: usize,
    /// Each counted reply's (start, end) in milliseconds since the Unix epoch.
    intervals: Vec<(f64, f64)>,
    /// Each counted reply's `total_ms`.
    latencies_ms: Vec<f64>,
}

impl Totals {
    fn add(&mut self, record: &ResponseRecord) {
        self.kind = Some(record.kind);
        self.replies += 1;
        match record.finish_reason {
            FinishReason::Error => self.errors += 1,
            FinishReason::SafetyBlock => self.safety_blocks += 1,
            FinishReason::Length => self.truncated += 1,
            FinishReason::Stop => {}
        }
        if let (Some(usage), false) = (record.usage, record.finish_reason == FinishReason::Error) {
            self.completion_tokens += u64::from(usage.completion_tokens);
            self.prompt_tokens += u64::from(usage.prompt_tokens);
            self.counted_replies += 1;
            let end = record.created_at.timestamp_micros() as f64 / 1000.0;
            self.intervals.push((end - record.timings.total_ms, end));
            self.latencies_ms.push(record.timings.total_ms);
        }
    }

    fn finish(mut self, model: String, registry: Option<&Registry>) -> Option<ModelPerformance> {
        let kind = self.kind?;
        let counted = self.counted_replies > 0;
        let wall_ms = union_length(&mut self.intervals);
        let wall_s = (kind == ModelKind::Local && counted && wall_ms > 0.0).then_some(wall_ms / 1000.0);
        let tokens_per_s = wall_s.map(|s| self.completion_tokens as f64 / s);
        let median_reply_s = median(&mut self.latencies_ms).map(|ms| ms / 1000.0);
        let price = registry.and_then(|r| r.get(&model).ok()).and_then(|spec| match spec {
            ModelSpec::Api(api) => Some(api),
            ModelSpec::Local(_) => None,
        });
        let usd_per_1000_replies = price
            .filter(|_| kind == ModelKind::Api && counted)
            .map(|api| estimate_cost(api, self.prompt_tokens, self.completion_tokens) / self.counted_replies as f64 * 1000.0);
        Some(ModelPerformance {
            model,
            kind,
            replies: self.replies,
            errors: self.errors,
            safety_blocks: self.safety_blocks,
            truncated: self.truncated,
            tokens_per_s,
            wall_s,
            median_reply_s,
            usd_per_1000_replies,
            peak_rss_bytes: None,
        })
    }
}

/// Total length of the union of `intervals` (sorted in place).
fn union_length(intervals: &mut [(f64, f64)]) -> f64 {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

/// Median of `values` (sorted in place); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Per model, from a run's response records and, for peak memory, its manifest (when it has
/// one); API prices from `registry` (none without it).
pub fn performance(records: &[ResponseRecord], manifest: Option<&RunManifest>, registry: Option<&Registry>) -> Vec<ModelPerformance> {
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for record in records {
        totals.entry(record.model_id.to_string()).or_default().add(record);
    }
    let peak = |model: &str| manifest?.models.iter().find(|(id, _)| id.as_str() == model)?.1.peak_rss_bytes;
    totals
        .into_iter()
        .filter_map(|(model, t)| t.finish(model, registry))
        .map(|p| ModelPerformance { peak_rss_bytes: (p.kind == ModelKind::Local).then(|| peak(&p.model)).flatten(), ..p })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{TokenSource, TokenUsage};

    /// A reply that finished `end_s` seconds after a fixed instant and took `total_ms`.
    fn finished_at(mut r: ResponseRecord, end_s: i64) -> ResponseRecord {
        r.created_at = "2026-11-25T12:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap() + chrono::Duration::seconds(end_s);
        r
    }

    fn record(kind: ModelKind, finish: FinishReason, completion: u32, total_ms: f64) -> ResponseRecord {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/records/records.json")).unwrap();
        let all: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut r: ResponseRecord = serde_json::from_value(all["response"].clone()).unwrap();
        r.kind = kind;
        r.finish_reason = finish;
        r.usage = Some(TokenUsage { prompt_tokens: 1000, completion_tokens: completion, source: TokenSource::Engine });
        r.timings.total_ms = total_ms;
        r
    }

    #[test]
    fn local_speed_is_tokens_over_wall_time_and_skips_failed_replies() {
        let mut t = Totals::default();
        // One after the other: 100 tokens in 2 s and 300 in 2 s: 400 / 4 = 100 tokens/s; the
        // error is not counted.
        t.add(&finished_at(record(ModelKind::Local, FinishReason::Stop, 100, 2000.0), 2));
        t.add(&finished_at(record(ModelKind::Local, FinishReason::Length, 300, 2000.0), 4));
        t.add(&finished_at(record(ModelKind::Local, FinishReason::Error, 5, 9000.0), 13));
        let p = t.finish("qwen3-4b".into(), None).unwrap();
        assert_eq!((p.replies, p.errors, p.truncated), (3, 1, 1));
        assert_eq!((p.tokens_per_s, p.wall_s, p.median_reply_s), (Some(100.0), Some(4.0), Some(2.0)));
        assert_eq!(p.usd_per_1000_replies, None);
    }

    #[test]
    fn a_batch_counts_its_time_once_and_pauses_between_invocations_not_at_all() {
        let mut t = Totals::default();
        // A batch of four: each reply reports the batch's 4 s. Summed per reply that is 16 s
        // (and 400 / 16 = 25 tokens/s); the wall clock saw 4 s, so 100 tokens/s.
        for _ in 0..4 {
            t.add(&finished_at(record(ModelKind::Local, FinishReason::Stop, 100, 4000.0), 4));
        }
        // Resumed an hour later: a batch of two, 200 tokens in 2 s.
        for _ in 0..2 {
            t.add(&finished_at(record(ModelKind::Local, FinishReason::Stop, 100, 2000.0), 3600));
        }
        let p = t.finish("qwen3-4b".into(), None).unwrap();
        assert_eq!(p.wall_s, Some(6.0));
        assert_eq!(p.tokens_per_s, Some(100.0));
        assert_eq!(p.median_reply_s, Some(4.0), "per-row latency stays per row");
    }

    #[test]
    fn union_of_overlapping_and_disjoint_intervals() {
        assert_eq!(union_length(&mut [(5.0, 7.0), (0.0, 2.0), (1.0, 3.0), (7.0, 8.0)]), 6.0);
        assert_eq!(union_length(&mut []), 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }

    #[test]
    fn api_price_follows_the_registry() {
        let registry = Registry::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models.toml"))).unwrap();
        let mut t = Totals::default();
        t.add(&record(ModelKind::Api, FinishReason::Stop, 500, 3000.0));
        let p = t.finish("gpt-4o".into(), Some(&registry)).unwrap();
        // gpt-4o: 1000 in at 2.50/M + 500 out at 10.00/M = 0.0025 + 0.005 = 0.0075 USD a reply.
        assert!((p.usd_per_1000_replies.unwrap() - 7.5).abs() < 1e-9);
        assert_eq!(p.tokens_per_s, None);
    }
}
