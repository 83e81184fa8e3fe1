//! Follows episodes (one agent run on one task, keyed by the event's
//! `session`) and adds what a single call cannot show:
//!
//! - **provenance**: an argument of a sink (a tool that sends, pays, posts,
//!   changes state, runs a command) taken from instructions injected into an
//!   earlier tool result, and not from the user's task, is
//!   UNTRUSTED_ARGUMENT_PROVENANCE; the result that carried them is
//!   PROMPT_INJECTION;
//! - **data flow**: a secret seen in a result (or read from a credential
//!   file) that reaches a sink verbatim or transformed is DATA_EXFIL_SEQUENCE;
//! - **canaries**: a planted decoy credential anywhere is CANARY_TRIGGERED;
//! - **sequences**: a file written by one call and run by a later one is
//!   checked as what it is; download → chmod → execute and recon → tunnel
//!   across calls are ATTACK_SEQUENCE findings naming every step.
//!
//! The tracker is sequential by design (events of an episode are ordered);
//! the stateless check runs in parallel before it. Memory is bounded: text
//! kept per episode and the number of live episodes are capped.

pub mod flow;
mod sequence;

use std::collections::HashMap;

use cordon_core::{Capability, Event, EventKind, Finding, Severity, Verdict};
use cordon_engine::Engine;
use cordon_secrets::{CanaryMatcher, Secrets};
use serde_json::Value;

pub use flow::{FlowConfig, FlowError};

/// Bounds on what the tracker keeps.
#[derive(Debug, Clone, Copy)]
pub struct TrackerLimits {
    /// Text kept per episode (injected regions plus ordinary result data).
    pub max_episode_text: usize,
    /// Live episodes; the least recently seen is forgotten beyond this.
    pub max_episodes: usize,
    /// How far past a cue an injected region reaches.
    pub injection_reach: usize,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        TrackerLimits {
            max_episode_text: 2 << 20,
            max_episodes: 4096,
            injection_reach: 600,
        }
    }
}

/// A planted canary, as the store keeps it.
#[derive(Debug, Clone)]
pub struct CanaryInfo {
    pub id: String,
    pub kind: String,
    pub marker: String,
    pub path: String,
}

pub struct Tracker<'e> {
    engine: &'e Engine,
    flow: std::sync::Arc<FlowConfig>,
    limits: TrackerLimits,
    episodes: HashMap<String, Episode>,
    clock: u64,
    secrets: Option<&'e Secrets>,
    canaries: Option<(CanaryMatcher, HashMap<String, CanaryInfo>)>,
}

#[derive(Default)]
struct Episode {
    last_seen: u64,
    /// The user's request, lower-cased: trusted.
    task: String,
    /// Injected instruction regions, lower-cased, with the result that carried each.
    injected: Vec<(String, Value, String)>,
    /// Ordinary result data outside injected regions, lower-cased, NUL-separated.
    data: String,
    /// Values already attributed to an injection (stays true when they echo back in results).
    tainted: HashMap<String, Value>,
    /// Secret values seen (every recognisable form), with the event that exposed them.
    secrets: Vec<SecretSource>,
    /// The last call's id, tool and whether it read credentials (its result is then a source).
    last_call: Option<(Value, String, bool)>,
    text_used: usize,
    seq: sequence::Steps,
}

struct SecretSource {
    kind: String,
    forms: Vec<String>,
    event: Value,
}

impl<'e> Tracker<'e> {
    pub fn new(engine: &'e Engine, limits: TrackerLimits) -> Result<Tracker<'e>, FlowError> {
        let flow = FlowConfig::new(&engine.policy().flow)?;
        Ok(Self::with_flow(engine, std::sync::Arc::new(flow), limits))
    }

    /// A tracker sharing a compiled flow configuration (built from the same
    /// policy): trackers made often, one per input, skip compiling it again.
    pub fn with_flow(
        engine: &'e Engine,
        flow: std::sync::Arc<FlowConfig>,
        limits: TrackerLimits,
    ) -> Tracker<'e> {
        Tracker {
            engine,
            flow,
            limits,
            episodes: HashMap::new(),
            clock: 0,
            secrets: None,
            canaries: None,
        }
    }

    /// Recognise secrets in results, so they can be followed to sinks.
    pub fn with_secrets(mut self, secrets: &'e Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    pub fn with_canaries(mut self, canaries: Vec<CanaryInfo>) -> Self {
        if !canaries.is_empty() {
            let pairs: Vec<(String, String)> = canaries
                .iter()
                .map(|c| (c.id.clone(), c.marker.clone()))
                .collect();
            let by_id = canaries.into_iter().map(|c| (c.id.clone(), c)).collect();
            self.canaries = Some((CanaryMatcher::new(&pairs), by_id));
        }
        self
    }

    pub fn flow(&self) -> &FlowConfig {
        &self.flow
    }

    /// Look at one event after its stateless check, add what the episode
    /// shows, and let the policy decide again. True when findings were added.
    pub fn observe(&mut self, event: &Event, verdict: &mut Verdict) -> bool {
        if event.session.is_none() && self.canaries.is_none() {
            return false;
        }
        let mut extra = Vec::new();
        let text = event_text(event);
        self.canary_findings(&text, &mut extra);
        if let Some(session) = event.session.as_deref() {
            self.clock += 1;
            if !self.episodes.contains_key(session) {
                self.evict();
            }
            let ep = self.episodes.entry(session.to_string()).or_default();
            ep.last_seen = self.clock;
            if ep.task.is_empty() {
                if let Some(t) = &event.task {
                    ep.task = t.to_ascii_lowercase();
                }
            }
            let id = event.id.clone().unwrap_or(Value::Null);
            match event.kind {
                EventKind::Result => result(
                    ep,
                    &self.flow,
                    self.secrets,
                    &self.limits,
                    event,
                    &text,
                    id,
                    &mut extra,
                ),
                EventKind::Call => {
                    let cap = self.engine.policy().tools.capability(&event.tool);
                    let sink = self.flow.is_sink(&event.tool, &self.engine.policy().tools);
                    if sink {
                        provenance(ep, &self.flow, event, &mut extra);
                        if cap != Capability::FileWrite {
                            exfiltration(ep, event, &text, &mut extra);
                        }
                    }
                    sequence::call(ep, self.engine, event, verdict, &id, &mut extra);
                    let reads_creds = verdict
                        .findings
                        .iter()
                        .any(|f| f.kind == "CREDENTIAL_ACCESS");
                    ep.last_call = Some((id, event.tool.clone(), reads_creds));
                }
            }
        }
        let changed = !extra.is_empty();
        self.engine.amend(event, verdict, extra);
        changed
    }

    fn canary_findings(&self, text: &str, out: &mut Vec<Finding>) {
        let Some((matcher, by_id)) = &self.canaries else {
            return;
        };
        for hit in matcher.find(text) {
            let Some(c) = by_id.get(&hit.id) else {
                continue;
            };
            // A canary has several markers (`id`, `id#2`, ...): one finding per canary.
            let canary = cordon_secrets::canary_id(&c.id);
            if out.iter().any(|f: &Finding| {
                f.rule == "canary.triggered" && f.evidence.starts_with(&format!("canary {canary} "))
            }) {
                continue;
            }
            out.push(Finding {
                kind: "CANARY_TRIGGERED".into(),
                severity: Severity::Critical,
                confidence: 0.99,
                rule: "canary.triggered".into(),
                attack: vec!["T1552".into()],
                evidence: format!("canary {canary} ({}) seen {}", c.kind, hit.form),
                span: [hit.span.0, hit.span.1],
                message: format!("a decoy {} credential planted at {} was used ({} form): someone read the decoy and is acting on it", c.kind, c.path, hit.form),
                related: vec![],
            });
        }
    }

    /// Forget the least recently seen episode when at the cap.
    fn evict(&mut self) {
        if self.episodes.len() < self.limits.max_episodes {
            return;
        }
        if let Some(oldest) = self
            .episodes
            .iter()
            .min_by_key(|(_, e)| e.last_seen)
            .map(|(k, _)| k.clone())
        {
            self.episodes.remove(&oldest);
        }
    }
}

/// The text of an event that detectors search: the call's input or the
/// result's output, as JSON text (strings kept as they are).
pub fn event_text(event: &Event) -> String {
    let v = match event.kind {
        EventKind::Call => &event.input,
        EventKind::Result => event.output.as_ref().unwrap_or(&Value::Null),
    };
    match v {
        Value::String(s) => s.clone(),
        other => leaf_text(other),
    }
}

/// Every string leaf of a JSON value, one per line: values read as written,
/// without JSON escaping in the way of substring matches.
fn leaf_text(v: &Value) -> String {
    let mut leaves = Vec::new();
    flow::leaves(v, String::new(), &mut leaves);
    let mut out = String::new();
    for (_, l) in leaves {
        match l {
            Value::String(s) => out.push_str(s),
            Value::Null => continue,
            other => out.push_str(&other.to_string()),
        }
        out.push('\n');
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn result(
    ep: &mut Episode,
    flow: &FlowConfig,
    secrets: Option<&Secrets>,
    limits: &TrackerLimits,
    event: &Event,
    text: &str,
    id: Value,
    out: &mut Vec<Finding>,
) {
    let lower = text.to_ascii_lowercase();
    // Regions are found on bytes; settle them on char boundaries of the text
    // (lower-casing ASCII keeps every offset).
    let snap = |(s, e): flow::Span| {
        let s = cordon_shell::floor_char_boundary(&lower, s);
        (s, cordon_shell::floor_char_boundary(&lower, e).max(s))
    };
    let (regions, first) = flow.injected_regions(lower.as_bytes(), limits.injection_reach);
    let regions: Vec<flow::Span> = regions.into_iter().map(snap).collect();
    if let Some((s, e)) = first.map(snap) {
        let cue = flow.cue_at(&lower.as_bytes()[s..e]).unwrap_or("cue");
        out.push(Finding {
            kind: "PROMPT_INJECTION".into(),
            severity: Severity::Medium,
            confidence: 0.8,
            rule: format!("flow.injection.{cue}"),
            attack: vec!["AML.T0051.001".into()],
            evidence: text[s..e].to_string(),
            span: [s, e],
            message: format!("the result of `{}` carries instructions aimed at the agent; arguments taken from them will be refused", event.tool),
            related: vec![],
        });
    }
    // Keep the injected regions and the rest, within the episode's budget.
    let mut outside = String::new();
    let mut at = 0;
    for &(s, e) in &regions {
        if ep.text_used + (e - s) <= limits.max_episode_text {
            ep.text_used += e - s;
            ep.injected
                .push((lower[s..e].to_string(), id.clone(), event.tool.clone()));
        }
        outside.push_str(&lower[at..s]);
        outside.push('\0');
        at = e;
    }
    outside.push_str(&lower[at..]);
    if ep.text_used + outside.len() <= limits.max_episode_text {
        ep.text_used += outside.len();
        ep.data.push('\0');
        ep.data.push_str(&outside);
    }
    // Secrets this result exposes become sources.
    let creds_read = ep
        .last_call
        .as_ref()
        .is_some_and(|(_, tool, creds)| *creds && *tool == event.tool);
    if let Some(secrets) = secrets {
        for hit in secrets.scan(text) {
            let value = &text[hit.span.0..hit.span.1];
            push_source(ep, hit.kind.to_string(), value, &id);
        }
    }
    if creds_read {
        // A credential file's values may be in no format we recognise: take its long tokens.
        for tok in text.split(|c: char| c.is_whitespace() || "=:\"',".contains(c)) {
            if tok.len() >= 16
                && tok.bytes().any(|b| b.is_ascii_digit())
                && tok.bytes().any(|b| b.is_ascii_alphabetic())
            {
                push_source(ep, "credential-file".into(), tok, &id);
            }
        }
    }
}

fn push_source(ep: &mut Episode, kind: String, value: &str, id: &Value) {
    if ep.secrets.len() >= 256
        || ep
            .secrets
            .iter()
            .any(|s| s.forms.first().map(String::as_str) == Some(value))
    {
        return;
    }
    ep.secrets.push(SecretSource {
        kind,
        forms: cordon_secrets::forms(value),
        event: id.clone(),
    });
}

/// UNTRUSTED_ARGUMENT_PROVENANCE: a sink argument whose value appears in an
/// injected region, not in the user's task, and not in ordinary result data
/// (a value the tools also show as plain data could have come from there).
fn provenance(ep: &mut Episode, flow: &FlowConfig, event: &Event, out: &mut Vec<Finding>) {
    if ep.injected.is_empty() && ep.tainted.is_empty() {
        return;
    }
    let mut leaves = Vec::new();
    flow::leaves(&event.input, String::new(), &mut leaves);
    for (path, value) in leaves {
        if !flow.traces_arg(&event.tool, path.split(['.', '[']).next().unwrap_or(&path)) {
            continue;
        }
        let mut cands = Vec::new();
        flow::candidates(value, &mut cands);
        for c in cands {
            if ep.task.contains(&c) {
                continue;
            }
            let source = if let Some(src) = ep.tainted.get(&c) {
                Some((src.clone(), String::new()))
            } else if memchr::memmem::find(ep.data.as_bytes(), c.as_bytes()).is_some() {
                None
            } else {
                ep.injected
                    .iter()
                    .find(|(r, _, _)| memchr::memmem::find(r.as_bytes(), c.as_bytes()).is_some())
                    .map(|(_, src, tool)| (src.clone(), tool.clone()))
            };
            let Some((src, src_tool)) = source else {
                continue;
            };
            ep.tainted.insert(c.clone(), src.clone());
            let shown = value_text(value);
            let from = if src_tool.is_empty() {
                "an earlier injected instruction".to_string()
            } else {
                format!("instructions injected into the result of `{src_tool}`")
            };
            out.push(Finding {
                kind: "UNTRUSTED_ARGUMENT_PROVENANCE".into(),
                severity: Severity::High,
                confidence: 0.85,
                rule: "flow.untrusted-argument".into(),
                attack: vec!["AML.T0051.001".into(), "T1565".into()],
                evidence: format!("{path} = {}", clip(&shown, 160)),
                span: [0, shown.len()],
                message: format!("`{path}` of `{}` ({c:?}) comes from {from}, not from the user's request: the mark of a prompt-injected action", event.tool),
                related: vec![src],
            });
            return;
        }
    }
}

/// DATA_EXFIL_SEQUENCE: a secret the episode saw, in any recognisable form,
/// inside a sink's arguments.
fn exfiltration(ep: &Episode, event: &Event, text: &str, out: &mut Vec<Finding>) {
    for s in &ep.secrets {
        for (i, form) in s.forms.iter().enumerate() {
            if form.len() < 8 {
                continue;
            }
            if let Some(pos) = memchr::memmem::find(text.as_bytes(), form.as_bytes()) {
                let how = if i == 0 { "verbatim" } else { "encoded" };
                out.push(Finding {
                    kind: "DATA_EXFIL_SEQUENCE".into(),
                    severity: Severity::Critical,
                    confidence: 0.95,
                    rule: "flow.secret-to-sink".into(),
                    attack: vec!["T1041".into(), "T1552".into()],
                    evidence: format!("{} ({how}) at byte {pos}", s.kind),
                    span: [pos, pos + form.len()],
                    message: format!(
                        "a {} seen earlier in this episode leaves through `{}` ({how})",
                        s.kind, event.tool
                    ),
                    related: vec![s.event.clone()],
                });
                return;
            }
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let cut = cordon_shell::floor_char_boundary(s, n);
    format!("{}…", &s[..cut])
}
