//! Events in, verdicts out: the shapes of `../shared/docs/contract.md`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Warn,
    Block,
    Error,
}

impl Decision {
    /// Process exit status of `cordon check` for a single call.
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Allow => 0,
            Decision::Warn => 1,
            Decision::Block => 2,
            Decision::Error => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    #[default]
    Call,
    Result,
}

/// One line of the check contract: a tool call about to run, or its result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(rename = "type", default)]
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    pub tool: String,
    #[serde(default)]
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

/// `Event` as it arrives, with `input` told apart when absent (`None`) and
/// when present but null (`Some(Null)`), which the contract treats differently.
#[derive(Deserialize)]
struct WireEvent {
    #[serde(default)]
    id: Option<Value>,
    #[serde(rename = "type", default)]
    kind: EventKind,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    task: Option<String>,
    tool: String,
    #[serde(default, deserialize_with = "present")]
    input: Option<Value>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    ts: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl WireEvent {
    /// The event, when it passes the checks `from_json_line` makes beyond types.
    fn into_event(self) -> Option<Event> {
        let input = match self.input {
            Some(v @ Value::Object(_)) => v,
            Some(_) => return None,
            None if self.kind == EventKind::Call => return None,
            None => Value::Null,
        };
        if self.kind == EventKind::Result && self.output.is_none() {
            return None;
        }
        Some(Event {
            id: self.id,
            kind: self.kind,
            session: self.session,
            agent: self.agent,
            task: self.task,
            tool: self.tool,
            input,
            output: self.output,
            ts: self.ts,
        })
    }
}

impl Event {
    /// A shell call, the shape `cordon check 'CMD'` builds from its argument.
    pub fn shell(command: &str) -> Event {
        Event {
            id: None,
            kind: EventKind::Call,
            session: None,
            agent: None,
            task: None,
            tool: "bash".into(),
            input: serde_json::json!({ "command": command }),
            output: None,
            ts: None,
        }
    }

    /// Parse one contract line. The error names what is wrong; the id is
    /// recovered when the line is JSON but not a valid event.
    pub fn from_json_line(line: &str) -> Result<Event, (Option<Value>, String)> {
        // Straight into the struct: one pass, no intermediate tree. Anything
        // it rejects or that fails a check below (duplicate keys, wrong
        // types) is parsed again the slow way, which names what is wrong.
        if let Ok(w) = serde_json::from_str::<WireEvent>(line) {
            if let Some(event) = w.into_event() {
                return Ok(event);
            }
        }
        Self::from_json_value_line(line)
    }

    fn from_json_value_line(line: &str) -> Result<Event, (Option<Value>, String)> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| (None, format!("invalid JSON: {e}")))?;
        let id = value.get("id").cloned();
        let Value::Object(ref obj) = value else {
            return Err((None, "event is not a JSON object".into()));
        };
        match obj.get("tool") {
            Some(Value::String(_)) => {}
            Some(_) => return Err((id, "field `tool` must be a string".into())),
            None => return Err((id, "missing field `tool`".into())),
        }
        if let Some(input) = obj.get("input") {
            if !input.is_object() {
                return Err((id, "field `input` must be an object".into()));
            }
        }
        let event: Event = serde_json::from_value(value)
            .map_err(|e| (id.clone(), format!("invalid event: {e}")))?;
        if event.kind == EventKind::Call && event.input.is_null() {
            return Err((id, "call event lacks field `input`".into()));
        }
        if event.kind == EventKind::Result && event.output.is_none() {
            return Err((id, "result event lacks field `output`".into()));
        }
        Ok(event)
    }
}

/// Something a detector saw, with the evidence a person reads to agree or not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub kind: String,
    pub severity: Severity,
    pub confidence: f64,
    pub rule: String,
    pub attack: Vec<String>,
    pub evidence: String,
    /// Byte span of the evidence in the original input text it came from.
    pub span: [usize; 2],
    pub message: String,
    /// Ids of the earlier events of the same episode this finding links
    /// (the source of a data flow, the steps of a sequence). Empty for
    /// single-call findings, and then left out of the JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub id: Option<Value>,
    pub decision: Decision,
    pub severity: Option<Severity>,
    pub findings: Vec<Finding>,
    pub error: Option<String>,
    pub line: Option<usize>,
}

impl Verdict {
    pub fn error(id: Option<Value>, error: String, line: Option<usize>) -> Verdict {
        Verdict {
            id,
            decision: Decision::Error,
            severity: None,
            findings: Vec::new(),
            error: Some(error),
            line,
        }
    }

    /// The contract line as bytes, serialized straight from the verdict
    /// (no tree built first), keys in sorted order as `serde_json::Map` keeps them.
    pub fn to_contract_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.contract_line()).unwrap_or_default()
    }

    /// The contract's JSON form: `severity` is `none` when nothing was found.
    pub fn to_contract_json(&self) -> Value {
        serde_json::to_value(self.contract_line()).unwrap_or(Value::Null)
    }

    /// One view of the contract line for both forms above. Fields are in
    /// sorted order so the bytes equal the tree's serialization.
    fn contract_line(&self) -> ContractLine<'_> {
        ContractLine {
            decision: self.decision,
            error: self.error.as_deref(),
            findings: self
                .findings
                .iter()
                .map(|f| ContractFinding {
                    attack: &f.attack,
                    confidence: f.confidence,
                    evidence: &f.evidence,
                    kind: &f.kind,
                    message: &f.message,
                    related: &f.related,
                    rule: &f.rule,
                    severity: f.severity,
                    span: f.span,
                })
                .collect(),
            id: self.id.as_ref().unwrap_or(&Value::Null),
            line: self.line,
            severity: self.severity.map(|s| s.as_str()).unwrap_or("none"),
        }
    }
}

#[derive(Serialize)]
struct ContractFinding<'a> {
    attack: &'a [String],
    confidence: f64,
    evidence: &'a str,
    kind: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    related: &'a [Value],
    rule: &'a str,
    severity: Severity,
    span: [usize; 2],
}

#[derive(Serialize)]
struct ContractLine<'a> {
    decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    findings: Vec<ContractFinding<'a>>,
    id: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    severity: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_name_the_problem_and_keep_the_id() {
        assert!(Event::from_json_line("{nope")
            .unwrap_err()
            .1
            .contains("invalid JSON"));
        let (id, msg) = Event::from_json_line(r#"{"id":"x","input":{}}"#).unwrap_err();
        assert_eq!(id, Some(Value::String("x".into())));
        assert!(msg.contains("tool"));
        let (_, msg) =
            Event::from_json_line(r#"{"id":"x","tool":"bash","input":"ls"}"#).unwrap_err();
        assert!(msg.contains("input"));
        let (_, msg) =
            Event::from_json_line(r#"{"id":"x","type":"result","tool":"bash"}"#).unwrap_err();
        assert!(msg.contains("output"));
    }

    #[test]
    fn direct_contract_bytes_equal_the_tree() {
        let f = Finding {
            kind: "REVERSE_TUNNEL".into(),
            severity: Severity::Critical,
            confidence: 0.95,
            rule: "net.x".into(),
            attack: vec!["T1572".into()],
            evidence: "ssh -R \"q\" \u{e9}".into(),
            span: [0, 9],
            message: "m".into(),
            related: vec![],
        };
        let mut linked = f.clone();
        linked.related = vec![Value::from("e1"), Value::from(7)];
        for v in [
            Verdict {
                id: Some(Value::from("a")),
                decision: Decision::Block,
                severity: Some(Severity::Critical),
                findings: vec![f, linked],
                error: None,
                line: None,
            },
            Verdict::error(
                Some(serde_json::json!({"k": [1, 2.5]})),
                "bad".into(),
                Some(4),
            ),
            Verdict::error(None, "x".into(), None),
        ] {
            assert_eq!(
                String::from_utf8(v.to_contract_bytes()).unwrap(),
                serde_json::to_string(&v.to_contract_json()).unwrap()
            );
        }
        // The exact contract bytes, keys sorted, `related` only when set.
        let v = Verdict::error(Some(Value::from(1)), "bad".into(), Some(4));
        assert_eq!(
            String::from_utf8(v.to_contract_bytes()).unwrap(),
            r#"{"decision":"error","error":"bad","findings":[],"id":1,"line":4,"severity":"none"}"#
        );
    }

    #[test]
    fn the_direct_parse_accepts_and_rejects_what_the_tree_parse_does() {
        for line in [
            r#"{"id":1,"tool":"bash","input":{"command":"ls"}}"#,
            r#"{"id":1,"type":"result","tool":"x","input":null,"output":1}"#,
            r#"{"id":1,"type":"result","tool":"x","output":2}"#,
            r#"{"id":2,"type":"result","tool":"x","output":null}"#,
            r#"{"id":3,"tool":"x","tool":"y","input":{}}"#,
            r#"{"id":3,"tool":"x","input":{"a":1},"input":{"b":2}}"#,
            r#"{"tool":5}"#,
            r#"{"tool":"x"}"#,
            r#"{"tool":"x","input":[1]}"#,
            r#"{"tool":"x","input":{},"session":null,"id":null,"extra":{"y":1}}"#,
            r#"{"tool":"x","type":"other","input":{}}"#,
        ] {
            let fast = Event::from_json_line(line).map(|e| serde_json::to_value(e).unwrap());
            let slow = Event::from_json_value_line(line).map(|e| serde_json::to_value(e).unwrap());
            assert_eq!(fast, slow, "{line}");
        }
    }

    #[test]
    fn verdict_json_says_none_without_findings() {
        let v = Verdict {
            id: Some("a".into()),
            decision: Decision::Allow,
            severity: None,
            findings: vec![],
            error: None,
            line: None,
        };
        let j = v.to_contract_json();
        assert_eq!(j["severity"], "none");
        assert_eq!(j["decision"], "allow");
        assert!(j.get("error").is_none());
    }
}
