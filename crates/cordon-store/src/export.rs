//! Exports of recorded episodes: JSON lines, OCSF Detection Findings for
//! SIEMs, and OpenTelemetry traces (OTLP/JSON) for trace viewers.

use std::collections::{HashMap, HashSet};

use cordon_core::{Decision, EventKind, Finding, Severity};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::{Episode, StoredEvent};

/// The OCSF schema version the findings follow.
pub const OCSF_VERSION: &str = "1.3.0";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One stored event as a JSON object: the contract's event fields, the
/// verdict as `cordon check` wrote it, and where the store keeps it.
pub fn jsonl(ep: &Episode, e: &StoredEvent) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put("episode", Some(ep.key.clone().into()));
    put("step", Some(e.step.into()));
    put("line", e.line.map(Value::from));
    put("id", e.event_id.clone());
    put("type", e.kind.map(|k| kind_name(k).into()));
    put(
        "session",
        (!ep.key.is_empty()).then(|| ep.key.clone().into()),
    );
    put("agent", ep.agent.clone().map(Value::from));
    put("task", ep.task.clone().map(Value::from));
    put("tool", e.tool.clone().map(Value::from));
    put("capability", e.capability.clone().map(Value::from));
    put("input", e.input.clone().filter(|v| !v.is_null()));
    put("output", e.output.clone().filter(|v| !v.is_null()));
    put("raw", e.raw.clone().map(Value::from));
    put("ts", e.ts.clone().map(Value::from));
    put("recorded_at", Some(e.recorded_at.clone().into()));
    put("verdict", Some(e.verdict.to_contract_json()));
    Value::Object(o)
}

/// One OCSF Detection Finding (class 2004) per finding of the episode's events.
pub fn ocsf(ep: &Episode, events: &[StoredEvent]) -> Vec<Value> {
    let mut out = Vec::new();
    for e in events {
        let (action_id, action, disposition_id, disposition) = match e.verdict.decision {
            Decision::Block => (2, "Denied", 2, "Blocked"),
            Decision::Warn => (1, "Allowed", 19, "Alert"),
            Decision::Allow | Decision::Error => (1, "Allowed", 1, "Allowed"),
        };
        let time_ms = e.time_nanos().div_euclid(1_000_000);
        for (n, f) in e.verdict.findings.iter().enumerate() {
            let mut finding_info = json!({
                "uid": format!("{}#{}.{}", ep.key, e.step, n + 1),
                "title": f.kind,
                "desc": f.message,
                "types": [f.kind],
                "analytic": { "name": f.rule, "uid": f.rule, "type_id": 1, "type": "Rule" },
                "attacks": f.attack.iter().map(|id| attack(id)).collect::<Vec<_>>(),
                "created_time": time_ms,
            });
            if !f.related.is_empty() {
                finding_info["related_events"] = f
                    .related
                    .iter()
                    .map(|id| json!({ "uid": id_text(id) }))
                    .collect();
            }
            let mut evidence = json!({ "data": { "evidence": f.evidence, "span": f.span } });
            if let Some(cmd) = command(e) {
                evidence["process"] = json!({ "cmd_line": cmd });
            }
            let mut finding = json!({
                "activity_id": 1,
                "activity_name": "Create",
                "category_uid": 2,
                "category_name": "Findings",
                "class_uid": 2004,
                "class_name": "Detection Finding",
                "type_uid": 200401,
                "type_name": "Detection Finding: Create",
                "time": time_ms,
                "severity_id": severity_id(f.severity),
                "severity": severity_name(f.severity),
                "status_id": 1,
                "status": "New",
                "message": f.message,
                "confidence_score": (f.confidence.clamp(0.0, 1.0) * 100.0).round() as i64,
                "confidence_id": confidence_id(f),
                "action_id": action_id,
                "action": action,
                "disposition_id": disposition_id,
                "disposition": disposition,
                "metadata": {
                    "version": OCSF_VERSION,
                    "product": { "name": "Cordon", "vendor_name": "Cordon", "version": VERSION },
                    "uid": format!("{}#{}", ep.key, e.step),
                    "logged_time": crate::time::parse_ms(&e.recorded_at),
                },
                "finding_info": finding_info,
                "evidences": [evidence],
                "raw_data": f.evidence,
                "unmapped": { "cordon": {
                    "episode": ep.key,
                    "step": e.step,
                    "event_id": e.event_id,
                    "event_type": e.kind.map(kind_name),
                    "tool": e.tool,
                    "capability": e.capability,
                    "decision": decision_name(e.verdict.decision),
                    "task": ep.task,
                }},
            });
            if !ep.key.is_empty() {
                finding["metadata"]["correlation_uid"] = ep.key.clone().into();
            }
            if let Some(agent) = &ep.agent {
                finding["actor"] = json!({ "app_name": agent, "app_uid": agent });
            }
            out.push(finding);
        }
    }
    out
}

/// The episode as one OTLP/JSON trace: an `invoke_agent` root span, one
/// `execute_tool {tool}` span per call (ending at its result when one was
/// recorded), and under each a `run_guardrail cordon` span with the verdict
/// and one `gen_ai.security.finding` span event per finding. Lines that were
/// not valid events have no tool call to show and are left out.
pub fn otlp(ep: &Episode, events: &[StoredEvent]) -> Value {
    let trace_id = hex(&digest(&[ep.key.as_bytes()])[..16]);
    let root_id = span_id(&ep.key, "episode");
    let agent_attrs = |attrs: &mut Vec<Value>| {
        if let Some(a) = &ep.agent {
            attrs.push(attr_str("gen_ai.agent.id", a));
        }
        if !ep.key.is_empty() {
            attrs.push(attr_str("gen_ai.conversation.id", &ep.key));
        }
    };

    // Pair each result with its call: same id, else the latest open call of the same tool.
    let mut result_of: HashMap<u64, &StoredEvent> = HashMap::new();
    let mut paired: HashSet<u64> = HashSet::new();
    let mut open: Vec<&StoredEvent> = Vec::new();
    for e in events {
        match e.kind {
            Some(EventKind::Call) => open.push(e),
            Some(EventKind::Result) => {
                let by_id = e
                    .event_id
                    .as_ref()
                    .and_then(|id| open.iter().rposition(|c| c.event_id.as_ref() == Some(id)));
                let found = by_id.or_else(|| {
                    open.iter()
                        .rposition(|c| c.event_id.is_none() && c.tool == e.tool)
                });
                if let Some(i) = found {
                    result_of.insert(open.remove(i).step, e);
                    paired.insert(e.step);
                }
            }
            None => {}
        }
    }

    let mut spans = Vec::new();
    let (mut start, mut end) = (i64::MAX, i64::MIN);
    for e in events {
        let t = e.time_nanos();
        start = start.min(t);
        end = end.max(t);
        match e.kind {
            Some(EventKind::Call) => {
                let call_id = span_id(&ep.key, &format!("call:{}", e.step));
                let result = result_of.get(&e.step);
                let tool = e.tool.as_deref().unwrap_or("");
                let mut attrs = vec![
                    attr_str("gen_ai.operation.name", "execute_tool"),
                    attr_str("gen_ai.tool.name", tool),
                    attr_int("cordon.step", e.step as i64),
                ];
                if let Some(id) = &e.event_id {
                    attrs.push(attr_str("gen_ai.tool.call.id", &id_text(id)));
                }
                agent_attrs(&mut attrs);
                if let Some(input) = &e.input {
                    attrs.push(attr_str("gen_ai.tool.call.arguments", &input.to_string()));
                }
                if let Some(output) = result.and_then(|r| r.output.as_ref()) {
                    attrs.push(attr_str("gen_ai.tool.call.result", &output_text(output)));
                }
                if let Some(c) = &e.capability {
                    attrs.push(attr_str("cordon.capability", c));
                }
                let mut span = json!({
                    "traceId": trace_id,
                    "spanId": call_id,
                    "parentSpanId": root_id,
                    "name": format!("execute_tool {tool}"),
                    "kind": 1,
                    "startTimeUnixNano": t.to_string(),
                    "endTimeUnixNano": result.map_or(t, |r| r.time_nanos().max(t)).to_string(),
                    "attributes": attrs,
                });
                match e.verdict.decision {
                    Decision::Block => {
                        let reason = worst(&e.verdict.findings).map_or("", |f| f.message.as_str());
                        span["status"] =
                            json!({ "code": 2, "message": format!("blocked by cordon: {reason}") });
                    }
                    Decision::Error => {
                        let reason = e.verdict.error.as_deref().unwrap_or("");
                        span["status"] = json!({ "code": 2, "message": format!("cordon could not check it: {reason}") });
                    }
                    Decision::Allow | Decision::Warn => {}
                }
                spans.push(span);
                spans.push(guardrail_span(ep, e, &trace_id, &call_id, "tool_call"));
                if let Some(r) = result {
                    spans.push(guardrail_span(ep, r, &trace_id, &call_id, "tool_result"));
                }
            }
            // A result whose call was not recorded still shows its verdict.
            Some(EventKind::Result) if !paired.contains(&e.step) => {
                spans.push(guardrail_span(ep, e, &trace_id, &root_id, "tool_result"));
            }
            Some(EventKind::Result) | None => {}
        }
    }
    if events.is_empty() {
        (start, end) = (0, 0);
    }
    let mut attrs = vec![attr_str("gen_ai.operation.name", "invoke_agent")];
    agent_attrs(&mut attrs);
    if let Some(task) = &ep.task {
        attrs.push(attr_str("cordon.task", task));
    }
    attrs.push(attr_int("cordon.events", ep.events as i64));
    attrs.push(attr_int("cordon.findings", ep.findings as i64));
    let root = json!({
        "traceId": trace_id,
        "spanId": root_id,
        "name": ep.agent.as_ref().map_or("invoke_agent".to_string(), |a| format!("invoke_agent {a}")),
        "kind": 1,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": end.to_string(),
        "attributes": attrs,
    });
    spans.insert(0, root);
    json!({ "resourceSpans": [{
        "resource": { "attributes": [attr_str("service.name", "cordon"), attr_str("service.version", VERSION)] },
        "scopeSpans": [{ "scope": { "name": "cordon", "version": VERSION }, "spans": spans }],
    }]})
}

/// The `run_guardrail cordon` span of one event's verdict, under `parent`.
fn guardrail_span(
    ep: &Episode,
    e: &StoredEvent,
    trace_id: &str,
    parent: &str,
    target: &str,
) -> Value {
    let t = e.time_nanos();
    let v = &e.verdict;
    let (verdict, action) = match v.decision {
        Decision::Allow => ("allow", "allow"),
        Decision::Warn => ("warn", "allow"),
        Decision::Block => ("deny", "block"),
        Decision::Error => ("error", "allow"),
    };
    let mut attrs = vec![
        attr_str("gen_ai.operation.name", "run_guardrail"),
        attr_str("gen_ai.guardrail.name", "cordon"),
        attr_str("gen_ai.guardrail.target.type", target),
        attr_str("gen_ai.guardrail.verdict.type", verdict),
        attr_str("gen_ai.guardrail.action.type", action),
        attr_str("cordon.decision", decision_name(v.decision)),
    ];
    if let Some(id) = &e.event_id {
        attrs.push(attr_str("gen_ai.guardrail.target.id", &id_text(id)));
    }
    if !ep.key.is_empty() {
        attrs.push(attr_str("gen_ai.conversation.id", &ep.key));
    }
    if let Some(f) = worst(&v.findings) {
        attrs.push(attr_str("gen_ai.guardrail.verdict.reason", &f.message));
        attrs.push(attr_str("security.policy.rule.id", &f.rule));
        attrs.push(attr_str("security.risk.category", &f.kind));
        attrs.push(attr_str("security.risk.severity", f.severity.as_str()));
        let score = v.findings.iter().map(|f| f.confidence).fold(0.0, f64::max);
        attrs.push(json!({ "key": "security.risk.score", "value": { "doubleValue": score } }));
    }
    if let Some(err) = &v.error {
        attrs.push(attr_str("error.type", err));
    }
    let events: Vec<Value> = v
        .findings
        .iter()
        .map(|f| {
            let mut attrs = vec![
                attr_str("security.risk.category", &f.kind),
                attr_str("security.risk.severity", f.severity.as_str()),
                json!({ "key": "security.risk.score", "value": { "doubleValue": f.confidence } }),
                attr_str("security.policy.rule.id", &f.rule),
                attr_str("security.finding.message", &f.message),
                attr_str("security.finding.evidence", &f.evidence),
                attr_strs("threat.technique.id", f.attack.iter().map(String::as_str)),
            ];
            if !f.related.is_empty() {
                let related: Vec<String> = f.related.iter().map(id_text).collect();
                attrs.push(attr_strs("cordon.related_event_ids", related.iter().map(String::as_str)));
            }
            json!({ "timeUnixNano": t.to_string(), "name": "gen_ai.security.finding", "attributes": attrs })
        })
        .collect();
    json!({
        "traceId": trace_id,
        "spanId": span_id(&ep.key, &format!("guard:{}", e.step)),
        "parentSpanId": parent,
        "name": "run_guardrail cordon",
        "kind": 1,
        "startTimeUnixNano": t.to_string(),
        "endTimeUnixNano": t.to_string(),
        "attributes": attrs,
        "events": events,
    })
}

/// A span id (16 hex characters) stable for the same episode and label.
fn span_id(key: &str, label: &str) -> String {
    hex(&digest(&[key.as_bytes(), b"\0", label.as_bytes()])[..8])
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    crate::key::encode(bytes)
}

fn attr_str(key: &str, v: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": v } })
}

fn attr_int(key: &str, v: i64) -> Value {
    // OTLP/JSON writes 64-bit integers as strings.
    json!({ "key": key, "value": { "intValue": v.to_string() } })
}

fn attr_strs<'a>(key: &str, vs: impl Iterator<Item = &'a str>) -> Value {
    let values: Vec<Value> = vs.map(|v| json!({ "stringValue": v })).collect();
    json!({ "key": key, "value": { "arrayValue": { "values": values } } })
}

/// The most severe finding, the most confident among equals.
pub fn worst(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().max_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.confidence.total_cmp(&b.confidence))
    })
}

/// An event id as text: a string as is, anything else as JSON.
pub fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The shell command of a call, when its input has one.
pub fn command(e: &StoredEvent) -> Option<&str> {
    let input = e.input.as_ref()?;
    ["command", "cmd", "script"]
        .iter()
        .find_map(|k| input.get(k)?.as_str())
}

fn output_text(output: &Value) -> String {
    match output {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::Call => "call",
        EventKind::Result => "result",
    }
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Warn => "warn",
        Decision::Block => "block",
        Decision::Error => "error",
    }
}

fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

fn confidence_id(f: &Finding) -> u8 {
    match f.confidence {
        c if c >= 0.8 => 3,
        c if c >= 0.5 => 2,
        _ => 1,
    }
}

/// An OCSF attack object for an ATT&CK id (`T1572`, `T1021.004`), with the
/// technique's name and primary tactic when it is one Cordon's rules use.
fn attack(id: &str) -> Value {
    let technique = id.split('.').next().unwrap_or(id);
    let mut a = json!({ "technique": { "uid": technique } });
    if technique != id {
        a["sub_technique"] = json!({ "uid": id });
    }
    if let Some((name, tactic)) = TECHNIQUES
        .iter()
        .find(|(t, ..)| *t == technique)
        .map(|(_, n, t)| (*n, *t))
    {
        a["technique"]["name"] = name.into();
        let tactic_name = TACTICS
            .iter()
            .find(|(u, _)| *u == tactic)
            .map_or("", |(_, n)| *n);
        a["tactic"] = json!({ "uid": tactic, "name": tactic_name });
    }
    a
}

const TACTICS: &[(&str, &str)] = &[
    ("TA0001", "Initial Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege Escalation"),
    ("TA0005", "Defense Evasion"),
    ("TA0006", "Credential Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral Movement"),
    ("TA0009", "Collection"),
    ("TA0010", "Exfiltration"),
    ("TA0011", "Command and Control"),
    ("TA0040", "Impact"),
];

/// (technique, name, primary tactic) for the techniques rules name.
const TECHNIQUES: &[(&str, &str, &str)] = &[
    ("T1003", "OS Credential Dumping", "TA0006"),
    ("T1005", "Data from Local System", "TA0009"),
    ("T1014", "Rootkit", "TA0005"),
    ("T1016", "System Network Configuration Discovery", "TA0007"),
    ("T1018", "Remote System Discovery", "TA0007"),
    ("T1021", "Remote Services", "TA0008"),
    ("T1027", "Obfuscated Files or Information", "TA0005"),
    ("T1036", "Masquerading", "TA0005"),
    ("T1041", "Exfiltration Over C2 Channel", "TA0010"),
    ("T1046", "Network Service Discovery", "TA0007"),
    ("T1048", "Exfiltration Over Alternative Protocol", "TA0010"),
    ("T1053", "Scheduled Task/Job", "TA0003"),
    ("T1056", "Input Capture", "TA0006"),
    ("T1057", "Process Discovery", "TA0007"),
    ("T1059", "Command and Scripting Interpreter", "TA0002"),
    ("T1069", "Permission Groups Discovery", "TA0007"),
    ("T1070", "Indicator Removal", "TA0005"),
    ("T1071", "Application Layer Protocol", "TA0011"),
    ("T1078", "Valid Accounts", "TA0005"),
    ("T1082", "System Information Discovery", "TA0007"),
    ("T1083", "File and Directory Discovery", "TA0007"),
    ("T1087", "Account Discovery", "TA0007"),
    ("T1090", "Proxy", "TA0011"),
    ("T1095", "Non-Application Layer Protocol", "TA0011"),
    ("T1098", "Account Manipulation", "TA0003"),
    ("T1105", "Ingress Tool Transfer", "TA0011"),
    ("T1110", "Brute Force", "TA0006"),
    ("T1136", "Create Account", "TA0003"),
    ("T1140", "Deobfuscate/Decode Files or Information", "TA0005"),
    ("T1204", "User Execution", "TA0002"),
    ("T1219", "Remote Access Software", "TA0011"),
    (
        "T1222",
        "File and Directory Permissions Modification",
        "TA0005",
    ),
    ("T1485", "Data Destruction", "TA0040"),
    ("T1486", "Data Encrypted for Impact", "TA0040"),
    ("T1489", "Service Stop", "TA0040"),
    ("T1490", "Inhibit System Recovery", "TA0040"),
    ("T1496", "Resource Hijacking", "TA0040"),
    ("T1526", "Cloud Service Discovery", "TA0007"),
    ("T1539", "Steal Web Session Cookie", "TA0006"),
    ("T1543", "Create or Modify System Process", "TA0003"),
    ("T1546", "Event Triggered Execution", "TA0003"),
    ("T1548", "Abuse Elevation Control Mechanism", "TA0004"),
    ("T1552", "Unsecured Credentials", "TA0006"),
    ("T1553", "Subvert Trust Controls", "TA0005"),
    ("T1555", "Credentials from Password Stores", "TA0006"),
    ("T1556", "Modify Authentication Process", "TA0006"),
    ("T1560", "Archive Collected Data", "TA0009"),
    ("T1562", "Impair Defenses", "TA0005"),
    ("T1564", "Hide Artifacts", "TA0005"),
    ("T1567", "Exfiltration Over Web Service", "TA0010"),
    ("T1569", "System Services", "TA0002"),
    ("T1570", "Lateral Tool Transfer", "TA0008"),
    ("T1571", "Non-Standard Port", "TA0011"),
    ("T1572", "Protocol Tunneling", "TA0011"),
    ("T1574", "Hijack Execution Flow", "TA0003"),
    ("T1580", "Cloud Infrastructure Discovery", "TA0007"),
    ("T1611", "Escape to Host", "TA0004"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attacks_carry_technique_sub_technique_and_tactic() {
        let a = attack("T1021.004");
        assert_eq!(a["technique"]["uid"], "T1021");
        assert_eq!(a["technique"]["name"], "Remote Services");
        assert_eq!(a["sub_technique"]["uid"], "T1021.004");
        assert_eq!(
            a["tactic"],
            json!({ "uid": "TA0008", "name": "Lateral Movement" })
        );
        let unknown = attack("T9999");
        assert_eq!(unknown, json!({ "technique": { "uid": "T9999" } }));
        // Every tactic the table names exists.
        assert!(TECHNIQUES
            .iter()
            .all(|(_, _, t)| TACTICS.iter().any(|(u, _)| u == t)));
    }

    #[test]
    fn ids_are_stable_and_sized() {
        assert_eq!(span_id("s1", "call:1"), span_id("s1", "call:1"));
        assert_ne!(span_id("s1", "call:1"), span_id("s1", "call:2"));
        assert_eq!(span_id("s1", "x").len(), 16);
        assert_eq!(id_text(&json!("c7")), "c7");
        assert_eq!(id_text(&json!(7)), "7");
    }
}
