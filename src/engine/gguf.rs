//! Opening GGUF files and reading their metadata with typed, collect-then-fail accessors.
//!
//! Owns: parsing the header through candle's `gguf_file::Content::read` and typed access to
//! metadata values. Does not own: tensor loading policy (the model code asks [`Gguf::content`] and
//! [`Gguf::reader`]) or what a key means (the tokenizer and model configs decide).
//! Reference: the GGUF specification, <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};

use super::EngineError;

/// An opened GGUF file: its path and parsed header (metadata and tensor directory).
#[derive(Debug)]
pub struct Gguf {
    path: PathBuf,
    content: Content,
}

impl Gguf {
    /// Reads the header of the GGUF file at `path`; tensor data stays on disk.
    ///
    /// # Errors
    /// [`EngineError::Io`] when the file cannot be opened, [`EngineError::Gguf`] when it is not a
    /// valid GGUF file (bad magic, truncated, oversized strings).
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let mut reader = open_reader(path)?;
        let content = Content::read(&mut reader).map_err(|err| EngineError::Gguf {
            path: path.to_path_buf(),
            message: format!("not a readable GGUF file: {err}; check the download (sha256)"),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            content,
        })
    }

    /// The file this was read from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path and the parsed header, for a weight loader that keeps them (read once).
    pub fn into_parts(self) -> (PathBuf, Content) {
        (self.path, self.content)
    }

    /// The parsed header, for loading tensors with `Content::tensor`.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// A fresh buffered reader over the file, to pass to `Content::tensor`.
    ///
    /// # Errors
    /// [`EngineError::Io`] when the file can no longer be opened.
    pub fn reader(&self) -> Result<BufReader<File>, EngineError> {
        open_reader(&self.path)
    }

    /// Whether the file has metadata under `key`.
    pub fn has(&self, key: &str) -> bool {
        self.content.metadata.contains_key(key)
    }

    /// A metadata reader that records every missing or mistyped key; call
    /// [`MetadataReader::finish`] before trusting the values it returned.
    pub fn metadata(&self) -> MetadataReader<'_> {
        MetadataReader {
            gguf: self,
            problems: Vec::new(),
        }
    }
}

fn open_reader(path: &Path) -> Result<BufReader<File>, EngineError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Typed access to a GGUF file's metadata that collects problems instead of failing at the first.
///
/// Required accessors return a placeholder (zero, empty) for a missing or mistyped key and record
/// the problem; optional accessors return `None` when the key is absent and record only a wrong
/// type. [`MetadataReader::finish`] then fails once, naming every problem and the file.
#[derive(Debug)]
pub struct MetadataReader<'a> {
    gguf: &'a Gguf,
    problems: Vec<String>,
}

impl MetadataReader<'_> {
    /// Fails with every missing or mistyped key found so far.
    ///
    /// # Errors
    /// [`EngineError::Gguf`] listing the keys, when any accessor recorded a problem.
    pub fn finish(self) -> Result<(), EngineError> {
        if self.problems.is_empty() {
            return Ok(());
        }
        Err(EngineError::Gguf {
            path: self.gguf.path.clone(),
            message: format!(
                "metadata: {}; the file is incomplete or not made for this architecture",
                self.problems.join("; ")
            ),
        })
    }

    /// A required unsigned integer (any integer type that fits).
    pub fn u64(&mut self, key: &str) -> u64 {
        self.required(key, "an unsigned integer", value_as_u64)
    }

    /// An optional unsigned integer (any integer type that fits).
    pub fn opt_u64(&mut self, key: &str) -> Option<u64> {
        self.optional(key, "an unsigned integer", value_as_u64)
    }

    /// A required count or size, checked to fit `usize`.
    pub fn usize(&mut self, key: &str) -> usize {
        self.required(key, "an unsigned integer", |v| {
            value_as_u64(v).and_then(|n| usize::try_from(n).ok())
        })
    }

    /// An optional token id or other 32-bit unsigned value.
    pub fn opt_u32(&mut self, key: &str) -> Option<u32> {
        self.optional(key, "a 32-bit unsigned integer", |v| {
            value_as_u64(v).and_then(|n| u32::try_from(n).ok())
        })
    }

    /// A required float (f32 or f64 stored).
    pub fn f64(&mut self, key: &str) -> f64 {
        self.required(key, "a number", value_as_f64)
    }

    /// An optional float (f32 or f64 stored).
    pub fn opt_f64(&mut self, key: &str) -> Option<f64> {
        self.optional(key, "a number", value_as_f64)
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        self.optional(key, "a boolean", |v| v.to_bool().ok())
    }

    /// A required string.
    pub fn string(&mut self, key: &str) -> String {
        self.required(key, "a string", |v| v.to_string().ok().cloned())
    }

    /// An optional string.
    pub fn opt_string(&mut self, key: &str) -> Option<String> {
        self.optional(key, "a string", |v| v.to_string().ok().cloned())
    }

    /// A required array of strings.
    pub fn strings(&mut self, key: &str) -> Vec<String> {
        self.required(key, "an array of strings", |v| {
            array_of(v, |x| x.to_string().ok().cloned())
        })
    }

    /// An optional array of strings.
    pub fn opt_strings(&mut self, key: &str) -> Option<Vec<String>> {
        self.optional(key, "an array of strings", |v| {
            array_of(v, |x| x.to_string().ok().cloned())
        })
    }

    /// An optional array of numbers, as f32 (token scores are stored as f32).
    pub fn opt_f32s(&mut self, key: &str) -> Option<Vec<f32>> {
        self.optional(key, "an array of f32", |v| array_of(v, |x| x.to_f32().ok()))
    }

    /// An optional array of signed integers (token types are stored as i32).
    pub fn opt_i32s(&mut self, key: &str) -> Option<Vec<i32>> {
        self.optional(key, "an array of i32", |v| array_of(v, |x| x.to_i32().ok()))
    }

    /// Records a problem the caller found in a value (a bad length, an unknown name).
    pub fn report(&mut self, problem: String) {
        self.problems.push(problem);
    }

    fn required<T: Default>(
        &mut self,
        key: &str,
        kind: &str,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> T {
        match self.gguf.content.metadata.get(key) {
            None => {
                self.problems.push(format!("`{key}` is missing"));
                T::default()
            }
            Some(value) => self
                .converted(key, kind, value, convert)
                .unwrap_or_default(),
        }
    }

    fn optional<T>(
        &mut self,
        key: &str,
        kind: &str,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.gguf.content.metadata.get(key)?;
        self.converted(key, kind, value, convert)
    }

    fn converted<T>(
        &mut self,
        key: &str,
        kind: &str,
        value: &Value,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let converted = convert(value);
        if converted.is_none() {
            self.problems.push(format!(
                "`{key}` should be {kind}, found {}",
                describe(value)
            ));
        }
        converted
    }
}

fn value_as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::U8(n) => Some(u64::from(*n)),
        Value::U16(n) => Some(u64::from(*n)),
        Value::U32(n) => Some(u64::from(*n)),
        Value::U64(n) => Some(*n),
        Value::I8(n) => u64::try_from(*n).ok(),
        Value::I16(n) => u64::try_from(*n).ok(),
        Value::I32(n) => u64::try_from(*n).ok(),
        Value::I64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

fn value_as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::F32(x) => Some(f64::from(*x)),
        Value::F64(x) => Some(*x),
        _ => None,
    }
}

fn array_of<T>(value: &Value, item: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    value.to_vec().ok()?.iter().map(item).collect()
}

/// A short description of a value for messages: its type, and its length for arrays.
fn describe(value: &Value) -> String {
    match value {
        Value::Array(items) => match items.first() {
            Some(first) => format!("an array of {} {:?}", items.len(), first.value_type()),
            None => "an empty array".to_string(),
        },
        Value::String(_) => "a string".to_string(),
        other => format!("{:?}", other.value_type()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file;
    use std::io::Write;

    fn write_gguf(metadata: &[(&str, Value)]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let pairs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        gguf_file::write(file.as_file_mut(), &pairs, &[]).unwrap();
        file
    }

    #[test]
    fn reports_every_missing_and_mistyped_key_at_once() {
        let file = write_gguf(&[
            ("a.count", Value::String("seven".into())),
            ("a.name", Value::U32(3)),
        ]);
        let gguf = Gguf::open(file.path()).unwrap();
        let mut meta = gguf.metadata();
        assert_eq!(meta.usize("a.count"), 0);
        assert_eq!(meta.string("a.name"), "");
        assert_eq!(meta.f64("a.eps"), 0.0);
        assert_eq!(meta.opt_u32("a.absent"), None);
        let message = meta.finish().unwrap_err().to_string();
        assert!(
            message.starts_with(&file.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("`a.count` should be an unsigned integer, found a string"),
            "{message}"
        );
        assert!(message.contains("`a.name` should be a string"), "{message}");
        assert!(message.contains("`a.eps` is missing"), "{message}");
        assert!(!message.contains("a.absent"), "{message}");
    }

    #[test]
    fn reads_typed_values_with_integer_widening() {
        let file = write_gguf(&[
            ("n", Value::I32(640)),
            ("ok", Value::Bool(true)),
            ("eps", Value::F32(0.5)),
            (
                "names",
                Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            ),
        ]);
        let gguf = Gguf::open(file.path()).unwrap();
        let mut meta = gguf.metadata();
        assert_eq!(meta.usize("n"), 640);
        assert_eq!(meta.opt_bool("ok"), Some(true));
        assert_eq!(meta.f64("eps"), 0.5);
        assert_eq!(meta.strings("names"), vec!["a", "b"]);
        meta.finish().unwrap();
    }

    #[test]
    fn rejects_a_file_that_is_not_gguf_without_panicking() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"GGUF\x03\x00\x00\x00truncated").unwrap();
        let message = Gguf::open(file.path()).unwrap_err().to_string();
        assert!(message.contains("not a readable GGUF file"), "{message}");
        let missing = Gguf::open(Path::new("/nonexistent/x.gguf")).unwrap_err();
        assert!(matches!(missing, EngineError::Io { .. }));
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_an_error_not_a_panic() {
        let full = write_gguf(&[
            ("general.name", Value::String("tiny".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(vec![Value::String("a".into()); 4]),
            ),
            (
                "tokenizer.ggml.scores",
                Value::Array(vec![Value::F32(-1.0); 4]),
            ),
        ]);
        let bytes = std::fs::read(full.path()).unwrap();
        let cut = tempfile::NamedTempFile::new().unwrap();
        let opens: Vec<bool> = (0..=bytes.len())
            .map(|len| {
                std::fs::write(cut.path(), &bytes[..len]).unwrap();
                let opened = std::panic::catch_unwind(|| Gguf::open(cut.path()).is_ok());
                opened.unwrap_or_else(|_| panic!("panicked on a file cut to {len} bytes"))
            })
            .collect();
        // Only the zero padding after the header (up to the 32-byte alignment) may be missing.
        let first_ok = opens.iter().position(|&ok| ok).unwrap();
        assert!(opens[first_ok..].iter().all(|&ok| ok));
        assert!(
            bytes.len() - first_ok < 32,
            "opened with {first_ok} of {} bytes",
            bytes.len()
        );
        assert!(bytes[first_ok..].iter().all(|&b| b == 0));
    }
}
