//! Google Gemini generateContent (`POST {base}/v1beta/models/{model}:generateContent`).
//!
//! Owns that API's request and response JSON, private to this file. The key travels in the
//! `x-goog-api-key` header, never the URL. A prompt blocked outright (no candidates,
//! `promptFeedback.blockReason`) and a candidate stopped for `SAFETY`, `RECITATION`,
//! `PROHIBITED_CONTENT`, `BLOCKLIST`, `SPII` or `IMAGE_SAFETY` become a safety block. Google
//! answers a wrong key with 400 `API_KEY_INVALID` rather than 401, so that counts as a bad key.
//! Reference: <https://ai.google.dev/api/generate-content>.

use reqwest::header::HeaderMap;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::client::{endpoint, WireCall};
use super::key::ApiKey;
use super::{AccountRefusal, ProviderReply, Wire};
use crate::schema::{FinishReason, GenerationRequest, Role, TokenSource, TokenUsage};

/// Google's endpoint root, as its SDK spells it.
pub(super) const GOOGLE_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The generateContent wire format for one model.
pub(super) struct GenerateContent {
    url: Url,
    headers: HeaderMap,
}

impl GenerateContent {
    /// Speak to `model` at `base_url` with `key`.
    ///
    /// # Errors
    /// An unusable base URL, model name or key.
    pub fn new(base_url: &str, model: &str, key: &ApiKey) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert("x-goog-api-key", key.header_value("")?);
        let url = endpoint(base_url, &format!("v1beta/models/{model}:generateContent"))?;
        Ok(Self { url, headers })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    generation_config: GenerationConfig,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'static str,
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
struct Part<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    max_output_tokens: u32,
    /// Gemini's seed is an int32; larger run seeds are folded into its range.
    seed: i32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
    #[serde(default)]
    response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<CandidateContent>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<ResponsePart>,
}

#[derive(Deserialize)]
struct ResponsePart {
    #[serde(default)]
    text: Option<String>,
    /// Thinking models mark their reasoning parts; those are not the reply.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default)]
    candidates_token_count: u32,
    /// Billed as output by thinking models.
    #[serde(default)]
    thoughts_token_count: u32,
}

/// Gemini finish reasons that mean the reply was withheld or cut for safety or recitation.
const SAFETY_REASONS: &[&str] =
    &["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"];

fn fold_seed(seed: u64) -> i32 {
    i32::try_from(seed % (1 << 31)).unwrap_or(0)
}

fn finish(reason: Option<&str>) -> (FinishReason, Option<String>) {
    match reason {
        Some("STOP") => (FinishReason::Stop, None),
        Some("MAX_TOKENS") => (FinishReason::Length, None),
        Some(r) if SAFETY_REASONS.contains(&r) => (FinishReason::SafetyBlock, None),
        Some(other) => (FinishReason::Error, Some(format!("finishReason `{other}` is not a text reply"))),
        None => (FinishReason::Error, Some("candidate has no finishReason".to_owned())),
    }
}

impl Wire for GenerateContent {
    fn call(&self, request: &GenerationRequest) -> Result<WireCall, String> {
        let params = &request.params;
        let system: Vec<Part<'_>> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| Part { text: &m.content })
            .collect();
        let contents = request
            .messages
            .iter()
            .filter_map(|m| {
                let role = match m.role {
                    Role::System => return None,
                    Role::User => "user",
                    Role::Assistant => "model",
                };
                Some(Content { role, parts: vec![Part { text: &m.content }] })
            })
            .collect();
        let body = GenerateRequest {
            contents,
            system_instruction: (!system.is_empty()).then_some(SystemInstruction { parts: system }),
            generation_config: GenerationConfig {
                temperature: params.temperature,
                top_p: super::top_p_if_on(params.top_p),
                top_k: params.top_k,
                max_output_tokens: params.max_new_tokens,
                seed: fold_seed(params.seed),
            },
        };
        Ok(WireCall { url: self.url.clone(), headers: self.headers.clone(), body: super::to_json(&body)? })
    }

    fn parse(&self, body: &[u8]) -> Result<ProviderReply, String> {
        let response: GenerateResponse = super::from_json(body)?;
        let usage = response.usage_metadata.map(|u| TokenUsage {
            prompt_tokens: u.prompt_token_count,
            completion_tokens: u.candidates_token_count.saturating_add(u.thoughts_token_count),
            source: TokenSource::Api,
        });
        let blocked = response.prompt_feedback.and_then(|f| f.block_reason);
        let (text, (finish_reason, finish_detail)) = match (response.candidates.into_iter().next(), blocked) {
            (None, Some(_)) => (String::new(), (FinishReason::SafetyBlock, None)),
            (None, None) => return Err("unexpected response shape: neither candidates nor promptFeedback.blockReason".into()),
            (Some(candidate), _) => {
                let text = candidate
                    .content
                    .map(|c| c.parts.into_iter().filter(|p| !p.thought).filter_map(|p| p.text).collect())
                    .unwrap_or_default();
                (text, finish(candidate.finish_reason.as_deref()))
            }
        };
        Ok(ProviderReply {
            text,
            finish_reason,
            finish_detail,
            usage,
            model_version: response.model_version,
            response_id: response.response_id,
        })
    }

    fn account_refusal(&self, status: u16, body: &[u8]) -> Option<AccountRefusal> {
        let invalid_key = status == 400 && super::error_codes(body).iter().any(|r| r == "API_KEY_INVALID");
        (matches!(status, 401 | 403) || invalid_key).then_some(AccountRefusal::KeyRefused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> GenerateContent {
        GenerateContent::new("http://127.0.0.1:1", "gemini-2.0-flash-001", &ApiKey::for_tests("g-key")).unwrap()
    }

    #[test]
    fn a_blocked_prompt_is_a_safety_block() {
        let body = br#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.0-flash-001"}"#;
        let reply = wire().parse(body).unwrap();
        assert_eq!(reply.finish_reason, FinishReason::SafetyBlock);
        assert_eq!(reply.text, "");
    }

    #[test]
    fn recitation_is_a_safety_block() {
        let body = br#"{"candidates":[{"content":{"parts":[{"text":"partial"}],"role":"model"},"finishReason":"RECITATION","index":0}]}"#;
        assert_eq!(wire().parse(body).unwrap().finish_reason, FinishReason::SafetyBlock);
    }

    #[test]
    fn api_key_invalid_400_is_a_bad_key() {
        let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        assert_eq!(wire().account_refusal(400, body), Some(AccountRefusal::KeyRefused));
        let other = br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(wire().account_refusal(400, other), None);
    }

    #[test]
    fn the_key_is_not_in_the_url() {
        let call = wire().call(&GenerationRequest {
            conversation_id: "sample:1".into(),
            messages: vec![crate::schema::ChatMessage { role: Role::User, content: "hi".into() }],
            params: crate::schema::GenerationParams {
                temperature: 0.7,
                top_p: None,
                top_k: None,
                repetition_penalty: None,
                max_new_tokens: 8,
                seed: 1,
            },
        });
        let call = call.unwrap();
        assert_eq!(call.url.as_str(), "http://127.0.0.1:1/v1beta/models/gemini-2.0-flash-001:generateContent");
        assert!(call.headers.get("x-goog-api-key").is_some_and(|v| v.is_sensitive()));
    }
}
