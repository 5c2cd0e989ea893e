//! [`LocalGenerator`]: a registry model loaded into the engine and served through the shared
//! `Generator` trait, so the runner, the judge and the bench treat it like any API model.
//!
//! It joins the parts of the engine: the chat template renders the messages, the tokenizer
//! turns them into ids, [`generate::generate_each`] schedules the conversations (continuous
//! batching), and the reasoning split removes a `<think>` block from the rated text for
//! reasoning models (the raw text is kept).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;

use crate::registry::{ChatTemplateSource, LocalModel, TokenizerSource, Weights};
use crate::schema::{
    FatalGeneratorError, FinishReason, GenerationParams, GenerationReply, GenerationRequest, Generator, GeneratorInfo,
    ModelKind, Timings, TokenSource, TokenUsage,
};

use super::chat_template::{ChatTemplate, RenderOptions};
use super::decoder::Model;
use super::generate::{self, GenerateOptions, GenerationInput, StopReason};
use super::gguf::Gguf;
use super::reasoning::split_reasoning;
use super::sampler::SamplingParams;
use super::tokenizer::{EncodeOptions, Tokenizer};
use super::weights::GgufFile;
use super::{models, EngineError};

/// Conversations in flight unless the caller asks otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 8;
/// Prompt columns per prefill pass.
const PREFILL_CHUNK: usize = 512;

/// A local model ready to answer.
pub struct LocalGenerator {
    spec: LocalModel,
    device_name: String,
    model: Model,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    provenance: BTreeMap<String, String>,
}

/// The candle device for `cpu`, `cuda`, `cuda:N` or `metal`. A GPU that this build lacks or this
/// machine cannot open is an error naming the cause; the engine never falls back to the CPU, so
/// a run's recorded device is always the one that ran it.
///
/// # Errors
/// An unknown name, a device this build was compiled without, or one the machine cannot open.
pub fn parse_device(name: &str) -> Result<Device, EngineError> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "metal" if !cfg!(feature = "metal") => Err(not_built(name, "metal")),
        "metal" => Device::new_metal(0).map_err(|e| unavailable(name, "Metal", &e)),
        _ => {
            let ordinal = match name {
                "cuda" => 0,
                other => other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| {
                    EngineError::Input(format!("--device `{other}`: expected cpu, cuda, cuda:N or metal"))
                })?,
            };
            if !cfg!(feature = "cuda") {
                return Err(not_built(name, "cuda"));
            }
            Device::new_cuda(ordinal).map_err(|e| unavailable(name, "CUDA", &e))
        }
    }
}

/// The error for a device whose backend this binary was compiled without.
fn not_built(name: &str, feature: &str) -> EngineError {
    EngineError::Device(format!(
        "--device {name}: this mhbench binary was built without the `{feature}` feature; rebuild it with          `cargo build --release --features {feature}` (README, GPU) or use --device cpu"))
}

/// The error for a device the backend cannot open (no GPU, no driver, ordinal out of range).
fn unavailable(name: &str, backend: &str, cause: &candle_core::Error) -> EngineError {
    let hint = if backend == "CUDA" { "; check that `nvidia-smi` lists the GPU" } else { "" };
    EngineError::Device(format!(
        "--device {name}: no usable {backend} device on this machine ({cause}){hint}, or use --device cpu"))
}

impl LocalGenerator {
    /// Load `spec` from `weights` (a GGUF file or a safetensors folder) onto `device`.
    ///
    /// # Errors
    /// Unreadable or unsupported weights, tokenizer or chat template.
    pub fn load(spec: &LocalModel, weights: &Path, device: &str) -> Result<Self, EngineError> {
        let dev = parse_device(device)?;
        let mut provenance = BTreeMap::new();
        let (model, tokenizer, template) = match &spec.weights {
            Weights::Gguf { .. } => {
                let gguf = Gguf::open(weights)?;
                let tokenizer = match &spec.tokenizer {
                    TokenizerSource::Gguf => Tokenizer::from_gguf(&gguf)?,
                    TokenizerSource::Hub { file } => Tokenizer::from_tokenizer_json(&sibling(weights, file))?,
                };
                let template = match &spec.chat_template {
                    ChatTemplateSource::Gguf => ChatTemplate::resolve(None, Some(&gguf))?,
                    ChatTemplateSource::TokenizerConfig => {
                        ChatTemplate::resolve(Some(&sibling(weights, "tokenizer_config.json")), None)?
                    }
                    ChatTemplateSource::Named { name } => named_template(name)?,
                };
                // Hashed once per file (at fetch time or first use) and recorded beside it.
                let file_sha = crate::files::sha256_file_recorded(weights).map_err(|e| EngineError::Input(e.to_string()))?;
                if let Weights::Gguf { sha256: Some(expected), .. } = &spec.weights {
                    if !expected.eq_ignore_ascii_case(&file_sha) {
                        return Err(EngineError::Input(format!(
                            "{}: sha256 {file_sha} differs from models.toml's {expected} for {}; \
                             the file is corrupt or a different build, fetch it again",
                            weights.display(), spec.id)));
                    }
                }
                provenance.insert("weights_sha256".to_owned(), file_sha);
                (models::load_gguf_file(GgufFile::from_header(gguf)?, &dev)?, tokenizer, template)
            }
            Weights::Safetensors { .. } => {
                let tokenizer = match &spec.tokenizer {
                    TokenizerSource::Hub { file } => Tokenizer::from_tokenizer_json(&weights.join(file))?,
                    TokenizerSource::Gguf => {
                        return Err(EngineError::Input(format!("{}: a safetensors model needs `tokenizer = {{ source = \"hub\", file = \"tokenizer.json\" }}`", spec.id)))
                    }
                };
                let template = match &spec.chat_template {
                    ChatTemplateSource::Named { name } => named_template(name)?,
                    _ => ChatTemplate::resolve(Some(&weights.join("tokenizer_config.json")), None)?,
                };
                (models::load_safetensors(weights, &dev)?, tokenizer, template)
            }
        };
        provenance.insert("weights_path".to_owned(), weights.display().to_string());
        provenance.insert("chat_template".to_owned(), template.origin().to_owned());
        provenance.insert("tokenizer".to_owned(), format!("{:?}", spec.tokenizer).to_lowercase());
        Ok(Self { spec: spec.clone(), device_name: device.to_owned(), model, tokenizer, template, provenance })
    }

    /// The prompt ids for one request.
    fn prompt_ids(&self, request: &GenerationRequest) -> Result<Vec<u32>, EngineError> {
        let mut options = RenderOptions::for_tokenizer(&self.tokenizer, true);
        if self.spec.reasoning || self.spec.thinking {
            options.enable_thinking = Some(self.spec.thinking);
        }
        let text = self.template.render(&request.messages, &options)?;
        self.tokenizer.encode(&text, EncodeOptions::PROMPT)
    }

    /// The engine's options for requests with these sampling settings.
    fn options(&self, params: &GenerationParams) -> GenerateOptions {
        GenerateOptions {
            sampling: SamplingParams {
                temperature: params.temperature,
                top_p: params.top_p.filter(|p| *p < 1.0),
                top_k: params.top_k.map(|k| k as usize),
                repetition_penalty: params.repetition_penalty.map(|p| p as f32),
            },
            run_seed: params.seed,
            eos_ids: self.tokenizer.eos_ids().to_vec(),
            prefill_chunk: PREFILL_CHUNK,
        }
    }

    /// Answers requests that share sampling settings with up to `slots` in flight; `base` is
    /// the index of `requests[0]` for `on_reply`. A prompt that fails to render is answered at
    /// once with an error; an engine error fails every reply not yet handed over.
    fn run_scheduler(
        &mut self,
        requests: &[GenerationRequest],
        base: usize,
        slots: usize,
        on_reply: &mut dyn FnMut(usize, GenerationReply) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let started = Instant::now();
        let Some(first) = requests.first() else { return ControlFlow::Continue(()) };
        let options = self.options(&first.params);
        let mut inputs = Vec::new();
        let mut at = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            match self.prompt_ids(request) {
                Ok(prompt) => {
                    let max_new_tokens = request.params.max_new_tokens as usize;
                    inputs.push(GenerationInput { conversation_id: request.conversation_id.to_string(), prompt, max_new_tokens });
                    at.push(base + i);
                }
                Err(e) => on_reply(base + i, GenerationReply::failed(e.to_string(), String::new(), Timings::default()))?,
            }
        }
        let mut answered = vec![false; inputs.len()];
        let mut flow = ControlFlow::Continue(());
        let Self { model, tokenizer, spec, .. } = self;
        let result = generate::generate_each(model, &inputs, &options, slots, &mut |_, _| false, &mut |i, output| {
            answered[i] = true;
            flow = on_reply(at[i], reply(tokenizer, spec.reasoning, output));
            flow
        });
        flow?;
        if let Err(e) = result {
            let timings = Timings { total_ms: started.elapsed().as_secs_f64() * 1e3, ..Timings::default() };
            for (i, _) in answered.iter().enumerate().filter(|(_, done)| !**done) {
                on_reply(at[i], GenerationReply::failed(e.to_string(), String::new(), timings))?;
            }
        }
        ControlFlow::Continue(())
    }
}

/// The reply for one engine output: text decoded (a reasoning model's `<think>` block split
/// off), per-row timings and token counts.
fn reply(tokenizer: &Tokenizer, reasoning: bool, output: generate::GenerationOutput) -> GenerationReply {
    let timings = Timings {
        ttft_ms: Some(output.ttft_ms),
        prefill_ms: Some(output.prefill_ms),
        decode_ms: Some(output.decode_ms),
        total_ms: output.ttft_ms + output.decode_ms,
    };
    let usage = Some(TokenUsage {
        prompt_tokens: output.prompt_tokens as u32,
        completion_tokens: output.tokens.len() as u32,
        source: TokenSource::Engine,
    });
    let raw = match tokenizer.decode(&output.tokens, true) {
        Ok(text) => text,
        Err(e) => return GenerationReply { usage, ..GenerationReply::failed(e.to_string(), String::new(), timings) },
    };
    let (text, raw_text) = if reasoning {
        let split = split_reasoning(&raw);
        (split.answer, split.raw)
    } else {
        (raw.trim().to_owned(), (raw.trim() != raw).then_some(raw.clone()))
    };
    GenerationReply {
        text,
        raw_text,
        finish_reason: match output.stop {
            StopReason::Eos | StopReason::Hook => FinishReason::Stop,
            StopReason::MaxTokens => FinishReason::Length,
        },
        usage,
        timings,
        batch_size: output.batch as u32,
        provider_model_version: None,
        request_id: None,
        error: None,
    }
}

fn named_template(name: &str) -> Result<ChatTemplate, EngineError> {
    if name == super::chat_template::PLAIN_NAME {
        Ok(ChatTemplate::plain())
    } else {
        Err(EngineError::Input(format!("chat_template: unknown named template `{name}`; built in: plain")))
    }
}

fn sibling(weights: &Path, file: &str) -> PathBuf {
    weights.parent().unwrap_or(Path::new(".")).join(file)
}

impl Generator for LocalGenerator {
    fn info(&self) -> GeneratorInfo {
        GeneratorInfo {
            model_id: self.spec.id.clone(),
            provider: "candle".to_owned(),
            kind: ModelKind::Local,
            device: self.device_name.clone(),
        }
    }

    fn preferred_batch_size(&self) -> usize {
        DEFAULT_BATCH_SIZE
    }

    /// Every request in flight at once (a static batch); replies in request order.
    fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationReply>, FatalGeneratorError> {
        let mut replies = vec![None; requests.len()];
        self.generate_each(requests, requests.len(), &mut |i, reply| {
            replies[i] = Some(reply);
            ControlFlow::Continue(())
        })?;
        Ok(replies
            .into_iter()
            .map(|r| r.unwrap_or_else(|| GenerationReply::failed("invariant: no reply", String::new(), Timings::default())))
            .collect())
    }

    /// Continuous batching: up to `batch_size` conversations in flight, a finished one's slot
    /// refilled with the next at once. Rows of one scheduler share sampling settings, so runs of
    /// requests with other settings get their own.
    fn generate_each(
        &mut self,
        requests: &[GenerationRequest],
        batch_size: usize,
        on_reply: &mut dyn FnMut(usize, GenerationReply) -> ControlFlow<()>,
    ) -> Result<(), FatalGeneratorError> {
        let mut start = 0;
        while start < requests.len() {
            let params = &requests[start].params;
            let end = requests[start..].iter().position(|r| &r.params != params).map_or(requests.len(), |n| start + n);
            if self.run_scheduler(&requests[start..end], start, batch_size, on_reply).is_break() {
                break;
            }
            start = end;
        }
        Ok(())
    }

    fn provenance(&self) -> BTreeMap<String, String> {
        self.provenance.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_device;

    fn message(name: &str) -> String {
        parse_device(name).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn unknown_device_names_list_the_choices() {
        for name in ["gpu", "cuda:x", "cuda:"] {
            assert!(message(name).contains("expected cpu, cuda, cuda:N or metal"), "{name}: {}", message(name));
        }
        assert!(parse_device("cpu").is_ok_and(|d| d.is_cpu()));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_cpu_build_names_the_feature_and_never_falls_back() {
        for name in ["cuda", "cuda:1"] {
            let text = message(name);
            assert!(text.contains(&format!("--device {name}: this mhbench binary was built without the `cuda` feature")), "{text}");
            assert!(text.contains("cargo build --release --features cuda"), "{text}");
        }
    }

    #[cfg(not(feature = "metal"))]
    #[test]
    fn metal_in_a_build_without_it_names_the_feature() {
        assert!(message("metal").contains("built without the `metal` feature"), "{}", message("metal"));
    }
}
