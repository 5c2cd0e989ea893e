//! A fake of OpenAI Chat Completions (and of the compatible servers) and its wire tests.
//!
//! Checks what OpenAI checks: the path, `Authorization: Bearer`, `model` and `messages`,
//! unknown arguments (OpenAI rejects them by name), the temperature range; and what mhbench
//! promises: OpenAI gets `max_completion_tokens`, compatible servers `max_tokens`. Error bodies
//! use OpenAI's `{"error":{"message","type","param","code"}}` shape and, to test redaction,
//! quote the key the server received.

use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::fake::{Rejection, header, json_response, last_user_text, Ending, FakeWire};

/// Arguments OpenAI accepts (the subset mhbench could send, plus common ones).
const KNOWN_ARGUMENTS: &[&str] = &[
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "n",
    "stop", "stream", "presence_penalty", "frequency_penalty", "user",
];

/// The fake's settings.
pub struct OpenaiFake {
    /// The key it accepts; `None` for a compatible server without authentication.
    pub key: Option<String>,
    /// Speak as a compatible server (vLLM) rather than OpenAI.
    pub compatible: bool,
}

impl OpenaiFake {
    fn reject(&self, status: u16, kind: &str, message: &str, param: Option<&str>) -> Rejection {
        let body = json!({"error": {"message": message, "type": kind, "param": param, "code": null}});
        Box::new(json_response(status, &body, &[]))
    }
}

impl FakeWire for OpenaiFake {
    fn check(&self, path: &str, headers: &HeaderMap, body: &Value) -> Result<String, Rejection> {
        if path != "/v1/chat/completions" {
            return Err(self.reject(404, "invalid_request_error", &format!("Invalid URL (POST {path})"), None));
        }
        if let Some(key) = &self.key {
            let got = header(headers, "authorization").unwrap_or("");
            if got != format!("Bearer {key}") {
                let message = format!("Incorrect API key provided: {}.", got.trim_start_matches("Bearer "));
                let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}});
                return Err(Box::new(json_response(401, &body, &[])));
            }
        }
        let object = body.as_object().ok_or_else(|| self.reject(400, "invalid_request_error", "body must be an object", None))?;
        for name in object.keys() {
            let allowed = KNOWN_ARGUMENTS.contains(&name.as_str()) || (self.compatible && name == "top_k");
            if !allowed {
                return Err(self.reject(400, "invalid_request_error", &format!("Unrecognized request argument supplied: {name}"), None));
            }
        }
        if !body.get("model").is_some_and(Value::is_string) {
            return Err(self.reject(400, "invalid_request_error", "you must provide a model parameter", Some("model")));
        }
        let messages = body.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty());
        let messages = messages.ok_or_else(|| self.reject(400, "invalid_request_error", "'messages' must be a non-empty array", Some("messages")))?;
        for m in messages {
            let role_ok = matches!(m.get("role").and_then(Value::as_str), Some("system" | "user" | "assistant"));
            if !role_ok || !m.get("content").is_some_and(Value::is_string) {
                return Err(self.reject(400, "invalid_request_error", "each message needs a role and string content", Some("messages")));
            }
        }
        let (wanted, unwanted) = if self.compatible { ("max_tokens", "max_completion_tokens") } else { ("max_completion_tokens", "max_tokens") };
        if !body.get(wanted).is_some_and(Value::is_u64) || body.get(unwanted).is_some() {
            return Err(self.reject(400, "invalid_request_error", &format!("expected integer `{wanted}` and no `{unwanted}`"), Some(wanted)));
        }
        if !body.get("temperature").and_then(Value::as_f64).is_some_and(|t| (0.0..=2.0).contains(&t)) {
            return Err(self.reject(400, "invalid_request_error", "temperature must be in [0, 2]", Some("temperature")));
        }
        last_user_text(messages).ok_or_else(|| self.reject(400, "invalid_request_error", "no user message", Some("messages")))
    }

    fn success(&self, text: &str, ending: Ending, serial: u32) -> (Value, Vec<(&'static str, String)>) {
        let (content, finish) = match ending {
            Ending::Stop => (json!(text), "stop"),
            Ending::Length => (json!(text), "length"),
            Ending::Safety => (Value::Null, "content_filter"),
        };
        let body = json!({
            "id": format!("chatcmpl-{serial}"),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null}, "logprobs": null, "finish_reason": finish}],
            "usage": {"prompt_tokens": 31, "completion_tokens": 7, "total_tokens": 38}
        });
        (body, vec![("x-request-id", format!("req_{serial}"))])
    }

    fn special(&self, token: &str, _text: &str) -> Option<(u16, Value)> {
        if token == "null" {
            // A stop with no content at all, as some compatible servers send after a failure.
            let (mut body, _) = self.success("", Ending::Stop, 0);
            body["choices"][0]["message"]["content"] = Value::Null;
            return Some((200, body));
        }
        (token == "quota").then(|| {
            let message = "You exceeded your current quota, please check your plan and billing details.";
            (429, json!({"error": {"message": message, "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}))
        })
    }

    fn error(&self, status: u16, message: &str) -> Value {
        let kind = if status == 429 { "requests" } else { "server_error" };
        let echoed = format!("{message} (key {})", self.key.as_deref().unwrap_or("none"));
        json!({"error": {"message": echoed, "type": kind, "param": null, "code": null}})
    }
}
