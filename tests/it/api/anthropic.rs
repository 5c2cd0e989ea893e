//! A fake of Anthropic Messages and its wire tests.
//!
//! Checks what Anthropic checks: the path, `x-api-key`, the `anthropic-version` header,
//! `model`, the required `max_tokens`, `messages` of user/assistant turns starting with a user
//! turn (system text belongs in the top-level `system`). Errors use Anthropic's
//! `{"type":"error","error":{"type","message"}}` shape, 529 for overload.

use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::fake::{Rejection, header, json_response, last_user_text, Ending, FakeWire};

/// The fake's settings.
pub struct AnthropicFake {
    /// The key it accepts.
    pub key: String,
}

fn reject(status: u16, kind: &str, message: &str) -> Rejection {
    Box::new(json_response(status, &json!({"type": "error", "error": {"type": kind, "message": message}}), &[]))
}

impl FakeWire for AnthropicFake {
    fn check(&self, path: &str, headers: &HeaderMap, body: &Value) -> Result<String, Rejection> {
        if path != "/v1/messages" {
            return Err(reject(404, "not_found_error", "Not Found"));
        }
        if header(headers, "x-api-key") != Some(self.key.as_str()) {
            return Err(reject(401, "authentication_error", "invalid x-api-key"));
        }
        if header(headers, "anthropic-version") != Some("2023-06-01") {
            return Err(reject(400, "invalid_request_error", "anthropic-version: header is required"));
        }
        if !body.get("model").is_some_and(Value::is_string) {
            return Err(reject(400, "invalid_request_error", "model: Field required"));
        }
        if !body.get("max_tokens").is_some_and(Value::is_u64) {
            return Err(reject(400, "invalid_request_error", "max_tokens: Field required"));
        }
        if body.get("system").is_some_and(|s| !s.is_string()) {
            return Err(reject(400, "invalid_request_error", "system: Input should be a valid string"));
        }
        let messages = body.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty());
        let messages = messages.ok_or_else(|| reject(400, "invalid_request_error", "messages: Field required"))?;
        for m in messages {
            if !matches!(m.get("role").and_then(Value::as_str), Some("user" | "assistant")) {
                return Err(reject(400, "invalid_request_error", "messages: roles must be `user` or `assistant`"));
            }
        }
        if messages.first().and_then(|m| m.get("role")).and_then(Value::as_str) != Some("user") {
            return Err(reject(400, "invalid_request_error", "messages: first message must use the \"user\" role"));
        }
        last_user_text(messages).ok_or_else(|| reject(400, "invalid_request_error", "messages: no user text"))
    }

    fn success(&self, text: &str, ending: Ending, serial: u32) -> (Value, Vec<(&'static str, String)>) {
        let (content, stop) = match ending {
            Ending::Stop => (json!([{"type": "text", "text": text}]), "end_turn"),
            Ending::Length => (json!([{"type": "text", "text": text}]), "max_tokens"),
            Ending::Safety => (json!([]), "refusal"),
        };
        let body = json!({
            "id": format!("msg_{serial}"),
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": content,
            "stop_reason": stop,
            "stop_sequence": null,
            "usage": {"input_tokens": 29, "output_tokens": 9}
        });
        (body, vec![("request-id", format!("req_{serial}"))])
    }

    fn error(&self, status: u16, message: &str) -> Value {
        let kind = match status {
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        json!({"type": "error", "error": {"type": kind, "message": format!("{message} (key {})", self.key)}})
    }
}
