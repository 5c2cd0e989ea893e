//! The JSON Schemas in `datasets/schema/` match the records, and records round-trip through them.
//!
//! Set `MHBENCH_BLESS=1` to rewrite the schema files after changing a record.

use std::path::Path;

use mhbench::schema::json_schemas;

use crate::common::repo_root;

#[test]
fn committed_schemas_match_the_records() {
    let dir = repo_root().join("datasets/schema");
    for (stem, schema) in json_schemas() {
        let path = dir.join(format!("{stem}.schema.json"));
        let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if std::env::var_os("MHBENCH_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run MHBENCH_BLESS=1 cargo test", path.display()));
        assert_eq!(committed, generated, "{} is stale; run MHBENCH_BLESS=1 cargo test", path.display());
    }
}

fn validator(stem: &str) -> jsonschema::Validator {
    let path = repo_root().join(format!("datasets/schema/{stem}.schema.json"));
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_round_trips<T>(stem: &str, record: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_value(record).unwrap();
    let validator = validator(stem);
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{stem}: {errors:?}");
    let back: T = serde_json::from_value(json).unwrap();
    assert_eq!(&back, record);
}

fn sample_records() -> (mhbench::schema::Conversation, mhbench::schema::ResponseRecord, mhbench::schema::Rating) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records/records.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        serde_json::from_value(v["conversation"].clone()).unwrap(),
        serde_json::from_value(v["response"].clone()).unwrap(),
        serde_json::from_value(v["rating"].clone()).unwrap(),
    )
}

#[test]
fn records_round_trip_through_their_schemas() {
    let (conversation, response, rating) = sample_records();
    assert_round_trips("conversation", &conversation);
    assert_round_trips("response_record", &response);
    assert_round_trips("rating", &rating);
}

#[test]
fn schema_rejects_a_score_off_the_scale() {
    let (_, _, rating) = sample_records();
    let mut json = serde_json::to_value(&rating).unwrap();
    json["scores"]["empathy"] = serde_json::json!(6);
    assert!(!validator("rating").is_valid(&json));
}
