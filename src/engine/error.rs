//! The engine's error type: what went wrong while loading weights or running a model.
//! Messages follow the house form `path: field: what is wrong; what to do`.

use std::path::PathBuf;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A metadata key the architecture needs is absent.
    #[error("{path}: metadata key `{key}` is missing; the file is not a complete {arch} model")]
    MissingKey {
        /// The model file.
        path: PathBuf,
        /// The key, with its architecture prefix.
        key: String,
        /// The architecture being loaded.
        arch: String,
    },
    /// A metadata key or config field holds a value the engine cannot use.
    #[error("{path}: `{key}`: {what}")]
    BadValue {
        /// The model file.
        path: PathBuf,
        /// The key or field.
        key: String,
        /// What is wrong and what to do.
        what: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("{path}: tensor `{name}` is missing; the file does not match its declared architecture")]
    MissingTensor {
        /// The model file.
        path: PathBuf,
        /// The tensor name.
        name: String,
    },
    /// The file declares an architecture the engine has no code for.
    #[error("{path}: architecture `{arch}` is not supported; supported: gemma3, llama, qwen2, qwen3")]
    UnsupportedArchitecture {
        /// The model file.
        path: PathBuf,
        /// The declared architecture.
        arch: String,
    },
    /// Reading a file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A GGUF file is malformed or lacks metadata the engine needs.
    #[error("{}: {message}", path.display())]
    Gguf {
        /// The GGUF file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A tokenizer could not be built, or failed to encode or decode.
    #[error("{}: {message}", path.display())]
    Tokenizer {
        /// The tokenizer.json or GGUF file the tokenizer came from.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A chat template failed to compile or render.
    #[error("chat template `{origin}`: {message}")]
    Template {
        /// Where the template came from (a GGUF or tokenizer_config.json path, or a fallback name).
        origin: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A caller passed inputs that do not fit the model (shapes, lengths, ids).
    #[error("invalid input: {0}")]
    Input(String),
    /// The requested device is missing from this build or this machine (never replaced by the CPU).
    #[error("{0}")]
    Device(String),
    /// A tensor operation failed.
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
}
