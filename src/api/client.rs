//! One HTTP attempt: send a prepared call, read the whole body, say what came back.
//!
//! Owns the reqwest client (rustls, per-attempt timeout), the classification of transport
//! failures (timeout, refused connection, body cut off), printing URLs without their query
//! strings, and reading a provider's error message out of an error body. It does not decide
//! whether to retry (`retry.rs`) nor what a body means (the provider files).

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

/// A request ready to send: a provider file builds it, this file sends it.
pub(super) struct WireCall {
    /// Full endpoint URL.
    pub url: Url,
    /// Provider headers, the key among them marked sensitive.
    pub headers: HeaderMap,
    /// JSON body.
    pub body: Vec<u8>,
}

/// A complete HTTP response.
pub(super) struct HttpResponse {
    /// Status line code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
    /// From sending the request to the last body byte.
    pub elapsed: Duration,
}

/// What one attempt produced.
pub(super) enum Attempt {
    /// The server answered with a status and a complete body.
    Answered(HttpResponse),
    /// No complete answer: timeout, refused or reset connection, body cut off.
    Dropped {
        /// What happened, without URL or key.
        reason: String,
    },
    /// The body grew past the request's limit; reading stopped there.
    TooLarge {
        /// Status line code.
        status: u16,
        /// What the body's size was known to be, and the limit it broke.
        detail: String,
    },
}

/// The shared HTTP client of one API model.
pub(super) struct HttpClient {
    inner: reqwest::Client,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every attempt ends after `timeout`.
    ///
    /// # Errors
    /// The TLS backend could not initialise.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let inner = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("mhbench/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(Self { inner, timeout })
    }

    /// POST `call` once and read the whole body, stopping at `max_body` bytes.
    pub async fn send(&self, call: &WireCall, max_body: usize) -> Attempt {
        let started = Instant::now();
        let sent = self
            .inner
            .post(call.url.clone())
            .headers(call.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(call.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Attempt::Dropped { reason: self.describe_transport(&e) },
        };
        let status = response.status();
        let headers = response.headers().clone();
        match read_bounded(response, max_body).await {
            Ok(body) => Attempt::Answered(HttpResponse { status, headers, body, elapsed: started.elapsed() }),
            Err(BodyFault::Transport(e)) => Attempt::Dropped {
                reason: format!("HTTP {}: {}", status.as_u16(), self.describe_transport(&e)),
            },
            Err(BodyFault::TooLarge(detail)) => Attempt::TooLarge { status: status.as_u16(), detail },
        }
    }

    fn describe_transport(&self, error: &reqwest::Error) -> String {
        let causes = error_sources(error);
        if error.is_timeout() {
            format!("timed out after {:.1} s", self.timeout.as_secs_f64())
        } else if error.is_connect() {
            format!("could not connect: {causes}")
        } else if error.is_body() || error.is_decode() {
            format!("connection dropped before the body was complete: {causes}")
        } else {
            format!("connection dropped: {causes}")
        }
    }
}

/// Why a body was not read whole.
enum BodyFault {
    /// The connection failed mid-body.
    Transport(reqwest::Error),
    /// The body is larger than allowed; what its size was known to be.
    TooLarge(String),
}

/// The body of `response`, refused as soon as its announced or received size passes `max_body`
/// bytes, so a runaway server cannot fill memory.
async fn read_bounded(mut response: reqwest::Response, max_body: usize) -> Result<Vec<u8>, BodyFault> {
    let too_large = |size: String| BodyFault::TooLarge(format!("response body of {size} exceeds the limit of {max_body} bytes"));
    if let Some(announced) = response.content_length().filter(|&n| n > max_body as u64) {
        return Err(too_large(format!("{announced} bytes (Content-Length)")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyFault::Transport)? {
        if body.len() + chunk.len() > max_body {
            return Err(too_large(format!("more than {max_body} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error's causes, joined; reqwest adds the URL only in its own `Display`, so the causes
/// never carry the endpoint or its query string.
fn error_sources(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        parts.push("request failed".to_owned());
    }
    parts.join(": ")
}

/// `base` joined with `path`, whatever slashes either has.
///
/// # Errors
/// `base` is not an http(s) URL; the message shows it without any query string.
pub(super) fn endpoint(base: &str, path: &str) -> Result<Url, String> {
    let joined = format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'));
    let shown = base.split(['?', '#']).next().unwrap_or_default();
    let url = Url::parse(&joined).map_err(|e| format!("base_url `{shown}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("base_url `{shown}` must start with http:// or https://"));
    }
    Ok(url)
}

/// `url` as printable text: scheme, host, port and path, never the query string (Google once
/// took keys there, proxies still do).
pub(super) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// Longest server message quoted in an error.
const MAX_QUOTED_CHARS: usize = 300;

/// A short account of an error body: the provider's own message when the body is JSON in any
/// of the shapes providers use (`{"error":{"message"}}` for OpenAI, Anthropic, Google and
/// llama.cpp; `{"error":"..."}` for Ollama; `{"message"}` for vLLM), else what kind of body it
/// was (an HTML error page from a proxy, an empty body, other text).
pub(super) fn describe_error_body(headers: &HeaderMap, body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let message = json
            .pointer("/error/message")
            .or_else(|| json.get("error").filter(|e| e.is_string()))
            .or_else(|| json.get("message"))
            .and_then(serde_json::Value::as_str);
        return match message {
            Some(message) => quote(message),
            None => format!("JSON error body without a message ({} bytes)", body.len()),
        };
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    let text = String::from_utf8_lossy(body);
    if content_type.contains("html") || text.trim_start().starts_with('<') {
        format!("HTML error page instead of JSON ({content_type}, {} bytes)", body.len())
    } else if body.is_empty() {
        "empty body".to_owned()
    } else {
        format!("non-JSON body ({content_type}): {}", quote(&text))
    }
}

fn quote(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > MAX_QUOTED_CHARS {
        let cut: String = one_line.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

/// The first of `names` present among `headers`, as text.
pub(super) fn header_text(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_joins_whatever_the_slashes() {
        assert_eq!(endpoint("http://h:8000/v1/", "/chat/completions").unwrap().as_str(), "http://h:8000/v1/chat/completions");
        assert_eq!(endpoint("http://h", "v1/messages").unwrap().as_str(), "http://h/v1/messages");
        let error = endpoint("ftp://h?key=secret", "x").unwrap_err();
        assert!(error.contains("must start with http") && !error.contains("secret"), "{error}");
    }

    #[test]
    fn display_url_drops_query_and_credentials() {
        let url = Url::parse("https://user:pw@example.com/v1/x?key=secret#frag").unwrap();
        assert_eq!(display_url(&url), "https://example.com/v1/x");
    }

    #[test]
    fn error_body_message_is_read_from_each_provider_shape() {
        let h = HeaderMap::new();
        let openai = br#"{"error":{"message":"Rate limit reached","type":"requests"}}"#;
        let ollama = br#"{"error":"model not found"}"#;
        let vllm = br#"{"object":"error","message":"bad top_p","code":400}"#;
        assert_eq!(describe_error_body(&h, openai), "Rate limit reached");
        assert_eq!(describe_error_body(&h, ollama), "model not found");
        assert_eq!(describe_error_body(&h, vllm), "bad top_p");
    }

    #[test]
    fn html_page_is_named_not_quoted() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "text/html".parse().unwrap());
        let text = describe_error_body(&h, b"<html><body>502 Bad Gateway</body></html>");
        assert!(text.starts_with("HTML error page instead of JSON (text/html"), "{text}");
    }
}
