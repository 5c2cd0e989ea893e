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
    /// Completion tokens per second of wall-clock time, summed over the successful replies
    /// that report token counts; `None` for API models or without counts.
    pub tokens_per_s: Option<f64>,
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
    counted_ms: f64,
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
            self.counted_ms += record.timings.total_ms;
        }
    }

    fn finish(self, model: String, registry: Option<&Registry>) -> Option<ModelPerformance> {
        let kind = self.kind?;
        let counted = self.counted_replies > 0;
        let tokens_per_s = (kind == ModelKind::Local && counted && self.counted_ms > 0.0).then(|| self.completion_tokens as f64 / (self.counted_ms / 1000.0));
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
            usd_per_1000_replies,
            peak_rss_bytes: None,
        })
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
    fn local_speed_sums_tokens_over_time_and_skips_failed_replies() {
        let mut t = Totals::default();
        // 100 tokens in 2 s and 300 in 2 s: 400 / 4 = 100 tokens/s; the error is not counted.
        t.add(&record(ModelKind::Local, FinishReason::Stop, 100, 2000.0));
        t.add(&record(ModelKind::Local, FinishReason::Length, 300, 2000.0));
        t.add(&record(ModelKind::Local, FinishReason::Error, 5, 9000.0));
        let p = t.finish("qwen3-4b".into(), None).unwrap();
        assert_eq!((p.replies, p.errors, p.truncated), (3, 1, 1));
        assert_eq!(p.tokens_per_s, Some(100.0));
        assert_eq!(p.usd_per_1000_replies, None);
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
