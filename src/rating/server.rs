//! `rate serve`: the rating page and its small JSON API, over the rating store.
//!
//! Routes: `GET /` (the page), `GET /static/{app.js,style.css}`, and with
//! `Authorization: Bearer <token>`: `GET /api/session` (the rater's rubric view, queue and
//! progress), `GET /api/items/{item_id}` (one item of their queue), `PUT /api/items/{item_id}`
//! (save or submit a rating, or mark it "cannot rate"). The token resolves to exactly one rater,
//! and every query is filtered by that rater, so a rater can reach only their own queue and
//! ratings. No rater response carries a model id, a conversation id or another rater's data.
//! Showing an item records the moment, so the save after it keeps the time taken.
//!
//! The study lead's view: `GET /lead` and `GET /api/lead` with the lead's token (a separate
//! secret from `rate plan` or `rate reissue --lead`; no rater token opens it, and it opens no
//! rater's queue) answers each rater's progress and per-item time, and inter-rater and
//! test-retest agreement per rater and attribute under the [`super::consistency::MIN_PAIRS`] rule. Bad input answers 4xx
//! `{"message": ...}`; 5xx answers a generic message and logs the detail here only. HTTP types
//! stay in this file; validation rules live in [`super`], storage in [`super::store`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::consistency::{self, ByAttribute, Scored, MIN_PAIRS};
use super::store::{QueueEntry, RaterProgress, RatingDraft, RatingStore, SavedRating};
use super::texts::PageTexts;
use super::{check_comment, check_score, is_complete, store_path, RatingError, MAX_COMMENT_CHARS};
use crate::rubric::Rubric;
use crate::schema::RaterId;

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const STYLE_CSS: &str = include_str!("page/style.css");
const LEAD_HTML: &str = include_str!("page/lead.html");
const LEAD_JS: &str = include_str!("page/lead.js");

/// Validated options of `rate serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The run folder holding `ratings.sqlite`.
    pub run_dir: PathBuf,
    /// Address to listen on; loopback unless the user asks otherwise.
    pub bind: SocketAddr,
    /// Suggest a break after this many submitted items (0: never).
    pub break_every: u32,
}

/// A bound, not yet running, rating server.
pub struct RatingServer {
    listener: tokio::net::TcpListener,
    router: Router,
}

#[derive(Clone)]
struct AppState {
    store: Arc<Mutex<RatingStore>>,
    rubric: Arc<Rubric>,
    texts: Arc<PageTexts>,
    break_every: u32,
}

impl RatingServer {
    /// Open the run's store and bind the socket.
    ///
    /// # Errors
    /// No plan in the run, SQLite failures, or the address cannot be bound.
    pub async fn bind(options: &ServeOptions) -> Result<Self, RatingError> {
        let store = RatingStore::open(&store_path(&options.run_dir))?;
        let rubric = store.rubric()?;
        let texts = store.page_texts()?;
        let state = AppState {
            store: Arc::new(Mutex::new(store)),
            rubric: Arc::new(rubric),
            texts: Arc::new(texts),
            break_every: options.break_every,
        };
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .map_err(|source| RatingError::Io {
                context: format!("binding {}", options.bind),
                source,
            })?;
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    /// The address actually bound (a real port when asked for port 0).
    ///
    /// # Errors
    /// The OS cannot say.
    pub fn local_addr(&self) -> Result<SocketAddr, RatingError> {
        self.listener.local_addr().map_err(|source| RatingError::Io {
            context: "reading the bound address".into(),
            source,
        })
    }

    /// Serve until `shutdown` completes.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), RatingError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| RatingError::Io {
                context: "serving the rating page".into(),
                source,
            })
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/static/app.js", get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/static/style.css", get(|| async { page(STYLE_CSS, "text/css; charset=utf-8") }))
        .route("/api/session", get(session))
        .route("/api/items/{item_id}", get(item).put(save))
        .route("/lead", get(|| async { page(LEAD_HTML, "text/html; charset=utf-8") }))
        .route("/static/lead.js", get(|| async { page(LEAD_JS, "text/javascript; charset=utf-8") }))
        .route("/api/lead", get(lead))
        .fallback(|| async { ApiError::NotFound("no such page") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Largest request body read: a full rating with a [`MAX_COMMENT_CHARS`] comment of 4-byte
/// characters, each JSON-escaped as two `\uXXXX`, fits several times over.
const MAX_REQUEST_BYTES: usize = 256 * 1024;

fn page(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// An API failure: its status and the message the rater sees.
#[derive(Debug)]
enum ApiError {
    Unauthorized,
    Forbidden,
    NotFound(&'static str),
    MethodNotAllowed,
    /// The request body is over [`MAX_REQUEST_BYTES`].
    TooLarge,
    BadRequest(String),
    /// Detail stays in the server log.
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing token; open the link `mhbench rate plan` printed for you",
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "unknown token; check the link `mhbench rate plan` printed for you",
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, *what),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed here"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large; a rating is a few scores and a short comment"),
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message.as_str()),
            ApiError::Internal(detail) => {
                tracing::error!("rating server: {detail}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; the server log has the details")
            }
        };
        let mut response = (status, Json(ErrorBody { message })).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<RatingError> for ApiError {
    fn from(error: RatingError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

/// Run a store operation off the async threads, holding the store lock.
async fn with_store<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&mut RatingStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        let mut guard = store
            .lock()
            .map_err(|_| ApiError::Internal("store lock poisoned".into()))?;
        work(&mut guard)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or(ApiError::Unauthorized)
}

/// The rater whose token the request carries.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<RaterId, ApiError> {
    let token = bearer(headers)?;
    with_store(state, move |store| store.rater_by_token(&token).map_err(ApiError::from))
        .await?
        .ok_or(ApiError::Forbidden)
}

#[derive(Serialize)]
struct AttributeView<'a> {
    id: &'a str,
    name: &'a str,
    group: &'a str,
    definition: &'a str,
    anchors: &'a [String],
}

#[derive(Serialize)]
struct SessionView<'a> {
    rater_id: RaterId,
    rubric_title: &'a str,
    rubric_version: &'a str,
    attributes: Vec<AttributeView<'a>>,
    break_every: u32,
    comment_max_chars: usize,
    content_note: &'a str,
    safety_note: &'a str,
    queue: Vec<QueueEntry>,
    done: usize,
    total: usize,
}

async fn session(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let rater = authenticate(&state, &headers).await?;
    let rater_for_store = rater.clone();
    let queue = with_store(&state, move |store| store.queue(&rater_for_store).map_err(ApiError::from)).await?;
    let rubric = &state.rubric;
    let group_name = |id: &str| {
        rubric
            .groups
            .iter()
            .find(|g| g.id == id)
            .map_or("", |g| g.name.as_str())
    };
    let view = SessionView {
        rater_id: rater,
        rubric_title: &rubric.title,
        rubric_version: &rubric.version,
        attributes: rubric
            .attributes
            .iter()
            .map(|a| AttributeView {
                id: &a.id,
                name: &a.name,
                group: group_name(&a.group),
                definition: &a.definition,
                anchors: &a.anchors,
            })
            .collect(),
        break_every: state.break_every,
        comment_max_chars: MAX_COMMENT_CHARS,
        content_note: &state.texts.content_note,
        safety_note: &state.texts.safety_note,
        done: queue.iter().filter(|q| q.state == super::store::ItemState::Submitted).count(),
        total: queue.len(),
        queue,
    };
    Ok(no_store(Json(view)))
}

fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct ItemView {
    item_id: String,
    number: usize,
    context: String,
    reply: String,
    truncated: bool,
    rating: Option<SavedRating>,
}

const NO_SUCH_ITEM: &str = "no such item in your queue";

async fn item(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(item_id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let rater = authenticate(&state, &headers).await?;
    let id = item_id.clone();
    let content = with_store(&state, move |store| store.show(&rater, &id).map_err(ApiError::from))
        .await?
        .ok_or(ApiError::NotFound(NO_SUCH_ITEM))?;
    Ok(no_store(Json(ItemView {
        item_id,
        number: content.number,
        context: content.context,
        reply: content.reply,
        truncated: content.truncated,
        rating: content.rating,
    })))
}

/// The body of `PUT /api/items/{item_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveRequest {
    /// Scores so far, by attribute id; each must be an integer 1..5.
    #[serde(default)]
    scores: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    safety_flag: bool,
    /// "Cannot rate": no scores may come with it, and it may be submitted without them.
    #[serde(default)]
    cannot_rate: bool,
    /// Submit: every attribute must then be scored, unless `cannot_rate`.
    #[serde(default)]
    submit: bool,
}

#[derive(Serialize)]
struct SaveView {
    rating: SavedRating,
    done: usize,
    total: usize,
}

impl SaveRequest {
    /// Check every field against the rubric; returns the draft and whether it is complete.
    fn validate(self, rubric: &Rubric) -> Result<(RatingDraft, bool, bool), ApiError> {
        let mut scores = BTreeMap::new();
        let mut problems = Vec::new();
        for (attribute, value) in self.scores {
            let Some(number) = value.as_i64() else {
                problems.push(format!("scores.{attribute}: {value} is not an integer 1..5"));
                continue;
            };
            match check_score(rubric, &attribute, number) {
                Ok(score) => {
                    scores.insert(attribute, score);
                }
                Err(message) => problems.push(format!("scores.{message}")),
            }
        }
        if let Err(message) = check_comment(&self.comment) {
            problems.push(message);
        }
        if self.cannot_rate && !scores.is_empty() {
            problems.push("cannot_rate: send no scores with it; a reply you cannot rate has none".into());
        }
        let complete = self.cannot_rate || is_complete(rubric, &scores);
        if self.submit && !complete && problems.is_empty() {
            let missing: Vec<_> = rubric
                .attribute_ids()
                .into_iter()
                .filter(|id| !scores.contains_key(*id))
                .collect();
            problems.push(format!("submit: score every attribute first; missing {}", missing.join(", ")));
        }
        if !problems.is_empty() {
            return Err(ApiError::BadRequest(problems.join("; ")));
        }
        let draft = RatingDraft {
            scores,
            comment: self.comment,
            safety_flag: self.safety_flag,
            cannot_rate: self.cannot_rate,
        };
        Ok((draft, self.submit, complete))
    }
}

async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(item_id): UrlPath<String>,
    body: Result<Json<SaveRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let rater = authenticate(&state, &headers).await?;
    let Json(request) = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => ApiError::BadRequest(rejection.body_text()),
    })?;
    let (draft, submit, complete) = request.validate(&state.rubric)?;
    let view = with_store(&state, move |store| {
        let rating = store
            .save(&rater, &item_id, &draft, submit, complete)?
            .ok_or(ApiError::NotFound(NO_SUCH_ITEM))?;
        let progress = store.rater_progress(&rater)?;
        Ok(SaveView {
            rating,
            done: progress.submitted,
            total: progress.total,
        })
    })
    .await?;
    Ok(no_store(Json(view)))
}

#[derive(Serialize)]
struct AttributeName<'a> {
    id: &'a str,
    name: &'a str,
}

/// What the study lead sees: progress and agreement, never reply text.
#[derive(Serialize)]
struct LeadView<'a> {
    rubric_title: &'a str,
    attributes: Vec<AttributeName<'a>>,
    min_pairs: usize,
    progress: Vec<RaterProgress>,
    /// Inter-rater agreement: key `""` over all rater pairs, else one rater against the others.
    inter_rater: std::collections::BTreeMap<String, ByAttribute>,
    /// Each rater's repeated showings against their first showings.
    test_retest: std::collections::BTreeMap<String, ByAttribute>,
}

async fn lead(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    let rubric = Arc::clone(&state.rubric);
    let (progress, first, repeats) = with_store(&state, move |store| {
        if !store.is_lead_token(&token)? {
            return Err(ApiError::Forbidden);
        }
        Ok((store.progress()?, store.submitted(false)?, store.submitted(true)?))
    })
    .await?;
    let ids = rubric.attribute_ids();
    let first: Vec<Scored<'_>> = first.iter().map(Scored::from).collect();
    let repeats: Vec<Scored<'_>> = repeats.iter().map(Scored::from).collect();
    let view = LeadView {
        rubric_title: &rubric.title,
        attributes: rubric.attributes.iter().map(|a| AttributeName { id: &a.id, name: &a.name }).collect(),
        min_pairs: MIN_PAIRS,
        progress,
        inter_rater: consistency::inter_rater(&first, &ids),
        test_retest: consistency::test_retest(&first, &repeats, &ids),
    };
    Ok(no_store(Json(view)))
}
