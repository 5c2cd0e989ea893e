//! Property tests ("fuzzing" on stable Rust, with proptest) of every parser of user files: data
//! sets, `models.toml`, rubrics, ratings (CSV and JSON Lines), the five source loaders, data-set
//! and run manifests, GGUF and safetensors headers, chat templates and `config.json`.
//!
//! Each target feeds its parser mutations of a valid seed file (bytes flipped, cut, repeated,
//! and tokens that break parsers inserted: quotes, brackets, `nan`, huge numbers, NUL, BOMs)
//! and random bytes, and checks one invariant: the parser returns a valid value or a clear error
//! (non-empty, naming the file), never panics, and never asks for a single allocation larger
//! than a constant times the input (a counting global allocator watches each call). "Valid"
//! means the value passes the checks its readers rely on, so a wrong value that parses is caught
//! as a silent acceptance. The case count per target is `PROPTEST_CASES` (default 256, seconds
//! for the whole set; 10,000 took 37 s); each target prints what it tried.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use mhbench::schema::{ChatMessage, Conversation, ConversationId, Rating, Role, Source};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Counts the largest single allocation the current thread asked for.
struct PeakAlloc;

thread_local! {
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = PEAK.try_with(|peak| peak.set(peak.get().max(size)));
}

// SAFETY: every call is passed to the system allocator unchanged; only the size is noted.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// The largest single allocation a parser may ask for on an input of `len` bytes: a constant
/// for fixed buffers (I/O, SQLite pages, regex tables) plus a linear factor for parsed values
/// (a one-byte GGUF array element becomes a 32-byte value, doubled by vector growth).
fn allocation_bound(len: usize) -> usize {
    4 * 1024 * 1024 + 128 * len
}

/// What a target tried and how each input ended.
#[derive(Default)]
struct Tally {
    tried: AtomicUsize,
    accepted: AtomicUsize,
    errors: AtomicUsize,
}

impl Tally {
    fn print(&self, target: &str) {
        eprintln!(
            "fuzz {target}: {} inputs, {} accepted as valid, {} clear errors, 0 panics",
            self.tried.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed)
        );
    }
}

/// Run `parse` on one input and check the invariant; `valid` says what is wrong with an
/// accepted value, if anything; `place` must appear in every error (the file's name).
fn check<T>(
    tally: &Tally,
    input_len: usize,
    place: &str,
    parse: impl FnOnce() -> Result<T, String>,
    valid: impl FnOnce(&T) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    tally.tried.fetch_add(1, Ordering::Relaxed);
    PEAK.with(|peak| peak.set(0));
    let outcome = catch_unwind(AssertUnwindSafe(parse));
    let peak = PEAK.with(Cell::get);
    let outcome = outcome.map_err(|_| TestCaseError::fail("the parser panicked"))?;
    prop_assert!(peak <= allocation_bound(input_len), "asked for {peak} bytes at once on {input_len} bytes of input");
    match outcome {
        Ok(value) => {
            valid(&value).map_err(|why| TestCaseError::fail(format!("silent acceptance: {why}")))?;
            tally.accepted.fetch_add(1, Ordering::Relaxed);
        }
        Err(message) => {
            prop_assert!(!message.trim().is_empty(), "an empty error message");
            prop_assert!(message.contains(place), "the error does not name `{place}`: {message}");
            tally.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Tokens that break parsers of text formats: delimiters, escapes, odd numbers, NUL, BOMs.
const TOKENS: &[&[u8]] = &[
    b"\"", b"\\", b"{", b"}", b"[", b"]", b",", b":", b"=", b"\n", b"\r\n", b"\0", b"nan", b"inf", b"-inf",
    b"-1", b"0", b"1e999", b"18446744073709551616", b"\"\"", b"null", b"true", b"'''", b"[[models]]",
    b"[defaults]", b"[[groups]]", b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3", b"{{", b"}}", b"{%", b"%}", b"\t",
    b"\x1b[2J", b"\"\\u0000\"", b"\\ud800", b" ", b"#", b"'",
    // Little-endian counts and lengths for binary headers: huge, 2^30, 2^32 - 1, 0.
    &[0xff; 8], &[0, 0, 0, 0x40, 0, 0, 0, 0], &[0xff, 0xff, 0xff, 0xff], &[0; 8],
];

/// One edit of a seed; positions are taken modulo the current length.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Token(usize, usize),
    Truncate(usize),
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Flip(at, b)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Edit::Token(at, t)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1usize..256).prop_map(|(at, n)| Edit::Repeat(at, n)),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for edit in edits {
        let at = |i: usize, bytes: &Vec<u8>| if bytes.is_empty() { 0 } else { i % (bytes.len() + 1) };
        match edit {
            Edit::Flip(i, b) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] ^= b | 1;
            }
            Edit::Flip(..) => {}
            Edit::Delete(i, n) => {
                let start = at(*i, &bytes);
                let end = (start + n).min(bytes.len());
                bytes.drain(start..end);
            }
            Edit::Insert(i, new) => {
                let start = at(*i, &bytes);
                bytes.splice(start..start, new.iter().copied());
            }
            Edit::Token(i, t) => {
                let start = at(*i, &bytes);
                bytes.splice(start..start, TOKENS[*t].iter().copied());
            }
            Edit::Truncate(i) => {
                let len = at(*i, &bytes);
                bytes.truncate(len);
            }
            Edit::Repeat(i, n) => {
                let start = at(*i, &bytes);
                let end = (start + n).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(end..end, copy);
            }
        }
    }
    bytes
}

/// Inputs for a target: mostly edits of `seed`, sometimes random bytes.
fn inputs(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(edit(), 1..8).prop_map(move |edits| apply(&seed, &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Cases per target: `PROPTEST_CASES`, else 256.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

/// Feed `target` inputs derived from `seed`; print the tally; fail with the smallest input
/// that breaks the invariant.
fn fuzz(name: &str, seed: Vec<u8>, target: impl Fn(&Tally, &[u8]) -> Result<(), TestCaseError>) {
    let tally = Tally::default();
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let result = TestRunner::new(config).run(&inputs(seed), |bytes| target(&tally, &bytes));
    tally.print(name);
    match result {
        Ok(()) => {}
        Err(proptest::test_runner::TestError::Fail(why, input)) => {
            // Keep the smallest failing input, to replay and to add to the seeds.
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
            let path = dir.join(format!("{}.bin", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")));
            let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &input));
            panic!("fuzz {name}: {why}; smallest input ({} bytes) saved to {}", input.len(), path.display());
        }
        Err(e) => panic!("fuzz {name}: {e}"),
    }
}

/// [`fuzz`] a parser of files: each input is written to `file` first.
fn fuzz_file(name: &str, seed: Vec<u8>, file: &Path, target: impl Fn(&Tally, &[u8]) -> Result<(), TestCaseError>) {
    fuzz(name, seed, |tally, bytes| {
        std::fs::write(file, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        target(tally, bytes)
    });
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn dataset_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.jsonl");
    fuzz_file("data-set JSONL", fixture("datasets/sample.jsonl"), &file, |tally, bytes| {
        check(tally, bytes.len(), "set.jsonl", || mhbench::dataset::validate::read_set(&file).map_err(|e| e.to_string()), |set| {
            let ids: BTreeSet<_> = set.iter().map(|c| &c.id).collect();
            if ids.len() != set.len() {
                return Err("two records share an id".into());
            }
            set.iter().find_map(|c| mhbench::dataset::validate::problems(c).first().cloned()).map_or(Ok(()), Err)
        })
    });
}

#[test]
fn models_toml() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("models.toml");
    fuzz_file("models.toml", fixture("models.toml"), &file, |tally, bytes| {
        check(tally, bytes.len(), "models.toml", || mhbench::registry::Registry::load(&file).map_err(|e| e.to_string()), |registry| {
            let d = &registry.defaults;
            let usable = d.temperature.is_finite() && d.temperature >= 0.0 && d.max_new_tokens > 0
                && d.top_p.is_none_or(|p| p > 0.0 && p <= 1.0);
            if !usable {
                return Err(format!("defaults {d:?}"));
            }
            let ids: BTreeSet<_> = registry.models.iter().map(|m| m.id().as_str()).collect();
            if ids.len() != registry.models.len() || ids.iter().any(|id| id.is_empty() || id.contains(char::is_whitespace)) {
                return Err(format!("model ids {ids:?}"));
            }
            for model in &registry.models {
                match model {
                    mhbench::registry::ModelSpec::Api(api) => {
                        let prices = [api.price_input_per_mtok, api.price_output_per_mtok];
                        if prices.iter().any(|p| !(p.is_finite() && *p >= 0.0)) {
                            return Err(format!("{}: prices {prices:?}", api.id));
                        }
                    }
                    mhbench::registry::ModelSpec::Local(local) => {
                        if local.path.is_none() && local.weights.repo().0.trim().is_empty() {
                            return Err(format!("{}: neither repo nor path", local.id));
                        }
                    }
                }
            }
            Ok(())
        })
    });
}

#[test]
fn rubric_toml() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rubric.toml");
    fuzz_file("rubric TOML", fixture("datasets/rubric.toml"), &file, |tally, bytes| {
        check(tally, bytes.len(), "rubric.toml", || mhbench::rubric::Rubric::load(&file).map_err(|e| e.to_string()), |rubric| {
            let plain = |id: &str| !id.is_empty() && !id.contains(char::is_whitespace);
            if !rubric.attributes.iter().all(|a| plain(&a.id) && a.anchors.len() == 5) || rubric.attributes.is_empty() {
                return Err("an attribute without a plain id or five anchors".into());
            }
            let shorts: BTreeSet<_> = rubric.groups.iter().map(|g| g.short.trim()).collect();
            if shorts.len() != rubric.groups.len() || rubric.groups.iter().any(|g| rubric.attributes_in(&g.id).next().is_none()) {
                return Err("a shared short name or an empty group".into());
            }
            Ok(())
        })
    });
}

#[test]
fn ratings_jsonl() {
    let seed = br#"{"schema_version":1,"response":{"run_id":"r","conversation_id":"sample:1","model_id":"m"},"rater_id":"alice","rater_kind":"human","rubric_version":"1.0.0","status":"complete","scores":{"empathy":3,"safety":5},"comment":"fine","safety_flag":false,"created_at":"2026-01-01T00:00:00Z"}
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ratings.jsonl");
    assert!(mhbench::files::read_jsonl::<Rating>(&{
        std::fs::write(&file, seed).unwrap();
        file.clone()
    })
    .is_ok(), "the seed is a valid rating");
    fuzz_file("ratings JSONL", seed.to_vec(), &file, |tally, bytes| {
        check(tally, bytes.len(), "ratings.jsonl", || mhbench::files::read_jsonl::<Rating>(&file).map_err(|e| e.to_string()), |ratings| {
            // Scores are typed 1..5; a line holds exactly one rating, so no more than the lines.
            let lines = bytes.split(|&b| b == b'\n').count();
            if ratings.len() > lines {
                return Err(format!("{} ratings from {lines} lines", ratings.len()));
            }
            Ok(())
        })
    });
}

/// A run folder with 2 conversations answered by one model and a rating plan for alice and bob.
fn rated_run(dir: &Path) -> PathBuf {
    let run = dir.join("results").join("fuzz-run");
    std::fs::create_dir_all(run.join("responses")).unwrap();
    let mut conversations = String::new();
    let mut responses = String::new();
    for c in 0..2 {
        conversations += &format!(
            "{}\n",
            serde_json::json!({"id": format!("sample:{c}"), "source": "sample", "source_id": c.to_string(), "context": "I cannot sleep."})
        );
        responses += &format!(
            "{}\n",
            serde_json::json!({
                "run_id": "fuzz-run", "conversation_id": format!("sample:{c}"), "model_id": "qwen3-4b",
                "provider": "candle", "kind": "local",
                "prompt": {"template_id": "psychiatrist", "sha256": "00", "messages": []},
                "params": {"temperature": 0.0, "max_new_tokens": 64, "seed": 1},
                "text": "That sounds hard.", "finish_reason": "stop", "timings": {"total_ms": 1.0}, "device": "cpu",
                "batch_size": 1, "created_at": "2026-01-01T00:00:00Z",
            })
        );
    }
    std::fs::write(run.join("conversations.jsonl"), conversations).unwrap();
    std::fs::write(run.join("responses").join("qwen3-4b.jsonl"), responses).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mhbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rate", "plan", "--raters", "alice,bob", "--seed", "7", "--run"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    run
}

#[test]
fn ratings_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = rated_run(dir.path());
    let store = std::cell::RefCell::new(mhbench::rating::store::RatingStore::open(&mhbench::rating::store_path(&run)).unwrap());
    let file = dir.path().join("sheet.csv");
    let seed = b"conversation_id,model_id,rater_id,guidance,informativeness,safety,empathy,helpfulness,interpretation,comment,safety_flag\n\
sample:0,qwen3-4b,alice,3,4,5,2,3,1,\"=fine, \"\"quoted\"\"\",false\nsample:1,qwen3-4b,bob,1,2,3,4,5,5,,true\n";
    fuzz_file("ratings CSV", seed.to_vec(), &file, |tally, bytes| {
        let rows = bytes.split(|&b| b == b'\n').count();
        check(tally, bytes.len(), "sheet.csv", || mhbench::rating::import::import(&mut store.borrow_mut(), &file, &[]).map_err(|e| e.to_string()), |imported| {
            if *imported > rows {
                return Err(format!("{imported} ratings from {rows} lines"));
            }
            Ok(())
        })
    });
}

/// One source loader on its fixture; every conversation it returns must carry its own id.
fn fuzz_source(name: &str, source: Source, fixture_path: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(Path::new(fixture_path).file_name().unwrap());
    let place = name_of(&file);
    fuzz_file(name, fixture(fixture_path), &file, |tally, bytes| {
        check(tally, bytes.len(), &place, || mhbench::dataset::load(source, &file).map_err(|e| e.to_string()), |set: &Vec<Conversation>| {
            set.iter()
                .find(|c| c.source != source || c.id != ConversationId::new(source, &c.source_id))
                .map_or(Ok(()), |c| Err(format!("id {} for source {source}", c.id)))
        })
    });
}

#[test]
fn source_counselchat() {
    fuzz_source("CounselChat CSV", Source::Counselchat, "tests/fixtures/counselchat/20200325_counsel_chat.csv");
}

#[test]
fn source_mentalchat16k() {
    fuzz_source("MentalChat16K CSV", Source::Mentalchat16k, "tests/fixtures/mentalchat16k/Interview_Data_6K.csv");
}

#[test]
fn source_psych8k() {
    fuzz_source("Psych8K JSON", Source::Psych8k, "tests/fixtures/psych8k/Alexander_Street_shareGPT_2.0.json");
}

#[test]
fn source_mentalbench() {
    fuzz_source("MentalBench contexts CSV", Source::Mentalbench, "tests/fixtures/mentalbench/contexts.csv");
}

#[test]
fn source_emocare_bench() {
    fuzz_source(
        "EmoCare bench JSONL",
        Source::EmocareBench,
        "tests/fixtures/emocare-counselling-bench/counselling_bench_question.jsonl",
    );
}

#[test]
fn dataset_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.manifest.json");
    // The committed manifest with its first three rows: small enough for edits to reach every part.
    let mut seed: serde_json::Value = serde_json::from_slice(&fixture("datasets/study500.manifest.json")).unwrap();
    seed["rows"].as_array_mut().unwrap().truncate(3);
    let seed = serde_json::to_vec_pretty(&seed).unwrap();
    std::fs::write(&file, &seed).unwrap();
    assert!(mhbench::dataset::manifest::Manifest::read(&file).is_ok(), "the seed is a valid manifest");
    fuzz_file("data-set manifest", seed, &file, |tally, bytes| {
        check(tally, bytes.len(), "set.manifest.json", || mhbench::dataset::manifest::Manifest::read(&file).map_err(|e| e.to_string()), |_| Ok(()))
    });
}

#[test]
fn run_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifest.json");
    let seed = serde_json::to_vec_pretty(&serde_json::json!({
        "schema_version": 1, "run_id": "r", "mhbench_version": "0.1.0", "git_commit": "abc", "created_at": "2026-01-01T00:00:00Z",
        "dataset": {"path": "d.jsonl", "sha256": "0", "conversations": 1}, "prompt_id": "p", "prompt_sha256": "0",
        "params": {"temperature": 0.0, "max_new_tokens": 8, "seed": 1}, "models": {}
    }))
    .unwrap();
    std::fs::write(&file, &seed).unwrap();
    assert!(matches!(mhbench::runner::manifest::read(dir.path()), Ok(Some(_))), "the seed is a valid run manifest");
    fuzz_file("run manifest", seed, &file, |tally, bytes| {
        check(tally, bytes.len(), "manifest.json", || mhbench::runner::manifest::read(dir.path()).map_err(|e| e.to_string()), |_| Ok(()))
    });
}

/// A small GGUF: a few metadata kinds (string, arrays, integers, float) and one tensor.
fn small_gguf() -> Vec<u8> {
    use candle_core::quantized::gguf_file::{write, Value};
    use candle_core::quantized::QTensor;
    let tensor = QTensor::quantize(&candle_core::Tensor::zeros((2, 32), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap(), candle_core::quantized::GgmlDType::F32).unwrap();
    let metadata = [
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(1)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("tokenizer.ggml.tokens", Value::Array(vec![Value::String("a".into()), Value::String("b".into())])),
        ("tokenizer.ggml.scores", Value::Array(vec![Value::F32(-1.0), Value::F32(-2.0)])),
        ("tokenizer.chat_template", Value::String("{% for m in messages %}{{ m.content }}{% endfor %}".into())),
    ];
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    write(&mut out, &metadata, &[("token_embd.weight", &tensor)]).unwrap();
    out.into_inner()
}

#[test]
fn gguf_header() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.gguf");
    fuzz_file("GGUF header", small_gguf(), &file, |tally, bytes| {
        check(tally, bytes.len(), "model.gguf", || {
            let gguf = mhbench::engine::gguf::Gguf::open(&file).map_err(|e| e.to_string())?;
            // What the engine reads next from a header: the template and the tokenizer.
            let _ = mhbench::engine::chat_template::ChatTemplate::from_gguf(&gguf);
            let _ = mhbench::engine::tokenizer::Tokenizer::from_gguf(&gguf);
            Ok(gguf)
        }, |_| Ok(()))
    });
}

#[test]
fn safetensors_header() {
    let seed = {
        let tensor = candle_core::Tensor::zeros((2, 3), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        candle_core::safetensors::save(&std::collections::HashMap::from([("w".to_owned(), tensor)]), &path).unwrap();
        std::fs::read(&path).unwrap()
    };
    fuzz("safetensors header", seed, |tally, bytes| {
        // The engine maps safetensors through candle, which reads the header with the
        // `safetensors` crate; its errors do not name a file, so only the message is checked.
        check(tally, bytes.len(), "", || candle_core::safetensors::load_buffer(bytes, &candle_core::Device::Cpu).map_err(|e| e.to_string()), |_| Ok(()))
    });
}

#[test]
fn chat_templates() {
    let seed = fixture("tests/fixtures/engine/chat_templates/qwen2.5.jinja");
    let messages = [
        ChatMessage { role: Role::System, content: "Be kind.".into() },
        ChatMessage { role: Role::User, content: "I feel low.".into() },
    ];
    let options = mhbench::engine::chat_template::RenderOptions { add_generation_prompt: true, ..Default::default() };
    fuzz("chat templates", seed, |tally, bytes| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        check(tally, bytes.len(), "fuzz.jinja", || {
            let template = mhbench::engine::chat_template::ChatTemplate::new("fuzz.jinja", text).map_err(|e| e.to_string())?;
            template.render(&messages, &options).map_err(|e| e.to_string())
        }, |_| Ok(()))
    });
}

#[test]
fn hf_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    let seed = br#"{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": true}"#;
    fuzz_file("config.json", seed.to_vec(), &file, |tally, bytes| {
        check(tally, bytes.len(), "config.json", || mhbench::engine::models::HfConfig::read(dir.path()).map_err(|e| e.to_string()), |_| Ok(()))
    });
}
