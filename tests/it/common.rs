//! Helpers shared by the integration tests: run the built binary, find shared data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data` beside the checkout, if this machine has it.
#[allow(dead_code)]
pub fn shared_data() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data");
    dir.is_dir().then_some(dir)
}

/// The default model's GGUF, if fetched.
#[allow(dead_code)]
pub fn default_model() -> Option<PathBuf> {
    let path = repo_root().join("models/gemma-3-270m-q4_k_m.gguf");
    path.is_file().then_some(path)
}

/// A command for the built mhbench binary, run from the repository root.
pub fn mhbench() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mhbench"));
    cmd.current_dir(repo_root());
    cmd.env_remove("MHBENCH_MODELS").env_remove("MHBENCH_MODELS_DIR");
    cmd
}

/// Run and return output, panicking with stderr if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the mhbench binary runs")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
