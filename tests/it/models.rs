//! `mhbench models`: the registry table and its errors.

use crate::common::{mhbench, run, stderr, stdout};

#[test]
fn lists_all_ten_models_with_readiness() {
    let output = run(mhbench().args(["models"]).env_remove("OPENAI_API_KEY").env("GEMINI_API_KEY", "x"));
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert_eq!(table.lines().count(), 11, "{table}");
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("ID  "), "{header}");
    let gpt = table.lines().find(|l| l.starts_with("gpt-4o ")).unwrap();
    assert!(gpt.contains("set OPENAI_API_KEY"), "{gpt}");
    let gemini = table.lines().find(|l| l.starts_with("gemini-2.0-flash ")).unwrap();
    assert!(gemini.contains("key in GEMINI_API_KEY"), "{gemini}");
}

#[test]
fn json_output_names_where_weights_would_come_from() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench().args(["models", "--json", "--models-dir"]).arg(dir.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let llama = rows.as_array().unwrap().iter().find(|r| r["id"] == "llama-3.1-8b-instruct").unwrap();
    assert_eq!(llama["kind"], "local");
    let status = llama["status"].as_str().unwrap();
    if llama["ready"] == false {
        assert_eq!(
            status,
            "not fetched: huggingface-cli download bartowski/Meta-Llama-3.1-8B-Instruct-GGUF Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf --revision main"
        );
    }
}

#[test]
fn bad_registry_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models.toml");
    std::fs::write(
        &path,
        "[defaults]\nprompt = \"psychiatrist\"\nmax_new_tokens = 8\ntemperature = 0.7\nseed = 1\n\n[[models]]\nid = \"m\"\nkind = \"local\"\nvendor = \"v\"\nfamily = \"f\"\nparams_b = 1.0\narchitecture = \"llama\"\nweights = { format = \"ggml\", repo = \"r\", revision = \"main\", file = \"f\", quantization = \"q\" }\ntokenizer = { source = \"gguf\" }\nchat_template = { source = \"gguf\" }\n",
    )
    .unwrap();
    let output = run(mhbench().arg("--registry").arg(&path).arg("models"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let expected = format!(
        "mhbench: error: reading the model registry: {}:14: models[0].weights: unknown variant `ggml`, expected `gguf` or `safetensors`\n",
        path.display()
    );
    assert_eq!(err, expected);
}

#[test]
fn a_missing_registry_says_how_to_name_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench().current_dir(dir.path()).arg("models"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.starts_with("mhbench: error: reading the model registry: models.toml: "), "{err}");
    assert!(
        err.ends_with("; run mhbench in the folder holding models.toml, or name the file with --registry FILE (or MHBENCH_MODELS=FILE)\n"),
        "{err}"
    );
}

#[test]
fn from_another_folder_the_default_models_dir_is_the_registrys() {
    let dir = tempfile::tempdir().unwrap();
    let registry = crate::common::repo_root().join("models.toml");
    let output = run(mhbench().current_dir(dir.path()).arg("--registry").arg(&registry).args(["models", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let gemma = rows.as_array().unwrap().iter().find(|r| r["id"] == "gemma-3-270m").unwrap();
    let expected = crate::common::repo_root().join("models/gemma-3-270m-q4_k_m.gguf");
    if crate::common::default_model().is_some() {
        assert_eq!(gemma["status"], format!("weights at {}", expected.display()), "{gemma}");
    } else {
        assert_eq!(gemma["ready"], false, "{gemma}");
    }
}
