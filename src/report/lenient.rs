//! Read `analysis.json` back into [`crate::analysis::Analysis`] although serde_json wrote
//! every non-finite number (NaN, infinity) as `null`.
//!
//! Owns one serde `Deserializer` over a parsed `serde_json::Value` that behaves like
//! serde_json's own except that `null` where a plain `f64` is expected reads as NaN (the report
//! prints it as "n/a"); `null` for an `Option` stays `None`. Needed because a statistic can be
//! undefined on degenerate data (a kappa's z when its null SE is 0) in fields the analysis
//! types as `f64`.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;

/// A `Value` deserialised with `null` as NaN for `f64` fields.
pub struct Lenient(pub Value);

/// Deserialise `value` into `T`, naming the field path on failure (`panels[0].summary.mean: ...`).
///
/// # Errors
/// A value that does not fit `T`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(Lenient(value)).map_err(|e| {
        let field = e.path().to_string();
        format!("{field}: {}", e.into_inner())
    })
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for Lenient {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Lenient {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(SeqDeserializer::new(items.into_iter().map(Lenient))),
            Value::Object(map) => visitor.visit_map(MapDeserializer::new(map.into_iter().map(|(k, v)| (k, Lenient(v))))),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_f64(f64::NAN),
            other => other.deserialize_f64(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Lenient(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(self, name: &'static str, variants: &'static [&'static str], visitor: V) -> Result<V::Value, Self::Error> {
        // The analysis' enums are unit variants written as strings; serde_json handles those.
        self.0.deserialize_enum(name, variants, visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sample {
        z: f64,
        p: Option<f64>,
        inner: Option<Vec<Inner>>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        level: crate::schema::RaterKind,
        n: usize,
    }

    #[test]
    fn null_reads_as_nan_for_f64_and_none_for_options() {
        let value = serde_json::json!({ "z": null, "p": null, "inner": [{ "level": "human", "n": 3 }] });
        let sample: Sample = from_value(value).unwrap();
        assert!(sample.z.is_nan());
        assert_eq!(sample.p, None);
        assert_eq!(sample.inner, Some(vec![Inner { level: crate::schema::RaterKind::Human, n: 3 }]));
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let error = from_value::<Sample>(serde_json::json!({ "z": 1.0, "p": null, "inner": [{ "level": "human", "n": "x" }] })).unwrap_err();
        assert!(error.starts_with("inner.?[0].n: ") || error.starts_with("inner[0].n: "), "{error}");
    }
}
