//! An in-process HTTP server (axum on 127.0.0.1:0) that speaks one provider's wire format and
//! injects faults on cue.
//!
//! Each request's last user message carries its fault script, `... [faults: s503 ra1 ok]`: the
//! n-th attempt at that message gets the n-th fault, and `ok` once the script runs out. Counters
//! per message let tests assert exactly how many attempts the client made. The provider files
//! beside this one supply the wire format (paths, headers, required fields, body shapes).
//!
//! A server started with [`FakeServer::start_scripted`] answers each successful request with
//! the text its script computes from the request's transcript (every string in the body, in
//! order: system text, earlier turns, the last message), so a test can play a multi-turn
//! client such as the judge's repair request; [`FakeServer::requests_with`] counts the requests
//! whose transcript mentions a tag.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, Uri};
use serde_json::Value;

/// How a successful reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A normal end.
    Stop,
    /// Hit the token cap.
    Length,
    /// Withheld for safety (the provider's usual way of saying so).
    Safety,
}

/// A provider's error response to a request it refuses.
pub type Rejection = Box<Response<Body>>;

/// Computes a reply's text from the request's transcript.
pub type ReplyScript = Box<dyn Fn(&str) -> String + Send + Sync>;

/// One provider's wire format, as the fake server needs it.
pub trait FakeWire: Send + Sync + 'static {
    /// Check path, headers and body as the provider would; the user's text, or the provider's
    /// own error response (401 for a wrong key, 400 for a missing field, ...).
    fn check(&self, path: &str, headers: &HeaderMap, body: &Value) -> Result<String, Rejection>;
    /// A success body for `text`, plus headers the provider sends with it.
    fn success(&self, text: &str, ending: Ending, serial: u32) -> (Value, Vec<(&'static str, String)>);
    /// An error body in the provider's shape.
    fn error(&self, status: u16, message: &str) -> Value;
    /// Provider-specific fault tokens (Gemini's `blocked`, OpenAI's `quota`): status and body.
    fn special(&self, _token: &str, _text: &str) -> Option<(u16, Value)> {
        None
    }
}

/// The fake server: its base URL and what it saw.
pub struct FakeServer {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    state: Arc<ServerState>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct ServerState {
    wire: Box<dyn FakeWire>,
    script: Option<ReplyScript>,
    transcripts: Mutex<Vec<String>>,
    attempts: Mutex<HashMap<String, u32>>,
    requests: AtomicU32,
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
    /// How long a `slow` fault stalls; longer than the client timeout.
    slow: Duration,
}

/// Text bytes of a `huge` reply.
pub const HUGE_BYTES: usize = 2 * 1024 * 1024;

/// How long the `slow` fault stalls.
pub const SLOW: Duration = Duration::from_secs(6);

impl FakeServer {
    /// Serve `wire` on a fresh local port.
    pub fn start(wire: impl FakeWire) -> Self {
        Self::serve(Box::new(wire), None)
    }

    /// Serve `wire`, answering with `script(transcript)` instead of `Reply to: <last user text>`.
    pub fn start_scripted(wire: impl FakeWire, script: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self::serve(Box::new(wire), Some(Box::new(script)))
    }

    fn serve(wire: Box<dyn FakeWire>, script: Option<ReplyScript>) -> Self {
        let state = Arc::new(ServerState {
            wire,
            script,
            transcripts: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
            requests: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            max_in_flight: AtomicU32::new(0),
            slow: SLOW,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(handle).with_state(Arc::clone(&state));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        Self { origin, state, runtime: Some(runtime) }
    }

    /// Attempts the server answered for the request whose user text contains `tag`.
    pub fn attempts(&self, tag: &str) -> u32 {
        let attempts = self.state.attempts.lock().unwrap();
        attempts.iter().filter(|(text, _)| text_has_tag(text, tag)).map(|(_, n)| *n).sum()
    }

    /// Requests the server accepted whose transcript mentions `tag`, every turn of a
    /// multi-turn exchange included.
    pub fn requests_with(&self, tag: &str) -> u32 {
        let transcripts = self.state.transcripts.lock().unwrap();
        let count = transcripts.iter().filter(|t| text_has_tag(t, tag)).count();
        u32::try_from(count).unwrap()
    }

    /// Every request that reached the server, rejected ones included.
    pub fn requests(&self) -> u32 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The most requests the server was handling at one moment.
    pub fn max_in_flight(&self) -> u32 {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Whether `text` belongs to the conversation tagged `tag` (`conv-1` must not match `conv-12`).
fn text_has_tag(text: &str, tag: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || c == '[').any(|word| word == tag)
}

/// A user message for conversation `tag` with a fault script.
pub fn scripted(tag: &str, faults: &str) -> String {
    format!("{tag} feels anxious before exams [faults: {faults}]")
}

fn script_of(text: &str) -> Vec<String> {
    text.split_once("[faults:")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(faults, _)| faults.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

struct InFlight<'a>(&'a ServerState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let serial = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&state);
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return json_response(400, &state.wire.error(400, "request body is not valid JSON"), &[]);
    };
    let text = match state.wire.check(uri.path(), &headers, &json) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    let attempt = {
        let mut attempts = state.attempts.lock().unwrap();
        let n = attempts.entry(text.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let transcript = transcript_of(&json);
    state.transcripts.lock().unwrap().push(transcript.clone());
    let script = script_of(&text);
    let fault = usize::try_from(attempt - 1).ok().and_then(|i| script.get(i)).map_or("ok", String::as_str);
    let reply_text = match &state.script {
        Some(script) => script(&transcript),
        None => format!("Reply to: {text}"),
    };
    respond(&state, fault, &reply_text, serial).await
}

/// Every string in a request body, in document order, one per line.
fn transcript_of(body: &Value) -> String {
    fn collect<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut strings = Vec::new();
    collect(body, &mut strings);
    strings.join("\n")
}

async fn respond(state: &ServerState, fault: &str, reply_text: &str, serial: u32) -> Response<Body> {
    let wire = &state.wire;
    let ok = |ending| {
        let (body, headers) = wire.success(reply_text, ending, serial);
        json_response(200, &body, &headers)
    };
    if let Some(status) = fault.strip_prefix('s').and_then(|s| s.parse::<u16>().ok()) {
        return json_response(status, &wire.error(status, "transient trouble, try again"), &[]);
    }
    if let Some(seconds) = fault.strip_prefix("radate").and_then(|s| s.parse::<i64>().ok()) {
        let when = chrono::Utc::now() + chrono::Duration::seconds(seconds);
        let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        return json_response(429, &wire.error(429, "rate limited"), &[("retry-after", date)]);
    }
    if let Some(seconds) = fault.strip_prefix("ra").and_then(|s| s.parse::<u64>().ok()) {
        return json_response(429, &wire.error(429, "rate limited"), &[("retry-after", seconds.to_string())]);
    }
    if let Some(status) = fault.strip_prefix("html").and_then(|s| s.parse::<u16>().ok()) {
        let page = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
        return raw_response(status, "text/html", Body::from(page));
    }
    if let Some((status, body)) = wire.special(fault, reply_text) {
        return json_response(status, &body, &[]);
    }
    match fault {
        "ok" => ok(Ending::Stop),
        "length" => ok(Ending::Length),
        "safety" => ok(Ending::Safety),
        "wait" => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            ok(Ending::Stop)
        }
        "slow" => {
            tokio::time::sleep(state.slow).await;
            ok(Ending::Stop)
        }
        "cut" => {
            // Send the status line and half the body, pause so they leave the server, then fail
            // the stream: hyper aborts the chunked response without its terminator, so the
            // client sees the connection drop mid-body.
            let full = serde_json::to_vec(&wire.success(reply_text, Ending::Stop, serial).0).unwrap();
            let half = Bytes::from(full.get(..full.len() / 2).unwrap().to_vec());
            let chunks = futures_util::stream::unfold(Some(half), |first| async move {
                match first {
                    Some(half) => Some((Ok(half), None)),
                    None => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut")), None))
                    }
                }
            });
            raw_response(200, "application/json", Body::from_stream(chunks))
        }
        "malformed" => {
            let full = serde_json::to_vec(&wire.success(reply_text, Ending::Stop, serial).0).unwrap();
            let half = full.get(..full.len() / 2).unwrap().to_vec();
            raw_response(200, "application/json", Body::from(half))
        }
        "shape" => json_response(200, &serde_json::json!({"object": "list", "data": []}), &[]),
        "empty" => {
            let (body, headers) = wire.success("", Ending::Stop, serial);
            json_response(200, &body, &headers)
        }
        // A reply far larger than any token cap allows: 2 MB of text, with its Content-Length.
        "huge" => {
            let (body, headers) = wire.success(&"x".repeat(HUGE_BYTES), Ending::Stop, serial);
            json_response(200, &body, &headers)
        }
        // The same without a Content-Length: 64 KB chunks, so only counting the bytes stops it.
        "hugestream" => {
            let full = serde_json::to_vec(&wire.success(&"x".repeat(HUGE_BYTES), Ending::Stop, serial).0).unwrap();
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                full.chunks(64 * 1024).map(|c| Ok(Bytes::from(c.to_vec()))).collect();
            raw_response(200, "application/json", Body::from_stream(futures_util::stream::iter(chunks)))
        }
        "bad400" => json_response(400, &wire.error(400, "temperature: must be at most 2"), &[]),
        other => panic!("unknown fault token `{other}`"),
    }
}

/// A JSON response with extra headers.
pub fn json_response(status: u16, body: &Value, headers: &[(&str, String)]) -> Response<Body> {
    let mut builder = Response::builder().status(status).header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Body::from(serde_json::to_vec(body).unwrap())).unwrap()
}

fn raw_response(status: u16, content_type: &str, body: Body) -> Response<Body> {
    Response::builder().status(status).header("content-type", content_type).body(body).unwrap()
}

/// The user text of the last `role == user` message in an OpenAI- or Anthropic-shaped list.
pub fn last_user_text(messages: &[Value]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content").and_then(Value::as_str))
        .map(str::to_owned)
}

/// A header's text, if present.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
