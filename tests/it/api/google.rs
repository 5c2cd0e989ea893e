//! A fake of Gemini generateContent and its wire tests.
//!
//! Checks what Google checks: the `/v1beta/models/{model}:generateContent` path, the key in
//! `x-goog-api-key` (a wrong one gets Google's real answer, 400 `API_KEY_INVALID`; none gets
//! 403), no key in the query string, camelCase field names (Google rejects unknown names), and
//! `contents` of user/model turns with text parts. Safety: `safety` stops a candidate with
//! `SAFETY`, `recitation` with `RECITATION`, `blocked` blocks the prompt outright.

use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::fake::{Rejection, header, json_response, Ending, FakeWire};

const TOP_LEVEL: &[&str] = &["contents", "systemInstruction", "generationConfig", "safetySettings", "tools", "toolConfig", "cachedContent"];
const CONFIG: &[&str] = &["temperature", "topP", "topK", "maxOutputTokens", "seed", "stopSequences", "candidateCount"];

/// The fake's settings.
pub struct GoogleFake {
    /// The key it accepts.
    pub key: String,
}

fn reject(code: u16, status: &str, message: &str) -> Rejection {
    Box::new(json_response(code, &json!({"error": {"code": code, "message": message, "status": status}}), &[]))
}

fn unknown_names(object: Option<&Value>, known: &[&str]) -> Option<String> {
    object?.as_object()?.keys().find(|k| !known.contains(&k.as_str())).cloned()
}

impl FakeWire for GoogleFake {
    fn check(&self, path: &str, headers: &HeaderMap, body: &Value) -> Result<String, Rejection> {
        let model = path.strip_prefix("/v1beta/models/").and_then(|rest| rest.strip_suffix(":generateContent"));
        if model.is_none_or(str::is_empty) {
            return Err(reject(404, "NOT_FOUND", &format!("path {path} not found")));
        }
        match header(headers, "x-goog-api-key") {
            None => return Err(reject(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers")),
            Some(got) if got != self.key => {
                let body = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}});
                return Err(Box::new(json_response(400, &body, &[])));
            }
            Some(_) => {}
        }
        if let Some(name) = unknown_names(Some(body), TOP_LEVEL).or_else(|| unknown_names(body.get("generationConfig"), CONFIG)) {
            return Err(reject(400, "INVALID_ARGUMENT", &format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.")));
        }
        let contents = body.get("contents").and_then(Value::as_array).filter(|c| !c.is_empty());
        let contents = contents.ok_or_else(|| reject(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"))?;
        let mut last_user = None;
        for content in contents {
            let role = content.get("role").and_then(Value::as_str);
            if !matches!(role, Some("user" | "model")) {
                return Err(reject(400, "INVALID_ARGUMENT", "Please use a valid role: user, model."));
            }
            let text = content.pointer("/parts/0/text").and_then(Value::as_str);
            let text = text.ok_or_else(|| reject(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents.parts: contents.parts must not be empty."))?;
            if role == Some("user") {
                last_user = Some(text.to_owned());
            }
        }
        last_user.ok_or_else(|| reject(400, "INVALID_ARGUMENT", "no user turn"))
    }

    fn success(&self, text: &str, ending: Ending, serial: u32) -> (Value, Vec<(&'static str, String)>) {
        let candidate = match ending {
            Ending::Stop => json!({"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}),
            Ending::Length => json!({"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}),
            Ending::Safety => json!({"finishReason": "SAFETY", "index": 0, "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]}),
        };
        let body = json!({
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 27, "candidatesTokenCount": 8, "totalTokenCount": 35},
            "modelVersion": "gemini-2.0-flash-001",
            "responseId": format!("resp-{serial}")
        });
        (body, vec![])
    }

    fn error(&self, status: u16, message: &str) -> Value {
        let name = match status {
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        };
        json!({"error": {"code": status, "message": format!("{message} (key {})", self.key), "status": name}})
    }

    fn special(&self, token: &str, text: &str) -> Option<(u16, Value)> {
        match token {
            "blocked" => Some((200, json!({
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]},
                "usageMetadata": {"promptTokenCount": 27, "totalTokenCount": 27},
                "modelVersion": "gemini-2.0-flash-001"
            }))),
            "recitation" => Some((200, json!({
                "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "RECITATION", "index": 0}],
                "usageMetadata": {"promptTokenCount": 27, "candidatesTokenCount": 3, "totalTokenCount": 30},
                "modelVersion": "gemini-2.0-flash-001"
            }))),
            _ => None,
        }
    }
}
