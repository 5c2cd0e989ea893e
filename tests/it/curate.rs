//! `mhbench curate`: every loader on hand-written fixtures in each real format, the verbatim
//! `path:line` message of each broken fixture, seeded stratified sampling, manifest rebuild and
//! verification, the hub's offline path, the committed sample set, and (when `../shared/data`
//! is present) the real sources and the committed 500-conversation manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mhbench::files::read_jsonl;
use mhbench::schema::{Conversation, Source};

use crate::common::{mhbench, repo_root, run, shared_data, stderr, stdout};

const ALL_SOURCES: &str = "counselchat,mentalchat16k,psych8k,mentalbench,emocare-bench";

/// Curate every fixture source into `out` and return the written set.
fn curate_fixtures(out: &Path, extra: &[&str]) -> Vec<Conversation> {
    let output = run(mhbench()
        .args([
            "curate",
            "--data-dir",
            "tests/fixtures",
            "--source",
            ALL_SOURCES,
            "--name",
            "fx",
            "--min-words",
            "5",
        ])
        .arg("--out-dir")
        .arg(out)
        .args(extra));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "{}\n{}\n",
            out.join("fx.jsonl").display(),
            out.join("fx.manifest.json").display()
        )
    );
    read_jsonl(&out.join("fx.jsonl")).unwrap()
}

fn ids(set: &[Conversation]) -> Vec<&str> {
    set.iter().map(|c| c.id.as_str()).collect()
}

#[test]
fn every_loader_reads_its_fixture_and_duplicates_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let set = curate_fixtures(dir.path(), &[]);
    // CounselChat: 4 questions kept (question 0's three rows fold into one; "Help?" is under
    // 5 words; questionID 2 names two texts, so each gets its line). MentalChat16K: 3 (the
    // synthetic file repeats an interview row). Psych8K: 2. EmoCare: 3. MentalBench: 3 (conv 2
    // is CounselChat question 1 without its curly apostrophe; conv 4 repeats conv 3 with doubled
    // spaces).
    let chosen: BTreeSet<&str> = ids(&set).into_iter().collect();
    let expected: BTreeSet<&str> = [
        "counselchat:0",
        "counselchat:1",
        "counselchat:2-L6",
        "counselchat:2-L7",
        "mentalchat16k:Interview_Data_6K/0",
        "mentalchat16k:Interview_Data_6K/1",
        "mentalchat16k:Synthetic_Data_10K/0",
        "psych8k:0",
        "psych8k:1",
        "mentalbench:1",
        "mentalbench:3",
        "mentalbench:5",
        "emocare_bench:1",
        "emocare_bench:2",
        "emocare_bench:3",
    ]
    .into();
    assert_eq!(chosen, expected);
    // Sources in dedupe order, CounselChat's topics by name.
    assert_eq!(
        ids(&set)[..4],
        [
            "counselchat:0",
            "counselchat:1",
            "counselchat:2-L7",
            "counselchat:2-L6"
        ]
    );
    let worried = &set[0];
    assert_eq!(worried.topic.as_deref(), Some("anxiety"));
    assert_eq!(
        worried.context,
        "I worry all the time about my health, my job and my kids. It keeps me up at night and I can't switch it off."
    );
    // Most upvoted answer (5 beats 2); HTML of the other answer never leaks in.
    assert_eq!(
        worried.reference_response.as_deref(),
        Some("Notice the worry, name it, and come back to the present moment.")
    );
    assert_eq!(
        worried.metadata["topics"],
        serde_json::json!(["anxiety", "stress"])
    );
    let divorce = set
        .iter()
        .find(|c| c.id.as_str() == "mentalchat16k:Interview_Data_6K/0")
        .unwrap();
    assert_eq!(
        divorce.reference_response.as_deref(),
        Some("It sounds like the divorce has shaken a lot. Let's look at what support you have.")
    );
    assert!(set
        .iter()
        .all(|c| !c.context.contains("  ") && !c.context.contains('\n')));
}

#[test]
fn report_counts_every_drop_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench()
        .args([
            "curate",
            "--data-dir",
            "tests/fixtures",
            "--source",
            ALL_SOURCES,
            "--min-words",
            "5",
            "--max-words",
            "24",
        ])
        .arg("--out-dir")
        .arg(dir.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stderr(&output);
    let row = |source: &str| {
        report
            .lines()
            .find(|l| l.starts_with(source))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // loaded, empty, short, long, dup, kept, chosen. CounselChat: "Help?" is short, the 25- and
    // 28-word questions are long. MentalBench: conv 2 (28 words) is long, conv 4 repeats conv 3.
    assert_eq!(
        row("counselchat ")[1..8],
        ["5", "0", "1", "2", "0", "2", "2"]
    );
    assert_eq!(
        row("mentalbench ")[1..8],
        ["5", "0", "0", "1", "1", "3", "3"]
    );
}

#[test]
fn same_seed_gives_the_same_manifest_and_another_seed_another_draw() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let first = curate_fixtures(a.path(), &["-n", "6", "--seed", "1"]);
    let again = curate_fixtures(b.path(), &["-n", "6", "--seed", "1"]);
    let manifest = |d: &Path| std::fs::read_to_string(d.join("fx.manifest.json")).unwrap();
    assert_eq!(manifest(a.path()), manifest(b.path()));
    assert_eq!(first, again);
    // 6 of 15 by largest remainder over sources of 4, 3, 2, 3, 3: exact shares 1.6, 1.2, 0.8,
    // 1.2, 1.2 -> floors 1, 1, 0, 1, 1 (sum 4); the 2 missing units go to the largest
    // remainders, psych8k (0.8) and counselchat (0.6).
    let per_source: BTreeMap<Source, usize> = first.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.source).or_default() += 1;
        m
    });
    assert_eq!(
        per_source,
        BTreeMap::from([
            (Source::Counselchat, 2),
            (Source::Mentalchat16k, 1),
            (Source::Psych8k, 1),
            (Source::Mentalbench, 1),
            (Source::EmocareBench, 1),
        ])
    );
    let draws: BTreeSet<Vec<String>> = (2..8)
        .map(|seed| {
            let out = c.path().join(seed.to_string());
            let set = curate_fixtures(&out, &["-n", "6", "--seed", &seed.to_string()]);
            set.into_iter().map(|c| c.id.0).collect()
        })
        .collect();
    assert!(
        draws.len() > 1,
        "six seeds all drew the same rows: {draws:?}"
    );
}

#[test]
fn manifest_rebuilds_the_same_set() {
    let (built, rebuilt) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    curate_fixtures(built.path(), &["-n", "9"]);
    let output = run(mhbench()
        .args(["curate", "--data-dir", "tests/fixtures", "--manifest"])
        .arg(built.path().join("fx.manifest.json"))
        .arg("--out-dir")
        .arg(rebuilt.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("{}\n", rebuilt.path().join("fx.jsonl").display())
    );
    let read = |d: &Path| std::fs::read(d.join("fx.jsonl")).unwrap();
    assert_eq!(read(built.path()), read(rebuilt.path()));
    let manifest = std::fs::read_to_string(built.path().join("fx.manifest.json")).unwrap();
    assert!(
        !manifest.contains("worry"),
        "a manifest carries hashes, never text"
    );
}

fn copy_fixtures(to: &Path) {
    for sub in ["counselchat", "mentalbench", "emocare-counselling-bench"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for entry in std::fs::read_dir(repo_root().join("tests/fixtures").join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(sub).join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_changed_source_names_the_file_and_the_rows_that_differ() {
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    copy_fixtures(data.path());
    let curate = |extra: &[&str]| {
        run(mhbench()
            .arg("curate")
            .arg("--data-dir")
            .arg(data.path())
            .arg("--out-dir")
            .arg(out.path())
            .args(extra))
    };
    assert!(curate(&["--name", "fx", "--min-words", "5"])
        .status
        .success());
    let manifest_path = out.path().join("fx.manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let line_of = |needle: &str| manifest.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let row_line = |id: &str| line_of(&format!("\"source_id\":\"{id}\""));
    // Change one question's text and remove the two questions that share questionID 2.
    let csv_path = data.path().join("counselchat/20200325_counsel_chat.csv");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let edited: String = csv
        .replace(
            "I still can’t go into her room",
            "I still cannot go into her room",
        )
        .lines()
        .filter(|l| !l.contains("My girlfriend and I fight") && !l.contains("four hours a night"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&csv_path, edited).unwrap();
    std::fs::remove_file(out.path().join("fx.jsonl")).unwrap();
    let output = curate(&["--manifest", manifest_path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let m = manifest_path.display();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "mhbench: error: rebuilding the set of {m}: {m}:{}: sources[0].sha256: {} hashes to ",
            line_of("20200325_counsel_chat.csv"),
            csv_path.display()
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{m}:{}: rows[1].text_sha256: counselchat:1 text now hashes to ",
            row_line("1")
        )),
        "{err}"
    );
    for (index, id) in [(2, "2-L7"), (3, "2-L6")] {
        assert_eq!(
            lines[index],
            format!("{m}:{}: rows[{index}]: counselchat:{id} is not in the sources (or is listed twice); the source file differs from the one the set was built from", row_line(id))
        );
    }
    assert!(
        !out.path().join("fx.jsonl").exists(),
        "nothing is written when verification fails"
    );
}

/// Run `curate` on one broken fixture and return its stderr.
fn broken(flag: &str, file: &str, source: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench()
        .args([
            "curate",
            "--data-dir",
            "tests/fixtures",
            "--source",
            source,
            flag,
            file,
        ])
        .arg("--out-dir")
        .arg(dir.path()));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing is written on bad input"
    );
    stderr(&output)
}

#[test]
fn broken_fixtures_name_file_and_line() {
    let p = "mhbench: error: curating conversations: tests/fixtures";
    assert_eq!(
        broken("--counselchat", "counselchat/broken_missing_column.csv", "counselchat"),
        format!("{p}/counselchat/broken_missing_column.csv:1: missing column `topic`; the header has: , questionID, questionTitle, questionText, questionLink, therapistInfo, therapistURL, answerText, upvotes, views, split; is this the right file?\n")
    );
    assert_eq!(
        broken("--counselchat", "counselchat/broken_malformed_row.csv", "counselchat"),
        format!("{p}/counselchat/broken_malformed_row.csv:3: row has 13 fields, the header has 12; quote fields that contain commas or line breaks\n")
    );
    assert_eq!(
        broken("--counselchat", "counselchat/broken_invalid_utf8.csv", "counselchat"),
        format!("{p}/counselchat/broken_invalid_utf8.csv:3: column `answerText`: invalid UTF-8; save the file as UTF-8\n")
    );
    assert_eq!(
        broken("--mentalchat16k", "mentalchat16k/broken_missing_column.csv", "mentalchat16k"),
        format!("{p}/mentalchat16k/broken_missing_column.csv:1: missing column `input`; the header has: instruction, question, output; is this the right file?\n")
    );
    assert_eq!(
        broken("--psych8k", "psych8k/broken_missing_field.json", "psych8k"),
        format!("{p}/psych8k/broken_missing_field.json:3: [1]: missing field `output`\n")
    );
    assert_eq!(
        broken("--emocare-bench", "emocare-counselling-bench/broken_two_turns.jsonl", "emocare-bench"),
        format!("{p}/emocare-counselling-bench/broken_two_turns.jsonl:2: turns: expected one user turn, found 2\n")
    );
}

#[test]
fn a_wrong_manifest_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let m = "tests/fixtures/manifest/broken_unknown_field.manifest.json";
    let output = run(mhbench()
        .args(["curate", "--manifest", m])
        .arg("--out-dir")
        .arg(dir.path()));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!("mhbench: error: rebuilding the set of {m}: {m}:7: sources[0].url: unknown field `url`, expected one of `source`, `path`, `sha256`\n")
    );
}

#[test]
fn hub_offline_without_cache_says_what_to_do() {
    let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let output = run(mhbench()
        .args(["curate", "--hub", "--source", "psych8k"])
        .arg("--out-dir")
        .arg(dir.path())
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", cache.path()));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "mhbench: error: curating conversations: hf://datasets/EmoCareAI/Psych8k/Alexander_Street_shareGPT_2.0.json: not in the Hugging Face cache at {}/hub and HF_HUB_OFFLINE=1 forbids downloading; unset HF_HUB_OFFLINE while online to download it, or pass a local copy with --psych8k FILE\n",
            cache.path().display()
        )
    );
}

#[test]
fn hub_unreachable_fails_fast_with_what_to_do() {
    let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Port 9 on loopback refuses at once, standing in for "no network" without a DNS wait.
    let output = run(mhbench()
        .args(["curate", "--hub", "--source", "mentalchat16k"])
        .arg("--out-dir")
        .arg(dir.path())
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("HF_HOME", cache.path()));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("mhbench: error: curating conversations: hf://datasets/ShenLab/MentalChat16K/Interview_Data_6K.csv: download failed: "),
        "{err}"
    );
    assert!(err.ends_with("or pass a local copy with --mentalchat16k FILE (HF_HUB_OFFLINE=1 uses only the cache)\n"), "{err}");
}

#[test]
fn committed_sample_set_is_a_dozen_synthetic_conversations() {
    let set: Vec<Conversation> = read_jsonl(&repo_root().join("datasets/sample.jsonl")).unwrap();
    assert_eq!(set.len(), 12);
    assert!(set
        .iter()
        .all(|c| c.source == Source::Sample && c.metadata["synthetic"] == serde_json::json!(true)));
    assert!(set
        .iter()
        .all(|c| c.id == mhbench::schema::ConversationId::new(Source::Sample, &c.source_id)));
    let topics: BTreeSet<_> = set.iter().filter_map(|c| c.topic.as_deref()).collect();
    assert_eq!(topics.len(), 12, "{topics:?}");
    assert!(topics.contains("suicidal-ideation"));
    let unique: BTreeSet<_> = set.iter().map(|c| &c.id).collect();
    assert_eq!(unique.len(), 12);
}

#[test]
fn real_counselchat_loads_800_plus_unique_questions() {
    let Some(data) = shared_data() else {
        println!("skipped: ../shared/data not found");
        return;
    };
    let set =
        mhbench::dataset::counselchat::load(&data.join("counselchat/20200325_counsel_chat.csv"))
            .unwrap();
    assert_eq!(set.len(), 824);
    let ids: BTreeSet<_> = set.iter().map(|c| &c.id).collect();
    assert_eq!(ids.len(), 824, "ids are unique");
    assert!(set
        .iter()
        .all(|c| c.topic.is_some() && c.reference_response.is_some()));
}

#[test]
fn real_mentalbench_copies_of_counselchat_are_deduplicated() {
    let Some(_) = shared_data() else {
        println!("skipped: ../shared/data not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench()
        .args(["curate", "-n", "100000", "--name", "all"])
        .arg("--out-dir")
        .arg(dir.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    let set: Vec<Conversation> = read_jsonl(&dir.path().join("all.jsonl")).unwrap();
    // contexts.csv marks 44 contexts as CounselChat questions; none may survive deduplication.
    let leaked: Vec<_> = set
        .iter()
        .filter(|c| c.metadata.contains_key("counselchat_match"))
        .map(|c| c.id.as_str())
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    let count = |s: Source| set.iter().filter(|c| c.source == s).count();
    assert_eq!(
        (
            count(Source::Counselchat),
            count(Source::Mentalbench),
            count(Source::EmocareBench)
        ),
        (810, 943, 229)
    );
}

#[test]
fn real_data_reproduces_the_committed_manifest_and_verifies_it() {
    let Some(_) = shared_data() else {
        println!("skipped: ../shared/data not found");
        return;
    };
    let (built, rebuilt) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let output = run(mhbench()
        .args(["curate"])
        .arg("--out-dir")
        .arg(built.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    let committed =
        std::fs::read_to_string(repo_root().join("datasets/study500.manifest.json")).unwrap();
    let fresh = std::fs::read_to_string(built.path().join("study500.manifest.json")).unwrap();
    assert_eq!(
        fresh, committed,
        "`mhbench curate` no longer reproduces datasets/study500.manifest.json"
    );
    let output = run(mhbench()
        .args(["curate", "--manifest", "datasets/study500.manifest.json"])
        .arg("--out-dir")
        .arg(rebuilt.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(built.path().join("study500.jsonl")).unwrap(),
        std::fs::read(rebuilt.path().join("study500.jsonl")).unwrap()
    );
    let set: Vec<Conversation> = read_jsonl(&rebuilt.path().join("study500.jsonl")).unwrap();
    assert_eq!(set.len(), 500);
}

#[test]
fn help_shows_every_default() {
    let output = run(mhbench().args(["curate", "--help"]));
    assert!(output.status.success());
    let help = stdout(&output);
    for expected in [
        "[env: MHBENCH_DATA=]",
        "[default: ../shared/data]",
        "[default: counselchat mentalbench emocare-bench]",
        "defaults to `study<N>`",
        "[default: datasets]",
        "[default: 500]",
        "[default: 42]",
        "[default: 8]",
        "[default: 400]",
        "HF_HUB_OFFLINE=1",
    ] {
        assert!(
            help.contains(expected),
            "`{expected}` missing from:\n{help}"
        );
    }
}

/// Run `curate --source emocare-bench` on a file holding `text`; exit code and stderr.
fn curate_emocare_text(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.jsonl"), text).unwrap();
    let output = run(mhbench()
        .arg("curate")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--source", "emocare-bench", "--emocare-bench", "q.jsonl", "--min-words", "1"])
        .arg("--out-dir")
        .arg(dir.path().join("out")));
    (output.status.code(), stderr(&output))
}

#[test]
fn an_empty_source_file_is_an_error_not_an_empty_set() {
    let (code, err) = curate_emocare_text("\n\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("q.jsonl: no emocare_bench conversations in this file; is it the right file for --emocare-bench?"), "{err}");
}

#[test]
fn a_source_id_given_twice_is_refused_before_writing_a_set_generate_would_refuse() {
    let line = |id: u32, text: &str| format!("{{\"question_id\": {id}, \"turns\": [\"{text}\"]}}\n");
    let (code, err) = curate_emocare_text(&(line(7, "I cannot sleep at night.") + &line(7, "My sister and I argue daily.")));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("q.jsonl: source id `7` names two different texts"), "{err}");
}

#[test]
fn two_records_on_one_source_line_are_an_error_naming_the_line() {
    let (code, err) = curate_emocare_text("{\"question_id\": 1, \"turns\": [\"a b c\"]} {\"question_id\": 2, \"turns\": [\"d e f\"]}\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("q.jsonl:1: a second JSON value follows the record"), "{err}");
}
