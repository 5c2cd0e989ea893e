//! Text to token ids and back, with the same ids llama.cpp produces for the same file.
//!
//! Owns: building a `tokenizers` tokenizer from tokenizer.json or from GGUF metadata, the BOS/EOS
//! ids, and streaming decode. Does not own: chat formatting (`chat_template`) or when to stop
//! generating (the generation loop asks [`Tokenizer::eos_ids`]).
//!
//! GGUF vocabularies come in two kinds (`tokenizer.ggml.model`):
//! - SentencePiece-type (`llama`, `gemma`): a BPE with byte fallback whose merges are derived from
//!   the piece scores, the recipe of Hugging Face's SentencePiece converter
//!   (transformers `convert_slow_tokenizer.py`, `SentencePieceExtractor`), which reproduces
//!   llama.cpp's score-ordered bigram merging (`llm_tokenizer_spm` in `src/llama-vocab.cpp`).
//! - BPE-type (`gpt2`): byte-level BPE with the stored merges and a pre-tokeniser regex chosen by
//!   `tokenizer.ggml.pre`: the pattern llama.cpp's `llm_tokenizer_bpe` applies for that name
//!   (it must be the same pattern for the ids to be the same).
//!   An unknown or missing `pre` is refused: guessing silently changes token ids.
//!
//! In both kinds control tokens become special added tokens (parsed only when asked) and
//! user-defined tokens plain added tokens (always parsed), as llama.cpp's
//! `tokenizer_st_partition` does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior,
};

use super::gguf::{Gguf, MetadataReader};
use super::EngineError;

/// End-of-turn markers that stop generation in the chat formats the study uses, in addition to the
/// file's EOS id (llama.cpp keeps a similar list in `llama_vocab::impl::load`).
const END_OF_TURN_TOKENS: &[&str] = &[
    "<end_of_turn>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<｜end▁of▁sentence｜>",
];

/// llama.cpp's Llama 3 pre-tokeniser (`LLAMA_VOCAB_PRE_TYPE_LLAMA3`): digits in runs of up to three.
const LLAMA3_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// llama.cpp's Qwen2 pre-tokeniser (`LLAMA_VOCAB_PRE_TYPE_QWEN2`): every digit on its own.
const QWEN2_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types (`llama_token_type` in llama.cpp).
const TOKEN_TYPE_UNKNOWN: i32 = 2;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// How to encode: whether to add BOS/EOS as the file asks, and whether special-token text such as
/// `<start_of_turn>` becomes its control id (true) or is tokenized as ordinary text (false).
/// Mirrors the `add_special` / `parse_special` arguments of llama.cpp's `llama_tokenize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Add the BOS (and EOS) the file's `add_bos_token` / `add_eos_token` call for.
    pub add_special: bool,
    /// Turn special-token text into special ids.
    pub parse_special: bool,
}

impl EncodeOptions {
    /// User text: BOS added as the file asks, special-token text left as text.
    pub const TEXT: Self = Self {
        add_special: true,
        parse_special: false,
    };
    /// A rendered chat prompt: the template already wrote BOS and the turn markers.
    pub const PROMPT: Self = Self {
        add_special: false,
        parse_special: true,
    };
}

/// A tokenizer whose ids match llama.cpp's for the same model file.
pub struct Tokenizer {
    /// Behind a mutex because switching special-token parsing mutates the tokenizer; encoding
    /// is short, so contention does not matter.
    inner: Mutex<tokenizers::Tokenizer>,
    source: PathBuf,
    bos: Option<SpecialToken>,
    eos: Option<SpecialToken>,
    eos_ids: Vec<u32>,
}

/// Names the source and special tokens; the vocabulary (up to 262,144 entries) is left out.
impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("eos_ids", &self.eos_ids)
            .finish_non_exhaustive()
    }
}

/// A special token's id and text, such as BOS `<bos>` = 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialToken {
    /// The id.
    pub id: u32,
    /// The text, as chat templates need it (`bos_token`, `eos_token`).
    pub text: String,
}

impl Tokenizer {
    /// Loads a Hugging Face tokenizer.json; BOS and EOS come from the tokenizer_config.json beside
    /// it when present.
    ///
    /// # Errors
    /// [`EngineError::Tokenizer`] when a file cannot be read or parsed.
    pub fn from_tokenizer_json(path: &Path) -> Result<Self, EngineError> {
        let inner =
            tokenizers::Tokenizer::from_file(path).map_err(|err| tokenizer_error(path, &err))?;
        let config = path.with_file_name("tokenizer_config.json");
        let (bos, eos) = if config.exists() {
            special_tokens_from_config(&config, &inner)?
        } else {
            (None, None)
        };
        Ok(Self::assemble(inner, path, bos, eos, &[]))
    }

    /// Builds the tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata.
    ///
    /// # Errors
    /// [`EngineError::Gguf`] naming every missing or inconsistent key, an unknown vocabulary kind,
    /// or a missing or unsupported `tokenizer.ggml.pre` for a `gpt2` vocabulary.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, EngineError> {
        let vocab = GgufVocab::read(gguf)?;
        let inner = match vocab.kind {
            VocabKind::SentencePiece => build_sentencepiece(&vocab),
            VocabKind::BytePair(pre) => build_byte_pair(&vocab, pre),
        }
        .map_err(|err| tokenizer_error(gguf.path(), &err))?;
        let bos = vocab.special_token(vocab.ids.bos);
        let eos = vocab.special_token(vocab.ids.eos);
        let extra_eos: Vec<u32> = [vocab.ids.eot, vocab.ids.eom]
            .into_iter()
            .flatten()
            .collect();
        Ok(Self::assemble(inner, gguf.path(), bos, eos, &extra_eos))
    }

    fn assemble(
        inner: tokenizers::Tokenizer,
        source: &Path,
        bos: Option<SpecialToken>,
        eos: Option<SpecialToken>,
        extra_eos: &[u32],
    ) -> Self {
        let mut eos_ids: Vec<u32> = eos
            .iter()
            .map(|token| token.id)
            .chain(extra_eos.iter().copied())
            .collect();
        eos_ids.extend(
            END_OF_TURN_TOKENS
                .iter()
                .filter_map(|text| inner.token_to_id(text)),
        );
        eos_ids.sort_unstable();
        eos_ids.dedup();
        Self {
            inner: Mutex::new(inner),
            source: source.to_path_buf(),
            bos,
            eos,
            eos_ids,
        }
    }

    /// Token ids for `text`.
    ///
    /// # Errors
    /// [`EngineError::Tokenizer`] when the underlying tokenizer fails (it does not for valid UTF-8
    /// with a byte-level or byte-fallback vocabulary).
    pub fn encode(&self, text: &str, options: EncodeOptions) -> Result<Vec<u32>, EngineError> {
        let mut inner = self.lock();
        inner.set_encode_special_tokens(!options.parse_special);
        let encoding = inner
            .encode_fast(text, options.add_special)
            .map_err(|err| tokenizer_error(&self.source, &err))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text for `ids`; special tokens (BOS, turn markers) are dropped when `skip_special`.
    ///
    /// # Errors
    /// [`EngineError::Tokenizer`] when the decoder fails.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, EngineError> {
        self.lock()
            .decode(ids, skip_special)
            .map_err(|err| tokenizer_error(&self.source, &err))
    }

    /// The id of a token text, such as `<end_of_turn>`, if the vocabulary has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.lock().token_to_id(text)
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.lock().get_vocab_size(true)
    }

    /// The beginning-of-sequence token, if the file names one.
    pub fn bos(&self) -> Option<&SpecialToken> {
        self.bos.as_ref()
    }

    /// The end-of-sequence token, if the file names one.
    pub fn eos(&self) -> Option<&SpecialToken> {
        self.eos.as_ref()
    }

    /// Every id that ends a reply: EOS, the file's end-of-turn ids, and the known end-of-turn
    /// markers present in the vocabulary. Sorted, without duplicates.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// A decoder that turns generated ids into text piece by piece for streaming.
    pub fn stream(&self, skip_special: bool) -> StreamDecoder<'_> {
        StreamDecoder {
            tokenizer: self,
            skip_special,
            ids: Vec::new(),
            prefix_start: 0,
            pending_start: 0,
            prefix: String::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, tokenizers::Tokenizer> {
        // A panic while holding the lock cannot leave the tokenizer half-changed: the only mutation
        // is the special-token flag, which every encode sets again.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Streaming decode: returns only whole characters, holding back bytes of an unfinished UTF-8
/// sequence (byte-fallback or byte-level tokens) until the rest arrives. The algorithm of
/// `tokenizers`' `DecodeStream`: decode the last emitted chunk together with the ids after it,
/// and emit what those ids added; the chunk gives the decoder the context it needs (a leading
/// space it would strip, the first bytes of a character).
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    skip_special: bool,
    ids: Vec<u32>,
    /// Where the last emitted chunk starts in `ids`.
    prefix_start: usize,
    /// Where the ids not yet emitted start in `ids`.
    pending_start: usize,
    /// The decoded last emitted chunk.
    prefix: String,
}

impl StreamDecoder<'_> {
    /// Adds one generated id; returns the new text, or `None` while a character is incomplete.
    ///
    /// # Errors
    /// [`EngineError::Tokenizer`] when decoding fails, or when the decoder changed text it had
    /// already given (no supported vocabulary does that).
    pub fn step(&mut self, id: u32) -> Result<Option<String>, EngineError> {
        self.ids.push(id);
        let window = self.ids.get(self.prefix_start..).unwrap_or_default();
        let text = self.tokenizer.decode(window, self.skip_special)?;
        if text.len() <= self.prefix.len() || text.ends_with('\u{FFFD}') {
            return Ok(None);
        }
        let Some(new_text) = text.strip_prefix(self.prefix.as_str()) else {
            return Err(EngineError::Tokenizer {
                path: self.tokenizer.source.clone(),
                message: format!("streaming decode: `{}` became `{text}`", self.prefix),
            });
        };
        let new_text = new_text.to_string();
        self.prefix_start = self.pending_start;
        self.pending_start = self.ids.len();
        let chunk = self.ids.get(self.prefix_start..).unwrap_or_default();
        self.prefix = self.tokenizer.decode(chunk, self.skip_special)?;
        Ok(Some(new_text))
    }
}

/// Which vocabulary kind a GGUF file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VocabKind {
    SentencePiece,
    BytePair(PreTokenizer),
}

/// The supported `tokenizer.ggml.pre` values, as llama.cpp groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PreTokenizer {
    /// `llama-bpe` (Llama 3, 3.1, R1-Distill-Llama).
    Llama3,
    /// `qwen2` (Qwen2, 2.5, 3) and `deepseek-r1-qwen` (R1-Distill-Qwen).
    Qwen2,
}

impl PreTokenizer {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "llama3" | "llama-v3" | "llama-bpe" => Some(Self::Llama3),
            "qwen2" | "deepseek-r1-qwen" => Some(Self::Qwen2),
            _ => None,
        }
    }

    fn pattern(self) -> &'static str {
        match self {
            Self::Llama3 => LLAMA3_PATTERN,
            Self::Qwen2 => QWEN2_PATTERN,
        }
    }
}

/// The `tokenizer.ggml.*` metadata, checked for consistency.
#[derive(Debug)]
struct GgufVocab {
    kind: VocabKind,
    tokens: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i32>,
    merges: Vec<String>,
    ids: SpecialIds,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

/// The special-token ids a GGUF file names (`tokenizer.ggml.<name>_token_id`).
#[derive(Debug)]
struct SpecialIds {
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    eot: Option<u32>,
    eom: Option<u32>,
}

impl SpecialIds {
    const NAMES: [&'static str; 5] = ["bos", "eos", "unknown", "eot", "eom"];

    fn read(meta: &mut MetadataReader<'_>, n_tokens: usize) -> Self {
        let [bos, eos, unk, eot, eom] = Self::NAMES.map(|name| {
            let key = format!("tokenizer.ggml.{name}_token_id");
            let id = meta.opt_u32(&key);
            if let Some(id) = id.filter(|&id| id as usize >= n_tokens) {
                meta.report(format!("`{key}` = {id} is outside the {n_tokens} tokens"));
            }
            id
        });
        Self {
            bos,
            eos,
            unk,
            eot,
            eom,
        }
    }
}

impl GgufVocab {
    fn read(gguf: &Gguf) -> Result<Self, EngineError> {
        let mut meta = gguf.metadata();
        let model = meta.string("tokenizer.ggml.model");
        let pre = meta.opt_string("tokenizer.ggml.pre");
        let tokens = meta.strings("tokenizer.ggml.tokens");
        let scores = meta.opt_f32s("tokenizer.ggml.scores").unwrap_or_default();
        let types = meta
            .opt_i32s("tokenizer.ggml.token_type")
            .unwrap_or_default();
        let merges = meta
            .opt_strings("tokenizer.ggml.merges")
            .unwrap_or_default();
        let ids = SpecialIds::read(&mut meta, tokens.len());
        let kind = vocab_kind(&model, pre.as_deref(), &mut meta);
        check_vocabulary(&mut meta, kind, &tokens, &scores, &types, &merges);
        let is_spm = kind == Some(VocabKind::SentencePiece);
        let add_bos = meta.opt_bool("tokenizer.ggml.add_bos_token");
        let add_eos = meta
            .opt_bool("tokenizer.ggml.add_eos_token")
            .unwrap_or(false);
        let add_space_prefix = meta
            .opt_bool("tokenizer.ggml.add_space_prefix")
            .unwrap_or(is_spm);
        meta.finish()?;
        let kind = kind.expect("invariant: finish() fails when the vocabulary kind is unknown");
        // llama.cpp's defaults when the key is absent: SentencePiece and Llama 3 add BOS.
        let add_bos =
            add_bos.unwrap_or(is_spm || kind == VocabKind::BytePair(PreTokenizer::Llama3));
        Ok(Self {
            kind,
            tokens,
            scores,
            types,
            merges,
            ids,
            add_bos,
            add_eos,
            add_space_prefix,
        })
    }

    fn token_type(&self, id: usize) -> i32 {
        self.types.get(id).copied().unwrap_or(1)
    }

    fn special_token(&self, id: Option<u32>) -> Option<SpecialToken> {
        let id = id?;
        let text = self.tokens.get(id as usize)?.clone();
        Some(SpecialToken { id, text })
    }
}

/// Array lengths agree with the token list, ids fit in u32, and a gpt2 vocabulary has merges.
fn check_vocabulary(
    meta: &mut MetadataReader<'_>,
    kind: Option<VocabKind>,
    tokens: &[String],
    scores: &[f32],
    types: &[i32],
    merges: &[String],
) {
    if u32::try_from(tokens.len()).is_err() {
        meta.report(format!(
            "`tokenizer.ggml.tokens` has {} entries, more than 32-bit ids allow",
            tokens.len()
        ));
    }
    if kind == Some(VocabKind::SentencePiece) && scores.len() != tokens.len() {
        meta.report(format!(
            "`tokenizer.ggml.scores` has {} entries for {} tokens",
            scores.len(),
            tokens.len()
        ));
    }
    if types.len() != tokens.len() {
        meta.report(format!(
            "`tokenizer.ggml.token_type` has {} entries for {} tokens",
            types.len(),
            tokens.len()
        ));
    }
    if matches!(kind, Some(VocabKind::BytePair(_))) && merges.is_empty() {
        meta.report(
            "`tokenizer.ggml.merges` is missing or empty; a gpt2 vocabulary needs its merges"
                .into(),
        );
    }
}

fn vocab_kind(model: &str, pre: Option<&str>, meta: &mut MetadataReader<'_>) -> Option<VocabKind> {
    match model {
        "llama" | "gemma" => Some(VocabKind::SentencePiece),
        "gpt2" => match pre {
            None => {
                meta.report(
                    "`tokenizer.ggml.pre` is missing; a gpt2 vocabulary needs it to pick the \
                     pre-tokeniser (re-convert the model with a recent llama.cpp)"
                        .into(),
                );
                None
            }
            Some(name) => match PreTokenizer::from_name(name) {
                Some(pre) => Some(VocabKind::BytePair(pre)),
                None => {
                    meta.report(format!(
                        "`tokenizer.ggml.pre` = `{name}` is not supported; \
                         supported: llama-bpe, qwen2, deepseek-r1-qwen"
                    ));
                    None
                }
            },
        },
        "" => None, // already reported as missing
        other => {
            meta.report(format!(
                "`tokenizer.ggml.model` = `{other}` is not supported; supported: llama, gemma, gpt2"
            ));
            None
        }
    }
}

/// The vocabulary map; for duplicate texts the last id wins, as in llama.cpp's `token_to_id`.
fn vocab_map(tokens: &[String]) -> Vocab {
    // Ids beyond u32 were reported by `check_vocabulary` before this runs.
    let entry = |(id, text): (usize, &String)| Some((text.clone(), u32::try_from(id).ok()?));
    tokens.iter().enumerate().filter_map(entry).collect()
}

fn build_sentencepiece(vocab: &GgufVocab) -> tokenizers::Result<tokenizers::Tokenizer> {
    let unk = vocab.special_token(vocab.ids.unk).map(|token| token.text);
    let mut builder = BPE::builder()
        .vocab_and_merges(
            vocab_map(&vocab.tokens),
            merges_from_scores(&vocab.tokens, &vocab.scores),
        )
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk);
    }
    let mut tokenizer = tokenizers::Tokenizer::new(builder.build()?);
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if vocab.add_space_prefix {
        normalizers.push(Prepend::new("▁".into()).into());
    }
    normalizers.push(Replace::new(" ", "▁")?.into());
    tokenizer.with_normalizer(Some(NormalizerSequence::new(normalizers)))?;
    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if vocab.add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    finish_gguf_tokenizer(tokenizer, vocab)
}

fn build_byte_pair(
    vocab: &GgufVocab,
    pre: PreTokenizer,
) -> tokenizers::Result<tokenizers::Tokenizer> {
    let merges = vocab
        .merges
        .iter()
        .map(|merge| split_merge(merge))
        .collect::<Result<Merges, _>>()?;
    let model = BPE::builder()
        .vocab_and_merges(vocab_map(&vocab.tokens), merges)
        .ignore_merges(pre == PreTokenizer::Llama3)
        .build()?;
    let mut tokenizer = tokenizers::Tokenizer::new(model);
    let split = Split::new(
        SplitPattern::Regex(pre.pattern().into()),
        SplitDelimiterBehavior::Isolated,
        false,
    )?;
    let pre_tokenizers: Vec<PreTokenizerWrapper> =
        vec![split.into(), ByteLevel::new(false, false, false).into()];
    tokenizer.with_pre_tokenizer(Some(PreTokenizerSequence::new(pre_tokenizers)));
    tokenizer.with_decoder(Some(ByteLevel::new(false, false, false)));
    finish_gguf_tokenizer(tokenizer, vocab)
}

/// A `gpt2` merge is "left right"; llama.cpp splits at the first space after the first byte.
fn split_merge(merge: &str) -> Result<(String, String), String> {
    let split_at = merge
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == ' ')
        .map(|(i, _)| i);
    match split_at {
        Some(i) => Ok((merge[..i].to_string(), merge[i + 1..].to_string())),
        None => Err(format!(
            "`tokenizer.ggml.merges` entry `{merge}` has no space between its two pieces"
        )),
    }
}

/// Merges for a SentencePiece vocabulary: every split of every piece into two pieces that are
/// both in the vocabulary, ordered by the merged piece's score (highest first), pieces in id
/// order and splits by the (left, right) ids, as Hugging Face's `SentencePieceExtractor` does.
fn merges_from_scores(tokens: &[String], scores: &[f32]) -> Merges {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(id, text)| (text.as_str(), id))
        .collect();
    let mut scored: Vec<(f32, usize, usize)> = Vec::new();
    for (piece, score) in tokens.iter().zip(scores) {
        let start = scored.len();
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if let (Some(&l), Some(&r)) = (ids.get(left), ids.get(right)) {
                scored.push((*score, l, r));
            }
        }
        scored[start..].sort_by_key(|&(_, l, r)| (l, r));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .map(|(_, l, r)| (tokens[l].clone(), tokens[r].clone()))
        .collect()
}

/// Added tokens and the BOS/EOS post-processor, shared by both vocabulary kinds.
fn finish_gguf_tokenizer(
    mut tokenizer: tokenizers::Tokenizer,
    vocab: &GgufVocab,
) -> tokenizers::Result<tokenizers::Tokenizer> {
    let added = |types: &[i32], special: bool| -> Vec<AddedToken> {
        (0..vocab.tokens.len())
            .filter(|&id| types.contains(&vocab.token_type(id)))
            .map(|id| AddedToken::from(vocab.tokens[id].clone(), special).normalized(false))
            .collect()
    };
    tokenizer.add_special_tokens(added(&[TOKEN_TYPE_CONTROL, TOKEN_TYPE_UNKNOWN], true))?;
    tokenizer.add_tokens(added(&[TOKEN_TYPE_USER_DEFINED], false))?;
    let bos = vocab.ids.bos.filter(|_| vocab.add_bos);
    let eos = vocab.ids.eos.filter(|_| vocab.add_eos);
    let specials: Vec<(String, u32)> = [bos, eos]
        .into_iter()
        .flatten()
        .filter_map(|id| vocab.tokens.get(id as usize).map(|t| (t.clone(), id)))
        .collect();
    if !specials.is_empty() {
        let mut single: Vec<String> = bos
            .and_then(|id| vocab.tokens.get(id as usize))
            .map(|t| format!("{t}:0"))
            .into_iter()
            .collect();
        single.push("$A:0".into());
        single.extend(
            eos.and_then(|id| vocab.tokens.get(id as usize))
                .map(|t| format!("{t}:0")),
        );
        let template = TemplateProcessing::builder()
            .try_single(single.join(" "))?
            .special_tokens(specials)
            .build()?;
        tokenizer.with_post_processor(Some(template));
    }
    Ok(tokenizer)
}

fn special_tokens_from_config(
    config: &Path,
    inner: &tokenizers::Tokenizer,
) -> Result<(Option<SpecialToken>, Option<SpecialToken>), EngineError> {
    let text = std::fs::read_to_string(config).map_err(|source| EngineError::Io {
        path: config.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| EngineError::Tokenizer {
            path: config.to_path_buf(),
            message: format!("not valid JSON: {err}"),
        })?;
    let token = |key: &str| -> Option<SpecialToken> {
        let value = json.get(key)?;
        let text = value
            .as_str()
            .or_else(|| value.get("content").and_then(|c| c.as_str()))?;
        Some(SpecialToken {
            id: inner.token_to_id(text)?,
            text: text.to_string(),
        })
    };
    Ok((token("bos_token"), token("eos_token")))
}

fn tokenizer_error(path: &Path, err: &dyn std::fmt::Display) -> EngineError {
    EngineError::Tokenizer {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_merges_from_scores_highest_first() {
        let tokens: Vec<String> = ["a", "b", "c", "ab", "bc", "abc"]
            .map(String::from)
            .to_vec();
        let scores = [0.0, 0.0, 0.0, -2.0, -1.0, -3.0];
        let merges = merges_from_scores(&tokens, &scores);
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect();
        // "bc" (-1) before "ab" (-2) before the two ways to build "abc" (-3), a+bc (ids 0,4) first.
        assert_eq!(pairs, [("b", "c"), ("a", "b"), ("a", "bc"), ("ab", "c")]);
    }

    #[test]
    fn splits_merges_at_the_first_inner_space() {
        assert_eq!(split_merge("Ġ t").unwrap(), ("Ġ".into(), "t".into()));
        assert_eq!(split_merge("  x").unwrap(), (" ".into(), "x".into()));
        assert!(split_merge("nospace").unwrap_err().contains("nospace"));
    }

    #[test]
    fn knows_only_the_pre_tokenisers_it_implements() {
        assert_eq!(
            PreTokenizer::from_name("llama-bpe"),
            Some(PreTokenizer::Llama3)
        );
        assert_eq!(PreTokenizer::from_name("qwen2"), Some(PreTokenizer::Qwen2));
        assert_eq!(
            PreTokenizer::from_name("deepseek-r1-qwen"),
            Some(PreTokenizer::Qwen2)
        );
        assert_eq!(PreTokenizer::from_name("gpt-4o"), None);
        assert_eq!(PreTokenizer::from_name("default"), None);
    }

    fn gpt2_gguf(pre: Option<&str>) -> tempfile::NamedTempFile {
        use candle_core::quantized::gguf_file::{self, Value};
        let strings = |items: &[&str]| {
            Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
        };
        let mut metadata = vec![
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.tokens", strings(&["a", "b", "ab"])),
            ("tokenizer.ggml.merges", strings(&["a b"])),
            ("tokenizer.ggml.eos_token_id", Value::U32(7)),
        ];
        if let Some(pre) = pre {
            metadata.push(("tokenizer.ggml.pre", Value::String(pre.into())));
        }
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let pairs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        gguf_file::write(file.as_file_mut(), &pairs, &[]).unwrap();
        file
    }

    #[test]
    fn refuses_a_gpt2_vocabulary_without_pre() {
        let file = gpt2_gguf(None);
        let message = Tokenizer::from_gguf(&Gguf::open(file.path()).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`tokenizer.ggml.pre` is missing"),
            "{message}"
        );
        // Every problem is named at once: the out-of-range EOS too.
        assert!(
            message.contains("`tokenizer.ggml.eos_token_id` = 7 is outside the 3 tokens"),
            "{message}"
        );
    }

    #[test]
    fn refuses_an_unknown_pre_tokenizer_instead_of_guessing() {
        let file = gpt2_gguf(Some("gpt-4o"));
        let message = Tokenizer::from_gguf(&Gguf::open(file.path()).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`tokenizer.ggml.pre` = `gpt-4o` is not supported"),
            "{message}"
        );
    }
}
