//! The local inference engine: GGUF files, tokenizers, chat templates and reasoning-text handling
//! (this file only declares the submodules; model code, sampling and generation live beside them).
//!
//! The engine reads model files and turns text into token ids and back; it never writes result
//! files (that is `runner`'s job). llama.cpp is the reference every part is checked against.

pub mod chat_template;
pub mod error;
pub mod gguf;
pub mod reasoning;
pub mod tokenizer;

pub use error::EngineError;
