//! End to end: `cordon check --jsonl --store` on generated episodes, `cordon ingest` of the
//! generated logs in every format, `cordon correlate` scored against the ground truth.
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cordon_correlate::gen::{generate, Generated, Params};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

fn cordon(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .env_remove("CORDON_STORE")
        .env_remove("CORDON_POLICY")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cordon runs");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Episodes checked into a store, every generated log ingested into it.
fn setup(dir: &Path, g: &Generated) -> String {
    let db = dir.join("c.db").display().to_string();
    let out = cordon(&["check", "--jsonl", "--store", &db], Some(&g.episodes));
    assert_eq!(
        text(&out.stdout).lines().count(),
        g.episodes.lines().count(),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.join("hosts.toml"), &g.hosts).unwrap();
    for (name, body, extra) in &g.files {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        let mut args = vec!["ingest", "--store", &db];
        args.extend(extra.iter().map(String::as_str));
        // The ground truth names files as the generator does: ingest from inside the directory.
        let out = Command::new(BIN)
            .env_remove("CORDON_STORE")
            .current_dir(dir)
            .args(&args)
            .arg(name)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "{name}: {err}"
        );
        assert!(err.contains(" 0 bad"), "{name}: {err}");
    }
    db
}

fn correlate_json(dir: &Path, db: &str, extra: &[&str]) -> serde_json::Value {
    let hosts = dir.join("hosts.toml").display().to_string();
    let mut args = vec![
        "correlate",
        "--store",
        db,
        "--hosts",
        &hosts,
        "--format",
        "json",
    ];
    args.extend(extra);
    let out = cordon(&args, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn attribution_meets_precision_and_recall_with_two_seconds_of_skew() {
    let tmp = tempfile::tempdir().unwrap();
    let g = generate(&Params::default());
    assert_eq!(g.files.len(), 10, "every format");
    let db = setup(tmp.path(), &g);
    let report = correlate_json(tmp.path(), &db, &[]);
    let truth: HashMap<(String, u64), &cordon_correlate::gen::Truth> = g
        .truth
        .iter()
        .map(|t| ((t.file.clone(), t.line), t))
        .collect();
    let (mut right, mut wrong, mut right_episode) = (0usize, 0usize, 0usize);
    for a in report["attributions"].as_array().unwrap() {
        let key = (
            a["origin"].as_str().unwrap().to_owned(),
            a["line"].as_u64().unwrap(),
        );
        let t = truth
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} not generated"));
        let same_episode = t.session.as_deref() == a["session"].as_str();
        right_episode += usize::from(same_episode);
        if same_episode && t.call.as_deref() == a["call_id"].as_str() {
            right += 1;
        } else {
            wrong += 1;
        }
    }
    let positives = g.truth.iter().filter(|t| t.session.is_some()).count();
    let (precision, recall) = (
        right as f64 / (right + wrong) as f64,
        right as f64 / positives as f64,
    );
    eprintln!("call-level precision {precision:.4}, recall {recall:.4} ({right} right, {wrong} wrong, {positives} agent events; {right_episode} right episode)");
    assert!(
        precision >= 0.99 && recall >= 0.99,
        "precision {precision}, recall {recall}"
    );
    // Every log clock found near +2 s (whole-second VPC stamps within a second).
    let skews = report["skew"].as_array().unwrap();
    assert!(skews.len() >= 10, "{skews:?}");
    for k in skews.iter().filter(|k| k["method"] == "auto") {
        assert!(
            (k["skew_ms"].as_f64().unwrap() - 2000.0).abs() <= 1000.0,
            "{k}"
        );
    }
    let sig = &report["significance"];
    let line = sig["line"].as_str().unwrap();
    assert!(
        line.contains(" blocked or alerted connections fall in tool-execution windows covering "),
        "{line}"
    );
    assert!(
        sig["p_value"].as_f64().unwrap() < 1e-12 && line.contains("p < 1e-12"),
        "{line}"
    );
    assert!(
        sig["inside"].as_u64().unwrap() as f64 >= 0.99 * sig["violations"].as_u64().unwrap() as f64,
        "{sig}"
    );
    assert_eq!(
        report["hosts_note"].as_str().unwrap().contains("3 hosts"),
        true
    );
    let agents: Vec<&str> = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, vec!["coder-c", "rome-a", "rome-b"]);

    // The table says the same, and a run without the mapping says it is one host.
    let out = cordon(
        &[
            "correlate",
            "--store",
            &db,
            "--hosts",
            &tmp.path().join("hosts.toml").display().to_string(),
        ],
        None,
    );
    let table = text(&out.stdout);
    assert!(
        table.contains(line)
            && table.contains("rome-a-ep02")
            && table.contains("Tool calls with violations"),
        "{table}"
    );
    let out = cordon(&["correlate", "--store", &db], None);
    assert!(text(&out.stdout)
        .contains("no --hosts mapping: all episodes and records are treated as one host"));
}

#[test]
fn svg_timeline_is_well_formed_with_one_lane_per_host() {
    let tmp = tempfile::tempdir().unwrap();
    let g = generate(&Params {
        episodes_per_host: 2,
        ..Params::default()
    });
    let db = setup(tmp.path(), &g);
    let svg_path = tmp.path().join("t.svg").display().to_string();
    let hosts = tmp.path().join("hosts.toml").display().to_string();
    let out = cordon(
        &[
            "correlate",
            "--store",
            &db,
            "--hosts",
            &hosts,
            "--format",
            "svg",
            "--out",
            &svg_path,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let lanes: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .map(|n| n.attribute("data-host").unwrap())
        .collect();
    assert_eq!(lanes, vec!["gpu-node-1", "gpu-node-2", "cpu-node-3"]);
    let violations = doc
        .descendants()
        .filter(|n| {
            n.attribute("class") == Some("net violation") && n.attribute("fill") == Some("#e00000")
        })
        .count();
    assert!(violations > 5, "{violations}");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("episode"))
            .count(),
        6
    );
    assert!(doc
        .descendants()
        .any(|n| n.attribute("class") == Some("legend")));
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .any(|n| n
                .text()
                .is_some_and(|t| t.len() == 8 && t.as_bytes()[2] == b':')),
        "axis times"
    );
}

#[test]
fn a_canary_in_the_logs_raises_canary_triggered() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db").display().to_string();
    let home = tmp.path().join("home");
    let out = cordon(
        &[
            "canary",
            "--store",
            &db,
            "plant",
            home.to_str().unwrap(),
            "--kinds",
            "aws",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let creds = std::fs::read_to_string(home.join(".aws/credentials")).unwrap();
    let key_id = creds
        .lines()
        .find_map(|l| l.strip_prefix("aws_access_key_id = "))
        .unwrap()
        .to_owned();
    let g = generate(&Params {
        episodes_per_host: 2,
        canary: Some(key_id.clone()),
        ..Params::default()
    });
    let db2 = setup(tmp.path(), &g);
    assert_eq!(db, db2);
    // Ingesting eve.json again shows the alarm (the setup run stored it once already).
    let out = Command::new(BIN)
        .env_remove("CORDON_STORE")
        .current_dir(tmp.path())
        .args(["ingest", "--store", &db, "eve.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let alarm = text(&out.stdout);
    assert!(
        alarm.contains("CANARY_TRIGGERED (critical) eve.json:")
            && alarm.contains("(aws) seen hex")
            && alarm.contains(".aws/credentials"),
        "{alarm}"
    );
    let report = correlate_json(tmp.path(), &db, &[]);
    let canaries = report["canaries"].as_array().unwrap();
    assert_eq!(canaries.len(), 2, "{canaries:?}");
    let c = &canaries[0];
    assert_eq!(c["canary_kind"], "aws");
    assert_eq!(c["finding"]["kind"], "CANARY_TRIGGERED");
    let t = g
        .truth
        .iter()
        .find(|t| t.file == "eve.json" && Some(t.line) == c["line"].as_u64())
        .unwrap();
    assert_eq!(
        (c["session"].as_str(), c["call_id"].as_str()),
        (t.session.as_deref(), t.call.as_deref())
    );
    let out = cordon(&["correlate", "--store", &db], None);
    assert!(
        text(&out.stdout).contains("CANARY_TRIGGERED (critical) canary "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn correlate_refuses_bad_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("none.db").display().to_string();
    let out = cordon(&["correlate", "--store", &db], None);
    assert_eq!(out.status.code(), Some(3));
    let g = generate(&Params {
        episodes_per_host: 1,
        ..Params::default()
    });
    let db = setup(tmp.path(), &g);
    for (args, want) in [
        (vec!["--window", "5 parsecs"], "unit"),
        (vec!["--skew", "sometimes"], "--skew"),
        (vec!["--since", "yesterday"], "--since"),
        (vec!["--hosts", "/nonexistent/hosts.toml"], "hosts.toml"),
    ] {
        let mut a = vec!["correlate", "--store", db.as_str()];
        a.extend(args);
        let out = cordon(&a, None);
        assert_eq!(out.status.code(), Some(3), "{a:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{a:?}: {}",
            text(&out.stderr)
        );
    }
    let bad_hosts = tmp.path().join("bad.toml");
    std::fs::write(&bad_hosts, "[[host]]\nname = \"x\"\n").unwrap();
    let out = cordon(
        &[
            "correlate",
            "--store",
            &db,
            "--hosts",
            bad_hosts.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.code() == Some(3) && text(&out.stderr).contains("needs agents or sessions"));
    // A fixed skew is reported as given.
    let report = correlate_json(tmp.path(), &db, &["--skew", "2s"]);
    assert!(report["skew"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["method"] == "fixed" && k["skew_ms"] == 2000.0));
}
