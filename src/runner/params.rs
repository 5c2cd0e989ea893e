//! Sampling settings asked for on the command line, merged over the registry's defaults and
//! checked once, for `generate`, `judge` and `bench --dataset` alike.

use crate::schema::GenerationParams;

/// Sampling settings the user asked for; `None` keeps the default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamOverrides {
    /// Softmax temperature (`--temperature`).
    pub temperature: Option<f64>,
    /// Nucleus sampling mass (`--top-p`).
    pub top_p: Option<f64>,
    /// Top-k (`--top-k`).
    pub top_k: Option<u32>,
    /// Repetition penalty (`--repetition-penalty`).
    pub repetition_penalty: Option<f64>,
    /// Upper bound on generated tokens (`--max-new-tokens`).
    pub max_new_tokens: Option<u32>,
    /// Run seed (`--seed`).
    pub seed: Option<u64>,
}

impl ParamOverrides {
    /// These settings over `defaults`, checked.
    ///
    /// # Errors
    /// A value out of range, named by its flag (`--top-p: must lie in (0, 1]`).
    pub fn over(self, defaults: &GenerationParams) -> Result<GenerationParams, String> {
        let params = GenerationParams {
            temperature: self.temperature.unwrap_or(defaults.temperature),
            top_p: self.top_p.or(defaults.top_p),
            top_k: self.top_k.or(defaults.top_k),
            repetition_penalty: self.repetition_penalty.or(defaults.repetition_penalty),
            max_new_tokens: self.max_new_tokens.unwrap_or(defaults.max_new_tokens),
            seed: self.seed.unwrap_or(defaults.seed),
        };
        check(&params)?;
        Ok(params)
    }
}

/// Whether `params` can drive a generation.
///
/// # Errors
/// A value out of range, named by its flag.
pub fn check(params: &GenerationParams) -> Result<(), String> {
    if params.temperature < 0.0 {
        return Err("--temperature: must be 0 (greedy) or more".to_owned());
    }
    if params.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
        return Err("--top-p: must lie in (0, 1]".to_owned());
    }
    if params.max_new_tokens == 0 {
        return Err("--max-new-tokens: must be at least 1".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> GenerationParams {
        GenerationParams { temperature: 0.7, top_p: Some(0.9), top_k: None, repetition_penalty: None, max_new_tokens: 64, seed: 1 }
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let params = ParamOverrides { temperature: Some(0.0), top_k: Some(5), ..ParamOverrides::default() }.over(&defaults()).unwrap();
        assert_eq!(params, GenerationParams { temperature: 0.0, top_k: Some(5), ..defaults() });
    }

    #[test]
    fn out_of_range_values_name_their_flag() {
        let bad = |o: ParamOverrides| o.over(&defaults()).unwrap_err();
        assert_eq!(bad(ParamOverrides { temperature: Some(-1.0), ..Default::default() }), "--temperature: must be 0 (greedy) or more");
        assert_eq!(bad(ParamOverrides { top_p: Some(1.5), ..Default::default() }), "--top-p: must lie in (0, 1]");
        assert_eq!(bad(ParamOverrides { max_new_tokens: Some(0), ..Default::default() }), "--max-new-tokens: must be at least 1");
    }
}
