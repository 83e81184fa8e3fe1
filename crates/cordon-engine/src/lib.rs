//! The check engine: one event in, one verdict out.
//!
//! A call is mapped to a capability by its tool name; shell calls are
//! analysed by `cordon-shell` into the commands they would run, HTTP and file
//! calls into their URL, path and content; the compiled rule pack is matched
//! against all of it; the policy turns findings into a decision.

mod keyword_pattern;
pub mod matcher;
pub mod registry;
pub mod rules;

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use cordon_core::policy::{FailMode, Mode};
use cordon_core::{Capability, Decision, Event, EventKind, Finding, Policy, Severity, Verdict};
use cordon_net::Egress;
use cordon_shell::{Analysis, Limits};
use serde_json::Value;

use matcher::{Hit, ShellView};
use rules::{Overrides, RuleSet, Scope};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Pack(#[from] rules::PackError),
    #[error("egress policy: {0}")]
    Egress(String),
}

pub struct Engine {
    policy: Policy,
    rules: RuleSet,
    egress: Egress,
    /// Per task profile: its own egress list when it widens the default.
    profile_egress: Vec<(String, Egress)>,
    registry: HashSet<String>,
    schemas: registry::Registry,
    /// Registered tools whose definition differs from the pinned one, with what changed.
    changed: HashMap<String, String>,
    limits: Limits,
}

/// Longest evidence string put in a finding; the span still locates the whole match.
const MAX_EVIDENCE: usize = 240;

impl Engine {
    pub fn new(policy: Policy) -> Result<Engine, EngineError> {
        Self::build(policy, false)
    }

    /// Like `new`, but validates every regex in the pack now (for `policy check` and tests).
    pub fn new_checked(policy: Policy) -> Result<Engine, EngineError> {
        Self::build(policy, true)
    }

    fn build(policy: Policy, check: bool) -> Result<Engine, EngineError> {
        let overrides = Overrides {
            disable: policy.rules.disable.clone(),
            changes: policy.rules.overrides.clone(),
        };
        // Checked builds (policy check, tests) load the pack with its examples.
        let source = if check {
            rules::PackSource::WithExamples
        } else {
            rules::PackSource::Compact
        };
        let rules = RuleSet::compile(source, &policy.rules.add, &overrides, check)?;
        let e = &policy.egress;
        let egress =
            Egress::new(&e.allow, &e.deny, !e.replace_defaults).map_err(EngineError::Egress)?;
        let mut profile_egress = Vec::new();
        for (name, p) in &policy.profiles {
            if !p.egress_allow.is_empty() {
                let allow: Vec<String> = e
                    .allow
                    .iter()
                    .chain(p.egress_allow.iter())
                    .cloned()
                    .collect();
                profile_egress.push((
                    name.clone(),
                    Egress::new(&allow, &e.deny, !e.replace_defaults)
                        .map_err(EngineError::Egress)?,
                ));
            }
        }
        let registry = policy.registry.tools.iter().cloned().collect();
        let limits = Limits {
            max_depth: policy.limits.max_depth,
            ..Limits::default()
        };
        Ok(Engine {
            policy,
            rules,
            egress,
            profile_egress,
            registry,
            schemas: registry::Registry::default(),
            changed: HashMap::new(),
            limits,
        })
    }

    /// Register tools with their JSON Schemas: calls to other tools raise
    /// UNKNOWN_TOOL_CALL, arguments that fail a schema SCHEMA_VIOLATION.
    pub fn register_tools(&mut self, defs: &[registry::ToolDef]) -> Result<(), String> {
        for d in defs {
            self.schemas.add(d)?;
            self.registry.insert(d.name.clone());
        }
        Ok(())
    }

    /// A registered tool's definition no longer matches the pinned one:
    /// every call to it raises TOOL_DEFINITION_CHANGED until it is pinned again.
    pub fn mark_changed(&mut self, tool: &str, what: String) {
        self.changed.insert(tool.to_string(), what);
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The verdict for one event. Never panics: an internal failure becomes
    /// a verdict that follows the policy's fail mode.
    pub fn check(&self, event: &Event) -> Verdict {
        self.check_with_files(event, None)
    }

    /// Like `check`, knowing files earlier calls of the episode wrote (path →
    /// content): a shell call that runs one of them is checked with its content.
    pub fn check_with_files(
        &self,
        event: &Event,
        files: Option<&HashMap<String, String>>,
    ) -> Verdict {
        match catch_unwind(AssertUnwindSafe(|| self.check_inner(event, files))) {
            Ok(v) => v,
            Err(_) => self.internal_error(event),
        }
    }

    fn internal_error(&self, event: &Event) -> Verdict {
        let finding = Finding {
            kind: "GUARD_ERROR".into(),
            severity: Severity::Critical,
            confidence: 1.0,
            rule: "guard.internal-error".into(),
            attack: vec![],
            evidence: String::new(),
            span: [0, 0],
            message: "the guard failed on this input; the policy's fail mode decides".into(),
            related: vec![],
        };
        let block = self.policy.fail == FailMode::Closed && event.kind == EventKind::Call;
        Verdict {
            id: event.id.clone(),
            decision: if block {
                Decision::Block
            } else {
                Decision::Warn
            },
            severity: Some(Severity::Critical),
            findings: vec![finding],
            error: Some("internal error while checking this event".into()),
            line: None,
        }
    }

    fn check_inner(&self, event: &Event, files: Option<&HashMap<String, String>>) -> Verdict {
        let profile = self.policy.profile_for(event.task.as_deref());
        let egress = profile
            .and_then(|(name, _)| {
                self.profile_egress
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, e)| e)
            })
            .unwrap_or(&self.egress);
        let mut findings = Vec::new();
        if event.kind == EventKind::Call {
            self.inspect_call(event, egress, files, &mut findings);
        }
        let mut verdict = Verdict {
            id: event.id.clone(),
            decision: Decision::Allow,
            severity: None,
            findings,
            error: None,
            line: None,
        };
        self.decide(event, &mut verdict);
        verdict
    }

    /// Add findings from outside the stateless check (the episode tracker)
    /// to a verdict, and decide again.
    pub fn amend(&self, event: &Event, verdict: &mut Verdict, extra: Vec<Finding>) {
        if extra.is_empty() || verdict.decision == Decision::Error {
            return;
        }
        for f in extra {
            if !verdict.findings.iter().any(|g| g.rule == f.rule) {
                verdict.findings.push(f);
            }
        }
        self.decide(event, verdict);
    }

    /// The policy's decision over a verdict's findings: the task profile's
    /// disabled rules dropped, findings ordered worst first, block only for
    /// calls in block mode at a severity the policy blocks on.
    fn decide(&self, event: &Event, verdict: &mut Verdict) {
        let profile = self.policy.profile_for(event.task.as_deref());
        let findings = &mut verdict.findings;
        if let Some((_, p)) = profile {
            findings.retain(|f: &Finding| !p.disable.iter().any(|d| d == &f.rule || d == &f.kind));
        }
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.confidence.total_cmp(&a.confidence))
        });
        let severity = findings.iter().map(|f| f.severity).max();
        let mode = profile
            .and_then(|(_, p)| p.mode)
            .unwrap_or(self.policy.mode);
        let block_on = profile
            .and_then(|(_, p)| p.block_on.as_ref())
            .unwrap_or(&self.policy.block_on);
        verdict.severity = severity;
        verdict.decision = match severity {
            None => Decision::Allow,
            Some(_)
                if mode == Mode::Block
                    && event.kind == EventKind::Call
                    && findings.iter().any(|f| block_on.contains(&f.severity)) =>
            {
                Decision::Block
            }
            Some(_) => Decision::Warn,
        };
    }

    fn inspect_call(
        &self,
        event: &Event,
        egress: &Egress,
        files: Option<&HashMap<String, String>>,
        findings: &mut Vec<Finding>,
    ) {
        if !self.registry.is_empty() && !self.registry.contains(&event.tool) {
            findings.push(registry::unknown_tool_finding(
                &event.tool,
                self.policy.registry.unknown_severity,
                "the policy's tool registry",
            ));
        }
        self.schemas.check(&event.tool, &event.input, findings);
        if let Some(what) = self.changed.get(&event.tool) {
            findings.push(registry::definition_changed_finding(
                &format!("the definition of `{}`", event.tool),
                what,
            ));
        }
        let cap = self.policy.tools.capability(&event.tool);
        let input = &event.input;
        match cap {
            Capability::Shell => {
                if let Some(cmd) = shell_text(input) {
                    self.inspect_shell_with(&cmd, egress, files, findings);
                }
            }
            Capability::Http => self.inspect_http(input, egress, findings),
            Capability::FileRead => self.inspect_file(input, Scope::FileRead, egress, findings),
            Capability::FileWrite => self.inspect_file(input, Scope::FileWrite, egress, findings),
            Capability::Message | Capability::Other => {
                // A renamed or unknown tool still gets its shell- and URL-shaped arguments checked.
                if let Some(cmd) = input
                    .get("command")
                    .or_else(|| input.get("cmd"))
                    .and_then(Value::as_str)
                {
                    self.inspect_shell(cmd, egress, findings);
                }
                if url_of(input).is_some() {
                    self.inspect_http(input, egress, findings);
                }
            }
        }
    }

    /// Analyse a shell command and match every scope that applies to it.
    pub fn inspect_shell(&self, command: &str, egress: &Egress, findings: &mut Vec<Finding>) {
        self.inspect_shell_with(command, egress, None, findings)
    }

    fn inspect_shell_with(
        &self,
        command: &str,
        egress: &Egress,
        files: Option<&HashMap<String, String>>,
        findings: &mut Vec<Finding>,
    ) {
        let max = self.policy.limits.max_input_bytes;
        let cut = cordon_shell::floor_char_boundary(command, max);
        let text = &command[..cut];
        let mut analysis = match files {
            Some(f) => cordon_shell::analyze_with_files(text, &self.limits, f.clone()),
            None => cordon_shell::analyze(text, &self.limits),
        };
        if cut < command.len() {
            analysis.signals.push(cordon_shell::Signal {
                kind: cordon_shell::SignalKind::Truncated,
                span: (cut, command.len()),
                detail: format!(
                    "input of {} bytes analysed on its first {cut}",
                    command.len()
                ),
            });
        }
        self.match_analysis(&analysis, text, egress, findings);
    }

    fn match_analysis(
        &self,
        analysis: &Analysis,
        text: &str,
        egress: &Egress,
        findings: &mut Vec<Finding>,
    ) {
        let view = ShellView::new(analysis, egress, &self.rules);
        let mut hits: Vec<Hit> = Vec::new();
        view.command_hits(&self.rules, &mut hits);
        view.signal_hits(&self.rules, &mut hits);
        matcher::text_hits(&self.rules, text, None, &mut hits);
        for s in &analysis.signals {
            if let cordon_shell::SignalKind::DecodedPayload(_) = s.kind {
                matcher::text_hits(&self.rules, &s.detail, Some(s.span), &mut hits);
            }
        }
        // Text built by expansion (`x=stratum; ... ${x}+tcp://`) is matched as it will run.
        for c in analysis
            .commands
            .iter()
            .filter(|c| c.expanded || c.name_built)
        {
            matcher::text_hits(&self.rules, &c.argv.join(" "), Some(c.span), &mut hits);
        }
        for h in hits {
            self.push_finding(h, text, findings);
        }
    }

    fn push_finding(&self, h: Hit, text: &str, findings: &mut Vec<Finding>) {
        let rule = &self.rules.rules[h.rule];
        if findings.iter().any(|f| f.rule == rule.id) {
            return;
        }
        let start = cordon_shell::floor_char_boundary(text, h.span.0);
        let end = cordon_shell::floor_char_boundary(text, h.span.1.max(start));
        let shown = cordon_shell::floor_char_boundary(&text[start..end], MAX_EVIDENCE);
        findings.push(Finding {
            kind: rule.kind.clone(),
            severity: rule.severity,
            confidence: rule.confidence,
            rule: rule.id.clone(),
            attack: rule.attack.clone(),
            evidence: text[start..start + shown].to_string(),
            span: [start, start + shown],
            message: rule.message.clone(),
            related: vec![],
        });
    }

    fn inspect_http(&self, input: &Value, egress: &Egress, findings: &mut Vec<Finding>) {
        let Some(url) = url_of(input) else { return };
        let method = input
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let body = ["body", "data", "json", "content", "payload"]
            .iter()
            .find_map(|k| input.get(*k))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let dests = cordon_net::extract(url, true);
        self.match_io(
            Scope::Http,
            url,
            body.as_deref(),
            Some(&method),
            &dests,
            egress,
            findings,
        );
    }

    fn inspect_file(
        &self,
        input: &Value,
        scope: Scope,
        egress: &Egress,
        findings: &mut Vec<Finding>,
    ) {
        let Some(path) = [
            "file_path",
            "path",
            "filepath",
            "filename",
            "file",
            "target_file",
            "notebook_path",
            "absolute_path",
        ]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str)) else {
            return;
        };
        let content = [
            "content",
            "new_string",
            "file_text",
            "new_str",
            "text",
            "contents",
            "new_source",
        ]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str));
        self.match_io(scope, path, content, None, &[], egress, findings);
        // Shell scripts and shell start-up files are code: analyse what they would run.
        if scope == Scope::FileWrite {
            if let Some(content) = content {
                if is_shell_script(path, content) {
                    let mut inner = Vec::new();
                    self.inspect_shell(content, egress, &mut inner);
                    for mut f in inner {
                        f.message = format!("{} (in content written to {path})", f.message);
                        if !findings.iter().any(|g| g.rule == f.rule) {
                            findings.push(f);
                        }
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn match_io(
        &self,
        scope: Scope,
        path: &str,
        content: Option<&str>,
        method: Option<&str>,
        dests: &[cordon_net::Destination],
        egress: &Egress,
        findings: &mut Vec<Finding>,
    ) {
        let Some(idx) = self.rules.by_scope.get(&scope) else {
            return;
        };
        for &r in idx {
            let w = &self.rules.rules[r].when;
            let mut span = (0, path.len());
            let mut text = path;
            if let Some(re) = &w.path {
                match re.find(path) {
                    Some(_) => {}
                    None => continue,
                }
            }
            if let Some(re) = &w.content {
                match content.and_then(|c| re.find(c).map(|m| (c, m))) {
                    Some((c, m)) => {
                        text = c;
                        span = m;
                    }
                    None => continue,
                }
            }
            if let Some(ms) = &w.method {
                if !method.map(|m| ms.iter().any(|x| x == m)).unwrap_or(false) {
                    continue;
                }
            }
            if let Some(want) = &w.dest {
                if !matcher::dest_matches(want, dests, egress) {
                    continue;
                }
            }
            self.push_finding(Hit { rule: r, span }, text, findings);
        }
    }

    pub fn egress(&self) -> &Egress {
        &self.egress
    }
}

/// The command text of a shell tool's input, in the shapes frameworks use.
/// Borrowed from the input when it is one string (the usual case: a command
/// can be a megabyte, and it was copied per check).
pub fn shell_text(input: &Value) -> Option<std::borrow::Cow<'_, str>> {
    for key in [
        "command",
        "cmd",
        "script",
        "commandLine",
        "command_line",
        "code",
        "input",
    ] {
        match input.get(key) {
            Some(Value::String(s)) => return Some(s.as_str().into()),
            // Codex-style argv arrays: `["bash", "-lc", "..."]`.
            Some(Value::Array(items)) => {
                let words: Vec<String> = items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(shell_quote)
                    .collect();
                return Some(words.join(" ").into());
            }
            _ => {}
        }
    }
    None
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn url_of(input: &Value) -> Option<&str> {
    ["url", "uri", "href", "endpoint", "link"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
}

fn is_shell_script(path: &str, content: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".sh")
        || name.ends_with(".bash")
        || matches!(
            name,
            ".bashrc"
                | ".bash_profile"
                | ".profile"
                | ".zshrc"
                | ".zprofile"
                | ".bash_login"
                | ".bash_logout"
                | "rc.local"
        )
        || path.contains("/cron")
        || content.starts_with("#!/bin/sh")
        || content.starts_with("#!/bin/bash")
        || content.starts_with("#!/usr/bin/env bash")
        || content.starts_with("#!/usr/bin/env sh")
}

/// Outcome of running one rule's examples.
#[derive(Debug)]
pub struct ExampleFailure {
    pub rule: String,
    pub example: String,
    pub expected_match: bool,
}

impl Engine {
    /// Run every rule's `match` and `ok` examples through the whole engine;
    /// a `match` example must produce a finding from its rule, an `ok` example must not.
    pub fn run_rule_examples(&self) -> (usize, Vec<ExampleFailure>) {
        let mut n = 0;
        let mut failures = Vec::new();
        for rule in &self.rules.rules {
            for (examples, expected) in [(&rule.tests.must_match, true), (&rule.tests.ok, false)] {
                for ex in examples {
                    n += 1;
                    let event = self.example_event(rule.scope, ex);
                    let v = self.check(&event);
                    let hit = v.findings.iter().any(|f| f.rule == rule.id);
                    if hit != expected {
                        failures.push(ExampleFailure {
                            rule: rule.id.clone(),
                            example: ex.clone(),
                            expected_match: expected,
                        });
                    }
                }
            }
        }
        (n, failures)
    }

    fn example_event(&self, scope: Scope, ex: &str) -> Event {
        let (tool, input) = match scope {
            Scope::Http => (
                "http_request",
                serde_json::from_str(ex).unwrap_or_else(|_| serde_json::json!({ "url": ex })),
            ),
            Scope::FileRead => (
                "read_file",
                serde_json::from_str(ex).unwrap_or_else(|_| serde_json::json!({ "path": ex })),
            ),
            Scope::FileWrite => (
                "write_file",
                serde_json::from_str(ex)
                    .unwrap_or_else(|_| serde_json::json!({ "path": ex, "content": "" })),
            ),
            _ => ("bash", serde_json::json!({ "command": ex })),
        };
        Event {
            id: None,
            kind: EventKind::Call,
            session: None,
            agent: None,
            task: None,
            tool: tool.into(),
            input,
            output: None,
            ts: None,
        }
    }
}
