//! API adapters against in-process fakes of each provider (issue #4).
//!
//! Every test starts a fake server speaking one provider's exact wire format (see `fake.rs`
//! and the provider files), points an `ApiGenerator` at it through `base_url`, and asserts the
//! replies, the server-side attempt counts, and that the key appears nowhere: not in replies,
//! errors, `Debug` output or the tracing lines captured during the run. Timing assertions are
//! lower bounds only (a `Retry-After` was waited at least that long).

pub(crate) mod anthropic;
pub(crate) mod fake;
pub(crate) mod google;
pub(crate) mod openai;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mhbench::api::{estimate_cost, ApiError, ApiGenerator};
use mhbench::registry::{ApiLimits, ApiModel, Provider};
use mhbench::schema::{
    ChatMessage, ConversationId, FatalGeneratorError, FinishReason, GenerationParams, GenerationReply,
    GenerationRequest, Generator, ModelId, Role, TokenSource,
};
use rand::{Rng, SeedableRng};

use anthropic::AnthropicFake;
use super::common;
use fake::{scripted, FakeServer};
use google::GoogleFake;
use openai::OpenaiFake;

/// Which provider a fake speaks as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Openai,
    Compatible,
    Anthropic,
    Google,
}

const ALL: [Kind; 4] = [Kind::Openai, Kind::Compatible, Kind::Anthropic, Kind::Google];

/// A fake server and a model entry pointing at it, its key exported in a variable of its own.
struct Setup {
    server: FakeServer,
    model: ApiModel,
    key: String,
}

/// Limits that make fault tests take milliseconds: tiny backoff, 3 retries, 2 s timeout.
fn fast_limits() -> ApiLimits {
    ApiLimits { timeout_s: 2.0, max_retries: 3, backoff_base_ms: 1, backoff_max_ms: 20, ..ApiLimits::default() }
}

fn setup(kind: Kind, test: &str) -> Setup {
    let key = format!("sk-{test}-{:016x}", rand::random::<u64>());
    let var = format!("MHBENCH_TEST_{test}_{kind:?}_KEY").to_uppercase().replace('-', "_");
    // Each test uses its own variable, so tests running in parallel never race on one.
    std::env::set_var(&var, &key);
    let (server, provider) = match kind {
        Kind::Openai => (FakeServer::start(OpenaiFake { key: Some(key.clone()), compatible: false }), Provider::Openai),
        Kind::Compatible => {
            (FakeServer::start(OpenaiFake { key: Some(key.clone()), compatible: true }), Provider::OpenaiCompatible)
        }
        Kind::Anthropic => (FakeServer::start(AnthropicFake { key: key.clone() }), Provider::Anthropic),
        Kind::Google => (FakeServer::start(GoogleFake { key: key.clone() }), Provider::Google),
    };
    let base_url = match kind {
        Kind::Openai | Kind::Compatible => format!("{}/v1", server.origin),
        Kind::Anthropic | Kind::Google => server.origin.clone(),
    };
    let model = ApiModel {
        vendor: "test".to_owned(),
        id: ModelId(format!("fake-{kind:?}").to_lowercase()),
        family: "Fake".to_owned(),
        provider,
        model: "fake-model-1".to_owned(),
        api_key_env: var,
        base_url: Some(base_url),
        price_input_per_mtok: 1.0,
        price_output_per_mtok: 2.0,
        max_concurrency: 4,
        limits: fast_limits(),
    };
    Setup { server, model, key }
}

fn request(tag: &str, faults: &str) -> GenerationRequest {
    GenerationRequest {
        conversation_id: ConversationId(format!("sample:{tag}")),
        messages: vec![
            ChatMessage { role: Role::System, content: "You are a supportive counsellor.".to_owned() },
            ChatMessage { role: Role::User, content: scripted(tag, faults) },
        ],
        params: GenerationParams {
            temperature: 0.7,
            top_p: Some(1.0),
            top_k: None,
            repetition_penalty: None,
            max_new_tokens: 64,
            seed: 2026,
        },
    }
}

/// What one `generate` call produced, and everything it printed.
struct Run {
    result: Result<Vec<GenerationReply>, FatalGeneratorError>,
    /// Tracing output at TRACE level, captured from the generating thread.
    logs: String,
    /// `Debug` of the generator, the result and the error's `Display`.
    printed: String,
    elapsed: Duration,
}

impl Run {
    fn replies(&self) -> &[GenerationReply] {
        match &self.result {
            Ok(replies) => replies,
            Err(e) => panic!("generate failed: {e}"),
        }
    }

    /// Fail if `key` shows anywhere this run produced.
    fn assert_no_leak(&self, key: &str) {
        let everything = format!("{}\n{}", self.logs, self.printed);
        assert!(!everything.contains(key), "the key leaked:\n{everything}");
    }
}

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Build a generator for `model` and run `requests`, capturing logs.
fn run(model: &ApiModel, requests: &[GenerationRequest]) -> Run {
    let buffer = LogBuffer(Arc::new(Mutex::new(Vec::new())));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let started = Instant::now();
    let (result, printed) = tracing::subscriber::with_default(subscriber, || {
        let mut generator = ApiGenerator::new(model).unwrap_or_else(|e| panic!("generator: {e}"));
        let result = generator.generate(requests);
        let error = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
        let printed = format!("{generator:?}\n{result:?}\n{error}");
        (result, printed)
    });
    let elapsed = started.elapsed();
    let logs = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    Run { result, logs, printed, elapsed }
}

fn error_of(reply: &GenerationReply) -> &str {
    assert_eq!(reply.finish_reason, FinishReason::Error, "expected an error reply: {reply:?}");
    reply.error.as_deref().unwrap_or_default()
}

#[test]
fn every_provider_answers_in_order_with_usage_version_and_request_id() {
    for kind in ALL {
        let s = setup(kind, "answers");
        let requests: Vec<_> = (0..5).map(|i| request(&format!("conv-{i}"), "ok")).collect();
        let run = run(&s.model, &requests);
        let replies = run.replies();
        assert_eq!(replies.len(), 5, "{kind:?}");
        for (i, reply) in replies.iter().enumerate() {
            assert_eq!(reply.text, format!("Reply to: {}", scripted(&format!("conv-{i}"), "ok")), "{kind:?}");
            assert_eq!(reply.finish_reason, FinishReason::Stop, "{kind:?}");
            let usage = reply.usage.unwrap_or_else(|| panic!("{kind:?}: no usage"));
            assert_eq!(usage.source, TokenSource::Api);
            assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0, "{kind:?}: {usage:?}");
            assert!(reply.provider_model_version.is_some(), "{kind:?}: no model version");
            assert!(reply.request_id.as_deref().is_some_and(|id| !id.is_empty()), "{kind:?}: no request id");
            assert!(reply.timings.total_ms > 0.0);
            assert_eq!(reply.error, None);
        }
        assert_eq!(s.server.requests(), 5, "{kind:?}: one attempt each");
        run.assert_no_leak(&s.key);
    }
}

#[test]
fn usage_and_version_are_the_providers_own() {
    let expected = [
        (Kind::Openai, (31, 7), "gpt-4o-2024-08-06"),
        (Kind::Anthropic, (29, 9), "claude-3-5-haiku-20241022"),
        (Kind::Google, (27, 8), "gemini-2.0-flash-001"),
    ];
    for (kind, (prompt, completion), version) in expected {
        let s = setup(kind, "usage");
        let run = run(&s.model, &[request("conv-u", "ok")]);
        let reply = &run.replies()[0];
        let usage = reply.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (prompt, completion), "{kind:?}");
        assert_eq!(reply.provider_model_version.as_deref(), Some(version), "{kind:?}");
    }
}

#[test]
fn safety_blocks_are_recorded_as_safety_blocks_never_an_empty_stop() {
    for kind in ALL {
        let s = setup(kind, "safety");
        let mut requests = vec![request("conv-safety", "safety")];
        if kind == Kind::Google {
            requests.push(request("conv-blocked", "blocked"));
            requests.push(request("conv-recitation", "recitation"));
        }
        let run = run(&s.model, &requests);
        for reply in run.replies() {
            assert_eq!(reply.finish_reason, FinishReason::SafetyBlock, "{kind:?}: {reply:?}");
            assert_eq!(reply.error, None);
        }
        assert_eq!(s.server.attempts("conv-safety"), 1, "{kind:?}: a safety block is an answer, not retried");
    }
}

#[test]
fn length_stops_map_to_length() {
    for kind in ALL {
        let s = setup(kind, "length");
        let run = run(&s.model, &[request("conv-len", "length")]);
        assert_eq!(run.replies()[0].finish_reason, FinishReason::Length, "{kind:?}");
    }
}

#[test]
fn retry_after_in_seconds_is_waited_for() {
    for kind in ALL {
        let s = setup(kind, "retry-after");
        let run = run(&s.model, &[request("conv-ra", "ra1")]);
        assert_eq!(run.replies()[0].finish_reason, FinishReason::Stop, "{kind:?}");
        assert_eq!(s.server.attempts("conv-ra"), 2, "{kind:?}");
        // Backoff alone would wait at most 20 ms; only Retry-After explains a full second.
        assert!(run.elapsed >= Duration::from_secs(1), "{kind:?}: waited only {:?}", run.elapsed);
    }
}

#[test]
fn retry_after_as_an_http_date_is_waited_for() {
    for kind in [Kind::Openai, Kind::Anthropic, Kind::Google] {
        let s = setup(kind, "retry-date");
        let run = run(&s.model, &[request("conv-rd", "radate2")]);
        assert_eq!(run.replies()[0].finish_reason, FinishReason::Stop, "{kind:?}");
        assert_eq!(s.server.attempts("conv-rd"), 2, "{kind:?}");
        // The date has whole seconds, so "now + 2 s" lies more than 1 s ahead.
        assert!(run.elapsed >= Duration::from_secs(1), "{kind:?}: waited only {:?}", run.elapsed);
    }
}

#[test]
fn bursts_of_5xx_and_rate_limits_are_retried_until_success() {
    for kind in ALL {
        let s = setup(kind, "burst");
        let script = if kind == Kind::Anthropic { "s529 s502 s429" } else { "s500 s502 s503" };
        let run = run(&s.model, &[request("conv-b", script), request("conv-g", "s504 ok")]);
        let replies = run.replies();
        assert_eq!(replies[0].finish_reason, FinishReason::Stop, "{kind:?}: {:?}", replies[0]);
        assert_eq!(s.server.attempts("conv-b"), 4, "{kind:?}");
        assert_eq!(s.server.attempts("conv-g"), 2, "{kind:?}");
        assert!(run.logs.contains("retrying"), "{kind:?}: retries are logged:\n{}", run.logs);
        run.assert_no_leak(&s.key);
    }
}

#[test]
fn persistent_faults_give_up_after_max_retries_while_the_others_go_on() {
    for kind in ALL {
        let s = setup(kind, "give-up");
        let provider = s.model.provider.to_string();
        let requests = [
            request("conv-5xx", "s503 s503 s503 s503 s503"),
            request("conv-fine", "ok"),
            request("conv-cut", "cut cut cut cut cut"),
            request("conv-html", "html502 html502 html502 html502 html502"),
        ];
        let run = run(&s.model, &requests);
        let replies = run.replies();
        let e = error_of(&replies[0]);
        assert!(e.starts_with(&format!("{provider}: gave up after 4 attempts")) && e.contains("HTTP 503"), "{kind:?}: {e}");
        assert_eq!(replies[1].finish_reason, FinishReason::Stop);
        let e = error_of(&replies[2]);
        // The status line arrived, then the body broke off.
        assert!(e.starts_with(&format!("{provider}: gave up after 4 attempts")), "{kind:?}: {e}");
        assert!(e.contains("HTTP 200: connection dropped before the body was complete"), "{kind:?}: {e}");
        let e = error_of(&replies[3]);
        assert!(e.contains("HTTP 502") && e.contains("HTML error page"), "{kind:?}: {e}");
        for tag in ["conv-5xx", "conv-cut", "conv-html"] {
            assert_eq!(s.server.attempts(tag), 4, "{kind:?} {tag}: 1 attempt + max_retries (3)");
        }
        run.assert_no_leak(&s.key);
    }
}

#[test]
fn a_response_slower_than_the_timeout_is_retried() {
    for kind in ALL {
        let s = setup(kind, "slow");
        let run = run(&s.model, &[request("conv-slow", "slow ok")]);
        assert_eq!(run.replies()[0].finish_reason, FinishReason::Stop, "{kind:?}: {:?}", run.replies()[0]);
        assert_eq!(s.server.attempts("conv-slow"), 2, "{kind:?}");
        assert!(run.logs.contains("timed out"), "{kind:?}: {}", run.logs);
    }
}

#[test]
fn a_cut_off_body_is_retried() {
    for kind in ALL {
        let s = setup(kind, "cut");
        let run = run(&s.model, &[request("conv-cut", "cut ok")]);
        assert_eq!(run.replies()[0].finish_reason, FinishReason::Stop, "{kind:?}: {:?}", run.replies()[0]);
        assert_eq!(s.server.attempts("conv-cut"), 2, "{kind:?}");
    }
}

#[test]
fn broken_success_bodies_give_error_replies_naming_provider_and_status() {
    for kind in ALL {
        let s = setup(kind, "broken");
        let provider = s.model.provider.to_string();
        let requests = [request("conv-mal", "malformed"), request("conv-shape", "shape"), request("conv-html", "html200")];
        let run = run(&s.model, &requests);
        let replies = run.replies();
        let e = error_of(&replies[0]);
        assert!(e.starts_with(&format!("{provider}: HTTP 200")) && e.contains("malformed JSON"), "{kind:?}: {e}");
        let e = error_of(&replies[1]);
        assert!(e.starts_with(&format!("{provider}: HTTP 200")) && e.contains("unexpected response shape"), "{kind:?}: {e}");
        let e = error_of(&replies[2]);
        assert!(e.starts_with(&format!("{provider}: HTTP 200")) && e.contains("malformed JSON"), "{kind:?}: {e}");
        for tag in ["conv-mal", "conv-shape", "conv-html"] {
            assert_eq!(s.server.attempts(tag), 1, "{kind:?} {tag}: a complete 200 is not retried");
        }
    }
}

#[test]
fn a_bad_request_is_not_retried_and_quotes_the_provider() {
    for kind in ALL {
        let s = setup(kind, "bad-request");
        let run = run(&s.model, &[request("conv-400", "bad400"), request("conv-ok", "ok")]);
        let replies = run.replies();
        let e = error_of(&replies[0]);
        assert!(e.contains("HTTP 400") && e.contains("temperature: must be at most 2"), "{kind:?}: {e}");
        assert_eq!(s.server.attempts("conv-400"), 1, "{kind:?}");
        assert_eq!(replies[1].finish_reason, FinishReason::Stop);
        run.assert_no_leak(&s.key);
    }
}

#[test]
fn a_refused_key_stops_the_model_naming_variable_and_provider() {
    for kind in ALL {
        let s = setup(kind, "bad-key");
        let wrong = format!("sk-wrong-{:016x}", rand::random::<u64>());
        std::env::set_var(&s.model.api_key_env, &wrong);
        let requests: Vec<_> = (0..6).map(|i| request(&format!("conv-{i}"), "ok")).collect();
        let run = run(&s.model, &requests);
        let error = run.result.as_ref().err().unwrap_or_else(|| panic!("{kind:?}: a refused key must be fatal")).to_string();
        assert!(error.contains(&s.model.api_key_env), "{kind:?}: {error}");
        assert!(error.starts_with(&s.model.provider.to_string()), "{kind:?}: {error}");
        assert!(s.server.requests() <= 4, "{kind:?}: at most one window of requests before stopping");
        run.assert_no_leak(&wrong);
        run.assert_no_leak(&s.key);
    }
}

#[test]
fn a_missing_key_is_reported_before_any_request() {
    for kind in [Kind::Openai, Kind::Anthropic, Kind::Google] {
        let s = setup(kind, "missing-key");
        std::env::remove_var(&s.model.api_key_env);
        let error = ApiGenerator::new(&s.model).err().unwrap_or_else(|| panic!("{kind:?}: no key must fail"));
        assert!(matches!(error, ApiError::MissingKey { .. }), "{kind:?}: {error}");
        assert!(error.to_string().contains(&s.model.api_key_env), "{error}");
        assert_eq!(s.server.requests(), 0);
    }
}

#[test]
fn a_compatible_server_without_authentication_needs_no_key() {
    let server = FakeServer::start(OpenaiFake { key: None, compatible: true });
    let s = setup(Kind::Compatible, "no-auth");
    std::env::remove_var(&s.model.api_key_env);
    let model = ApiModel { base_url: Some(format!("{}/v1", server.origin)), ..s.model.clone() };
    let run = run(&model, &[request("conv-open", "ok")]);
    assert_eq!(run.replies()[0].finish_reason, FinishReason::Stop);
    assert_eq!(server.attempts("conv-open"), 1);
}

#[test]
fn concurrency_never_exceeds_max_concurrency() {
    let s = setup(Kind::Openai, "concurrency");
    let model = ApiModel { max_concurrency: 3, ..s.model.clone() };
    let requests: Vec<_> = (0..12).map(|i| request(&format!("conv-{i}"), "wait")).collect();
    let run = run(&model, &requests);
    assert!(run.replies().iter().all(|r| r.finish_reason == FinishReason::Stop));
    assert_eq!(s.server.max_in_flight(), 3, "12 requests of 200 ms fill all 3 slots and never more");
}

#[test]
fn a_requests_per_minute_budget_paces_requests() {
    let s = setup(Kind::Openai, "rpm");
    let limits = ApiLimits { requests_per_minute: Some(120), ..fast_limits() };
    let model = ApiModel { limits, max_concurrency: 16, ..s.model.clone() };
    // The bucket holds one minute's 120 requests; the 121st waits for 0.5 s of refill.
    let requests: Vec<_> = (0..121).map(|i| request(&format!("conv-{i}"), "ok")).collect();
    let run = run(&model, &requests);
    assert_eq!(run.replies().len(), 121);
    assert_eq!(s.server.requests(), 121);
    assert!(run.elapsed >= Duration::from_millis(450), "the budget did not pace: {:?}", run.elapsed);
}

/// A fault script, the attempts it takes, and how it ends (with 3 retries allowed).
const SCRIPTS: &[(&str, u32, FinishReason)] = &[
    ("ok", 1, FinishReason::Stop),
    ("s429 ok", 2, FinishReason::Stop),
    ("ra0 s500 ok", 3, FinishReason::Stop),
    ("s500 s502 s503 ok", 4, FinishReason::Stop),
    ("cut ok", 2, FinishReason::Stop),
    ("html502 ok", 2, FinishReason::Stop),
    ("s503 s503 s503 s503", 4, FinishReason::Error),
    ("safety", 1, FinishReason::SafetyBlock),
    ("length", 1, FinishReason::Length),
    ("malformed", 1, FinishReason::Error),
    ("bad400", 1, FinishReason::Error),
];

#[test]
fn a_batch_of_20_with_random_faults_loses_and_duplicates_nothing() {
    for kind in ALL {
        let s = setup(kind, "random");
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let plan: Vec<_> = (0..20).map(|_| SCRIPTS[rng.random_range(0..SCRIPTS.len())]).collect();
        let requests: Vec<_> = plan.iter().enumerate().map(|(i, (script, ..))| request(&format!("conv-{i}"), script)).collect();
        let run = run(&s.model, &requests);
        let replies = run.replies();
        assert_eq!(replies.len(), 20, "{kind:?}: one reply per request");
        for (i, ((script, attempts, finish), reply)) in plan.iter().zip(replies).enumerate() {
            let tag = format!("conv-{i}");
            assert_eq!(reply.finish_reason, *finish, "{kind:?} {tag} `{script}`: {reply:?}");
            if matches!(finish, FinishReason::Stop | FinishReason::Length) {
                assert_eq!(reply.text, format!("Reply to: {}", scripted(&tag, script)), "{kind:?}: reply {i} answers request {i}");
            }
            assert_eq!(s.server.attempts(&tag), *attempts, "{kind:?} {tag} `{script}`");
        }
        let total: u32 = plan.iter().map(|(_, attempts, _)| attempts).sum();
        assert_eq!(s.server.requests(), total, "{kind:?}: no attempt beyond the scripts");
        run.assert_no_leak(&s.key);
        // The fakes quote the key in every error body; seeing it scrubbed proves the guard ran.
        assert!(run.logs.contains("[redacted]"), "{kind:?}: {}", run.logs);
    }
}

#[test]
fn dry_run_cost_uses_the_registry_prices() {
    let s = setup(Kind::Openai, "cost");
    // 2M prompt tokens at $1 plus 1M completion tokens at $2.
    assert!((estimate_cost(&s.model, 2_000_000, 1_000_000) - 4.0).abs() < 1e-9);
}

/// POST `body` with `headers` to `url` and return status and JSON answer.
fn post(url: &str, headers: &[(&str, &str)], body: serde_json::Value) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut builder = reqwest::Client::new().post(url).json(&body);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = builder.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    })
}

#[test]
fn the_fakes_reject_what_their_providers_reject() {
    let s = setup(Kind::Anthropic, "fake-anthropic");
    let url = format!("{}/v1/messages", s.server.origin);
    let messages = serde_json::json!([{"role": "user", "content": "hi"}]);
    let (status, body) = post(&url, &[("x-api-key", &s.key), ("anthropic-version", "2023-06-01")], serde_json::json!({"model": "m", "messages": messages}));
    assert_eq!((status, body["type"].as_str(), body["error"]["message"].as_str()), (400, Some("error"), Some("max_tokens: Field required")));
    let (status, _) = post(&url, &[("x-api-key", &s.key)], serde_json::json!({"model": "m", "max_tokens": 5, "messages": messages}));
    assert_eq!(status, 400, "anthropic-version is required");

    let s = setup(Kind::Openai, "fake-openai");
    let url = format!("{}/v1/chat/completions", s.server.origin);
    let bearer = format!("Bearer {}", s.key);
    let (status, body) = post(&url, &[("authorization", &bearer)], serde_json::json!({"model": "m", "messages": messages, "max_completion_tokens": 5, "temperature": 0.7, "top_k": 3}));
    assert_eq!((status, body["error"]["message"].as_str()), (400, Some("Unrecognized request argument supplied: top_k")));

    let s = setup(Kind::Google, "fake-google");
    let contents = serde_json::json!([{"role": "user", "parts": [{"text": "hi"}]}]);
    let url = format!("{}/v1beta/models/m:generateContent", s.server.origin);
    let (status, _) = post(&format!("{url}?key={}", s.key), &[], serde_json::json!({"contents": contents}));
    assert_eq!(status, 403, "a key in the query string is not accepted");
    let (status, body) = post(&url, &[("x-goog-api-key", &s.key)], serde_json::json!({"contents": contents, "generation_config": {}}));
    assert_eq!((status, body["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")), "snake_case names are refused");
}

#[test]
fn the_shipped_api_models_answer_through_the_shared_interface() {
    let registry = mhbench::registry::Registry::load(&common::repo_root().join("models.toml")).unwrap();
    let shipped: Vec<ApiModel> = registry
        .models
        .iter()
        .filter_map(|m| match m {
            mhbench::registry::ModelSpec::Api(api) => Some(api.clone()),
            mhbench::registry::ModelSpec::Local(_) => None,
        })
        .collect();
    assert_eq!(shipped.len(), 4, "GPT-4o, GPT-4o-mini, Claude 3.5 Haiku, Gemini 2.0 Flash");
    let compatible = ApiModel { provider: Provider::OpenaiCompatible, ..shipped[0].clone() };
    for entry in shipped.iter().chain([&compatible]) {
        let kind = match entry.provider {
            Provider::Openai => Kind::Openai,
            Provider::OpenaiCompatible => Kind::Compatible,
            Provider::Anthropic => Kind::Anthropic,
            Provider::Google => Kind::Google,
        };
        let s = setup(kind, &format!("shipped-{}", entry.id));
        // The shipped entry as written, pointed at the fake with a test key variable.
        let model = ApiModel { base_url: s.model.base_url.clone(), api_key_env: s.model.api_key_env.clone(), ..entry.clone() };
        let mut generator: Box<dyn Generator> = Box::new(ApiGenerator::new(&model).unwrap());
        let info = generator.info();
        assert_eq!((info.model_id, info.device.as_str()), (entry.id.clone(), "api"));
        assert_eq!(info.provider, entry.provider.to_string());
        let requests = [request("conv-a", "ok"), request("conv-b", "s503 ok")];
        let replies = generator.generate(&requests).unwrap();
        assert!(replies.iter().all(|r| r.finish_reason == FinishReason::Stop), "{}: {replies:?}", entry.id);
    }
}

#[test]
fn the_key_error_and_the_give_up_error_read_as_documented() {
    let s = setup(Kind::Openai, "messages");
    let wrong = "sk-wrong-messages-key";
    std::env::set_var(&s.model.api_key_env, wrong);
    let refused = run(&s.model, &[request("conv-k", "ok")]);
    let var = &s.model.api_key_env;
    assert_eq!(
        refused.result.as_ref().err().map(ToString::to_string).as_deref(),
        Some(format!(
            "openai: HTTP 401: the key in {var} was refused for model `fake-openai` \
             (Incorrect API key provided: [redacted].); check {var}"
        ).as_str())
    );
    std::env::set_var(&s.model.api_key_env, &s.key);
    let gave_up = run(&s.model, &[request("conv-g", "s503 s503 s503 s503")]);
    assert_eq!(
        error_of(&gave_up.replies()[0]),
        "openai: gave up after 4 attempts; last: HTTP 503: transient trouble, try again (key [redacted])"
    );
}

#[test]
fn a_refused_connection_is_retried_then_recorded() {
    let s = setup(Kind::Anthropic, "refused");
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let model = ApiModel { base_url: Some(format!("http://127.0.0.1:{port}")), ..s.model.clone() };
    let run = run(&model, &[request("conv-r", "ok")]);
    let e = error_of(&run.replies()[0]);
    assert!(e.starts_with("anthropic: gave up after 4 attempts; last: could not connect"), "{e}");
    assert_eq!(run.logs.matches("retrying").count(), 3, "{}", run.logs);
}

#[test]
fn an_empty_openai_account_stops_the_model_without_retrying() {
    let s = setup(Kind::Openai, "quota");
    let run = run(&s.model, &[request("conv-q", "quota")]);
    let error = run.result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(error.starts_with("openai: HTTP 429: the account of the key in MHBENCH_TEST_QUOTA_OPENAI_KEY has no quota left"), "{error}");
    assert_eq!(s.server.attempts("conv-q"), 1, "an empty account is not a rate limit");
}

#[test]
fn an_oversized_body_is_refused_naming_its_size_and_not_retried() {
    for kind in ALL {
        let s = setup(kind, "huge");
        let requests = [request("conv-huge", "huge"), request("conv-stream", "hugestream"), request("conv-fine", "ok")];
        let run = run(&s.model, &requests);
        let replies = run.replies();
        // 64 new tokens allow 64 KiB of envelope plus 64 bytes a token.
        let limit = mhbench::api::max_body_bytes(64);
        assert_eq!(limit, 64 * 1024 + 64 * 64);
        let e = error_of(&replies[0]);
        assert!(e.contains("HTTP 200") && e.contains("(Content-Length)") && e.contains(&format!("exceeds the limit of {limit} bytes")), "{kind:?}: {e}");
        let e = error_of(&replies[1]);
        assert!(e.contains(&format!("response body of more than {limit} bytes exceeds the limit")), "{kind:?}: {e}");
        assert_eq!(replies[2].finish_reason, FinishReason::Stop, "{kind:?}");
        assert_eq!((s.server.attempts("conv-huge"), s.server.attempts("conv-stream")), (1, 1), "{kind:?}: not retried");
    }
}

#[test]
fn the_body_limit_grows_with_max_new_tokens_up_to_a_cap() {
    assert!(mhbench::api::max_body_bytes(4096) > mhbench::api::max_body_bytes(64));
    assert_eq!(mhbench::api::max_body_bytes(u32::MAX), mhbench::api::MAX_BODY_BYTES);
}

#[test]
fn an_empty_or_null_reply_is_a_failure_with_its_reason() {
    for kind in ALL {
        let s = setup(kind, "empty");
        let run = run(&s.model, &[request("conv-empty", "empty")]);
        let e = error_of(&run.replies()[0]);
        assert!(e.contains("the reply has no text (finish reason stop"), "{kind:?}: {e}");
        assert!(run.replies()[0].usage.is_some(), "{kind:?}: the billed usage is kept");
    }
    for kind in [Kind::Openai, Kind::Compatible] {
        let s = setup(kind, "null");
        let run = run(&s.model, &[request("conv-null", "null")]);
        let e = error_of(&run.replies()[0]);
        assert!(e.contains("choices[0].message.content is null"), "{kind:?}: {e}");
    }
}
