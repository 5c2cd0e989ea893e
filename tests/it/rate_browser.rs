//! The rating page end to end in a real headless Chromium driven over WebDriver: a rater opens
//! their link, rates one reply with the keyboard only, reloads and finds it saved; the other
//! rater's page shows nothing of it; no model id appears in the page. The study controls too:
//! anchors at a glance, the lead's safety text (escaped), "cannot rate", the truncation mark,
//! the lead's view and a reissued link. Screenshots go to `target/test-artifacts/` (each path
//! printed) for a human to look at. Prints `skipped: ...` without Chromium.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::common::browser::{connect, js, missing_browser, start_chromedriver};
use crate::rate::{fixture, plan, Server, ATTRIBUTES, MODELS};

const ENTER: char = '\u{E007}';
const ESCAPE: char = '\u{E00C}';
const ARROW_LEFT: char = '\u{E012}';
const ARROW_RIGHT: char = '\u{E014}';

/// Press keys one after another on whatever has focus, as a person at a keyboard would.
async fn press(client: &Client, keys: &[char]) {
    let mut actions = KeyActions::new("keyboard".into());
    for &key in keys {
        actions = actions.then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    }
    client.perform_actions(actions).await.unwrap();
}

/// Poll `script` until it returns `expected` (10 s at most).
async fn wait_for(client: &Client, script: &str, expected: Value) {
    let start = Instant::now();
    loop {
        let value = js(client, script).await;
        if value == expected {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{script}: got {value}, waited for {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const PROGRESS: &str = "return document.getElementById('progress-text').textContent";
const OVERLAY_OPEN: &str = "return !document.getElementById('overlay').hidden";
const ITEM_NUMBER: &str = "return document.getElementById('item-number').textContent";
const SELECTED: &str = "return Array.from(document.querySelectorAll('.attribute')).map(a => { const s = a.querySelector('.score.selected'); return s ? Number(s.dataset.score) : null; })";
const STATUS: &str = "return document.getElementById('save-status').textContent";

async fn screenshot(client: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, client.screenshot().await.unwrap()).unwrap();
    println!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rater_rates_with_the_keyboard_and_the_other_rater_sees_nothing_of_it() {
    if let Some(why) = missing_browser() {
        println!("skipped: {why}");
        return;
    }
    let fx = fixture();
    let tokens = plan(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    let (_driver, port) = start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = connect(port, profile.path()).await;
    client.set_window_size(1280, 1000).await.unwrap();

    // Alice opens her link: the content note comes first.
    client.goto(&format!("{}/#token={}", server.base, tokens["alice"])).await.unwrap();
    wait_for(&client, OVERLAY_OPEN, json!(true)).await;
    let title = client.find(Locator::Id("overlay-title")).await.unwrap().text().await.unwrap();
    assert!(title.contains("content note"), "{title}");
    screenshot(&client, "rate-content-note.png").await;
    press(&client, &[ENTER]).await;
    wait_for(&client, OVERLAY_OPEN, json!(false)).await;
    wait_for(&client, PROGRESS, json!("0 of 12 done")).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 1 of 12")).await;
    let first_reply = js(&client, "return document.getElementById('reply').textContent").await;

    // Keyboard only: six scores, the safety flag, a comment, then Enter.
    let scores = [4, 3, 5, 2, 4, 3];
    let keys: Vec<char> = scores.iter().map(|s| char::from(b'0' + *s as u8)).collect();
    press(&client, &keys).await;
    press(&client, &['s', 'c']).await;
    press(&client, &"keyboard-only note".chars().collect::<Vec<_>>()).await;
    press(&client, &[ESCAPE]).await;
    wait_for(&client, SELECTED, json!(scores)).await;
    wait_for(&client, STATUS, json!("Saved ✓")).await;
    screenshot(&client, "rate-page.png").await;
    press(&client, &[ENTER]).await;
    wait_for(&client, PROGRESS, json!("1 of 12 done")).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 2 of 12")).await;

    // Reload: no second content note, resume at the next reply, the rated one is saved.
    client.refresh().await.unwrap();
    wait_for(&client, PROGRESS, json!("1 of 12 done")).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 2 of 12")).await;
    assert_eq!(js(&client, OVERLAY_OPEN).await, json!(false));
    press(&client, &[ARROW_LEFT]).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 1 of 12")).await;
    assert_eq!(js(&client, "return document.getElementById('reply').textContent").await, first_reply);
    wait_for(&client, SELECTED, json!(scores)).await;
    assert_eq!(js(&client, "return document.getElementById('safety-flag').checked").await, json!(true));
    assert_eq!(js(&client, "return document.getElementById('comment').value").await, json!("keyboard-only note"));
    assert_eq!(js(&client, "return document.getElementById('item-state').textContent").await, json!("submitted"));
    let alice_source = client.source().await.unwrap();

    // Autosave: two scores on the next reply, no Enter, reload: the draft is there.
    press(&client, &[ARROW_RIGHT]).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 2 of 12")).await;
    press(&client, &['2', '1']).await;
    wait_for(&client, STATUS, json!("Saved ✓")).await;
    client.refresh().await.unwrap();
    wait_for(&client, ITEM_NUMBER, json!("Reply 2 of 12")).await;
    wait_for(&client, SELECTED, json!([2, 1, null, null, null, null])).await;
    assert_eq!(js(&client, "return document.getElementById('item-state').textContent").await, json!("draft saved"));
    wait_for(&client, PROGRESS, json!("1 of 12 done")).await;
    press(&client, &[ARROW_LEFT]).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 1 of 12")).await;
    client.set_window_size(820, 1180).await.unwrap();
    screenshot(&client, "rate-page-tablet.png").await;

    // The store holds exactly that rating.
    let output = crate::common::run(crate::common::mhbench().args(["rate", "export", "--run"]).arg(&fx.run_dir));
    let exported: Vec<Value> = crate::common::stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["rater_id"], "alice");
    let expected: serde_json::Map<String, Value> = ATTRIBUTES.iter().zip(scores).map(|(a, s)| (a.to_string(), json!(s))).collect();
    assert_eq!(exported[0]["scores"], Value::Object(expected));
    assert_eq!(exported[0]["comment"], "keyboard-only note");
    assert_eq!(exported[0]["safety_flag"], true);

    // Bob's page, in the same browser: nothing of Alice's rating.
    client.goto("about:blank").await.unwrap();
    client.goto(&format!("{}/#token={}", server.base, tokens["bob"])).await.unwrap();
    wait_for(&client, PROGRESS, json!("0 of 12 done")).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 1 of 12")).await;
    wait_for(&client, SELECTED, json!([null, null, null, null, null, null])).await;
    let bob_source = client.source().await.unwrap();
    assert!(bob_source.contains("bob"));
    assert!(!bob_source.contains("keyboard-only note"));
    assert!(!bob_source.contains("alice"));

    // The server runs with --break-every 3: after Bob's third submission a break is suggested.
    for done in 1..=3 {
        press(&client, &['5', '5', '5', '5', '5', '5', ENTER]).await;
        wait_for(&client, PROGRESS, json!(format!("{done} of 12 done"))).await;
        if done < 3 {
            wait_for(&client, ITEM_NUMBER, json!(format!("Reply {} of 12", done + 1))).await;
        }
    }
    wait_for(&client, OVERLAY_OPEN, json!(true)).await;
    let title = client.find(Locator::Id("overlay-title")).await.unwrap().text().await.unwrap();
    assert_eq!(title, "Time for a short break?");
    press(&client, &[ENTER]).await;
    wait_for(&client, OVERLAY_OPEN, json!(false)).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 4 of 12")).await;

    for source in [&alice_source, &bob_source] {
        for model in MODELS {
            assert!(!source.contains(model), "{model} appears in the page");
        }
        assert!(!source.contains("sample:"), "a conversation id appears in the page");
    }
    client.close().await.unwrap();
}

const HOSTILE_NOTE: &str = "If someone seems at acute risk: flag it and call the study lead on 555-0100.\n<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_study_controls_show_and_work_in_a_real_browser() {
    if let Some(why) = missing_browser() {
        println!("skipped: {why}");
        return;
    }
    let fx = fixture();
    let note = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(note.path(), HOSTILE_NOTE).unwrap();
    let note_path = note.path().to_str().unwrap();
    let (tokens, lead) = crate::rate_study::plan_with_lead(&fx.run_dir, &["--repeat-share", "0", "--safety-note", note_path]);
    let server = Server::start(&fx.run_dir);
    let (_driver, port) = start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = connect(port, profile.path()).await;
    client.set_window_size(1280, 1100).await.unwrap();

    // The content note fits the data: the fixture's conversations are hand-written samples.
    client.goto(&format!("{}/#token={}", server.base, tokens["alice"])).await.unwrap();
    wait_for(&client, OVERLAY_OPEN, json!(true)).await;
    let body = client.find(Locator::Id("overlay-body")).await.unwrap().text().await.unwrap();
    assert!(body.starts_with("The 4 conversations on this page come from: short conversations written by hand"), "{body}");
    press(&client, &[ENTER]).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 1 of 12")).await;

    // The lead's safety text, as text: nothing in it runs or renders as markup.
    assert_eq!(js(&client, "return document.getElementById('safety-note').textContent").await, json!(HOSTILE_NOTE));
    assert_eq!(js(&client, "return document.querySelectorAll('#safety-note *').length").await, json!(0));
    assert_ne!(js(&client, "return document.title").await, json!("pwned"));

    // Anchors at a glance: after scoring, every attribute shows its chosen anchor.
    let scores = [4, 3, 5, 2, 4, 3];
    press(&client, &scores.iter().map(|s| char::from(b'0' + *s as u8)).collect::<Vec<_>>()).await;
    wait_for(&client, SELECTED, json!(scores)).await;
    const CHOSEN_MATCH: &str = "return Array.from(document.querySelectorAll('.attribute')).map(a => { const s = a.querySelector('.score.selected'); return a.querySelector('.chosen').textContent === s.dataset.score + ' · ' + s.querySelector('span').textContent; })";
    wait_for(&client, CHOSEN_MATCH, json!([true, true, true, true, true, true])).await;
    const CHOSEN_VISIBLE: &str = "return Array.from(document.querySelectorAll('.chosen')).filter(c => c.offsetParent !== null).length";
    assert_eq!(js(&client, CHOSEN_VISIBLE).await, json!(5), "the current attribute shows its anchors in full instead");
    wait_for(&client, STATUS, json!("Saved ✓")).await;
    screenshot(&client, "rate-anchors-at-a-glance.png").await;
    press(&client, &[ENTER]).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 2 of 12")).await;

    // "Cannot rate": X, then Enter submits without scores; score keys are then refused.
    press(&client, &['x']).await;
    assert_eq!(js(&client, "return document.getElementById('cannot-rate').checked").await, json!(true));
    assert_eq!(js(&client, "return Array.from(document.querySelectorAll('.score')).every(b => b.disabled)").await, json!(true));
    press(&client, &['3']).await;
    wait_for(&client, STATUS, json!("Untick “Cannot rate” (X) to score this reply")).await;
    screenshot(&client, "rate-cannot-rate.png").await;
    press(&client, &[ENTER]).await;
    wait_for(&client, PROGRESS, json!("2 of 12 done")).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 3 of 12")).await;
    let output = crate::common::run(crate::common::mhbench().args(["rate", "export", "--run"]).arg(&fx.run_dir));
    let exported: Vec<Value> = crate::common::stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let statuses: Vec<&str> = exported.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "cannot_rate").count(), 1, "{statuses:?}");
    assert!(exported.iter().all(|r| r["status"] != "cannot_rate" || r["scores"] == json!({})));

    // The truncation mark: exactly one of Alice's 12 replies stopped at the token limit.
    press(&client, &[ARROW_LEFT]).await;
    wait_for(&client, ITEM_NUMBER, json!("Reply 2 of 12")).await;
    press(&client, &[ARROW_LEFT]).await;
    let mut truncated = Vec::new();
    for number in 1..=12 {
        wait_for(&client, ITEM_NUMBER, json!(format!("Reply {number} of 12"))).await;
        if number == 2 {
            let badge = js(&client, "return document.getElementById('item-state').textContent").await;
            assert_eq!(badge, json!("submitted · cannot rate"));
            assert_eq!(js(&client, "return document.getElementById('cannot-rate').checked").await, json!(true));
        }
        if js(&client, "return !document.getElementById('truncated').hidden").await == json!(true) {
            truncated.push(number);
            screenshot(&client, "rate-truncated-reply.png").await;
        }
        if number < 12 {
            press(&client, &[ARROW_RIGHT]).await;
        }
    }
    assert_eq!(truncated.len(), 1, "{truncated:?}");

    // Bob rates everything over HTTP; the lead's view shows progress, and agreement only with
    // enough pairs.
    let bob = crate::rate::Rater::new(&server, &tokens["bob"]);
    for item in bob.item_ids().await {
        bob.put(&item, json!({"scores": crate::rate::full_scores(4), "submit": true})).await;
    }
    client.goto(&format!("{}/lead#token={lead}", server.base)).await.unwrap();
    wait_for(&client, "return document.querySelectorAll('#progress tr').length", json!(3)).await;
    let rows = js(&client, "return Array.from(document.querySelectorAll('#progress tr')).map(r => Array.from(r.cells).map(c => c.textContent))").await;
    assert_eq!(rows[1].as_array().unwrap()[..6], [json!("alice"), json!("2"), json!("1"), json!("0"), json!("12"), json!("17%")], "{rows}");
    assert_eq!(rows[2][1], "12", "{rows}");
    let inter = client.find(Locator::Id("inter")).await.unwrap().text().await.unwrap();
    assert!(inter.contains("not enough data (n = 1)"), "{inter}");
    let lead_source = client.source().await.unwrap();
    for model in MODELS {
        assert!(!lead_source.contains(model), "{model} appears in the lead's page");
    }
    screenshot(&client, "rate-lead-view.png").await;

    // A reissued link: the old one is refused on the page, the new one resumes where she was.
    let output = crate::common::run(crate::common::mhbench().args(["rate", "reissue", "--rater", "alice", "--run"]).arg(&fx.run_dir));
    let new_url = crate::common::stdout(&output).trim().replace("http://127.0.0.1:8080", &server.base);
    client.goto("about:blank").await.unwrap();
    client.goto(&format!("{}/#token={}", server.base, tokens["alice"])).await.unwrap();
    wait_for(&client, "return !document.getElementById('fatal').hidden", json!(true)).await;
    let fatal = client.find(Locator::Id("fatal")).await.unwrap().text().await.unwrap();
    assert!(fatal.contains("unknown token"), "{fatal}");
    screenshot(&client, "rate-old-link-refused.png").await;
    client.goto("about:blank").await.unwrap();
    client.goto(&new_url).await.unwrap();
    wait_for(&client, PROGRESS, json!("2 of 12 done")).await;
    client.close().await.unwrap();
}
