//! `cordon hook AGENT`: the check engine as a coding agent's pre-tool hook,
//! and `cordon hook install AGENT`, which puts it in the agent's settings.
//!
//! A hook is one process per tool call: it reads the agent's hook event on
//! stdin, checks it, and answers in the form that agent honours. Whatever goes
//! wrong (no policy, bad input, a panic, the store) ends in the policy's fail
//! answer, never in an exit code the agent would take for "carry on": Claude
//! Code and Codex run the call when a hook exits with anything but 0 or 2.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::ValueEnum;
use cordon_core::policy::FailMode;
use cordon_core::{Decision, Event, EventKind, Verdict};
use cordon_engine::Engine;
use serde_json::{json, Map, Value};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HookArgs {
    #[command(subcommand)]
    install: Option<HookCmd>,
    /// The agent whose hook event is on stdin.
    #[arg(required = true)]
    agent: Option<Agent>,
    /// Policy file (TOML); the built-in default policy otherwise.
    #[arg(long, env = "CORDON_POLICY")]
    policy: Option<PathBuf>,
    /// Record the event and its verdict in the episode store before answering.
    /// Without FILE: the default path (`$XDG_DATA_HOME/cordon/cordon.db`).
    #[arg(long, env = "CORDON_STORE", value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    store: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum HookCmd {
    /// Add `cordon hook AGENT` to the agent's settings file, merged with what
    /// is there (a second run changes nothing; the old file is kept as `.bak`).
    Install {
        /// The agent whose settings get the hook.
        agent: Agent,
        /// Install into this project (`DIR/.claude/settings.json`, ...);
        /// the user's settings (`~/.claude/settings.json`, ...) otherwise.
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Policy file the hook loads (written into the command as an absolute path).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Episode store the hook records into (absolute path in the command);
        /// also hooks the agent's after-call event so results are recorded.
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum Agent {
    ClaudeCode,
    Codex,
    Gemini,
    Cursor,
}

impl Agent {
    fn name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Cursor => "cursor",
        }
    }
}

pub fn run(args: HookArgs) -> ExitCode {
    match (args.install, args.agent) {
        (
            Some(HookCmd::Install {
                agent,
                project,
                policy,
                store,
            }),
            _,
        ) => install::run(agent, project, policy, store),
        (None, Some(agent)) => guard(agent, args.policy, args.store.map(super::store_path)),
        // clap requires one of the two.
        (None, None) => ExitCode::from(3),
    }
}

// ---------------------------------------------------------------------------
// The hook
// ---------------------------------------------------------------------------

/// What the hook tells the agent.
#[derive(Debug, PartialEq)]
enum Answer {
    Allow,
    /// Let the call run, showing why it looks suspicious.
    Warn(String),
    Block(String),
}

impl Answer {
    fn of(verdict: &Verdict) -> Answer {
        match verdict.decision {
            Decision::Allow => Answer::Allow,
            Decision::Warn => Answer::Warn(format!("cordon warning: {}", summary(verdict))),
            Decision::Block => {
                Answer::Block(format!("cordon blocked this call: {}", summary(verdict)))
            }
            Decision::Error => Answer::Block(format!(
                "cordon could not check this call: {}",
                verdict.error.as_deref().unwrap_or("error")
            )),
        }
    }

    /// The answer when the guard itself failed, as the policy's fail mode says.
    fn failed(fail: FailMode, why: &str) -> Answer {
        match fail {
            FailMode::Closed => Answer::Block(format!(
                "cordon could not check this call ({why}); failing closed, it is blocked"
            )),
            FailMode::Open => Answer::Warn(format!(
                "cordon could not check this call ({why}); failing open, it runs unchecked"
            )),
        }
    }

    /// This answer after a later failure (the store): never weaker than either.
    fn and_failed(self, fail: FailMode, why: &str) -> Answer {
        match (self, Answer::failed(fail, why)) {
            (Answer::Block(r), _) | (_, Answer::Block(r)) => Answer::Block(r),
            (Answer::Warn(a), Answer::Warn(b)) => Answer::Warn(format!("{a}; {b}")),
            (_, other) => other,
        }
    }

    /// Say it in the agent's words: (stdout JSON, stderr line, exit status).
    fn render(&self, agent: Agent) -> (Option<Value>, Option<&str>, u8) {
        match (agent, self) {
            (Agent::Cursor, Answer::Allow) => (Some(json!({"permission": "allow"})), None, 0),
            (_, Answer::Allow) => (None, None, 0),
            (Agent::Cursor, Answer::Warn(r)) => (
                Some(json!({"permission": "allow", "user_message": r, "agent_message": r})),
                None,
                0,
            ),
            // A warning only informs: the agent's own permission prompts still
            // apply (`permissionDecision: "allow"` would skip them).
            (_, Answer::Warn(r)) => (Some(json!({"systemMessage": r})), None, 0),
            (Agent::ClaudeCode, Answer::Block(r)) => (
                Some(
                    json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": r}}),
                ),
                Some(r),
                0,
            ),
            // Codex counts any output field it does not expect as a failed
            // hook, and then runs the call: exit 2 with the reason, nothing else.
            (Agent::Codex, Answer::Block(r)) => (None, Some(r), 2),
            // Gemini reads the JSON (newer releases) or exit 2 with stderr
            // (older ones); both block.
            (Agent::Gemini, Answer::Block(r)) => {
                (Some(json!({"decision": "deny", "reason": r})), Some(r), 2)
            }
            (Agent::Cursor, Answer::Block(r)) => (
                Some(json!({"permission": "deny", "user_message": r, "agent_message": r})),
                Some(r),
                2,
            ),
        }
    }

    fn emit(&self, agent: Agent) -> ExitCode {
        let (out, err, code) = self.render(agent);
        // Nothing to do if the agent stopped listening.
        if let Some(out) = out {
            let _ = writeln!(std::io::stdout().lock(), "{out}");
        }
        if let Some(err) = err {
            let _ = writeln!(std::io::stderr().lock(), "{err}");
        }
        ExitCode::from(code)
    }
}

/// The findings in one line: the three worst, each with its evidence.
fn summary(v: &Verdict) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = v
        .findings
        .iter()
        .take(SHOWN)
        .map(|f| {
            let evidence = if f.evidence.is_empty() {
                String::new()
            } else {
                format!("; evidence: {}", f.evidence)
            };
            format!(
                "{} ({}): {} [rule {}; ATT&CK {}{}]",
                f.kind,
                f.severity.as_str(),
                f.message,
                f.rule,
                f.attack.join(", "),
                evidence
            )
        })
        .collect();
    if v.findings.len() > SHOWN {
        parts.push(format!("and {} more", v.findings.len() - SHOWN));
    }
    parts.join("; ")
}

fn guard(agent: Agent, policy: Option<PathBuf>, store: Option<PathBuf>) -> ExitCode {
    // Read all of stdin first, whatever happens next: an agent whose write
    // fails on a closed pipe may count the hook as failed and run the call.
    let mut input = Vec::new();
    let read = std::io::stdin().read_to_end(&mut input);
    // A panic goes into the answer rather than onto stderr, where Codex
    // would show it to the model as the reason.
    static PANIC: Mutex<Option<String>> = Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut p) = PANIC.lock() {
            *p = Some(info.to_string().replace('\n', " "));
        }
    }));
    // Closed until a policy says otherwise.
    let mut fail = FailMode::Closed;
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match read {
        Ok(_) => check(agent, &input, policy.as_ref(), store.as_deref(), &mut fail),
        Err(e) => Answer::failed(fail, &format!("cannot read the hook event: {e}")),
    }))
    .unwrap_or_else(|_| {
        let why = PANIC
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .unwrap_or_default();
        Answer::failed(fail, &format!("internal error: {why}"))
    });
    answer.emit(agent)
}

/// Check the hook event in `input`; `fail` is set to the fail mode in effect as soon as it is known.
fn check(
    agent: Agent,
    input: &[u8],
    policy: Option<&PathBuf>,
    store: Option<&Path>,
    fail: &mut FailMode,
) -> Answer {
    let (mut engine, defs) = match super::load_engine_with_tools(policy, false) {
        Ok(e) => e,
        Err(msg) => return Answer::failed(FailMode::Closed, &msg),
    };
    *fail = engine.policy().fail;
    let event = match parse_event(agent, input) {
        Ok(ev) => ev,
        Err(msg) => return Answer::failed(*fail, &msg),
    };
    // A result cannot be stopped any more: its failures only warn.
    if event.kind == EventKind::Result {
        *fail = FailMode::Open;
    }
    // The store, with the policy's tool definitions pinned in it; if that
    // fails, the call is still checked and the failure joins the answer.
    let store = store
        .map(|path| -> Result<cordon_store::Store, String> {
            let mut store = cordon_store::Store::open(path).map_err(|e| e.to_string())?;
            for (name, what) in super::tools::pin(&mut store, &defs, false)? {
                engine.mark_changed(&name, what);
            }
            Ok(store)
        })
        .transpose();
    let mut verdict = verdict_of(&engine, &event);
    if let Ok(Some(store)) = &store {
        // Each hook call is its own process: the episode so far comes back
        // from the store, so cross-call findings (provenance, sequences,
        // canaries) work in hook mode too.
        if let Err(e) = follow_episode(store, &engine, &event, &mut verdict) {
            eprintln!("cordon: episode replay: {e}");
        }
    }
    let answer = Answer::of(&verdict);
    let recorded = store.and_then(|s| {
        s.map(|mut s| record(&mut s, &engine, &event, verdict).map_err(|e| e.to_string()))
            .transpose()
    });
    match recorded {
        Ok(_) => answer,
        Err(e) => answer.and_failed(*fail, &format!("episode store: {e}")),
    }
}

/// The hook event as a check event: calls before the tool runs, results after.
fn parse_event(agent: Agent, input: &[u8]) -> Result<Event, String> {
    let text = std::str::from_utf8(input).map_err(|e| format!("hook event is not UTF-8: {e}"))?;
    if text.trim().is_empty() {
        return Err("no hook event on stdin".into());
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("hook event is not valid JSON: {e}"))?;
    let obj = value.as_object().ok_or("hook event is not a JSON object")?;
    let name = string(obj, "hook_event_name")?;
    let call = |tool: String, input: Value| Event {
        id: obj.get("tool_use_id").filter(|v| !v.is_null()).cloned(),
        kind: EventKind::Call,
        session: None,
        agent: Some(agent.name().into()),
        task: None,
        tool,
        input,
        output: None,
        ts: obj
            .get("timestamp")
            .and_then(Value::as_str)
            .map(String::from),
    };
    let result = |tool: String, input: Value, output: Option<&Value>| Event {
        kind: EventKind::Result,
        output: Some(output.cloned().unwrap_or(Value::Null)),
        ..call(tool, input)
    };
    let unknown = || format!("unsupported hook event `{name}` for {}", agent.name());
    let mut event = match agent {
        Agent::ClaudeCode | Agent::Codex | Agent::Gemini => {
            let (pre, post) = if agent == Agent::Gemini {
                ("BeforeTool", "AfterTool")
            } else {
                ("PreToolUse", "PostToolUse")
            };
            if name != pre && name != post {
                return Err(unknown());
            }
            let (tool, input) = (string(obj, "tool_name")?, tool_input(obj)?);
            if name == pre {
                call(tool, input)
            } else {
                result(tool, input, obj.get("tool_response"))
            }
        }
        Agent::Cursor => match name.as_str() {
            "beforeShellExecution" => call("bash".into(), shell_input(obj)?),
            "afterShellExecution" => result("bash".into(), shell_input(obj)?, obj.get("output")),
            "beforeMCPExecution" => call(string(obj, "tool_name")?, tool_input(obj)?),
            "afterMCPExecution" => result(
                string(obj, "tool_name")?,
                tool_input(obj)?,
                obj.get("result_json"),
            ),
            "beforeReadFile" => call(
                "read_file".into(),
                json!({"file_path": string(obj, "file_path")?}),
            ),
            "afterFileEdit" => result(
                "edit_file".into(),
                json!({"file_path": string(obj, "file_path")?}),
                obj.get("edits"),
            ),
            _ => return Err(unknown()),
        },
    };
    let session = if agent == Agent::Cursor {
        "conversation_id"
    } else {
        "session_id"
    };
    event.session = obj.get(session).and_then(Value::as_str).map(String::from);
    Ok(event)
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("hook event field `{key}` is not a string")),
        None => Err(format!("hook event lacks field `{key}`")),
    }
}

/// `tool_input`: an object (Cursor may send it as a JSON string).
fn tool_input(obj: &Map<String, Value>) -> Result<Value, String> {
    match obj.get("tool_input") {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err("hook event field `tool_input` is a string but not a JSON object".into()),
        },
        Some(_) => Err("hook event field `tool_input` is not an object".into()),
        None => Err("hook event lacks field `tool_input`".into()),
    }
}

fn shell_input(obj: &Map<String, Value>) -> Result<Value, String> {
    let mut input = json!({"command": string(obj, "command")?});
    if let Some(cwd) = obj.get("cwd").filter(|v| v.is_string()) {
        input["cwd"] = cwd.clone();
    }
    Ok(input)
}

/// The verdict on an event: the event itself, plus the file writes hidden in
/// its input, each checked as a write of its content.
fn verdict_of(engine: &Engine, event: &Event) -> Verdict {
    let mut verdict = engine.check(event);
    if event.kind == EventKind::Result {
        return verdict;
    }
    for input in writes_within(&event.input) {
        let write = Event {
            tool: "apply_patch".into(),
            input,
            ..event.clone()
        };
        let other = engine.check(&write);
        if rank(other.decision) > rank(verdict.decision) {
            verdict.decision = other.decision;
        }
        verdict.severity = verdict.severity.max(other.severity);
        for f in other.findings {
            if !verdict
                .findings
                .iter()
                .any(|g| g.rule == f.rule && g.evidence == f.evidence)
            {
                verdict.findings.push(f);
            }
        }
    }
    verdict.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.confidence.total_cmp(&a.confidence))
    });
    verdict
}

fn rank(d: Decision) -> u8 {
    match d {
        Decision::Allow => 0,
        Decision::Warn => 1,
        Decision::Block | Decision::Error => 2,
    }
}

/// File writes whose content the engine would not see in `input` as given:
/// a Codex patch (`apply_patch`, or fed to a shell), and Claude's `MultiEdit`.
fn writes_within(input: &Value) -> Vec<Value> {
    let mut writes = Vec::new();
    if let Some(patch) = input.get("command").and_then(Value::as_str) {
        for (path, content) in patch_writes(patch) {
            writes.push(match content {
                Some(c) => json!({"file_path": path, "content": c}),
                None => json!({"file_path": path}),
            });
        }
    }
    if let (Some(path), Some(edits)) = (
        input.get("file_path"),
        input.get("edits").and_then(Value::as_array),
    ) {
        let content: Vec<&str> = edits
            .iter()
            .filter_map(|e| e.get("new_string").and_then(Value::as_str))
            .collect();
        writes.push(json!({"file_path": path, "content": content.join("\n")}));
    }
    writes
}

/// The files a Codex patch (`*** Begin Patch` ... `*** End Patch`) touches,
/// each with the text it writes: all lines of an added file, the added lines
/// of an updated one (at its new path when moved), none for a deleted one.
fn patch_writes(text: &str) -> Vec<(String, Option<String>)> {
    let Some(start) = text.find("*** Begin Patch") else {
        return Vec::new();
    };
    let mut files: Vec<(String, Option<String>)> = Vec::new();
    for line in text[start..].lines().skip(1) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "*** End Patch" {
            break;
        } else if let Some(p) = line
            .strip_prefix("*** Add File: ")
            .or_else(|| line.strip_prefix("*** Update File: "))
        {
            files.push((p.trim().to_string(), Some(String::new())));
        } else if let Some(p) = line.strip_prefix("*** Delete File: ") {
            files.push((p.trim().to_string(), None));
        } else if let Some(p) = line.strip_prefix("*** Move to: ") {
            if let Some(last) = files.last_mut() {
                last.0 = p.trim().to_string();
            }
        } else if let (Some(added), Some((_, Some(content)))) =
            (line.strip_prefix('+'), files.last_mut())
        {
            content.push_str(added);
            content.push('\n');
        }
    }
    files
}

/// Most events of an episode replayed into the tracker per hook call.
const MAX_REPLAY: usize = 1000;

/// Replay the episode's recorded events (with their recorded verdicts) into
/// a tracker, then let it judge this event. Recorded events are redacted, so
/// a secret's flow is followed within one process only (`check --jsonl`).
fn follow_episode(
    store: &cordon_store::Store,
    engine: &Engine,
    event: &Event,
    verdict: &mut Verdict,
) -> Result<(), String> {
    let canaries = store
        .canaries()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|c| cordon_episode::CanaryInfo {
            id: c.id,
            kind: c.kind,
            marker: c.marker,
            path: c.path,
        })
        .collect();
    let mut tracker =
        cordon_episode::Tracker::new(engine, cordon_episode::TrackerLimits::default())
            .map_err(|e| e.to_string())?
            .with_canaries(canaries);
    if let Some(session) = &event.session {
        let task = match store.find_episode(session).map_err(|e| e.to_string())? {
            cordon_store::Lookup::Found(ep) if ep.key == *session => ep.task,
            _ => None,
        };
        let past = store.events(session).map_err(|e| e.to_string())?;
        for e in past.iter().rev().take(MAX_REPLAY).rev() {
            let (Some(kind), Some(tool)) = (e.kind, e.tool.clone()) else {
                continue;
            };
            let replayed = Event {
                id: e.event_id.clone(),
                kind,
                session: Some(session.clone()),
                agent: event.agent.clone(),
                task: task.clone(),
                tool,
                input: e.input.clone().unwrap_or(Value::Null),
                output: e.output.clone(),
                ts: e.ts.clone(),
            };
            let mut v = e.verdict.clone();
            tracker.observe(&replayed, &mut v);
        }
    }
    tracker.observe(event, verdict);
    Ok(())
}

/// Record the event as the agent sent it, secrets redacted, with its verdict.
fn record(
    store: &mut cordon_store::Store,
    engine: &Engine,
    event: &Event,
    mut verdict: Verdict,
) -> Result<(), cordon_store::StoreError> {
    let secrets = cordon_secrets::Secrets::new(store.fingerprint_key());
    let mut seen = Vec::new();
    let mut redact = |v: &Value| {
        let (r, hits) = secrets.redact_value(v);
        seen.extend(
            hits.into_iter()
                .map(|h| (h.kind.to_string(), h.fingerprint)),
        );
        r
    };
    let input = redact(&event.input);
    let output = event.output.as_ref().map(&mut redact);
    for f in &mut verdict.findings {
        f.evidence = secrets.redact(&f.evidence).0;
    }
    store.record(&[cordon_store::Record {
        line: None,
        event_id: event.id.clone(),
        session: event.session.clone(),
        agent: event.agent.clone(),
        task: None,
        kind: Some(event.kind),
        tool: Some(event.tool.clone()),
        capability: Some(
            format!("{:?}", engine.policy().tools.capability(&event.tool)).to_ascii_lowercase(),
        ),
        input: Some(input.to_string()),
        output: output.map(|o| o.to_string()),
        raw: None,
        ts: event.ts.clone(),
        verdict,
        secrets: seen,
    }])
}

// ---------------------------------------------------------------------------
// hook install
// ---------------------------------------------------------------------------

mod install {
    use super::*;

    /// How long an agent waits for the hook before giving up on it.
    const TIMEOUT_S: u64 = 30;

    pub(super) fn run(
        agent: Agent,
        project: Option<PathBuf>,
        policy: Option<PathBuf>,
        store: Option<PathBuf>,
    ) -> ExitCode {
        match install(agent, project, policy, store) {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("cordon: {msg}");
                ExitCode::from(3)
            }
        }
    }

    fn install(
        agent: Agent,
        project: Option<PathBuf>,
        policy: Option<PathBuf>,
        store: Option<PathBuf>,
    ) -> Result<String, String> {
        let file = settings_file(agent, project.as_deref())?;
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the cordon executable: {e}"))?;
        let mut command = format!(
            "{} hook {}",
            shell_quote(&exe.to_string_lossy()),
            agent.name()
        );
        for (flag, path) in [("--policy", &policy), ("--store", &store)] {
            if let Some(p) = path {
                let abs = std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()))?;
                command.push_str(&format!(" {flag} {}", shell_quote(&abs.to_string_lossy())));
            }
        }
        // Write through a symlink (dotfile managers link these files), not over it.
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        let old = match std::fs::read_to_string(&file) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        let mut settings = match old.as_deref().map(str::trim) {
            None | Some("") => Json::Object(Vec::new()),
            Some(text) => Json::parse(text).map_err(|e| {
                format!("{} is not valid JSON (line {}, column {}: {e}); fix or move it, nothing was changed", file.display(), e.line(), e.column())
            })?,
        };
        let changed = merge(agent, &mut settings, &command, store.is_some())
            .map_err(|e| format!("{}: {e}; nothing was changed", file.display()))?;
        let events = entries(agent, &command, store.is_some())
            .into_iter()
            .map(|(e, _)| e)
            .collect::<Vec<_>>()
            .join(", ");
        if !changed {
            return Ok(format!(
                "cordon is already installed in {} ({events})",
                file.display()
            ));
        }
        let mut text = String::new();
        settings.write(&mut text, 0);
        text.push('\n');
        write_atomic(&file, &text, old.as_deref())?;
        let mut msg = format!("installed `{command}` in {} ({events})", file.display());
        if old.is_some() {
            msg.push_str(&format!(
                "\nthe previous file is kept as {}.bak",
                file.display()
            ));
        }
        if agent == Agent::Codex {
            msg.push_str("\nCodex runs a new hook only once you trust it: open /hooks in Codex and trust the cordon entry");
        }
        Ok(msg)
    }

    /// The settings file the agent reads hooks from, for a project or the user.
    fn settings_file(agent: Agent, project: Option<&Path>) -> Result<PathBuf, String> {
        let (dir, file) = match agent {
            Agent::ClaudeCode => (".claude", "settings.json"),
            Agent::Codex => (".codex", "hooks.json"),
            Agent::Gemini => (".gemini", "settings.json"),
            Agent::Cursor => (".cursor", "hooks.json"),
        };
        let env_dir = |var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let base = match project {
            Some(p) if p.is_dir() => p.join(dir),
            Some(p) => return Err(format!("{}: no such directory", p.display())),
            None => match agent {
                Agent::ClaudeCode => env_dir("CLAUDE_CONFIG_DIR"),
                Agent::Codex => env_dir("CODEX_HOME"),
                _ => None,
            }
            .or_else(|| env_dir("HOME").map(|h| h.join(dir)))
            .ok_or("HOME is not set: use --project DIR")?,
        };
        Ok(base.join(file))
    }

    /// The (event, entry) pairs cordon adds for an agent, in its settings' shapes.
    fn entries(agent: Agent, command: &str, results: bool) -> Vec<(&'static str, Json)> {
        let handler = |timeout: u64| {
            let mut h = vec![
                ("type", Json::str("command")),
                ("command", Json::str(command)),
            ];
            if agent == Agent::Gemini {
                h.push(("name", Json::str("cordon")));
            }
            h.push(("timeout", Json::Scalar(timeout.into())));
            Json::obj(h)
        };
        // Every tool: a renamed or new tool is still checked.
        let group = |matcher: Option<&str>, timeout| {
            let mut g: Vec<(&str, Json)> = matcher
                .map(|m| ("matcher", Json::str(m)))
                .into_iter()
                .collect();
            g.push(("hooks", Json::Array(vec![handler(timeout)])));
            Json::obj(g)
        };
        let (pre, post, entry) = match agent {
            Agent::ClaudeCode => ("PreToolUse", "PostToolUse", group(Some("*"), TIMEOUT_S)),
            // Codex takes a matcher as a regex and skips an invalid one: none matches all.
            Agent::Codex => ("PreToolUse", "PostToolUse", group(None, TIMEOUT_S)),
            Agent::Gemini => (
                "BeforeTool",
                "AfterTool",
                group(Some("*"), TIMEOUT_S * 1000),
            ),
            Agent::Cursor => {
                // Cursor lets the action through when a hook fails, unless told otherwise.
                let before = Json::obj(vec![
                    ("command", Json::str(command)),
                    ("failClosed", Json::Scalar(true.into())),
                ]);
                let after = Json::obj(vec![("command", Json::str(command))]);
                let mut e: Vec<(&str, Json)> = [
                    "beforeShellExecution",
                    "beforeMCPExecution",
                    "beforeReadFile",
                ]
                .into_iter()
                .map(|n| (n, before.clone()))
                .collect();
                if results {
                    e.extend(
                        ["afterShellExecution", "afterMCPExecution"]
                            .into_iter()
                            .map(|n| (n, after.clone())),
                    );
                }
                return e;
            }
        };
        let mut e = vec![(pre, entry.clone())];
        if results {
            e.push((post, entry));
        }
        e
    }

    /// Add cordon's entries to `settings`, keeping everything else; an entry
    /// already running `cordon hook AGENT` gets the new command instead of a
    /// twin. Whether anything changed.
    pub(super) fn merge(
        agent: Agent,
        settings: &mut Json,
        command: &str,
        results: bool,
    ) -> Result<bool, String> {
        let Json::Object(top) = settings else {
            return Err("the settings are not a JSON object".into());
        };
        let mut changed = false;
        if agent == Agent::Cursor && !top.iter().any(|(k, _)| k == "version") {
            top.insert(0, ("version".into(), Json::Scalar(1.into())));
            changed = true;
        }
        let hooks = member(top, "hooks", Json::Object(Vec::new()));
        let Json::Object(hooks) = hooks else {
            return Err("`hooks` is not an object".into());
        };
        for (event, entry) in entries(agent, command, results) {
            let Json::Array(list) = member(hooks, event, Json::Array(Vec::new())) else {
                return Err(format!("`hooks.{event}` is not an array"));
            };
            let mut found = false;
            for handler in list.iter_mut().flat_map(handlers) {
                if handler
                    .get("command")
                    .and_then(Json::as_str)
                    .is_some_and(|c| is_ours(c, agent))
                {
                    found = true;
                    if handler.get("command").and_then(Json::as_str) != Some(command) {
                        handler.set("command", Json::str(command));
                        changed = true;
                    }
                }
            }
            if !found {
                list.push(entry);
                changed = true;
            }
        }
        Ok(changed)
    }

    /// The member `key` of an object, added at the end when missing.
    fn member<'a>(obj: &'a mut Vec<(String, Json)>, key: &str, default: Json) -> &'a mut Json {
        let i = match obj.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                obj.push((key.into(), default));
                obj.len() - 1
            }
        };
        &mut obj[i].1
    }

    /// The handlers of one entry of an event's list: the entry itself for
    /// Cursor's flat lists, its `hooks` for the matcher groups of the others.
    fn handlers(entry: &mut Json) -> Vec<&mut Json> {
        if matches!(entry, Json::Object(_)) && entry.get("hooks").is_none() {
            return vec![entry];
        }
        match entry {
            Json::Object(m) => m
                .iter_mut()
                .filter(|(k, _)| k == "hooks")
                .flat_map(|(_, v)| match v {
                    Json::Array(hs) => hs.iter_mut().collect(),
                    _ => Vec::new(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether a hook command runs `cordon hook AGENT` (any cordon binary, any flags).
    pub(super) fn is_ours(command: &str, agent: Agent) -> bool {
        let command = command.trim_start();
        let (program, rest) = match command.strip_prefix('\'') {
            Some(quoted) => match quoted.split_once('\'') {
                Some((p, rest)) => (p.to_string(), rest),
                None => return false,
            },
            None => {
                let (p, rest) = command
                    .split_once(char::is_whitespace)
                    .unwrap_or((command, ""));
                (p.to_string(), rest)
            }
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        Path::new(&program)
            .file_name()
            .is_some_and(|n| n == "cordon")
            && words.windows(2).any(|w| w == ["hook", agent.name()])
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

    /// Replace `file` with `text` so that a reader sees the old file or the new
    /// one, never half of either; the old content goes to `FILE.bak` first.
    fn write_atomic(file: &Path, text: &str, old: Option<&str>) -> Result<(), String> {
        let dir = file
            .parent()
            .ok_or_else(|| format!("{}: no parent directory", file.display()))?;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let with_suffix = |suffix: &str| {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        // Both copies keep the file's mode: settings may hold tokens (often 0600).
        let perms = std::fs::metadata(file).ok().map(|m| m.permissions());
        let write = |path: &Path, text: &str| -> std::io::Result<()> {
            let mut f = std::fs::File::create(path)?;
            if let Some(p) = &perms {
                f.set_permissions(p.clone())?;
            }
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        if let Some(old) = old {
            let bak = with_suffix(".bak");
            write(&bak, old)
                .map_err(|e| format!("cannot write the backup {}: {e}", bak.display()))?;
        }
        let tmp = with_suffix(&format!(".cordon-{}.tmp", std::process::id()));
        write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write {}: {e}", file.display())
            })
    }
}

// ---------------------------------------------------------------------------
// Settings files as JSON that keeps its key order
// ---------------------------------------------------------------------------

/// A JSON document whose objects keep their keys in file order (serde_json's
/// map sorts them), so a merged settings file differs from the user's only
/// where cordon's entry went in.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    /// A string, number, boolean or null.
    Scalar(Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn str(s: &str) -> Json {
        Json::Scalar(Value::String(s.into()))
    }

    fn obj(members: Vec<(&str, Json)>) -> Json {
        Json::Object(
            members
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Scalar(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(m) = self {
            match m.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => m.push((key.into(), value)),
            }
        }
    }

    /// Parse a document; the error (with line and column) is serde_json's,
    /// which validates the text before it is walked again for the key order.
    fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str::<Value>(text)?;
        let mut p = JsonWalk { s: text, i: 0 };
        Ok(p.value())
    }

    /// Pretty-print (two spaces, like serde_json) at nesting depth `depth`.
    fn write(&self, out: &mut String, depth: usize) {
        let pad = |out: &mut String, d: usize| out.extend(std::iter::repeat_n("  ", d));
        match self {
            Json::Scalar(v) => out.push_str(&v.to_string()),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Object(members) if members.is_empty() => out.push_str("{}"),
            Json::Array(items) => {
                out.push_str("[\n");
                for (n, item) in items.iter().enumerate() {
                    pad(out, depth + 1);
                    item.write(out, depth + 1);
                    out.push_str(if n + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push(']');
            }
            Json::Object(members) => {
                out.push_str("{\n");
                for (n, (k, v)) in members.iter().enumerate() {
                    pad(out, depth + 1);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    v.write(out, depth + 1);
                    out.push_str(if n + 1 < members.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }
}

/// A walk over text serde_json has already accepted as JSON: only the
/// structure is followed here, every scalar is decoded by serde_json.
struct JsonWalk<'a> {
    s: &'a str,
    i: usize,
}

impl JsonWalk<'_> {
    fn peek(&mut self) -> u8 {
        while self
            .s
            .as_bytes()
            .get(self.i)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.i += 1;
        }
        self.s.as_bytes().get(self.i).copied().unwrap_or(0)
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                while self.peek() != b'}' {
                    let Json::Scalar(Value::String(key)) = self.scalar() else {
                        unreachable!("validated: object keys are strings")
                    };
                    self.peek(); // to the ':'
                    self.i += 1;
                    members.push((key, self.value()));
                    if self.peek() == b',' {
                        self.i += 1;
                    }
                }
                self.i += 1;
                Json::Object(members)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                while self.peek() != b']' {
                    items.push(self.value());
                    if self.peek() == b',' {
                        self.i += 1;
                    }
                }
                self.i += 1;
                Json::Array(items)
            }
            _ => self.scalar(),
        }
    }

    fn scalar(&mut self) -> Json {
        let start = self.i;
        let bytes = self.s.as_bytes();
        if bytes[start] == b'"' {
            self.i += 1;
            while bytes[self.i] != b'"' {
                self.i += if bytes[self.i] == b'\\' { 2 } else { 1 };
            }
            self.i += 1;
        } else {
            while self.i < bytes.len()
                && !matches!(bytes[self.i], b',' | b']' | b'}')
                && !bytes[self.i].is_ascii_whitespace()
            {
                self.i += 1;
            }
        }
        Json::Scalar(serde_json::from_str(&self.s[start..self.i]).unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_yield_the_content_they_write() {
        let patch = "*** Begin Patch\n*** Add File: run.sh\n+#!/bin/sh\n+echo hi\n*** Update File: a.py\n*** Move to: b.py\n@@ def f():\n-    pass\n+    return 1\n*** Delete File: old.txt\n*** End Patch\n";
        assert_eq!(
            patch_writes(patch),
            vec![
                ("run.sh".into(), Some("#!/bin/sh\necho hi\n".into())),
                ("b.py".into(), Some("    return 1\n".into())),
                ("old.txt".into(), None),
            ]
        );
        assert!(patch_writes("ls -la").is_empty());
    }

    #[test]
    fn json_keeps_key_order_and_round_trips() {
        let text = "{\n  \"z\": 1,\n  \"a\": [\n    true,\n    null,\n    \"x\\\"y\"\n  ],\n  \"m\": {},\n  \"n\": 1.5\n}";
        let doc = Json::parse(text).unwrap();
        let mut out = String::new();
        doc.write(&mut out, 0);
        assert_eq!(out, text);
        let err = Json::parse("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!((err.line(), err.column()), (3, 1));
    }

    #[test]
    fn our_commands_are_recognised_by_program_and_agent() {
        use install::is_ours;
        assert!(is_ours("/usr/local/bin/cordon hook codex", Agent::Codex));
        assert!(is_ours(
            "'/opt/my tools/cordon' hook codex --policy /p.toml",
            Agent::Codex
        ));
        assert!(is_ours("cordon hook claude-code", Agent::ClaudeCode));
        assert!(!is_ours("cordon hook claude-code", Agent::Codex));
        assert!(!is_ours("/usr/bin/not-cordon hook codex", Agent::Codex));
        assert!(!is_ours("echo cordon hook codex", Agent::Codex));
    }

    #[test]
    fn failures_never_weaken_an_answer() {
        let block = Answer::Block("b".into());
        assert_eq!(
            Answer::Block("b".into()).and_failed(FailMode::Open, "x"),
            block
        );
        assert!(matches!(
            Answer::Allow.and_failed(FailMode::Closed, "x"),
            Answer::Block(_)
        ));
        assert!(matches!(
            Answer::Allow.and_failed(FailMode::Open, "x"),
            Answer::Warn(_)
        ));
    }
}
