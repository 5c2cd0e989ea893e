//! Turning chat messages into the prompt text a model was trained on, with the model's own
//! Jinja chat template.
//!
//! Owns: finding the template (tokenizer_config.json `chat_template`, GGUF
//! `tokenizer.chat_template`, or the named fallback [`PLAIN`]), and rendering it with minijinja
//! the way Hugging Face `apply_chat_template` renders with jinja2 (transformers
//! `utils/chat_template_utils.py`): trim_blocks and lstrip_blocks, loop controls, Python string
//! methods (minijinja-contrib `pycompat`), `raise_exception`, `strftime_now` and a `tojson` that
//! writes JSON the way Python's `json.dumps` does. Does not own: tokenizing the result
//! (`tokenizer`, with [`super::tokenizer::EncodeOptions::PROMPT`]) or choosing messages
//! (`runner`).

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};

use super::gguf::Gguf;
use super::tokenizer::Tokenizer;
use super::EngineError;
use crate::schema::ChatMessage;

/// The fallback for files without a chat template (base models such as the default test model).
///
/// It writes BOS, then each message's text as is, separated by a blank line (system prompt first
/// when there is one), and cues the reply with a final blank line when a generation prompt is
/// asked for: a base model continues after the paragraph break, with no role words invented.
pub const PLAIN: &str =
    "{{ bos_token }}{% for message in messages %}{% if not loop.first %}{{ '\\n\\n' }}{% endif %}\
{{ message.content }}{% endfor %}{% if add_generation_prompt %}{{ '\\n\\n' }}{% endif %}";

/// The name [`ChatTemplate::origin`] reports for [`PLAIN`].
pub const PLAIN_NAME: &str = "plain";

const TEMPLATE_NAME: &str = "chat";

/// What a render call passes to the template besides the messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// End with the cue for the model's turn (`<|im_start|>assistant\n` and the like).
    pub add_generation_prompt: bool,
    /// The text of BOS, for templates that write `{{ bos_token }}`; left undefined when `None`.
    pub bos_token: Option<String>,
    /// The text of EOS, for templates that write `{{ eos_token }}`; left undefined when `None`.
    pub eos_token: Option<String>,
    /// Qwen3's thinking switch; left undefined when `None`, so the template's default applies.
    pub enable_thinking: Option<bool>,
}

impl RenderOptions {
    /// Options carrying `tokenizer`'s BOS and EOS texts, which templates write themselves.
    pub fn for_tokenizer(tokenizer: &Tokenizer, add_generation_prompt: bool) -> Self {
        Self {
            add_generation_prompt,
            bos_token: tokenizer.bos().map(|token| token.text.clone()),
            eos_token: tokenizer.eos().map(|token| token.text.clone()),
            enable_thinking: None,
        }
    }
}

/// A compiled chat template and where it came from.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    origin: String,
}

impl ChatTemplate {
    /// Compiles `source`; `origin` names where it came from in messages.
    ///
    /// # Errors
    /// [`EngineError::Template`] with minijinja's syntax error (line included).
    pub fn new(origin: impl Into<String>, source: impl Into<String>) -> Result<Self, EngineError> {
        let origin = origin.into();
        let mut env = hugging_face_environment();
        env.add_template_owned(TEMPLATE_NAME, source.into())
            .map_err(|err| template_error(&origin, &err))?;
        Ok(Self { env, origin })
    }

    /// The named fallback [`PLAIN`].
    pub fn plain() -> Self {
        Self::new(PLAIN_NAME, PLAIN).expect("invariant: the built-in plain template compiles")
    }

    /// The template in a GGUF file's `tokenizer.chat_template`, if it has one.
    ///
    /// # Errors
    /// [`EngineError::Gguf`] when the key is not a string, [`EngineError::Template`] when it does
    /// not compile.
    pub fn from_gguf(gguf: &Gguf) -> Result<Option<Self>, EngineError> {
        let mut meta = gguf.metadata();
        let source = meta.opt_string("tokenizer.chat_template");
        meta.finish()?;
        let origin = format!("{}: tokenizer.chat_template", gguf.path().display());
        source.map(|source| Self::new(origin, source)).transpose()
    }

    /// The template in a tokenizer_config.json `chat_template`: a string, or a list of
    /// `{name, template}` from which `default` is taken.
    ///
    /// # Errors
    /// [`EngineError::Io`] or [`EngineError::Template`] when the file cannot be read or parsed,
    /// the field has another shape, or the template does not compile.
    pub fn from_tokenizer_config(path: &Path) -> Result<Option<Self>, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = format!("{}: chat_template", path.display());
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|err| EngineError::Template {
                origin: origin.clone(),
                message: format!("not valid JSON: {err}"),
            })?;
        let source = match json.get("chat_template") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::String(source)) => source.clone(),
            Some(serde_json::Value::Array(named)) => {
                named_default(named).ok_or_else(|| EngineError::Template {
                    origin: origin.clone(),
                    message: "a list of templates without one named `default`; name one `default`"
                        .into(),
                })?
            }
            Some(_) => {
                return Err(EngineError::Template {
                    origin,
                    message: "should be a string or a list of {name, template}".into(),
                })
            }
        };
        Self::new(origin, source).map(Some)
    }

    /// The template a model uses: its tokenizer_config.json `chat_template` when given and
    /// present (Hugging Face repositories), else its GGUF `tokenizer.chat_template`, else
    /// [`PLAIN`] (base models have none).
    ///
    /// # Errors
    /// As [`ChatTemplate::from_tokenizer_config`] and [`ChatTemplate::from_gguf`].
    pub fn resolve(
        tokenizer_config: Option<&Path>,
        gguf: Option<&Gguf>,
    ) -> Result<Self, EngineError> {
        if let Some(template) = tokenizer_config
            .map(Self::from_tokenizer_config)
            .transpose()?
            .flatten()
        {
            return Ok(template);
        }
        if let Some(template) = gguf.map(Self::from_gguf).transpose()?.flatten() {
            return Ok(template);
        }
        Ok(Self::plain())
    }

    /// Where the template came from: a file and key, or [`PLAIN_NAME`].
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The prompt text for `messages`.
    ///
    /// # Errors
    /// [`EngineError::Template`] when rendering fails, including a template's own
    /// `raise_exception` (for example roles that do not alternate).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        options: &RenderOptions,
    ) -> Result<String, EngineError> {
        let mut context: BTreeMap<&str, Value> = BTreeMap::new();
        context.insert("messages", Value::from_serialize(messages));
        context.insert("tools", Value::from(()));
        context.insert("documents", Value::from(()));
        context.insert(
            "add_generation_prompt",
            Value::from(options.add_generation_prompt),
        );
        if let Some(bos) = &options.bos_token {
            context.insert("bos_token", Value::from(bos.as_str()));
        }
        if let Some(eos) = &options.eos_token {
            context.insert("eos_token", Value::from(eos.as_str()));
        }
        if let Some(thinking) = options.enable_thinking {
            context.insert("enable_thinking", Value::from(thinking));
        }
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|err| template_error(&self.origin, &err))?;
        template
            .render(context)
            .map_err(|err| template_error(&self.origin, &err))
    }
}

fn named_default(named: &[serde_json::Value]) -> Option<String> {
    named
        .iter()
        .find(|entry| entry.get("name").and_then(|n| n.as_str()) == Some("default"))
        .and_then(|entry| entry.get("template")?.as_str().map(str::to_string))
}

/// An environment that renders like transformers' `_compile_jinja_template`.
fn hugging_face_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
    env
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// The local time formatted with a strftime pattern, as Python's `datetime.now().strftime`.
fn strftime_now(format: String) -> Result<String, Error> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(&format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: invalid format `{format}`"),
        ));
    }
    Ok(chrono::Local::now()
        .format_with_items(items.into_iter())
        .to_string())
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent)`: ", " and ": " between items
/// without indent, "," and newlines with it.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value)
        .map_err(|err| Error::new(ErrorKind::InvalidOperation, format!("tojson: {err}")))?;
    let mut out = String::new();
    write_python_json(&json, indent, 0, &mut out);
    Ok(Value::from_safe_string(out))
}

fn write_python_json(
    value: &serde_json::Value,
    indent: Option<usize>,
    depth: usize,
    out: &mut String,
) {
    use serde_json::Value as J;
    let (open, close, items): (char, char, Vec<(Option<&String>, &J)>) = match value {
        J::Array(items) => ('[', ']', items.iter().map(|v| (None, v)).collect()),
        J::Object(map) => ('{', '}', map.iter().map(|(k, v)| (Some(k), v)).collect()),
        scalar => {
            out.push_str(&scalar.to_string());
            return;
        }
    };
    out.push(open);
    let newline = |out: &mut String, level: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * level));
        }
    };
    for (i, (key, item)) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if indent.is_some() { "," } else { ", " });
        }
        newline(out, depth + 1);
        if let Some(key) = key {
            out.push_str(&J::String((*key).clone()).to_string());
            out.push_str(": ");
        }
        write_python_json(item, indent, depth + 1, out);
    }
    if !items.is_empty() {
        newline(out, depth);
    }
    out.push(close);
}

fn template_error(origin: &str, err: &Error) -> EngineError {
    let what = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    let mut message = match err.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    EngineError::Template {
        origin: origin.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Role;

    fn fixture_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine/chat_templates")
    }

    fn user(text: &str) -> ChatMessage {
        ChatMessage {
            role: Role::User,
            content: text.into(),
        }
    }

    /// Every case of expected.json (rendered by jinja2 as transformers does, see
    /// scripts/reference_chat_templates.py) renders identically here.
    #[test]
    fn renders_llama31_qwen25_qwen3_and_r1_distill_templates_like_transformers() {
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap(),
        )
        .unwrap();
        let cases = expected["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 14);
        for case in cases {
            let name = case["template"].as_str().unwrap();
            let source = std::fs::read_to_string(fixture_dir().join(name)).unwrap();
            let template = ChatTemplate::new(name, source).unwrap();
            let messages: Vec<ChatMessage> =
                serde_json::from_value(case["messages"].clone()).unwrap();
            let options = RenderOptions {
                add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
                bos_token: case["bos_token"].as_str().map(str::to_string),
                eos_token: case["eos_token"].as_str().map(str::to_string),
                enable_thinking: case["enable_thinking"].as_bool(),
            };
            let rendered = template.render(&messages, &options).unwrap();
            assert_eq!(
                rendered,
                case["expected"].as_str().unwrap(),
                "{name} with {options:?}"
            );
        }
    }

    #[test]
    fn qwen3_thinking_switch_writes_an_empty_think_block_when_off() {
        let source = std::fs::read_to_string(fixture_dir().join("qwen3.jinja")).unwrap();
        let template = ChatTemplate::new("qwen3", source).unwrap();
        let options = |thinking| RenderOptions {
            add_generation_prompt: true,
            enable_thinking: thinking,
            ..Default::default()
        };
        let off = template
            .render(&[user("Hi")], &options(Some(false)))
            .unwrap();
        let on = template
            .render(&[user("Hi")], &options(Some(true)))
            .unwrap();
        assert!(
            off.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
            "{off:?}"
        );
        assert!(on.ends_with("<|im_start|>assistant\n"), "{on:?}");
    }

    #[test]
    fn plain_template_writes_bos_texts_and_a_blank_line_cue() {
        let system = ChatMessage {
            role: Role::System,
            content: "Be kind.".into(),
        };
        let options = RenderOptions {
            add_generation_prompt: true,
            bos_token: Some("<bos>".into()),
            ..Default::default()
        };
        let rendered = ChatTemplate::plain()
            .render(&[system, user("I feel low.")], &options)
            .unwrap();
        assert_eq!(rendered, "<bos>Be kind.\n\nI feel low.\n\n");
        let without_cue = ChatTemplate::plain()
            .render(&[user("I feel low.")], &RenderOptions::default())
            .unwrap();
        assert_eq!(without_cue, "I feel low.");
        assert_eq!(ChatTemplate::plain().origin(), "plain");
    }

    #[test]
    fn raise_exception_becomes_a_template_error_naming_the_origin() {
        let template = ChatTemplate::new(
            "strict.jinja",
            "{{ raise_exception('roles must alternate') }}",
        )
        .unwrap();
        let message = template
            .render(&[user("x")], &RenderOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("chat template `strict.jinja`:"),
            "{message}"
        );
        assert!(message.contains("roles must alternate"), "{message}");
    }

    #[test]
    fn syntax_errors_are_reported_with_their_line() {
        let message = ChatTemplate::new("broken", "line one\n{% if %}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "chat template `broken`: line 2: syntax error: unexpected end of block"
        );
    }

    #[test]
    fn python_string_methods_and_loop_controls_work() {
        let source =
            "{% for m in messages %}{% if m.content.startswith('skip') %}{% continue %}{% endif %}\
                      {{ m.content.strip().upper() }}|{{ m.content.split(' ')[-1] }};{% endfor %}";
        let template = ChatTemplate::new("py", source).unwrap();
        let rendered = template
            .render(
                &[user("skip me"), user("  hello world ")],
                &RenderOptions::default(),
            )
            .unwrap();
        assert_eq!(rendered, "HELLO WORLD|;");
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        // json.dumps({"a": [1, "é"], "b": None}) == '{"a": [1, "é"], "b": null}'
        let template =
            ChatTemplate::new("json", "{{ x | tojson }}|{{ x | tojson(indent=2) }}").unwrap();
        let mut env_value = BTreeMap::new();
        env_value.insert("a", serde_json::json!([1, "é"]));
        env_value.insert("b", serde_json::Value::Null);
        let rendered = template
            .env
            .get_template(TEMPLATE_NAME)
            .unwrap()
            .render(minijinja::context! { x => env_value })
            .unwrap();
        assert_eq!(rendered, "{\"a\": [1, \"é\"], \"b\": null}|{\n  \"a\": [\n    1,\n    \"é\"\n  ],\n  \"b\": null\n}");
    }

    #[test]
    fn strftime_now_formats_the_local_date_and_rejects_bad_patterns() {
        let template = ChatTemplate::new("date", "{{ strftime_now('%d %b %Y') }}").unwrap();
        let rendered = template.render(&[], &RenderOptions::default()).unwrap();
        let shape = rendered.len() == 11
            && rendered[..2].chars().all(|c| c.is_ascii_digit())
            && rendered[7..].chars().all(|c| c.is_ascii_digit());
        assert!(shape, "{rendered:?}");
        let bad = ChatTemplate::new("bad", "{{ strftime_now('%Q') }}").unwrap();
        assert!(bad
            .render(&[], &RenderOptions::default())
            .unwrap_err()
            .to_string()
            .contains("invalid format"));
    }

    #[test]
    fn reads_string_and_named_templates_from_tokenizer_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer_config.json");
        std::fs::write(&path, r#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ messages[0].content }}"}]}"#).unwrap();
        let template = ChatTemplate::from_tokenizer_config(&path).unwrap().unwrap();
        assert_eq!(
            template
                .render(&[user("x")], &RenderOptions::default())
                .unwrap(),
            "Dx"
        );
        std::fs::write(&path, r#"{"bos_token": "<s>"}"#).unwrap();
        assert!(ChatTemplate::from_tokenizer_config(&path)
            .unwrap()
            .is_none());
        std::fs::write(&path, r#"{"chat_template": 3}"#).unwrap();
        let message = ChatTemplate::from_tokenizer_config(&path)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("should be a string or a list"),
            "{message}"
        );
    }

    fn gguf_with(
        key: &str,
        value: candle_core::quantized::gguf_file::Value,
    ) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        candle_core::quantized::gguf_file::write(file.as_file_mut(), &[(key, &value)], &[])
            .unwrap();
        file
    }

    #[test]
    fn resolves_config_then_gguf_then_plain() {
        use candle_core::quantized::gguf_file::Value as GgufValue;
        let file = gguf_with(
            "tokenizer.chat_template",
            GgufValue::String("G{{ messages[0].content }}".into()),
        );
        let gguf = Gguf::open(file.path()).unwrap();
        let from_gguf = ChatTemplate::resolve(None, Some(&gguf)).unwrap();
        assert!(
            from_gguf.origin().ends_with(": tokenizer.chat_template"),
            "{}",
            from_gguf.origin()
        );
        assert_eq!(
            from_gguf
                .render(&[user("x")], &RenderOptions::default())
                .unwrap(),
            "Gx"
        );

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tokenizer_config.json");
        std::fs::write(
            &config,
            r#"{"chat_template": "C{{ messages[0].content }}"}"#,
        )
        .unwrap();
        let from_config = ChatTemplate::resolve(Some(&config), Some(&gguf)).unwrap();
        assert_eq!(
            from_config
                .render(&[user("x")], &RenderOptions::default())
                .unwrap(),
            "Cx"
        );

        let bare = gguf_with("general.name", GgufValue::String("base".into()));
        let fallback =
            ChatTemplate::resolve(None, Some(&Gguf::open(bare.path()).unwrap())).unwrap();
        assert_eq!(fallback.origin(), PLAIN_NAME);
    }

    #[test]
    fn a_gguf_template_of_the_wrong_type_is_named() {
        use candle_core::quantized::gguf_file::Value as GgufValue;
        let file = gguf_with("tokenizer.chat_template", GgufValue::U32(1));
        let message = ChatTemplate::from_gguf(&Gguf::open(file.path()).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`tokenizer.chat_template` should be a string"),
            "{message}"
        );
    }
}
