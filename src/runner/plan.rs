//! `generate --dry-run`: what a run would do and cost, before it spends anything.
//!
//! Prompt tokens are estimated at four characters a token (labelled as an estimate; the real
//! counts depend on each tokenizer), completion tokens at the `max_new_tokens` ceiling, so the
//! API cost shown is an upper bound for completions.

use serde::Serialize;

use crate::registry::ModelSpec;
use crate::schema::Conversation;

use super::Prompt;

/// Characters per token used for the estimate.
pub const CHARS_PER_TOKEN: f64 = 4.0;

/// The plan for one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelPlan {
    /// Model id.
    pub model_id: String,
    /// `local` or `api`.
    pub kind: String,
    /// Requests still to make (pending conversations).
    pub requests: usize,
    /// Estimated prompt tokens over all requests.
    pub prompt_tokens_estimate: u64,
    /// Completion tokens at most (`requests x max_new_tokens`).
    pub completion_tokens_max: u64,
    /// USD for API models at the registry's prices (prompt estimate + completion ceiling).
    pub cost_usd_max: Option<f64>,
}

/// Plan `spec` over `pending` conversations.
pub fn plan_model(spec: &ModelSpec, prompt: &Prompt, pending: &[&Conversation], max_new_tokens: u32) -> ModelPlan {
    let prompt_chars: usize = pending
        .iter()
        .map(|c| prompt.messages(c).iter().map(|m| m.content.chars().count()).sum::<usize>())
        .sum();
    let prompt_tokens = (prompt_chars as f64 / CHARS_PER_TOKEN).ceil() as u64;
    let completion_tokens = pending.len() as u64 * u64::from(max_new_tokens);
    let cost = match spec {
        ModelSpec::Api(api) => Some(
            prompt_tokens as f64 / 1e6 * api.price_input_per_mtok
                + completion_tokens as f64 / 1e6 * api.price_output_per_mtok,
        ),
        ModelSpec::Local(_) => None,
    };
    ModelPlan {
        model_id: spec.id().to_string(),
        kind: format!("{:?}", spec.kind()).to_lowercase(),
        requests: pending.len(),
        prompt_tokens_estimate: prompt_tokens,
        completion_tokens_max: completion_tokens,
        cost_usd_max: cost,
    }
}

/// The plan as a table.
pub fn render(plans: &[ModelPlan]) -> String {
    let mut out = format!(
        "{:<30} {:>5} {:>9} {:>16} {:>16} {:>12}\n",
        "MODEL", "KIND", "REQUESTS", "PROMPT_TOK(est)", "COMPLETION(max)", "COST_USD(max)"
    );
    for p in plans {
        let cost = p.cost_usd_max.map_or_else(|| "-".to_owned(), |c| crate::api::format_usd(c, 4));
        out.push_str(&format!(
            "{:<30} {:>5} {:>9} {:>16} {:>16} {:>12}\n",
            p.model_id, p.kind, p.requests, p.prompt_tokens_estimate, p.completion_tokens_max, cost
        ));
    }
    let total: f64 = plans.iter().filter_map(|p| p.cost_usd_max).sum();
    out.push_str(&format!("API cost at most: {} USD (prompt tokens estimated at {CHARS_PER_TOKEN} chars/token)\n", crate::api::format_usd(total, 4)));
    out
}
