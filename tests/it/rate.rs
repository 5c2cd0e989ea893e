//! `mhbench rate`: planning, the rating server's rules over real HTTP and a real SQLite file,
//! kill-and-restart durability, export and import. The browser test is in `rate_browser.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mhbench::rating::store::RatingStore;
use mhbench::schema::{RaterId, Rating};
use serde_json::{json, Value};

use crate::common::{import_sheet, mhbench, run, stderr, stdout, write_sheet, SHEET_COLUMNS};

/// Model ids of the fixture; distinctive, so any leak into a page is found by a plain search.
pub const MODELS: [&str; 3] = ["llama-3.1-8b-instruct", "qwen3-4b", "gpt-4o-mini"];
const CONVERSATIONS: usize = 4;
const RUN_ID: &str = "fixture-run";
pub const ATTRIBUTES: [&str; 6] =
    ["guidance", "informativeness", "safety", "empathy", "helpfulness", "interpretation"];

/// A temp dir holding `results/fixture-run/` with 4 conversations answered by 3 models.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub run_dir: PathBuf,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("results").join(RUN_ID);
    std::fs::create_dir_all(run_dir.join("responses")).unwrap();
    let mut conversations = String::new();
    for c in 0..CONVERSATIONS {
        let line = json!({
            "id": format!("sample:{c}"), "source": "sample", "source_id": c.to_string(),
            "context": format!("Conversation {c}: I have not slept properly for weeks and I feel alone."),
        });
        conversations += &format!("{line}\n");
    }
    std::fs::write(run_dir.join("conversations.jsonl"), conversations).unwrap();
    for (m, model) in MODELS.iter().enumerate() {
        let mut lines = String::new();
        for c in 0..CONVERSATIONS {
            let line = json!({
                "run_id": RUN_ID, "conversation_id": format!("sample:{c}"), "model_id": model,
                "provider": "candle", "kind": "local",
                "prompt": {"template_id": "psychiatrist", "sha256": "00", "messages": []},
                "params": {"temperature": 0.0, "max_new_tokens": 64, "seed": 1},
                "text": format!("Reply {m}-{c}: That sounds exhausting. Could we look at your evenings together?"),
                "finish_reason": if m == 0 && c == 0 { "length" } else { "stop" }, "timings": {"total_ms": 1.0}, "device": "cpu",
                "batch_size": 1, "created_at": "2026-01-01T00:00:00Z",
            });
            lines += &format!("{line}\n");
        }
        std::fs::write(run_dir.join("responses").join(format!("{model}.jsonl")), lines).unwrap();
    }
    Fixture { _dir: dir, run_dir }
}

/// Run `rate plan` with `extra` flags; returns each rater's token.
pub fn plan(run_dir: &Path, extra: &[&str]) -> BTreeMap<String, String> {
    let output = run(mhbench()
        .args(["rate", "plan", "--run"])
        .arg(run_dir)
        .args(["--raters", "alice,bob", "--seed", "7"])
        .args(extra));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let token = fields[1].split("#token=").nth(1).unwrap().to_owned();
            (fields[0].to_owned(), token)
        })
        .collect()
}

/// A `rate serve` child process on a free loopback port; killed (SIGKILL) on drop.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(run_dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mhbench"))
            .args(["rate", "serve", "--bind", "127.0.0.1:0", "--break-every", "3", "--run"])
            .arg(run_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").unwrap().trim_end_matches('/').to_owned();
        Server { child, base }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client speaking as one rater.
#[derive(Clone)]
pub struct Rater {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Rater {
    pub fn new(server: &Server, token: &str) -> Self {
        Rater { http: reqwest::Client::new(), base: server.base.clone(), token: token.to_owned() }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    pub async fn put(&self, item_id: &str, body: Value) -> (u16, Value) {
        let response = self.put_response(item_id, body).await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// The whole response to a save, headers included.
    pub async fn put_response(&self, item_id: &str, body: Value) -> reqwest::Response {
        self.http
            .put(format!("{}/api/items/{item_id}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn item_ids(&self) -> Vec<String> {
        let (status, session) = self.get("/api/session").await;
        assert_eq!(status, 200, "{session}");
        session["queue"].as_array().unwrap().iter().map(|q| q["item_id"].as_str().unwrap().to_owned()).collect()
    }
}

pub fn full_scores(value: i64) -> Value {
    ATTRIBUTES.iter().map(|a| (a.to_string(), json!(value))).collect::<serde_json::Map<_, _>>().into()
}

fn export(run_dir: &Path, extra: &[&str]) -> String {
    let output = run(mhbench().args(["rate", "export", "--run"]).arg(run_dir).args(extra));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn export_ratings(run_dir: &Path) -> Vec<Rating> {
    export(run_dir, &[])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn db(run_dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(run_dir.join("ratings.sqlite")).unwrap()
}

#[test]
fn plan_gives_each_reply_two_raters_behind_opaque_ids_and_refuses_replanning() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &["--repeat-share", "0"]);
    assert_eq!(tokens.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    for token in tokens.values() {
        assert_eq!(token.len(), 64, "32 random bytes, hex");
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(tokens["alice"], tokens["bob"]);
    let conn = db(&fx.run_dir);
    let stored: Vec<Vec<u8>> = conn
        .prepare("SELECT token_sha256 FROM raters").unwrap()
        .query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    for token in tokens.values() {
        assert!(!stored.iter().any(|h| h == token.as_bytes()), "only hashes are stored");
    }
    let mut per_response: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut stmt = conn
        .prepare("SELECT r.conversation_id, r.model_id, i.rater_id, i.item_id FROM items i JOIN responses r USING (response_id)")
        .unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))).unwrap();
    for row in rows {
        let (conversation, model, rater, item_id): (String, String, String, String) = row.unwrap();
        assert_eq!(item_id.len(), 32);
        assert!(!MODELS.iter().any(|m| item_id.contains(m)));
        assert!(per_response.entry((conversation, model)).or_default().insert(rater), "same rater twice");
    }
    assert_eq!(per_response.len(), MODELS.len() * CONVERSATIONS);
    assert!(per_response.values().all(|raters| raters.len() == 2));

    let again = run(mhbench().args(["rate", "plan", "--raters", "alice,bob", "--run"]).arg(&fx.run_dir));
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already planned; pass --replace"), "{}", stderr(&again));
    let replaced = plan(&fx.run_dir, &["--replace"]);
    assert_ne!(replaced["alice"], tokens["alice"], "a new plan has new tokens");
}

#[test]
fn plan_with_one_rater_per_reply_balances_models_across_raters() {
    let fx = fixture();
    plan(&fx.run_dir, &["--per-response", "1", "--repeat-share", "0"]);
    let conn = db(&fx.run_dir);
    let mut stmt = conn
        .prepare("SELECT i.rater_id, r.model_id, COUNT(*) FROM items i JOIN responses r USING (response_id) GROUP BY 1, 2")
        .unwrap();
    let counts: Vec<(String, String, i64)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    // 4 replies per model split over 2 raters: 2 each.
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.iter().all(|(_, _, n)| *n == 2), "{counts:?}");
}

#[tokio::test]
async fn missing_or_unknown_tokens_are_refused() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &[]);
    let server = Server::start(&fx.run_dir);
    let http = reqwest::Client::new();
    let response = http.get(format!("{}/api/session", server.base)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("missing token"));
    // Alice's token with its last digit changed: one wrong character must be enough to refuse.
    let alice_token = &tokens["alice"];
    let last = if alice_token.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &alice_token[..63]);
    assert_ne!(&wrong, alice_token);
    for token in [wrong.as_str(), "", "x"] {
        let (status, body) = Rater::new(&server, token).get("/api/session").await;
        assert!(status == 401 || status == 403, "{token}: {status}");
        assert!(body["message"].is_string());
    }
    let alice = Rater::new(&server, &tokens["alice"]);
    let item = alice.item_ids().await.remove(0);
    let (status, _) = Rater::new(&server, &wrong).put(&item, json!({"scores": {"empathy": 3}})).await;
    assert_eq!(status, 403);
    assert!(db(&fx.run_dir).query_row("SELECT COUNT(*) FROM ratings", [], |r| r.get::<_, i64>(0)).unwrap() == 0);
}

#[tokio::test]
async fn a_rater_reaches_only_their_own_queue_and_never_a_model_id() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &[]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let bob = Rater::new(&server, &tokens["bob"]);
    let alice_items = alice.item_ids().await;
    let bob_items = bob.item_ids().await;
    assert!(alice_items.iter().all(|i| !bob_items.contains(i)), "queues share no item id");

    let (status, _) = alice.put(&alice_items[0], json!({"scores": full_scores(4), "comment": "alice-only-note", "submit": true})).await;
    assert_eq!(status, 200);
    let (status, body) = bob.get(&format!("/api/items/{}", alice_items[0])).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (404, "no such item in your queue"));
    let (status, _) = bob.put(&alice_items[0], json!({"scores": full_scores(1), "submit": true})).await;
    assert_eq!(status, 404);

    let mut everything = String::new();
    let (_, session) = bob.get("/api/session").await;
    everything += &session.to_string();
    assert_eq!(session["done"], 0, "bob's progress does not count alice's rating");
    for item in &bob_items {
        let (status, body) = bob.get(&format!("/api/items/{item}")).await;
        assert_eq!(status, 200);
        assert!(body["rating"].is_null(), "bob sees no rating he did not enter");
        everything += &body.to_string();
    }
    for path in ["/", "/static/app.js", "/static/style.css"] {
        everything += &reqwest::get(format!("{}{path}", server.base)).await.unwrap().text().await.unwrap();
    }
    assert!(!everything.contains("alice-only-note"));
    for model in MODELS {
        assert!(!everything.contains(model), "{model} leaked");
    }
    assert!(!everything.contains("sample:"), "conversation ids stay server-side");
    assert!(!everything.contains(RUN_ID));
}

#[tokio::test]
async fn every_write_is_validated_and_nothing_bad_is_stored() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &[]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let item = alice.item_ids().await.remove(0);
    let cases = [
        (json!({"scores": {"charm": 3}}), "scores.unknown attribute `charm`"),
        (json!({"scores": {"empathy": 0}}), "scores.empathy: 0 is off the 1..5 scale"),
        (json!({"scores": {"empathy": 6}}), "scores.empathy: 6 is off the 1..5 scale"),
        (json!({"scores": {"empathy": 2.5}}), "scores.empathy: 2.5 is not an integer 1..5"),
        (json!({"scores": {"empathy": "3"}}), "scores.empathy: \"3\" is not an integer 1..5"),
        (json!({"comment": "x".repeat(4001)}), "comment: 4001 characters; shorten it to at most 4000"),
        (json!({"scores": {"empathy": 3}, "submit": true}), "submit: score every attribute first; missing guidance"),
        (json!({"scores": {}, "model_id": "x"}), "unknown field `model_id`"),
    ];
    for (body, expected) in cases {
        let (status, answer) = alice.put(&item, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let response = reqwest::Client::new()
        .put(format!("{}/api/items/{item}", server.base))
        .bearer_auth(&tokens["alice"])
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.json::<Value>().await.unwrap()["message"].is_string());
    let (status, body) = alice.put("no-such-item", json!({"scores": {"empathy": 3}})).await;
    assert_eq!((status, body["message"].as_str().unwrap()), (404, "no such item in your queue"));
    let stored: i64 = db(&fx.run_dir).query_row("SELECT COUNT(*) FROM ratings", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 0, "no invalid write reached the store");
    let (status, body) = alice.get("/no/such/page").await;
    assert_eq!((status, body["message"].as_str().unwrap()), (404, "no such page"));
    let response = reqwest::Client::new()
        .delete(format!("{}/api/items/{item}", server.base))
        .bearer_auth(&tokens["alice"])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.json::<Value>().await.unwrap()["message"], "method not allowed here");
}

#[tokio::test]
async fn resubmitting_an_item_updates_it_and_keeps_history() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let item = alice.item_ids().await.remove(0);
    let (status, first) = alice.put(&item, json!({"scores": full_scores(2), "submit": true})).await;
    assert_eq!((status, first["done"].as_i64()), (200, Some(1)));
    let (status, second) =
        alice.put(&item, json!({"scores": full_scores(5), "comment": "changed my mind", "submit": true})).await;
    assert_eq!((status, second["done"].as_i64()), (200, Some(1)), "still one item done");
    let (_, view) = alice.get(&format!("/api/items/{item}")).await;
    assert_eq!(view["rating"]["scores"]["empathy"], 5);
    assert_eq!(view["rating"]["comment"], "changed my mind");
    let ratings = export_ratings(&fx.run_dir);
    assert_eq!(ratings.len(), 1, "an update, not a duplicate");
    assert!(ratings[0].scores.values().all(|s| s.get() == 5));
    let store = RatingStore::open(&fx.run_dir.join("ratings.sqlite")).unwrap();
    assert_eq!(store.history_len(&RaterId::from("alice")).unwrap(), 1, "the first rating is kept in history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_raters_at_once_and_a_killed_server_lose_no_rating() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let mut tasks = Vec::new();
    for (name, token) in &tokens {
        let rater = Rater::new(&server, token);
        let score = if name == "alice" { 2 } else { 4 };
        for item in rater.item_ids().await {
            let rater = rater.clone();
            tasks.push(tokio::spawn(async move {
                let (status, body) = rater
                    .put(&item, json!({"scores": full_scores(score), "safety_flag": true, "submit": true}))
                    .await;
                assert_eq!(status, 200, "{body}");
            }));
        }
    }
    let written = tasks.len();
    for task in tasks {
        task.await.unwrap();
    }
    server.kill();
    let restarted = Server::start(&fx.run_dir);
    for (name, token) in &tokens {
        let rater = Rater::new(&restarted, token);
        let (_, session) = rater.get("/api/session").await;
        assert_eq!(session["done"], session["total"], "{name}: every acknowledged rating survived");
        let (_, item) = rater.get(&format!("/api/items/{}", rater.item_ids().await[0])).await;
        assert_eq!(item["rating"]["scores"]["guidance"], if name == "alice" { 2 } else { 4 });
    }
    let ratings = export_ratings(&fx.run_dir);
    assert_eq!(ratings.len(), written);
    assert_eq!(written, MODELS.len() * CONVERSATIONS * 2);
    let status = run(mhbench().args(["rate", "status", "--run"]).arg(&fx.run_dir));
    let table = stdout(&status);
    assert!(table.contains("alice                       12           0       0      12 100.0%"), "{table}");
}

#[tokio::test]
async fn export_holds_exactly_what_was_entered() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let bob = Rater::new(&server, &tokens["bob"]);
    let items = bob.item_ids().await;
    let scores = json!({"guidance": 1, "informativeness": 2, "safety": 3, "empathy": 4, "helpfulness": 5, "interpretation": 2});
    let comment = "Dismissive, \"just relax\"; misses the risk, line two\nhere";
    let (status, saved) = bob.put(&items[0], json!({"scores": scores, "comment": comment, "safety_flag": true, "submit": true})).await;
    assert_eq!(status, 200);
    // A draft (not submitted) is not a rating yet.
    bob.put(&items[1], json!({"scores": {"empathy": 3}})).await;

    let ratings = export_ratings(&fx.run_dir);
    assert_eq!(ratings.len(), 1);
    let rating = &ratings[0];
    assert_eq!(rating.rater_id.as_str(), "bob");
    assert_eq!(serde_json::to_value(rating.rater_kind).unwrap(), "human");
    assert_eq!(rating.rubric_version, "1.0.0");
    assert_eq!(serde_json::to_value(&rating.scores).unwrap(), scores);
    assert_eq!(rating.comment.as_deref(), Some(comment));
    assert!(rating.safety_flag);
    assert!(MODELS.contains(&rating.response.model_id.as_str()));
    assert_eq!(rating.response.run_id.as_str(), RUN_ID);
    assert_eq!(json!(rating.created_at), saved["rating"]["saved_at"]);

    let csv = export(&fx.run_dir, &["--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "run_id,conversation_id,model_id,rater_id,rater_kind,rubric_version,guidance,informativeness,safety,empathy,helpfulness,interpretation,comment,safety_flag,created_at,status,repeat,repeat_gap"
    );
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[3], "bob");
    assert_eq!(row.iter().skip(6).take(6).collect::<Vec<_>>(), ["1", "2", "3", "4", "5", "2"]);
    assert_eq!(&row[12], comment);
    assert_eq!(&row[13], "true");
    assert_eq!((&row[15], &row[16], &row[17]), ("complete", "false", ""));
}

#[test]
fn import_reports_every_bad_cell_by_line_then_saves_a_good_sheet() {
    let fx = fixture();
    plan(&fx.run_dir, &["--repeat-share", "0"]);
    let header = format!("{SHEET_COLUMNS},comment,safety_flag");
    let sheet = write_sheet(
        &fx.run_dir,
        &header,
        &[
            "sample:0,qwen3-4b,carol,3,3,3,3,3,3,fine,false",
            "sample:1,qwen3-4b,carol,3,3,3,7,3,3,,false",
            "sample:9,qwen3-4b,carol,3,3,3,3,3,3,,false",
            "sample:2,qwen3-4b,carol,3,three,3,3,3,3,,maybe",
        ],
    );
    let output = import_sheet(&fx.run_dir, &sheet, &["--new-rater", "carol"]);
    assert_eq!(output.status.code(), Some(2));
    let p = sheet.display();
    assert_eq!(
        stderr(&output),
        format!(
            "mhbench: error: importing {p}: {p}:3: empathy: 7 is off the 1..5 scale; use a whole number 1..5\n\
             {p}:4: conversation_id, model_id: no reply `sample:9` by `qwen3-4b` in this run; check both ids\n\
             {p}:5: informativeness: `three` is not a whole number 1..5; score it\n\
             {p}:5: safety_flag: `maybe`; write true or false\n"
        )
    );
    assert!(export_ratings(&fx.run_dir).is_empty(), "a bad sheet writes nothing");

    write_sheet(&fx.run_dir, &header, &["sample:0,qwen3-4b,carol,3,4,3,2,3,5,from paper,yes"]);
    let output = import_sheet(&fx.run_dir, &sheet, &[]);
    let p = sheet.display();
    assert_eq!(
        stderr(&output),
        format!("mhbench: error: importing {p}: {p}:2: rater_id: `carol` is not a rater of this run (raters: alice, bob); fix the id, or pass --new-rater carol to add someone who rated outside the page\n"),
        "an unknown rater is refused, never created silently"
    );
    assert!(export_ratings(&fx.run_dir).is_empty());
    let output = import_sheet(&fx.run_dir, &sheet, &["--new-rater", "carol"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let ratings = export_ratings(&fx.run_dir);
    assert_eq!(ratings.len(), 1);
    assert_eq!(ratings[0].rater_id.as_str(), "carol");
    assert_eq!(ratings[0].comment.as_deref(), Some("from paper"));
    assert!(ratings[0].safety_flag);
    assert_eq!(ratings[0].scores["interpretation"].get(), 5);
}

#[test]
fn import_rejects_a_sheet_without_the_rubric_columns() {
    let fx = fixture();
    plan(&fx.run_dir, &[]);
    let sheet = write_sheet(&fx.run_dir, "conversation_id,model_id,rater_id,empathy,mood", &["sample:0,qwen3-4b,carol,3,ok"]);
    let output = import_sheet(&fx.run_dir, &sheet, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2));
    let p = sheet.display();
    assert!(err.contains(&format!("{p}:1: header: unknown column `mood`")), "{err}");
    assert!(err.contains(&format!("{p}:1: header: missing column `guidance`; add it")), "{err}");
}

#[test]
fn serve_binds_to_localhost_unless_told_otherwise() {
    let output = run(mhbench().args(["rate", "serve", "--help"]));
    assert!(stdout(&output).contains("[default: 127.0.0.1:8080]"), "{}", stdout(&output));
}

#[test]
fn serve_without_a_plan_says_what_to_run() {
    let fx = fixture();
    let output = run(mhbench().args(["rate", "serve", "--bind", "127.0.0.1:0", "--run"]).arg(&fx.run_dir));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no rating plan; run `mhbench rate plan --run"), "{}", stderr(&output));
}

#[tokio::test]
async fn repeated_items_are_exported_apart_from_first_showings() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &["--repeat-share", "0.5"]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let items = alice.item_ids().await;
    assert_eq!(items.len(), 12 + 6, "12 replies and round(0.5 × 12) repeats");
    for item in &items {
        let (status, _) = alice.put(item, json!({"scores": full_scores(3), "submit": true})).await;
        assert_eq!(status, 200);
    }
    let first: Vec<Rating> = export(&fx.run_dir, &[]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let marked: Vec<Value> =
        export(&fx.run_dir, &["--repeats"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Every repeat is marked, at least max(5, 12/4) = 5 places after its first showing, and a
    // plain Rating reader (what `analyze` uses) refuses it rather than taking it as a first rating.
    for record in &marked {
        assert_eq!(record["repeat"], true, "{record}");
        assert!(record["repeat_gap"].as_u64().unwrap() >= 5, "{record}");
        let err = serde_json::from_value::<Rating>(record.clone()).unwrap_err().to_string();
        assert!(err.contains("unknown field `repeat"), "{err}");
    }
    let repeats: Vec<Rating> = marked
        .iter()
        .map(|r| {
            let mut plain = r.as_object().unwrap().clone();
            plain.remove("repeat");
            plain.remove("repeat_gap");
            serde_json::from_value(Value::Object(plain)).unwrap()
        })
        .collect();
    let csv = export(&fx.run_dir, &["--repeats", "--format", "csv"]);
    assert_eq!(csv.lines().skip(1).filter(|l| l.contains(",complete,true,")).count(), 6, "{csv}");
    // Written into the run folder under a name `analyze` reads, repeats are refused.
    let into_run = fx.run_dir.join("ratings-repeats.jsonl");
    let refused = run(mhbench().args(["rate", "export", "--repeats", "--run"]).arg(&fx.run_dir).arg("--out").arg(&into_run));
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("`analyze` reads every ratings*.jsonl of a run as first ratings"), "{}", stderr(&refused));
    assert!(!into_run.exists());
    let alice_first: BTreeSet<_> =
        first.iter().filter(|r| r.rater_id.as_str() == "alice").map(|r| r.response.clone()).collect();
    assert_eq!(alice_first.len(), 12, "one first-showing rating per reply");
    assert_eq!(repeats.len(), 6);
    assert!(repeats.iter().all(|r| alice_first.contains(&r.response)), "a repeat shows a reply she also had first");
    // Test-retest straight from the exported records: 6 pairs per attribute, below the minimum.
    use mhbench::rating::consistency::{test_retest, Scored};
    fn scored(ratings: &[Rating]) -> Vec<Scored<'_>> {
        ratings.iter().map(Scored::from).collect()
    }
    let table = test_retest(&scored(&first), &scored(&repeats), &ATTRIBUTES);
    assert_eq!(table.keys().collect::<Vec<_>>(), ["alice"]);
    assert!(table["alice"].values().all(|cell| cell.n == 6 && cell.stats.is_none()), "{table:?}");
}

#[test]
fn plan_names_file_and_line_of_bad_replies_and_writes_no_store() {
    let fx = fixture();
    let path = fx.run_dir.join("responses").join("qwen3-4b.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    std::fs::write(&path, format!("{text}{}\n{first}\n", first.replace("sample:0", "sample:99"))).unwrap();
    let output = run(mhbench().args(["rate", "plan", "--raters", "alice,bob", "--run"]).arg(&fx.run_dir));
    assert_eq!(output.status.code(), Some(2));
    let (p, c) = (path.display(), fx.run_dir.join("conversations.jsonl"));
    assert_eq!(
        stderr(&output),
        format!(
            "mhbench: error: planning the rating: \
             {p}:5: conversation_id: `sample:99` is not in {}; regenerate the run or restore the file\n\
             {p}:6: conversation_id: `sample:0` answered twice by `qwen3-4b`; keep one record\n",
            c.display()
        )
    );
    assert!(!fx.run_dir.join("ratings.sqlite").exists());
}

#[test]
fn csv_export_neutralises_formula_cells_and_import_restores_them() {
    let fx = fixture();
    plan(&fx.run_dir, &["--repeat-share", "0"]);
    let comment = "=HYPERLINK(\"http://evil.example\",\"click\")";
    let row = format!("sample:0,qwen3-4b,alice,3,3,3,3,3,3,\"{}\",false", comment.replace('"', "\"\""));
    let sheet = write_sheet(&fx.run_dir, &format!("{SHEET_COLUMNS},comment,safety_flag"), &[&row]);
    let output = import_sheet(&fx.run_dir, &sheet, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = export(&fx.run_dir, &["--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[12], format!("'{comment}"), "a spreadsheet must read the comment as text");
    // The exported sheet imports back with the comment as the rater wrote it.
    std::fs::write(&sheet, &csv).unwrap();
    let output = import_sheet(&fx.run_dir, &sheet, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(export_ratings(&fx.run_dir)[0].comment.as_deref(), Some(comment));
}

#[tokio::test]
async fn an_oversized_rating_body_gets_413_not_400() {
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let items = alice.item_ids().await;
    let response = alice.put_response(&items[0], json!({"scores": {}, "comment": "x".repeat(1024 * 1024)})).await;
    assert_eq!(response.status().as_u16(), 413);
    // The unread body ends that connection, and the response says so.
    assert_eq!(response.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("request body too large"), "{body}");
    // A long comment within the limit is still judged by its own rule, as a 400. Asked on a fresh
    // client: once in many CI runs the old client's pool handed this request a connection that
    // was closing after the 413 ("connection closed before message completed"), a client-side
    // race this test is not about.
    let alice = Rater::new(&server, &tokens["alice"]);
    let (status, body) = alice.put(&items[0], json!({"scores": {}, "comment": "x".repeat(5000)})).await;
    assert_eq!(status, 400, "{body}");
}

#[test]
fn rate_status_on_a_missing_folder_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("results").join("nope");
    let output = run(mhbench().args(["rate", "status", "--run"]).arg(&missing));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "mhbench: error: --run {}: no such folder; pass the run folder `mhbench generate` wrote (results/<run_id>)\n",
            missing.display()
        )
    );
}
