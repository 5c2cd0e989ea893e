//! `open`: the single place that turns a registry entry into a running [`Generator`], local or
//! API. Everything downstream holds a `Box<dyn Generator>` and never asks which kind it is.

use std::path::PathBuf;

use anyhow::Context;

use crate::registry::ModelSpec;
use crate::schema::Generator;

/// How to open models.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `cpu`, `cuda`, `cuda:N` or `metal` for local models.
    pub device: String,
    /// Where fetched local weights are kept.
    pub models_dir: PathBuf,
}

/// Open `spec` as a generator.
///
/// # Errors
/// Local weights neither present nor fetchable from the hub (the message names the command that
/// fetches them) or failing to load;
/// an API model whose key variable is unset.
pub fn open(spec: &ModelSpec, options: &OpenOptions) -> anyhow::Result<Box<dyn Generator>> {
    match spec {
        ModelSpec::Local(local) => {
            let weights = match local.locate_weights(&options.models_dir) {
                Some(found) => found,
                None => crate::hub::fetch_weights(local).with_context(|| {
                    format!("weights of {} are not here and could not be fetched from the hub; \
                             fetch them with: {}", local.id, local.fetch_command())
                })?,
            };
            let generator = crate::engine::LocalGenerator::load(local, &weights, &options.device)
                .with_context(|| format!("loading {}", local.id))?;
            Ok(Box::new(generator))
        }
        ModelSpec::Api(api) => {
            let generator = crate::api::ApiGenerator::new(api).with_context(|| format!("opening {}", api.id))?;
            Ok(Box::new(generator))
        }
    }
}
