//! API models behind the shared [`Generator`] trait: OpenAI, Anthropic, Google Gemini and any
//! OpenAI-compatible server (vLLM, TGI, llama.cpp server, Ollama).
//!
//! One file per provider owns that provider's JSON (`openai.rs` also serves the compatible
//! servers, which differ only in base URL, key and token-cap name); `client.rs` sends one
//! attempt; `retry.rs` decides about the next; `limits.rs` paces requests and tokens per
//! minute; `key.rs` keeps the key unprintable. This file builds an [`ApiGenerator`] from a
//! registry entry and answers a batch concurrently, one reply per request, in order. It sits
//! between `registry` (what to call) and `runner` (which writes the records); provider JSON
//! never leaves this module.

mod anthropic;
mod client;
mod google;
mod key;
mod limits;
mod openai;
mod retry;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use key::ApiKey;

use client::{header_text, HttpClient, HttpResponse, WireCall};
use limits::RateLimits;
use retry::{Outcome, RetryPolicy};

use crate::registry::{ApiModel, Provider};
use crate::schema::{
    FatalGeneratorError, FinishReason, GenerationReply, GenerationRequest, Generator, GeneratorInfo,
    ModelId, ModelKind, Timings, TokenUsage,
};

/// What a provider said, in the shared vocabulary, before timings are added.
struct ProviderReply {
    text: String,
    finish_reason: FinishReason,
    /// Why, when `finish_reason` is `Error`.
    finish_detail: Option<String>,
    usage: Option<TokenUsage>,
    model_version: Option<String>,
    /// The response's own id (`chatcmpl-...`, `msg_...`, Gemini's `responseId`).
    response_id: Option<String>,
}

/// One provider's wire format: how to phrase a request and read a success body.
trait Wire: Send + Sync {
    /// The HTTP call for `request`.
    fn call(&self, request: &GenerationRequest) -> Result<WireCall, String>;

    /// Read a 2xx body; the error says what was wrong with it (malformed JSON, wrong shape).
    fn parse(&self, body: &[u8]) -> Result<ProviderReply, String>;

    /// Whether an error answer means no request of this model can succeed: the key was
    /// refused, or the account has no quota left.
    fn account_refusal(&self, status: u16, _body: &[u8]) -> Option<AccountRefusal> {
        matches!(status, 401 | 403).then_some(AccountRefusal::KeyRefused)
    }
}

/// Why a provider will answer no request of a model, whatever the retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccountRefusal {
    /// 401/403, or a provider's own way of saying the key is invalid.
    KeyRefused,
    /// The account has no credit (OpenAI's 429 `insufficient_quota`).
    OutOfQuota,
}

/// The `error.code` (OpenAI) or `error.details[].reason` (Google) values in an error body.
fn error_codes(body: &[u8]) -> Vec<String> {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else { return Vec::new() };
    let code = json.pointer("/error/code").and_then(serde_json::Value::as_str).map(str::to_owned);
    let reasons = json
        .pointer("/error/details")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("reason").and_then(serde_json::Value::as_str).map(str::to_owned));
    code.into_iter().chain(reasons).collect()
}

/// Headers that carry a provider's request id: OpenAI `x-request-id`, Anthropic `request-id`.
const REQUEST_ID_HEADERS: &[&str] = &["x-request-id", "request-id", "x-goog-request-id"];

/// Why an [`ApiGenerator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The key variable is unset or empty.
    #[error("{provider}: environment variable {var} is not set; export the key of model `{model_id}` in {var}")]
    MissingKey {
        /// Provider of the model.
        provider: Provider,
        /// The variable `models.toml` names.
        var: String,
        /// The model.
        model_id: ModelId,
    },
    /// The registry entry or the machine cannot support calls (bad base URL, no TLS).
    #[error("{provider}: model `{model_id}`: {what}")]
    Setup {
        /// Provider of the model.
        provider: Provider,
        /// The model.
        model_id: ModelId,
        /// What is wrong.
        what: String,
    },
}

impl From<ApiError> for FatalGeneratorError {
    fn from(error: ApiError) -> Self {
        FatalGeneratorError(error.to_string())
    }
}

/// Everything the concurrent requests of one model share.
struct Shared {
    provider: Provider,
    model_id: ModelId,
    key_env: String,
    key: Option<ApiKey>,
    wire: Box<dyn Wire>,
    client: HttpClient,
    retry: RetryPolicy,
    limits: RateLimits,
    /// One permit per request allowed in flight (`max_concurrency`).
    slots: Semaphore,
}

impl Shared {
    /// `text` with the key, should a server have echoed it, replaced.
    fn scrub(&self, text: &str) -> String {
        self.key.as_ref().map_or_else(|| text.to_owned(), |key| key.scrub(text))
    }

    /// A failed reply whose message names the provider.
    fn failed(&self, message: &str, started: Instant) -> GenerationReply {
        let message = self.scrub(&format!("{}: {message}", self.provider));
        tracing::warn!(model = %self.model_id, "{message}");
        GenerationReply::failed(message, String::new(), timings(started.elapsed()))
    }
}

/// A hosted model answering through its provider's HTTP API.
///
/// Owns a single-threaded tokio runtime: `generate` blocks the caller while the batch runs
/// concurrently (at most `max_concurrency` in flight, paced by the model's rate budgets).
pub struct ApiGenerator {
    shared: Arc<Shared>,
    max_concurrency: usize,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for ApiGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiGenerator")
            .field("model_id", &self.shared.model_id)
            .field("provider", &self.shared.provider)
            .field("key_env", &self.shared.key_env)
            .field("key", &self.shared.key)
            .field("max_concurrency", &self.max_concurrency)
            .field("retry", &self.shared.retry)
            .finish_non_exhaustive()
    }
}

impl ApiGenerator {
    /// A generator for `model`, its key read from the variable `model.api_key_env` names.
    /// OpenAI-compatible servers may run without a key; the others may not.
    ///
    /// # Errors
    /// [`ApiError::MissingKey`] naming the variable; [`ApiError::Setup`] for a bad base URL or
    /// a machine that cannot start the HTTP client.
    pub fn new(model: &ApiModel) -> Result<Self, ApiError> {
        let key = ApiKey::from_env(&model.api_key_env);
        let setup = |what: String| ApiError::Setup { provider: model.provider, model_id: model.id.clone(), what };
        let wire = build_wire(model, key.as_ref())?;
        let client = HttpClient::new(Duration::from_secs_f64(model.limits.timeout_s)).map_err(setup)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup(format!("cannot start the async runtime: {e}")))?;
        let max_concurrency = model.max_concurrency.max(1);
        let shared = Shared {
            provider: model.provider,
            model_id: model.id.clone(),
            key_env: model.api_key_env.clone(),
            key,
            wire,
            client,
            retry: RetryPolicy::from_limits(&model.limits),
            limits: RateLimits::new(&model.limits),
            slots: Semaphore::new(max_concurrency),
        };
        Ok(Self { shared: Arc::new(shared), max_concurrency, runtime })
    }
}

/// The wire for `model`'s provider.
fn build_wire(model: &ApiModel, key: Option<&ApiKey>) -> Result<Box<dyn Wire>, ApiError> {
    let base = |default: &'static str| model.base_url.clone().unwrap_or_else(|| default.to_owned());
    let required_key = || {
        key.ok_or_else(|| ApiError::MissingKey {
            provider: model.provider,
            var: model.api_key_env.clone(),
            model_id: model.id.clone(),
        })
    };
    let name = &model.model;
    let wire = match model.provider {
        Provider::Openai => {
            let base = base(openai::OPENAI_BASE_URL);
            openai::ChatCompletions::new(&base, name, Some(required_key()?), openai::Flavor::Openai).map(boxed)
        }
        Provider::OpenaiCompatible => match &model.base_url {
            Some(url) => openai::ChatCompletions::new(url, name, key, openai::Flavor::Compatible).map(boxed),
            None => Err("base_url is required for provider `openai_compatible`".to_owned()),
        },
        Provider::Anthropic => {
            anthropic::Messages::new(&base(anthropic::ANTHROPIC_BASE_URL), name, required_key()?).map(boxed)
        }
        Provider::Google => {
            google::GenerateContent::new(&base(google::GOOGLE_BASE_URL), name, required_key()?).map(boxed)
        }
    };
    wire.map_err(|what| ApiError::Setup { provider: model.provider, model_id: model.id.clone(), what })
}

fn boxed<W: Wire + 'static>(wire: W) -> Box<dyn Wire> {
    Box::new(wire)
}

impl Generator for ApiGenerator {
    fn info(&self) -> GeneratorInfo {
        GeneratorInfo {
            model_id: self.shared.model_id.clone(),
            provider: self.shared.provider.to_string(),
            kind: ModelKind::Api,
            device: "api".to_owned(),
        }
    }

    /// A few windows of concurrent calls, so slow replies overlap with the next ones.
    fn preferred_batch_size(&self) -> usize {
        self.max_concurrency.saturating_mul(4)
    }

    fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationReply>, FatalGeneratorError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(FatalGeneratorError(format!(
                "{}: ApiGenerator::generate was called inside an async runtime; call it from a \
                 blocking thread (tokio::task::spawn_blocking)",
                self.shared.provider
            )));
        }
        self.runtime.block_on(answer_all(Arc::clone(&self.shared), requests.to_vec()))
    }
}

/// Answer every request concurrently; stop everything on the first bad-key answer.
async fn answer_all(
    shared: Arc<Shared>,
    requests: Vec<GenerationRequest>,
) -> Result<Vec<GenerationReply>, FatalGeneratorError> {
    let count = requests.len();
    let mut tasks = JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            let Ok(_slot) = shared.slots.acquire().await else {
                let message = format!("{}: model `{}` stopped after its key was refused", shared.provider, shared.model_id);
                return (index, Err(FatalGeneratorError(message)));
            };
            (index, answer(&shared, &request).await)
        });
    }
    let mut replies: Vec<Option<GenerationReply>> = vec![None; count];
    while let Some(joined) = tasks.join_next().await {
        let (index, reply) =
            joined.map_err(|e| FatalGeneratorError(format!("{}: a request task failed: {e}", shared.provider)))?;
        // Dropping `tasks` on a fatal error aborts the requests still running.
        let reply = reply?;
        if let Some(slot) = replies.get_mut(index) {
            *slot = Some(reply);
        }
    }
    replies
        .into_iter()
        .map(|r| r.ok_or_else(|| FatalGeneratorError(format!("{}: a request got no reply", shared.provider))))
        .collect()
}

/// One request, retried as its faults allow.
async fn answer(shared: &Shared, request: &GenerationRequest) -> Result<GenerationReply, FatalGeneratorError> {
    let started = Instant::now();
    let call = match shared.wire.call(request) {
        Ok(call) => call,
        Err(e) => return Ok(shared.failed(&format!("cannot build the request: {e}"), started)),
    };
    let max_body = max_body_bytes(request.params.max_new_tokens);
    match retry::send_with_retries(shared, &call, estimated_tokens(request), max_body).await {
        Outcome::Answered { response, attempts } => Ok(read_answer(shared, response, attempts, started)),
        Outcome::Rejected { status, detail } => {
            Ok(shared.failed(&format!("HTTP {status}, not retried (1 attempt): {detail}"), started))
        }
        Outcome::GaveUp { last, attempts } => {
            Ok(shared.failed(&format!("gave up after {attempts} attempts; last: {last}"), started))
        }
        Outcome::AccountRefused { status, detail, why } => {
            // Requests still waiting for a slot must not spend another refused call.
            shared.slots.close();
            let (provider, var, id) = (shared.provider, &shared.key_env, &shared.model_id);
            let message = match why {
                AccountRefusal::KeyRefused => {
                    format!("{provider}: HTTP {status}: the key in {var} was refused for model `{id}` ({detail}); check {var}")
                }
                AccountRefusal::OutOfQuota => format!(
                    "{provider}: HTTP {status}: the account of the key in {var} has no quota left for model `{id}` \
                     ({detail}); add credit or set another key in {var}"
                ),
            };
            Err(FatalGeneratorError(shared.scrub(&message)))
        }
    }
}

/// Turn a 2xx response into a reply; a body that cannot be read is an error reply.
fn read_answer(shared: &Shared, response: HttpResponse, attempts: u32, started: Instant) -> GenerationReply {
    let request_id = header_text(&response.headers, REQUEST_ID_HEADERS);
    let status = response.status.as_u16();
    let parsed = match shared.wire.parse(&response.body) {
        Ok(parsed) => parsed,
        Err(e) => {
            let mut reply = shared.failed(&format!("HTTP {status} after {attempts} attempt(s): {e}"), started);
            reply.request_id = request_id;
            return reply;
        }
    };
    if parsed.finish_reason == FinishReason::SafetyBlock {
        tracing::info!(model = %shared.model_id, "{}: reply withheld for safety", shared.provider);
    }
    let parsed = without_empty_text(parsed);
    GenerationReply {
        text: parsed.text,
        raw_text: None,
        finish_reason: parsed.finish_reason,
        usage: parsed.usage,
        timings: timings(response.elapsed),
        batch_size: 1,
        provider_model_version: parsed.model_version,
        request_id: request_id.or(parsed.response_id),
        error: parsed.finish_detail.map(|d| shared.scrub(&format!("{}: {d}", shared.provider))),
    }
}

/// A reply that claims to have ended (stop or length) but carries no text is a failure, not
/// an empty answer to rate; the provider's own reason (a null content) is kept when it gave one.
fn without_empty_text(mut reply: ProviderReply) -> ProviderReply {
    let claims_text = matches!(reply.finish_reason, FinishReason::Stop | FinishReason::Length);
    if claims_text && reply.text.trim().is_empty() {
        let ended = if reply.finish_reason == FinishReason::Stop { "stop" } else { "length" };
        reply.finish_detail = Some(format!("the reply has no text (finish reason {ended}, {} bytes of text)", reply.text.len()));
        reply.finish_reason = FinishReason::Error;
    }
    reply
}

/// Room in a response body for everything but the reply text: ids, usage, safety ratings.
const BODY_ENVELOPE_BYTES: usize = 64 * 1024;

/// Body bytes allowed per requested token: a token is at most a few characters, and JSON may
/// escape each as `\uXXXX` (6 bytes) twice over for surrogate pairs, so 64 is generous.
const BODY_BYTES_PER_TOKEN: usize = 64;

/// No body is read beyond this, whatever `max_new_tokens` says.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The largest response body a request for `max_new_tokens` tokens may plausibly produce.
pub fn max_body_bytes(max_new_tokens: u32) -> usize {
    let tokens = usize::try_from(max_new_tokens).unwrap_or(usize::MAX);
    tokens.saturating_mul(BODY_BYTES_PER_TOKEN).saturating_add(BODY_ENVELOPE_BYTES).min(MAX_BODY_BYTES)
}

/// Latency of the answering attempt (or of all attempts, for failures); no streaming, so no
/// time to first token.
fn timings(elapsed: Duration) -> Timings {
    Timings { total_ms: elapsed.as_secs_f64() * 1000.0, ..Timings::default() }
}

/// Tokens a request reserves against a tokens-per-minute budget: prompt characters / 4 (the
/// providers' rule of thumb) plus the completion cap.
fn estimated_tokens(request: &GenerationRequest) -> u32 {
    let chars: usize = request.messages.iter().map(|m| m.content.chars().count()).sum();
    u32::try_from(chars / 4).unwrap_or(u32::MAX).saturating_add(request.params.max_new_tokens)
}

/// Expected cost in USD of `prompt_tokens` in and `completion_tokens` out, at the prices
/// `models.toml` lists (USD per million tokens); what `generate --dry-run` reports.
pub fn estimate_cost(model: &ApiModel, prompt_tokens: u64, completion_tokens: u64) -> f64 {
    // Token counts stay far below 2^53, so the conversions are exact.
    (prompt_tokens as f64 * model.price_input_per_mtok + completion_tokens as f64 * model.price_output_per_mtok)
        / 1_000_000.0
}

/// `amount` USD with `decimals` places; an empty sum (`-0.0` in IEEE arithmetic) prints as
/// `0.0000`, never `-0.0000`.
pub fn format_usd(amount: f64, decimals: usize) -> String {
    // Adding +0.0 turns -0.0 into +0.0 and leaves every other value as it is.
    format!("{:.*}", decimals, amount + 0.0)
}

/// `top_p` when it restricts sampling; 1 (off) is left out, since newer Anthropic models refuse
/// `temperature` and `top_p` together.
fn top_p_if_on(top_p: Option<f64>) -> Option<f64> {
    top_p.filter(|p| *p < 1.0)
}

fn to_json<T: Serialize>(body: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(body).map_err(|e| format!("cannot encode the request: {e}"))
}

/// Parse a success body, naming the path of a field of the wrong shape.
fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            format!("malformed JSON body ({} bytes): {inner}", body.len())
        } else {
            format!("unexpected response shape at `{}`: {inner}", e.path())
        }
    })?;
    // One JSON value and nothing after it: a second body glued on is not an answer.
    deserializer.end().map_err(|e| format!("malformed JSON body ({} bytes): {e}", body.len()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_of_gpt_4o_follows_its_prices() {
        let registry = crate::registry::Registry::load(std::path::Path::new("models.toml")).unwrap();
        let Ok(crate::registry::ModelSpec::Api(gpt4o)) = registry.get("gpt-4o") else { panic!("gpt-4o is an API model") };
        // 1M prompt tokens at $2.50 plus 0.5M completion tokens at $10.00 = 2.50 + 5.00.
        let cost = estimate_cost(gpt4o, 1_000_000, 500_000);
        assert!((cost - 7.5).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn an_empty_cost_sum_is_plain_zero() {
        let empty: f64 = std::iter::empty::<f64>().sum();
        assert_eq!(format_usd(empty, 4), "0.0000");
        assert_eq!(format_usd(1.23456, 4), "1.2346");
    }

    #[test]
    fn token_estimate_adds_the_completion_cap() {
        let request = GenerationRequest {
            conversation_id: "sample:1".into(),
            messages: vec![crate::schema::ChatMessage { role: crate::schema::Role::User, content: "x".repeat(400) }],
            params: crate::registry::Registry::load(std::path::Path::new("models.toml")).unwrap().defaults.params(),
        };
        assert_eq!(estimated_tokens(&request), 100 + 512);
    }
}
