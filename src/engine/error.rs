//! The engine's error type: one small enum every engine submodule returns.
//!
//! Each variant carries the file (or template origin) it is about, so a message reads
//! `path: what is wrong; what to do` without the caller adding the path again.

use std::path::PathBuf;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
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
}
