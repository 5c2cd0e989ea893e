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

/// A real headless Chromium driven over WebDriver (chromedriver), for the page tests.
pub mod browser {
    use std::net::TcpStream;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use fantoccini::{Client, ClientBuilder};
    use serde_json::{json, Value};

    const CHROMIUM: &str = "/usr/bin/chromium";
    const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

    /// Why the browser tests cannot run here, if they cannot.
    pub fn missing_browser() -> Option<String> {
        (!Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists())
            .then(|| format!("{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"))
    }

    /// A running chromedriver, killed on drop.
    pub struct Driver(Child);

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    /// Start chromedriver on a free port and wait until it listens.
    pub fn start_chromedriver() -> (Driver, u16) {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Driver(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        (driver, port)
    }

    /// A headless Chromium session with a fresh profile in `profile`, keeping the browser's
    /// console log for [`console_log`].
    pub async fn connect(port: u16, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap()
    }

    /// Run `script` in the page and return its value.
    pub async fn js(client: &Client, script: &str) -> Value {
        client.execute(script, vec![]).await.unwrap()
    }

    /// The browser console entries since the last call (`level`, `message`, `source`), read
    /// through chromedriver's log endpoint, which fantoccini does not wrap.
    #[allow(dead_code)]
    pub async fn console_log(client: &Client, port: u16) -> Vec<Value> {
        let session = client.session_id().await.unwrap().expect("a WebDriver session is open");
        let url = format!("http://127.0.0.1:{port}/session/{session}/se/log");
        let response: Value = reqwest::Client::new().post(url).json(&json!({ "type": "browser" })).send().await.unwrap().json().await.unwrap();
        response["value"].as_array().cloned().unwrap_or_else(|| panic!("no log entries in {response}"))
    }
}

/// The columns every rating sheet starts with: the reply's ids and the rater, then the rubric's
/// attributes in the export's order.
#[allow(dead_code)]
pub const SHEET_COLUMNS: &str = "conversation_id,model_id,rater_id,guidance,informativeness,safety,empathy,helpfulness,interpretation";

/// Writes `RUN/sheet.csv`, a rating sheet of `header` and one line per row, and returns its path.
#[allow(dead_code)]
pub fn write_sheet(run_dir: &Path, header: &str, rows: &[&str]) -> PathBuf {
    let sheet = run_dir.join("sheet.csv");
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(&sheet, text).unwrap();
    sheet
}

/// `rate import` of `sheet` into `run_dir`, with `extra` flags (such as `--new-rater carol`).
#[allow(dead_code)]
pub fn import_sheet(run_dir: &Path, sheet: &Path, extra: &[&str]) -> Output {
    run(mhbench().args(["rate", "import"]).args(extra).arg("--run").arg(run_dir).arg(sheet))
}

/// Makes `dir` a project a registry written into it can stand in: the checkout's `datasets/`
/// (sample set, named prompts, rubric) linked beside it, since default paths resolve against
/// the registry's folder.
#[allow(dead_code)]
pub fn link_datasets(dir: &Path) {
    std::os::unix::fs::symlink(repo_root().join("datasets"), dir.join("datasets")).unwrap();
}

/// Analyses the MentalBench release at `release` into `out` with `bootstrap` resamples, failing
/// the test on any error (the setup of every release report test); gives the command's output.
pub fn analyze_release(release: &Path, out: &Path, bootstrap: u32) -> Output {
    let output = run(mhbench()
        .args(["analyze", "--rubric", "datasets/rubrics/mentalbench.toml", "--bootstrap", &bootstrap.to_string(), "--mentalbench"])
        .arg(release)
        .arg("--out")
        .arg(out));
    assert!(output.status.success(), "{}", stderr(&output));
    output
}
