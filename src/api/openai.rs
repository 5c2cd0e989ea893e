//! OpenAI Chat Completions (`POST {base}/chat/completions`), for OpenAI itself and for every
//! server that copies its wire format (vLLM, TGI, llama.cpp server, Ollama).
//!
//! Owns the request and response JSON of that API, private to this file, and the mapping of
//! `finish_reason` (`content_filter` and a `refusal` become a safety block). A 429 with code
//! `insufficient_quota` is an empty account, not a rate limit, so it is not retried. The two flavours
//! differ only in the base URL, whether a key is required, and the name of the token cap:
//! OpenAI deprecated `max_tokens` for `max_completion_tokens`, while compatible servers all
//! read `max_tokens`. Reference: <https://platform.openai.com/docs/api-reference/chat/create>.

use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::client::{endpoint, WireCall};
use super::key::ApiKey;
use super::{AccountRefusal, ProviderReply, Wire};
use crate::schema::{FinishReason, GenerationRequest, Role, TokenSource, TokenUsage};

/// OpenAI's endpoint root, as its SDK spells it.
pub(super) const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Which server speaks the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// api.openai.com.
    Openai,
    /// vLLM, TGI, llama.cpp server, Ollama and the like.
    Compatible,
}

/// The Chat Completions wire format for one model.
pub(super) struct ChatCompletions {
    url: Url,
    headers: HeaderMap,
    model: String,
    flavor: Flavor,
}

impl ChatCompletions {
    /// Speak to `model` at `base_url`, sending `key` as a bearer token when there is one.
    ///
    /// # Errors
    /// An unusable base URL or key.
    pub fn new(base_url: &str, model: &str, key: Option<&ApiKey>, flavor: Flavor) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(AUTHORIZATION, key.header_value("Bearer ")?);
        }
        Ok(Self { url: endpoint(base_url, "chat/completions")?, headers, model: model.to_owned(), flavor })
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    /// Not part of OpenAI's API; vLLM and llama.cpp server accept it.
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    seed: u64,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<AssistantMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AssistantMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

impl Wire for ChatCompletions {
    fn call(&self, request: &GenerationRequest) -> Result<WireCall, String> {
        let params = &request.params;
        let cap = Some(params.max_new_tokens);
        let (max_tokens, max_completion_tokens) = match self.flavor {
            Flavor::Openai => (None, cap),
            Flavor::Compatible => (cap, None),
        };
        let body = ChatRequest {
            model: &self.model,
            messages: request
                .messages
                .iter()
                .map(|m| WireMessage { role: role_name(m.role), content: &m.content })
                .collect(),
            temperature: params.temperature,
            top_p: super::top_p_if_on(params.top_p),
            top_k: params.top_k.filter(|_| self.flavor == Flavor::Compatible),
            max_tokens,
            max_completion_tokens,
            seed: params.seed,
        };
        Ok(WireCall { url: self.url.clone(), headers: self.headers.clone(), body: super::to_json(&body)? })
    }

    fn parse(&self, body: &[u8]) -> Result<ProviderReply, String> {
        let response: ChatResponse = super::from_json(body)?;
        let choice = response.choices.into_iter().next().ok_or("response has no choices")?;
        let message = choice.message.ok_or("choices[0] has no message")?;
        let refusal = message.refusal.filter(|r| !r.is_empty());
        let (finish_reason, finish_detail) = match (choice.finish_reason.as_deref(), &refusal) {
            (_, Some(_)) | (Some("content_filter"), _) => (FinishReason::SafetyBlock, None),
            (Some("stop"), _) => (FinishReason::Stop, None),
            (Some("length"), _) => (FinishReason::Length, None),
            (Some(other), _) => (FinishReason::Error, Some(format!("finish_reason `{other}` is not a text reply"))),
            (None, _) => (FinishReason::Error, Some("choices[0] has no finish_reason".to_owned())),
        };
        let (finish_reason, finish_detail) = match (&message.content, finish_reason) {
            (None, FinishReason::Stop | FinishReason::Length) => {
                (FinishReason::Error, Some("choices[0].message.content is null".to_owned()))
            }
            (_, finish) => (finish, finish_detail),
        };
        Ok(ProviderReply {
            text: message.content.or(refusal).unwrap_or_default(),
            finish_reason,
            finish_detail,
            usage: response.usage.map(|u| TokenUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                source: TokenSource::Api,
            }),
            model_version: response.model,
            response_id: response.id,
        })
    }

    /// OpenAI says "out of credit" with a 429 that no wait will cure.
    fn account_refusal(&self, status: u16, body: &[u8]) -> Option<AccountRefusal> {
        match status {
            401 | 403 => Some(AccountRefusal::KeyRefused),
            429 if super::error_codes(body).iter().any(|c| c == "insufficient_quota") => Some(AccountRefusal::OutOfQuota),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> ChatCompletions {
        ChatCompletions::new("http://127.0.0.1:1/v1", "m", None, Flavor::Openai).unwrap()
    }

    #[test]
    fn content_filter_is_a_safety_block() {
        let body = br#"{"id":"c1","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}"#;
        let reply = wire().parse(body).unwrap();
        assert_eq!(reply.finish_reason, FinishReason::SafetyBlock);
    }

    #[test]
    fn a_missing_choices_array_is_a_shape_error() {
        let error = wire().parse(br#"{"id":"c1","object":"chat.completion"}"#).err().unwrap();
        assert!(error.contains("missing field `choices`"), "{error}");
    }
}
