//! The rating study's controls over real HTTP and a real SQLite file: "cannot rate" stored apart
//! from scores, replies cut at the token limit marked, per-item time kept, a rater's link
//! reissued without touching a rating, and the study lead's progress and agreement view behind
//! its own token. The browser side of the same controls is in `rate_browser.rs`.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{import_sheet, mhbench, run, stderr, stdout, write_sheet, SHEET_COLUMNS};
use crate::rate::{fixture, full_scores, Rater, Server, MODELS};

/// `rate plan` with `extra` flags: each rater's token, and the study lead's.
pub fn plan_with_lead(run_dir: &Path, extra: &[&str]) -> (std::collections::BTreeMap<String, String>, String) {
    let output = run(mhbench()
        .args(["rate", "plan", "--raters", "alice,bob", "--seed", "7", "--run"])
        .arg(run_dir)
        .args(extra));
    assert!(output.status.success(), "{}", stderr(&output));
    let tokens = stdout(&output)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0].to_owned(), fields[1].split("#token=").nth(1).unwrap().to_owned())
        })
        .collect();
    let lead = stderr(&output)
        .lines()
        .find_map(|l| l.split("/lead#token=").nth(1))
        .expect("plan prints the lead's link")
        .to_owned();
    (tokens, lead)
}

fn export_lines(run_dir: &Path, extra: &[&str]) -> Vec<Value> {
    let output = run(mhbench().args(["rate", "export", "--run"]).arg(run_dir).args(extra));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn cannot_rate_is_stored_apart_and_never_exported_as_a_score() {
    let fx = fixture();
    let (tokens, _) = plan_with_lead(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let items = alice.item_ids().await;
    // Scores together with "cannot rate" are refused: it holds none.
    let (status, body) = alice.put(&items[0], json!({"scores": {"empathy": 3}, "cannot_rate": true, "submit": true})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("cannot_rate: send no scores"), "{body}");
    let (status, saved) = alice.put(&items[0], json!({"cannot_rate": true, "comment": "reply is empty", "submit": true})).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!((saved["rating"]["cannot_rate"].clone(), saved["done"].clone()), (json!(true), json!(1)));
    let (_, item) = alice.get(&format!("/api/items/{}", items[0])).await;
    assert_eq!(item["rating"]["cannot_rate"], true);
    assert_eq!(item["rating"]["scores"], json!({}));
    // Only an item the page has shown has a time: item 1 is shown first, item 0 never was.
    alice.get(&format!("/api/items/{}", items[1])).await;
    alice.put(&items[1], json!({"scores": full_scores(4), "submit": true})).await;

    let exported = export_lines(&fx.run_dir, &[]);
    assert_eq!(exported.len(), 2);
    let cannot: Vec<&Value> = exported.iter().filter(|r| r["status"] == "cannot_rate").collect();
    assert_eq!(cannot.len(), 1, "{exported:?}");
    assert_eq!(cannot[0]["scores"], json!({}));
    assert_eq!(cannot[0]["comment"], "reply is empty");
    let table = stdout(&run(mhbench().args(["rate", "status", "--run"]).arg(&fx.run_dir)));
    let alice_row = table.lines().find(|l| l.starts_with("alice")).unwrap();
    let cells: Vec<&str> = alice_row.split_whitespace().collect();
    assert_eq!(&cells[1..5], ["2", "1", "0", "12"], "submitted, cannot rate, drafts, total: {table}");
    assert_ne!(cells[6], "-", "a median time per reply is shown: {table}");
}

#[tokio::test]
async fn a_reply_cut_at_the_token_limit_is_marked_and_time_per_item_is_kept() {
    let fx = fixture();
    let (tokens, _) = plan_with_lead(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let bob = Rater::new(&server, &tokens["bob"]);
    let mut marked = 0;
    for item in bob.item_ids().await {
        let (status, body) = bob.get(&format!("/api/items/{item}")).await;
        assert_eq!(status, 200);
        if body["truncated"] == true {
            marked += 1;
            assert!(body["reply"].as_str().unwrap().starts_with("Reply 0-0:"), "{body}");
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            bob.put(&item, json!({"scores": full_scores(2), "submit": true})).await;
        }
    }
    assert_eq!(marked, 1, "one reply of the fixture stopped at max_new_tokens");
    let elapsed: i64 = rusqlite::Connection::open(fx.run_dir.join("ratings.sqlite"))
        .unwrap()
        .query_row("SELECT elapsed_ms FROM ratings", [], |r| r.get(0))
        .unwrap();
    assert!((300..60_000).contains(&elapsed), "shown to saved: {elapsed} ms");
}

#[tokio::test]
async fn reissuing_a_link_invalidates_the_old_one_and_keeps_every_rating() {
    let fx = fixture();
    let (tokens, _) = plan_with_lead(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let items = alice.item_ids().await;
    alice.put(&items[0], json!({"scores": full_scores(3), "comment": "kept", "submit": true})).await;
    alice.put(&items[1], json!({"scores": {"empathy": 2}})).await;
    let before = export_lines(&fx.run_dir, &[]);

    let output = run(mhbench().args(["rate", "reissue", "--rater", "alice", "--base-url", "http://rate.example:9", "--run"]).arg(&fx.run_dir));
    assert!(output.status.success(), "{}", stderr(&output));
    let url = stdout(&output).trim().to_owned();
    let new_token = url.strip_prefix("http://rate.example:9/#token=").unwrap_or_else(|| panic!("{url}"));
    assert_eq!(new_token.len(), 64);
    assert_ne!(new_token, tokens["alice"]);

    let (status, _) = alice.get("/api/session").await;
    assert_eq!(status, 403, "the old link no longer works");
    let renewed = Rater::new(&server, new_token);
    let (status, session) = renewed.get("/api/session").await;
    assert_eq!(status, 200);
    assert_eq!((session["rater_id"].clone(), session["done"].clone()), (json!("alice"), json!(1)));
    assert_eq!(renewed.item_ids().await, items, "same queue");
    let (_, draft) = renewed.get(&format!("/api/items/{}", items[1])).await;
    assert_eq!(draft["rating"]["scores"], json!({"empathy": 2}));
    assert_eq!(export_lines(&fx.run_dir, &[]), before, "no rating touched");
    let (status, _) = Rater::new(&server, &tokens["bob"]).get("/api/session").await;
    assert_eq!(status, 200, "bob's link is untouched");

    let unknown = run(mhbench().args(["rate", "reissue", "--rater", "carol", "--run"]).arg(&fx.run_dir));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("--rater: `carol` is not a rater of this plan"), "{}", stderr(&unknown));
}

#[tokio::test]
async fn the_lead_view_needs_the_lead_token_and_shows_agreement_only_above_the_minimum_n() {
    let fx = fixture();
    let (tokens, lead) = plan_with_lead(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    let bob = Rater::new(&server, &tokens["bob"]);
    let lead_client = Rater::new(&server, &lead);
    assert_eq!(alice.get("/api/lead").await.0, 403, "a rater's token does not open the lead's view");
    assert_eq!(lead_client.get("/api/session").await.0, 403, "the lead's token opens no rater's queue");

    // Both raters rate every reply; Bob gives exactly one point more on empathy for 4 of 12.
    for item in alice.item_ids().await {
        alice.put(&item, json!({"scores": full_scores(3), "submit": true})).await;
    }
    let (_, view) = lead_client.get("/api/lead").await;
    assert_eq!(view["inter_rater"], json!({}), "no shared reply rated yet: {view}");
    for (k, item) in bob.item_ids().await.into_iter().enumerate() {
        let mut scores = full_scores(3);
        if k < 4 {
            scores["empathy"] = json!(4);
        }
        if k == 11 {
            bob.put(&item, json!({"cannot_rate": true, "submit": true})).await;
        } else {
            bob.put(&item, json!({"scores": scores, "submit": true})).await;
        }
    }
    let (status, view) = lead_client.get("/api/lead").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["min_pairs"], 10);
    let empathy = &view["inter_rater"][""]["empathy"];
    assert_eq!(empathy["n"], 11, "12 shared replies, one of them 'cannot rate': {view}");
    let stats = &empathy["stats"];
    assert!((stats["exact"].as_f64().unwrap() - 7.0 / 11.0).abs() < 1e-9, "{stats}");
    assert!((stats["mean_abs_diff"].as_f64().unwrap() - 4.0 / 11.0).abs() < 1e-9, "{stats}");
    assert_eq!(stats["within_one"], 1.0);
    assert_eq!(view["inter_rater"]["alice"]["safety"]["stats"]["kappa_quadratic"], Value::Null, "no spread: undefined");
    let bob_row = view["progress"].as_array().unwrap().iter().find(|p| p["rater_id"] == "bob").unwrap().clone();
    assert_eq!((bob_row["submitted"].clone(), bob_row["cannot_rate"].clone()), (json!(12), json!(1)));
    assert_eq!(view["test_retest"], json!({}), "no repeats planned");
    let text = view.to_string();
    for model in MODELS {
        assert!(!text.contains(model), "the lead's view names no model");
    }
    assert!(!text.contains("Reply 0-0"), "the lead's view carries no reply text");

    // Reissuing the lead's link invalidates the old one.
    let output = run(mhbench().args(["rate", "reissue", "--lead", "--run"]).arg(&fx.run_dir));
    let new_lead = stdout(&output).trim().split("/lead#token=").nth(1).unwrap().to_owned();
    assert_eq!(lead_client.get("/api/lead").await.0, 403);
    assert_eq!(Rater::new(&server, &new_lead).get("/api/lead").await.0, 200);
}

#[tokio::test]
async fn test_retest_agreement_appears_once_a_rater_has_enough_repeats() {
    let fx = fixture();
    let (tokens, lead) = plan_with_lead(&fx.run_dir, &["--repeat-share", "0.5"]);
    let server = Server::start(&fx.run_dir);
    let alice = Rater::new(&server, &tokens["alice"]);
    for item in alice.item_ids().await {
        alice.put(&item, json!({"scores": full_scores(4), "submit": true})).await;
    }
    let (_, view) = Rater::new(&server, &lead).get("/api/lead").await;
    let cell = &view["test_retest"]["alice"]["empathy"];
    assert_eq!(cell["n"], 6, "round(0.5 × 12) repeats: {view}");
    assert_eq!(cell["stats"], Value::Null, "6 pairs are below the minimum of 10");
}

#[test]
fn a_sheet_imports_cannot_rate_without_scores_and_refuses_repeats() {
    let fx = fixture();
    plan_with_lead(&fx.run_dir, &["--repeat-share", "0"]);
    // carol rated on paper, outside the page: named with --new-rater (an unknown rater is refused).
    let header = format!("{SHEET_COLUMNS},comment,status,repeat");
    let cannot_rate = "sample:0,qwen3-4b,carol,,,,,,,not my field,cannot_rate,false";
    let sheet = write_sheet(
        &fx.run_dir,
        &header,
        &[
            cannot_rate,
            "sample:1,qwen3-4b,carol,3,,,,,,,cannot_rate,",
            "sample:2,qwen3-4b,carol,3,3,3,3,3,3,,complete,true",
            "sample:3,qwen3-4b,carol,3,3,3,3,3,3,,unsure,",
        ],
    );
    let output = import_sheet(&fx.run_dir, &sheet, &["--new-rater", "carol"]);
    assert_eq!(output.status.code(), Some(2));
    let p = sheet.display();
    assert_eq!(
        stderr(&output),
        format!(
            "mhbench: error: importing {p}: {p}:3: guidance: `3` with status cannot_rate; leave it empty or set status complete\n\
             {p}:4: repeat: true; repeated showings are not imported (they measure the page's raters); remove the row\n\
             {p}:5: status: `unsure`; write complete or cannot_rate\n"
        )
    );
    write_sheet(&fx.run_dir, &header, &[cannot_rate]);
    let output = import_sheet(&fx.run_dir, &sheet, &["--new-rater", "carol"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let exported = export_lines(&fx.run_dir, &[]);
    assert_eq!(exported.len(), 1);
    assert_eq!((exported[0]["status"].clone(), exported[0]["scores"].clone()), (json!("cannot_rate"), json!({})));
}
