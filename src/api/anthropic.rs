//! Anthropic Messages (`POST {base}/v1/messages`).
//!
//! Owns that API's request and response JSON, private to this file: the key goes in
//! `x-api-key`, every request carries `anthropic-version` and the required `max_tokens`, system
//! messages move to the top-level `system` field. `stop_reason` maps `end_turn` and
//! `stop_sequence` to stop, `max_tokens` and `model_context_window_exceeded` to length, and
//! `refusal` to a safety block. Reference: <https://docs.anthropic.com/en/api/messages>.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::client::{endpoint, WireCall};
use super::key::ApiKey;
use super::{ProviderReply, Wire};
use crate::schema::{FinishReason, GenerationRequest, Role, TokenSource, TokenUsage};

/// Anthropic's endpoint root, as its SDK spells it.
pub(super) const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The API version this file speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The Messages wire format for one model.
pub(super) struct Messages {
    url: Url,
    headers: HeaderMap,
    model: String,
}

impl Messages {
    /// Speak to `model` at `base_url` with `key`.
    ///
    /// # Errors
    /// An unusable base URL or key.
    pub fn new(base_url: &str, model: &str, key: &ApiKey) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", key.header_value("")?);
        headers.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
        Ok(Self { url: endpoint(base_url, "v1/messages")?, headers, model: model.to_owned() })
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    content: Vec<ContentBlock>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: u32,
    output_tokens: u32,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
}

impl Usage {
    /// `input_tokens` excludes cached prompt tokens; the prompt is all three together.
    fn prompt_tokens(&self) -> u32 {
        self.input_tokens
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
            .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
    }
}

impl Wire for Messages {
    fn call(&self, request: &GenerationRequest) -> Result<WireCall, String> {
        let params = &request.params;
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        let messages = request
            .messages
            .iter()
            .filter_map(|m| match m.role {
                Role::System => None,
                Role::User => Some(WireMessage { role: "user", content: &m.content }),
                Role::Assistant => Some(WireMessage { role: "assistant", content: &m.content }),
            })
            .collect();
        let body = MessagesRequest {
            model: &self.model,
            max_tokens: params.max_new_tokens,
            messages,
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            temperature: params.temperature,
            top_p: super::top_p_if_on(params.top_p),
            top_k: params.top_k,
        };
        Ok(WireCall { url: self.url.clone(), headers: self.headers.clone(), body: super::to_json(&body)? })
    }

    fn parse(&self, body: &[u8]) -> Result<ProviderReply, String> {
        let response: MessagesResponse = super::from_json(body)?;
        let text: String = response
            .content
            .iter()
            .filter(|block| block.kind == "text")
            .filter_map(|block| block.text.as_deref())
            .collect();
        let (finish_reason, finish_detail) = match response.stop_reason.as_deref() {
            Some("end_turn" | "stop_sequence") => (FinishReason::Stop, None),
            Some("max_tokens" | "model_context_window_exceeded") => (FinishReason::Length, None),
            Some("refusal") => (FinishReason::SafetyBlock, None),
            Some(other) => (FinishReason::Error, Some(format!("stop_reason `{other}` is not a text reply"))),
            None => (FinishReason::Error, Some("response has no stop_reason".to_owned())),
        };
        Ok(ProviderReply {
            text,
            finish_reason,
            finish_detail,
            usage: response.usage.map(|u| TokenUsage {
                prompt_tokens: u.prompt_tokens(),
                completion_tokens: u.output_tokens,
                source: TokenSource::Api,
            }),
            model_version: response.model,
            response_id: response.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_a_safety_block_and_cache_tokens_count_as_prompt() {
        let key = ApiKey::for_tests("sk-ant-test");
        let wire = Messages::new("http://127.0.0.1:1", "claude", &key).unwrap();
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":0}}"#;
        let reply = wire.parse(body).unwrap();
        assert_eq!(reply.finish_reason, FinishReason::SafetyBlock);
        assert_eq!(reply.usage.map(|u| u.prompt_tokens), Some(15));
    }
}
