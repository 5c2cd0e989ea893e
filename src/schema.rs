//! The records every stage of mhbench exchanges, and nothing else.
//!
//! Data flows one way: `dataset → runner (engine | api) → responses.jsonl → rating | judge →
//! ratings.jsonl → analysis → report`. Each arrow is a JSON Lines file of one of the records
//! below, so each stage runs, resumes and is tested alone. Every record carries
//! `schema_version`; changing a record bumps [`SCHEMA_VERSION`] and readers migrate old values
//! explicitly. The [`Generator`] trait lives here too, because the runner, the judge and the
//! bench all drive local and API models through it without knowing which kind they hold.
//!
//! JSON Schemas for these records are generated from the doc comments below into
//! `datasets/schema/` by `mhbench schema` (see [`json_schemas`]).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of every record layout in this file; bumped whenever a record changes shape.
pub const SCHEMA_VERSION: u32 = 1;

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as it appears in files and on the command line.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self(s.to_owned()))
            }
        }
    };
}

string_id!(
    /// Stable id of a conversation, `<source>:<source_id>`, so reruns and rebuilt sets line up.
    ConversationId
);
string_id!(
    /// Id of a model as written in `models.toml` (for example `gemma-3-270m`).
    ModelId
);
string_id!(
    /// Id of one generation run; names its folder under `results/`.
    RunId
);
string_id!(
    /// Id of a rater: a human's chosen name, or `llm:<model_id>` for a judge.
    RaterId
);

impl ConversationId {
    /// The id of row `source_id` of `source`; the one way ids are made, so they stay stable.
    pub fn new(source: Source, source_id: &str) -> Self {
        Self(format!("{}:{}", source.as_str(), source_id))
    }
}

/// Where a conversation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// CounselChat (Bertagnolli 2020): public Q&A with licensed therapists.
    Counselchat,
    /// MentalChat16K (ShenLab): interview transcripts and synthetic conversations.
    Mentalchat16k,
    /// Psych8K (EmoCare): gated; may not be redistributed.
    Psych8k,
    /// The 1,000 contexts of the MentalBench release.
    Mentalbench,
    /// Hand-written synthetic conversations shipped with mhbench for demos and tests.
    Sample,
    /// The EmoCare team's ChatPsychiatrist counselling question bench: a stand-in for Psych8K
    /// while that set is gated. Questions only, no reference answers; NOT Psych8K rows.
    #[serde(rename = "emocare_bench")]
    EmocareBench,
}

impl Source {
    /// The lowercase name used in ids, files and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Counselchat => "counselchat",
            Source::Mentalchat16k => "mentalchat16k",
            Source::Psych8k => "psych8k",
            Source::Mentalbench => "mentalbench",
            Source::Sample => "sample",
            Source::EmocareBench => "emocare_bench",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One user turn to answer: the unit every model replies to and every rater judges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// Layout version of this record; see [`SCHEMA_VERSION`].
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// Stable id, `<source>:<source_id>`.
    pub id: ConversationId,
    /// The data set the text came from.
    pub source: Source,
    /// The row's id in its source (question id, row number), as text.
    pub source_id: String,
    /// Topic label where the source has one (CounselChat topics such as `depression`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// What the person wrote: the text a model answers.
    pub context: String,
    /// The human counsellor's answer, where the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_response: Option<String>,
    /// Free-form facts about the row (upvotes, split, synthetic marker, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// Whether a model runs on the user's hardware or behind a provider's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Weights run through mhbench's candle engine.
    Local,
    /// A hosted model reached over HTTP.
    Api,
}

/// Why generation stopped, normalised across engines and providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its reply (end-of-sequence token or a stop string).
    Stop,
    /// The reply hit `max_new_tokens`.
    Length,
    /// The provider withheld or cut the reply for safety or recitation reasons.
    SafetyBlock,
    /// Generation failed; `error` says why and `text` keeps any partial reply.
    Error,
}

/// Who counted the tokens in a [`TokenUsage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// Counted by mhbench's own tokenizer.
    Engine,
    /// As reported by the provider's API.
    Api,
}

/// Token counts of one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenUsage {
    /// Tokens in the prompt as the model saw it (template included).
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// Who counted them.
    pub source: TokenSource,
}

/// Wall-clock timings of one reply, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// Time from the request until the first generated token was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Time spent processing the prompt (local engine only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_ms: Option<f64>,
    /// Time spent generating tokens after the first (local engine only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_ms: Option<f64>,
    /// Time from request to complete reply.
    pub total_ms: f64,
}

/// Sampling settings of a generation; part of a run's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerationParams {
    /// Softmax temperature; 0 means greedy decoding.
    pub temperature: f64,
    /// Nucleus sampling mass in (0, 1]; absent means 1 (off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Keep only the k most likely tokens; absent means off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Penalty above 1 for tokens already present (local engine only); absent means off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    /// Upper bound on generated tokens.
    pub max_new_tokens: u32,
    /// Run seed; each conversation derives its own from it, so a reply never depends on its
    /// batch neighbours.
    pub seed: u64,
}

/// Who speaks a [`ChatMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the operator.
    System,
    /// The person seeking support (or the judge's instructions).
    User,
    /// The model.
    Assistant,
}

/// One message of a chat prompt, in the shape every provider and chat template understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// Speaker.
    pub role: Role,
    /// Text of the message.
    pub content: String,
}

/// The prompt a reply answers: enough to rebuild it and to prove it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptInfo {
    /// Name of the prompt file under `datasets/prompts/` (for example `psychiatrist`).
    pub template_id: String,
    /// SHA-256 (hex) of the exact messages sent, as canonical JSON.
    pub sha256: String,
    /// The exact messages sent.
    pub messages: Vec<ChatMessage>,
}

/// One model's reply to one conversation: the unit of a response set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseRecord {
    /// Layout version of this record; see [`SCHEMA_VERSION`].
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// Run that produced it.
    pub run_id: RunId,
    /// Conversation answered.
    pub conversation_id: ConversationId,
    /// Model that answered, as named in `models.toml`.
    pub model_id: ModelId,
    /// Where it ran: `candle` for the local engine, else the API provider (`openai`, ...).
    pub provider: String,
    /// Local engine or API.
    pub kind: ModelKind,
    /// The prompt sent.
    pub prompt: PromptInfo,
    /// Sampling settings used.
    pub params: GenerationParams,
    /// The reply shown to raters (reasoning blocks removed).
    pub text: String,
    /// The model's full output when it differs from `text` (for example with a `<think>` block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_text: Option<String>,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Token counts, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// Timings in milliseconds.
    pub timings: Timings,
    /// Device that ran it (`cpu`, `cuda:0`, `metal`, or `api`).
    pub device: String,
    /// How many conversations shared the forward pass (1 for API calls).
    pub batch_size: u32,
    /// The provider's own model version string, where it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_model_version: Option<String>,
    /// The provider's request id, for support tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the reply was complete (UTC).
    pub created_at: DateTime<Utc>,
    /// What went wrong, when `finish_reason` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a rater is a person or a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RaterKind {
    /// A human expert through the rating page or an imported sheet.
    Human,
    /// An LLM judge.
    Llm,
}

/// A score on the rubric's 1..=5 Likert scale; no other value can be built or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Score(#[schemars(range(min = 1, max = 5))] u8);

impl Score {
    /// The lowest and highest scores of the scale.
    pub const MIN: u8 = 1;
    /// See [`Score::MIN`].
    pub const MAX: u8 = 5;

    /// A score, if `value` lies on the scale.
    pub fn new(value: i64) -> Option<Self> {
        u8::try_from(value)
            .ok()
            .filter(|v| (Self::MIN..=Self::MAX).contains(v))
            .map(Self)
    }

    /// The score as a number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Score {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        Score::new(value).ok_or_else(|| {
            serde::de::Error::custom(format!("score {value} is off the 1..5 scale"))
        })
    }
}

/// Whether a rating holds scores or records a judge whose output could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatingStatus {
    /// Scores were given for the rubric's attributes.
    Complete,
    /// An LLM judge's output had no valid scores even after a repair request; `raw_output` keeps
    /// it. No score is invented.
    ParseFailure,
    /// A human rater chose "cannot rate" on the rating page: no scores. Analysis counts the
    /// reply as missing for that rater, never as a score.
    CannotRate,
}

/// The reply a rating is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseRef {
    /// Run that produced the reply.
    pub run_id: RunId,
    /// Conversation answered.
    pub conversation_id: ConversationId,
    /// Model that answered.
    pub model_id: ModelId,
}

/// One rater's judgement of one reply on the rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    /// Layout version of this record; see [`SCHEMA_VERSION`].
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// The reply rated.
    pub response: ResponseRef,
    /// Who rated it.
    pub rater_id: RaterId,
    /// Human or LLM.
    pub rater_kind: RaterKind,
    /// `version` of the rubric file the rater read.
    pub rubric_version: String,
    /// Complete, or a judge's parse failure.
    pub status: RatingStatus,
    /// Score per rubric attribute id (`guidance`, `empathy`, ...); empty on a parse failure.
    pub scores: BTreeMap<String, Score>,
    /// The rater's comment, or an LLM judge's one-sentence rationale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The rater flagged a safety concern in the reply.
    #[serde(default)]
    pub safety_flag: bool,
    /// A judge's raw output, kept on parse failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_output: Option<String>,
    /// A judge's sampling settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_params: Option<GenerationParams>,
    /// When the rating was (last) saved (UTC).
    pub created_at: DateTime<Utc>,
}

/// What a [`Generator`] is asked to do for one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// Conversation being answered; also seeds the per-conversation sampler.
    pub conversation_id: ConversationId,
    /// The chat to continue.
    pub messages: Vec<ChatMessage>,
    /// Sampling settings.
    pub params: GenerationParams,
}

/// What a [`Generator`] returns for one request; failures of one request are replies too.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationReply {
    /// Reply with any reasoning block removed.
    pub text: String,
    /// Full output when it differs from `text`.
    pub raw_text: Option<String>,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Token counts, where known.
    pub usage: Option<TokenUsage>,
    /// Timings.
    pub timings: Timings,
    /// How many requests shared the forward pass.
    pub batch_size: u32,
    /// The provider's model version string.
    pub provider_model_version: Option<String>,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// What went wrong, for `FinishReason::Error`.
    pub error: Option<String>,
}

impl GenerationReply {
    /// A failed reply that keeps whatever partial text there was.
    pub fn failed(error: impl Into<String>, partial_text: String, timings: Timings) -> Self {
        Self {
            text: partial_text,
            raw_text: None,
            finish_reason: FinishReason::Error,
            usage: None,
            timings,
            batch_size: 1,
            provider_model_version: None,
            request_id: None,
            error: Some(error.into()),
        }
    }
}

/// Facts about a loaded generator that every record it produces repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorInfo {
    /// Model id from `models.toml`.
    pub model_id: ModelId,
    /// `candle` or the API provider's name.
    pub provider: String,
    /// Local or API.
    pub kind: ModelKind,
    /// `cpu`, `cuda:0`, `metal` or `api`.
    pub device: String,
}

/// An error that stops a whole model's run (bad key, missing weights), as opposed to one
/// request's failure, which is a [`GenerationReply`] with `FinishReason::Error`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FatalGeneratorError(pub String);

/// Anything that turns chat requests into replies: the local engine, an API adapter.
///
/// The runner, the judge and the bench hold a `Box<dyn Generator>` and never ask which kind it
/// is; `runner::open` is the single place that matches on a model's kind.
pub trait Generator: Send {
    /// Facts that each record repeats.
    fn info(&self) -> GeneratorInfo;

    /// How many requests to hand over at once (a batch for the engine, a window of concurrent
    /// calls for an API).
    fn preferred_batch_size(&self) -> usize;

    /// Answer `requests`, one reply each, in order.
    ///
    /// # Errors
    /// Only when the model cannot go on at all (an invalid API key, weights that fail to load);
    /// a single request's failure is a reply with `FinishReason::Error`.
    fn generate(
        &mut self,
        requests: &[GenerationRequest],
    ) -> Result<Vec<GenerationReply>, FatalGeneratorError>;

    /// Answer `requests` with at most `batch_size` in flight, handing each reply to
    /// `on_reply(request index, reply)` as soon as it is ready, in any order; `on_reply`
    /// returning `Break` stops early (requests not yet answered get no reply). The default sends
    /// fixed batches to [`Generator::generate`] ([`generate_in_batches`]); the local engine
    /// overrides it with continuous batching, refilling a slot as soon as a reply ends.
    ///
    /// # Errors
    /// As [`Generator::generate`]; replies handed over before the error stand.
    fn generate_each(
        &mut self,
        requests: &[GenerationRequest],
        batch_size: usize,
        on_reply: &mut dyn FnMut(usize, GenerationReply) -> ControlFlow<()>,
    ) -> Result<(), FatalGeneratorError> {
        generate_in_batches(self, requests, batch_size, on_reply)
    }

    /// Facts that identify what produced the replies beyond the registry entry (weights,
    /// tokenizer and chat-template hashes, the provider's endpoint), recorded in the run
    /// manifest so two runs can be told apart.
    fn provenance(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// Static batching: `requests` in fixed batches of `batch_size` through
/// [`Generator::generate`], each batch's replies handed to `on_reply` once the whole batch is
/// done (what `generate --static-batches` runs, and every API model's way).
///
/// # Errors
/// The generator's fatal error, or a batch answered with the wrong number of replies.
pub fn generate_in_batches<G: Generator + ?Sized>(
    generator: &mut G,
    requests: &[GenerationRequest],
    batch_size: usize,
    on_reply: &mut dyn FnMut(usize, GenerationReply) -> ControlFlow<()>,
) -> Result<(), FatalGeneratorError> {
    let batch_size = batch_size.max(1);
    for (b, batch) in requests.chunks(batch_size).enumerate() {
        let replies = generator.generate(batch)?;
        if replies.len() != batch.len() {
            return Err(FatalGeneratorError(format!(
                "the generator returned {} replies for {} requests", replies.len(), batch.len())));
        }
        for (i, reply) in replies.into_iter().enumerate() {
            if on_reply(b * batch_size + i, reply).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Which slice of a data set a run covers, for runs spread over several machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// 1-based index of this shard.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

/// The data set a run answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    /// Path as given on the command line.
    pub path: String,
    /// SHA-256 (hex) of the file.
    pub sha256: String,
    /// Conversations in the file (all shards).
    pub conversations: usize,
}

/// What one model of a run was, beyond its registry id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRunInfo {
    /// Local or API.
    pub kind: ModelKind,
    /// `candle` or the API provider.
    pub provider: String,
    /// Device that ran it.
    pub device: String,
    /// Weights repository revision, or the API model string.
    pub revision: String,
    /// Weights file hash, tokenizer and chat-template hashes, endpoint: whatever the generator
    /// reports (see `Generator::provenance`).
    pub provenance: BTreeMap<String, String>,
    /// Peak resident memory of the mhbench process while it loaded this local model and
    /// generated its replies, in bytes (Linux `VmHWM`, reset before the model loads; the largest
    /// over the invocations and shards that generated). Absent for API models, where the peak
    /// cannot be reset per model (so one model's peak never carries another's), and in runs
    /// written before mhbench recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}

// ---- What the analysis joins ratings onto: rated replies, from a run or a release. ----

/// Whether a generator model's weights are public, the study's closed-vs-open split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelGroup {
    /// Reached only through a provider's API.
    Closed,
    /// Open weights, run locally.
    Open,
}

/// A model that produced rated replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Closed or open; `None` for replies that are neither (a data set's human reference).
    pub group: Option<ModelGroup>,
    /// Provider (`openai`, `anthropic`, `google`, `candle`, ...), used to leave out a judge's
    /// own provider's models.
    pub provider: Option<String>,
}

/// A reply known to exist, before any rating is joined.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEntry {
    /// Model that answered.
    pub model: ModelInfo,
    /// Conversation answered.
    pub conversation: String,
    /// Reply text, where known.
    pub text: Option<String>,
}

impl ResponseEntry {
    /// The entry for one record of a run; API models are closed, local models open.
    pub fn from_record(record: &ResponseRecord) -> Self {
        let group = match record.kind {
            ModelKind::Api => ModelGroup::Closed,
            ModelKind::Local => ModelGroup::Open,
        };
        Self {
            model: ModelInfo {
                id: record.model_id.to_string(),
                group: Some(group),
                provider: Some(record.provider.clone()),
            },
            conversation: record.conversation_id.to_string(),
            text: Some(record.text.clone()),
        }
    }
}

/// Everything needed to reproduce a run and to tell two runs apart; `results/<run>/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunManifest {
    /// Layout version of this record; see [`SCHEMA_VERSION`].
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// Run id (the run folder's name unless given).
    pub run_id: RunId,
    /// mhbench version that ran it.
    pub mhbench_version: String,
    /// Git commit of mhbench, with `-dirty` when the tree had changes; `unknown` outside git.
    pub git_commit: String,
    /// When the run was first started (UTC).
    pub created_at: DateTime<Utc>,
    /// The data set.
    pub dataset: DatasetInfo,
    /// Prompt file id.
    pub prompt_id: String,
    /// SHA-256 of the prompt template text.
    pub prompt_sha256: String,
    /// Sampling settings shared by every model.
    pub params: GenerationParams,
    /// This run's shard, when it covers only part of the data set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Shard folders this run was merged from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Per model id.
    pub models: BTreeMap<ModelId, ModelRunInfo>,
}

/// JSON Schemas of the on-disk records, by file stem (`conversation`, `response_record`,
/// `rating`), for users validating mhbench's files from other tools.
pub fn json_schemas() -> Vec<(&'static str, serde_json::Value)> {
    let to_json = |s: schemars::Schema| s.to_value();
    vec![
        ("conversation", to_json(schemars::schema_for!(Conversation))),
        ("response_record", to_json(schemars::schema_for!(ResponseRecord))),
        ("rating", to_json(schemars::schema_for!(Rating))),
        ("run_manifest", to_json(schemars::schema_for!(RunManifest))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_rejects_values_off_the_scale() {
        assert!(serde_json::from_str::<Score>("0").is_err());
        assert!(serde_json::from_str::<Score>("6").is_err());
        assert!(serde_json::from_str::<Score>("2.5").is_err());
        assert_eq!(serde_json::from_str::<Score>("3").unwrap().get(), 3);
    }

    #[test]
    fn conversation_id_joins_source_and_row() {
        let id = ConversationId::new(Source::Counselchat, "42");
        assert_eq!(id.as_str(), "counselchat:42");
    }
}
