//! `cordon`: the command-line adapter over the check engine.

use std::io::{BufRead, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cordon_core::{Decision, Event, Policy, Verdict};
use cordon_engine::registry::ToolDef;
use cordon_engine::Engine;

// Checking a call allocates many small strings (words, arguments, findings)
// across worker threads; mimalloc's thread-local free lists cut that cost.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod canary;
mod correlate;
mod episodes;
mod hook;
mod ingest;
mod mcp;
mod run;
mod serve;
mod tools;

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "Runtime security for AI agents: inspect every tool call before it runs"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check one tool call (a shell command as argument, or one JSON event on stdin),
    /// or a stream of events with --jsonl. Exit 0 allow, 1 warn, 2 block, 3 error.
    Check {
        /// A shell command to check.
        command: Option<String>,
        /// Policy file (TOML); the built-in default policy otherwise.
        #[arg(long, env = "CORDON_POLICY")]
        policy: Option<PathBuf>,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
        /// Read one event per line on stdin, write one verdict per line (the check contract).
        #[arg(long)]
        jsonl: bool,
        /// Tool name for a command given as argument.
        #[arg(long, default_value = "bash")]
        tool: String,
        /// Record every event, verdict and finding in the episode store
        /// (SQLite) before its verdict is printed. Without FILE: the default
        /// path (`$XDG_DATA_HOME/cordon/cordon.db`).
        #[arg(long, env = "CORDON_STORE", num_args = 0..=1, default_missing_value = "")]
        store: Option<PathBuf>,
    },
    /// Policy files.
    Policy {
        #[command(subcommand)]
        action: PolicyCmd,
    },
    /// The rule pack.
    Rules {
        #[command(subcommand)]
        action: RulesCmd,
    },
    /// Recorded episodes: list, show a timeline, export (jsonl, OCSF, OTel).
    Episodes {
        /// Episode store (SQLite file); the default path otherwise.
        #[arg(long, env = "CORDON_STORE", global = true)]
        store: Option<PathBuf>,
        #[command(subcommand)]
        action: episodes::EpisodesCmd,
    },
    /// Coding-agent hook: read the agent's hook event on stdin, answer in its
    /// format (claude-code, codex, gemini, cursor); `hook install AGENT` adds
    /// the entry to the agent's settings.
    Hook(hook::HookArgs),
    /// A stdio MCP proxy in front of SERVER_CMD: tool calls checked against the
    /// server's schemas and the policy, definitions pinned, results scanned.
    McpProxy(mcp::McpArgs),
    /// The HTTP service: post events, get verdicts; query episodes and
    /// findings; a live stream of findings; OpenAPI, health and metrics.
    Serve(serve::ServeArgs),
    /// Tool definitions: pin them (trust on first use) and report changes.
    Tools {
        /// Episode store (SQLite file); the default path otherwise.
        #[arg(long, env = "CORDON_STORE", global = true)]
        store: Option<PathBuf>,
        #[command(subcommand)]
        action: tools::ToolsCmd,
    },
    /// Read network telemetry (iptables/nftables LOG, conntrack, Zeek conn.log,
    /// Suricata eve.json, AWS VPC Flow Logs, cordon run records), plain or gzip.
    Ingest(ingest::IngestArgs),
    /// Attribute network events to the episodes and tool calls that were
    /// running when and where they happened.
    Correlate(correlate::CorrelateArgs),
    /// Run a command inside Cordon's sandbox: its own network (egress only
    /// through Cordon's proxy), Landlock and seccomp; every process and
    /// connection recorded.
    Run(run::RunArgs),
    /// Canary tokens: decoy credentials whose later appearance is an alarm.
    Canary {
        /// Episode store (SQLite file); the default path otherwise.
        #[arg(long, env = "CORDON_STORE", global = true)]
        store: Option<PathBuf>,
        #[command(subcommand)]
        action: canary::CanaryCmd,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Validate a policy file; each error names its line.
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// List the rules in effect (built-in pack plus policy).
    List {
        #[arg(long, env = "CORDON_POLICY")]
        policy: Option<PathBuf>,
    },
    /// Run every rule's match and ok examples.
    Test {
        #[arg(long, env = "CORDON_POLICY")]
        policy: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Usage errors exit 3, never 2: a hook reads 2 as "blocked".
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 3 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Cmd::Check {
            command,
            policy,
            json,
            jsonl,
            tool,
            store,
        } => {
            let engine = match load_engine_with_tools(policy.as_ref(), false) {
                Ok(e) => e,
                Err(msg) => {
                    eprintln!("cordon: {msg}");
                    return ExitCode::from(3);
                }
            };
            let (mut engine, defs) = engine;
            let mut store = match store
                .map(store_path)
                .map(|p| cordon_store::Store::open(&p))
                .transpose()
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("cordon: {e}");
                    return ExitCode::from(3);
                }
            };
            if let Some(store) = store.as_mut() {
                if let Err(e) = store.checkpoint_in_background() {
                    eprintln!("cordon: {e}");
                    return ExitCode::from(3);
                }
                if let Err(e) = tools::pin(store, &defs, false).map(|changed| {
                    changed
                        .into_iter()
                        .for_each(|(name, what)| engine.mark_changed(&name, what))
                }) {
                    eprintln!("cordon: {e}");
                    return ExitCode::from(3);
                }
            }
            if jsonl {
                return run_jsonl(&engine, store);
            }
            check_one(&engine, command, &tool, json)
        }
        Cmd::Policy {
            action: PolicyCmd::Check { file },
        } => policy_check(&file),
        Cmd::Episodes { store, action } => episodes::run(store, action),
        Cmd::Canary { store, action } => canary::run(store, action),
        Cmd::Tools { store, action } => tools::run(store, action),
        Cmd::Hook(args) => hook::run(args),
        Cmd::McpProxy(args) => mcp::run(args),
        Cmd::Serve(args) => serve::run(args),
        Cmd::Ingest(args) => ingest::run(args),
        Cmd::Correlate(args) => correlate::run(args),
        Cmd::Run(args) => run::run(args),
        Cmd::Rules {
            action: RulesCmd::List { policy },
        } => match load_engine(policy.as_ref(), false) {
            Ok(e) => {
                // A closed pipe (`| head`) ends the listing quietly.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "rule pack {} ({} rules)",
                    e.rules().version,
                    e.rules().rules.len()
                );
                for r in &e.rules().rules {
                    if writeln!(
                        out,
                        "{:<40} {:<22} {:<8} {}",
                        r.id,
                        r.kind,
                        r.severity.as_str(),
                        r.attack.join(",")
                    )
                    .is_err()
                    {
                        break;
                    }
                }
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("cordon: {msg}");
                ExitCode::from(3)
            }
        },
        Cmd::Rules {
            action: RulesCmd::Test { policy },
        } => match load_engine(policy.as_ref(), true) {
            Ok(e) => {
                let (n, failures) = e.run_rule_examples();
                for f in &failures {
                    println!(
                        "FAIL {} ({}): {:?}",
                        f.rule,
                        if f.expected_match {
                            "should match"
                        } else {
                            "should not match"
                        },
                        f.example
                    );
                }
                println!("{} examples, {} failed", n, failures.len());
                if failures.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(msg) => {
                eprintln!("cordon: {msg}");
                ExitCode::from(3)
            }
        },
    }
}

fn load_engine(path: Option<&PathBuf>, checked: bool) -> Result<Engine, String> {
    load_engine_with_tools(path, checked).map(|(e, _)| e)
}

/// The engine for a policy, with the tool definitions its registry imports.
fn load_engine_with_tools(
    path: Option<&PathBuf>,
    checked: bool,
) -> Result<(Engine, Vec<ToolDef>), String> {
    let policy = match path {
        None => Policy::default(),
        Some(p) => {
            let src = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read policy {}: {e}", p.display()))?;
            Policy::from_toml(&src).map_err(|errs| {
                errs.iter()
                    .map(|e| format!("{}: {e}", p.display()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?
        }
    };
    let imports = policy.registry.import.clone();
    let engine = if checked {
        Engine::new_checked(policy)
    } else {
        Engine::new(policy)
    };
    let mut engine = engine.map_err(|e| match path {
        Some(p) => format!("{}: {e}", p.display()),
        None => e.to_string(),
    })?;
    for id in &engine.rules().unknown_ids {
        eprintln!("cordon: warning: policy names rule `{id}`, which does not exist");
    }
    let base = path
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut defs = Vec::new();
    for file in imports {
        let f = base.join(&file);
        defs.extend(tools::read_defs(&f)?);
    }
    engine.register_tools(&defs)?;
    Ok((engine, defs))
}

fn policy_check(file: &PathBuf) -> ExitCode {
    let src = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cordon: cannot read {}: {e}", file.display());
            return ExitCode::from(3);
        }
    };
    match Policy::from_toml(&src) {
        Err(errs) => {
            for e in errs {
                eprintln!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message);
            }
            ExitCode::from(1)
        }
        Ok(policy) => match Engine::new_checked(policy) {
            Ok(e) if e.rules().unknown_ids.is_empty() => {
                println!(
                    "{}: ok ({} rules in effect, mode {:?})",
                    file.display(),
                    e.rules().rules.len(),
                    e.policy().mode
                );
                ExitCode::SUCCESS
            }
            Ok(e) => {
                for id in &e.rules().unknown_ids {
                    let line = line_of(&src, &format!("\"{id}\"")).unwrap_or(1);
                    eprintln!("{}:{}: no rule has the id `{id}`", file.display(), line);
                }
                ExitCode::from(1)
            }
            Err(err) => {
                eprintln!(
                    "{}:{}: {}",
                    file.display(),
                    engine_error_line(&src, &err.to_string()),
                    err
                );
                ExitCode::from(1)
            }
        },
    }
}

/// 1-based line of the first occurrence of `needle`.
fn line_of(src: &str, needle: &str) -> Option<usize> {
    src.find(needle).map(|p| src[..p].matches('\n').count() + 1)
}

/// Where in the policy file an engine error points: the `[[rules.add]]` entry
/// it names (by index, or the rule id in it), or the egress entry it quotes.
fn engine_error_line(src: &str, msg: &str) -> usize {
    if let Some(i) = msg
        .split("rules.add[")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse::<usize>().ok())
    {
        let starts: Vec<usize> = src
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "[[rules.add]]")
            .map(|(n, _)| n + 1)
            .collect();
        if let Some(l) = starts.get(i) {
            return *l;
        }
    }
    if let Some(id) = msg.split("rule `").nth(1).and_then(|r| r.split('`').next()) {
        if let Some(l) = line_of(src, &format!("\"{id}\"")) {
            return l;
        }
    }
    if let Some(entry) = msg
        .split("entry \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    {
        if let Some(l) = line_of(src, &format!("\"{entry}\"")) {
            return l;
        }
    }
    1
}

fn check_one(engine: &Engine, command: Option<String>, tool: &str, json: bool) -> ExitCode {
    let (event, text) = match command {
        Some(c) => {
            let mut ev = Event::shell(&c);
            ev.tool = tool.to_string();
            (ev, c)
        }
        None => {
            let mut buf = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut buf) {
                eprintln!("cordon: cannot read stdin: {e}");
                return ExitCode::from(3);
            }
            match Event::from_json_line(buf.trim()) {
                Ok(ev) => {
                    let text = cordon_engine::shell_text(&ev.input)
                        .map(|t| t.into_owned())
                        .unwrap_or_else(|| ev.input.to_string());
                    (ev, text)
                }
                Err((id, msg)) => {
                    let v = Verdict::error(id, msg, Some(1));
                    println!("{}", v.to_contract_json());
                    return ExitCode::from(3);
                }
            }
        }
    };
    let verdict = engine.check(&event);
    if json {
        let _ = writeln!(std::io::stdout().lock(), "{}", verdict.to_contract_json());
    } else {
        print_readable(&verdict, &text, std::io::stdout().is_terminal());
    }
    ExitCode::from(verdict.decision.exit_code() as u8)
}

/// The readable verdict. Written in one piece, and a closed pipe
/// (`cordon check ... | head -1`) is not an error.
fn print_readable(v: &Verdict, input: &str, color: bool) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let (label, code) = match v.decision {
        Decision::Allow => ("ALLOW", "32;1"),
        Decision::Warn => ("WARN", "33;1"),
        Decision::Block => ("BLOCK", "31;1"),
        Decision::Error => ("ERROR", "35;1"),
    };
    let sev = v.severity.map(|s| s.as_str()).unwrap_or("none");
    let _ = writeln!(
        out,
        "{} severity {} ({} finding{})",
        paint(code, label),
        sev,
        v.findings.len(),
        if v.findings.len() == 1 { "" } else { "s" }
    );
    for f in &v.findings {
        let _ = writeln!(
            out,
            "  {} {} confidence {:.2}  rule {}  ATT&CK {}",
            paint("1", &f.kind),
            f.severity.as_str(),
            f.confidence,
            f.rule,
            f.attack.join(", ")
        );
        let _ = writeln!(out, "    {}", f.message);
        // Show the evidence on its line of the input, underlined.
        let [s, e] = f.span;
        if e > s && e <= input.len() && input.is_char_boundary(s) && input.is_char_boundary(e) {
            let line_start = input[..s].rfind('\n').map(|p| p + 1).unwrap_or(0);
            let line_end = input[s..].find('\n').map(|p| s + p).unwrap_or(input.len());
            let end = e.min(line_end);
            let before = &input[line_start..s];
            let hit = &input[s..end];
            let _ = writeln!(
                out,
                "    | {}{}{}",
                before,
                paint("31;4", hit),
                &input[end..line_end]
            );
            if !color {
                let _ = writeln!(
                    out,
                    "    | {}{}",
                    " ".repeat(before.chars().count()),
                    "^".repeat(hit.chars().count().max(1))
                );
            }
        } else if !f.evidence.is_empty() {
            let _ = writeln!(out, "    | {}", f.evidence);
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

/// The check contract: one verdict line per input line, in order, flushed as
/// we go. Lines are read in batches of whatever input is already buffered
/// (one line when a producer writes interactively) and checked on all cores;
/// the writer then takes the batches in input order through the episode
/// tracker (stateful, so sequential), records them in the store in one
/// durable transaction, and only then prints their verdicts.
fn run_jsonl(engine: &Engine, mut store: Option<cordon_store::Store>) -> ExitCode {
    use std::collections::BTreeMap;
    use std::sync::{mpsc, Mutex};

    const MAX_BATCH: usize = 128;
    let key = store
        .as_ref()
        .map(|s| s.fingerprint_key())
        .unwrap_or_else(ephemeral_key);
    let secrets = cordon_secrets::Secrets::new(key);
    let canaries = match planted_canaries(store.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cordon: {e}");
            return ExitCode::from(3);
        }
    };
    let tracker =
        match cordon_episode::Tracker::new(engine, cordon_episode::TrackerLimits::default()) {
            Ok(t) => t.with_secrets(&secrets).with_canaries(canaries),
            Err(e) => {
                eprintln!("cordon: {e}");
                return ExitCode::from(3);
            }
        };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let recording = store.is_some();
    let secrets = &secrets;
    let stdin = std::io::stdin();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stdin.lock());
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<(usize, Vec<u8>)>)>(workers * 2);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(u64, Vec<Checked>)>();
    // At most IN_FLIGHT batches between the reader and the writer: the
    // reader takes a token per batch, the writer gives it back once the batch
    // is taken for writing. Memory stays bounded when reading and checking
    // outrun the tracker or the store (the chunk queue below is bounded too).
    const IN_FLIGHT: usize = 16;
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let _ = token_tx.send(());
    }
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || loop {
                let job = job_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((seq, lines))) = job else { return };
                let checked = lines
                    .into_iter()
                    .map(|(n, line)| check_line(engine, &line, n, recording.then_some(secrets)))
                    .collect();
                if done_tx.send((seq, checked)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        // The sink makes each chunk durable, then prints it: a verdict a
        // caller saw is never lost. It runs beside the tracker so that
        // committing one chunk overlaps tracking the next.
        let (chunk_tx, chunk_rx) = mpsc::sync_channel::<(Vec<cordon_store::Record>, Vec<u8>)>(16);
        let sink = scope.spawn(move || -> Result<(), String> {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            while let Ok((mut records, mut bytes)) = chunk_rx.recv() {
                // Chunks that queued up while the last commit waited on the
                // disk go into this one: one fsync for all of them.
                while let Ok((more_records, more_bytes)) = chunk_rx.try_recv() {
                    records.extend(more_records);
                    bytes.extend_from_slice(&more_bytes);
                }
                if let Some(store) = store.as_mut() {
                    if !records.is_empty() {
                        store
                            .record(&records)
                            .map_err(|e| format!("episode store: {e}"))?;
                    }
                }
                out.write_all(&bytes).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        let writer = scope.spawn(move || -> Result<Decision, String> {
            // Batches that are ready together go into one transaction: one
            // fsync for many events when input streams in, one per line when
            // a producer writes a line at a time.
            const MAX_PENDING: usize = 4096;
            let mut tracker = tracker;
            let mut next = 0u64;
            let mut held: BTreeMap<u64, Vec<Checked>> = BTreeMap::new();
            let mut worst = Decision::Allow;
            let mut open = true;
            loop {
                if open {
                    // Block only when the next batch is not here yet.
                    if !held.contains_key(&next) {
                        match done_rx.recv() {
                            Ok((seq, batch)) => {
                                held.insert(seq, batch);
                            }
                            Err(_) => open = false,
                        }
                    }
                    while let Ok((seq, batch)) = done_rx.try_recv() {
                        held.insert(seq, batch);
                    }
                }
                if !held.contains_key(&next) {
                    if open {
                        continue;
                    }
                    break;
                }
                let mut bytes = Vec::with_capacity(1 << 16);
                let mut records = Vec::new();
                let mut pending = 0;
                while pending < MAX_PENDING {
                    let Some(batch) = held.remove(&next) else {
                        break;
                    };
                    next += 1;
                    let _ = token_tx.send(());
                    pending += batch.len();
                    for mut c in batch {
                        if let Some(ev) = &c.event {
                            if tracker.observe(ev, &mut c.verdict) {
                                c.json = verdict_line(&c.verdict);
                            }
                        }
                        worst = worse(worst, c.verdict.decision);
                        bytes.extend_from_slice(&c.json);
                        if let Some(prepared) = c.prepared.take() {
                            records.push(record_of(engine, secrets, c, prepared));
                        }
                    }
                }
                if chunk_tx.send((records, bytes)).is_err() {
                    break; // the sink failed; its error is reported below
                }
            }
            Ok(worst)
        });
        let mut seq = 0u64;
        let mut n = 0usize;
        let mut batch = Vec::new();
        let mut read_error = false;
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    n += 1;
                    batch.push((n, line));
                }
                Err(e) => {
                    eprintln!("cordon: reading stdin: {e}");
                    read_error = true;
                    break;
                }
            }
            if batch.len() >= MAX_BATCH || reader.buffer().is_empty() {
                if token_rx.recv().is_err()
                    || job_tx.send((seq, std::mem::take(&mut batch))).is_err()
                {
                    break;
                }
                seq += 1;
            }
        }
        if !batch.is_empty() {
            let _ = job_tx.send((seq, batch));
        }
        drop(job_tx);
        let worst = writer.join();
        match (worst, sink.join()) {
            (Ok(Ok(worst)), Ok(Ok(()))) if !read_error => ExitCode::from(worst.exit_code() as u8),
            (_, Ok(Err(e))) | (Ok(Err(e)), _) => {
                eprintln!("cordon: {e}");
                ExitCode::from(3)
            }
            _ => ExitCode::from(3),
        }
    })
}

/// One input line after the stateless check.
struct Checked {
    line: usize,
    event: Option<Event>,
    verdict: Verdict,
    /// The verdict line as printed (serialised on the worker; again only if the tracker amends it).
    json: Vec<u8>,
    /// What the store keeps of the line, redacted on a worker (when recording).
    prepared: Option<Prepared>,
}

struct Prepared {
    input: Option<String>,
    output: Option<String>,
    /// The line itself when it was not a valid event.
    raw: Option<String>,
    secrets: Vec<(String, String)>,
}

fn check_line(
    engine: &Engine,
    line: &[u8],
    n: usize,
    secrets: Option<&cordon_secrets::Secrets>,
) -> Checked {
    // `from_utf8` validates with SIMD; `from_utf8_lossy` walks chunk by chunk even when nothing needs replacing.
    let text = match std::str::from_utf8(line) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(line),
    };
    let text = text.trim();
    let (event, verdict) = if text.is_empty() {
        (None, Verdict::error(None, "empty line".into(), Some(n)))
    } else {
        match Event::from_json_line(text) {
            Ok(ev) => {
                let verdict = engine.check(&ev);
                (Some(ev), verdict)
            }
            Err((id, msg)) => (None, Verdict::error(id, msg, Some(n))),
        }
    };
    let prepared = secrets.map(|s| prepare(s, event.as_ref(), text));
    let json = verdict_line(&verdict);
    Checked {
        line: n,
        event,
        verdict,
        json,
        prepared,
    }
}

fn verdict_line(v: &Verdict) -> Vec<u8> {
    let mut out = v.to_contract_bytes();
    out.push(b'\n');
    out
}

/// Secrets redacted everywhere the store would keep them (arguments,
/// results, raw lines), fingerprints beside them.
fn prepare(secrets: &cordon_secrets::Secrets, event: Option<&Event>, text: &str) -> Prepared {
    const MAX_RAW: usize = 4096;
    let mut found = Vec::new();
    let mut redact_value = |v: &serde_json::Value| {
        let (r, hits) = secrets.redact_value_json(v);
        found.extend(
            hits.into_iter()
                .map(|h| (h.kind.to_string(), h.fingerprint)),
        );
        r
    };
    let (input, output, raw) = match event {
        Some(ev) => (
            Some(redact_value(&ev.input)),
            ev.output.as_ref().map(&mut redact_value),
            None,
        ),
        None => {
            let cut = cordon_core::floor_char_boundary(text, MAX_RAW);
            let (r, hits) = secrets.redact(&text[..cut]);
            found.extend(
                hits.into_iter()
                    .map(|h| (h.kind.to_string(), h.fingerprint)),
            );
            (None, None, Some(r))
        }
    };
    Prepared {
        input,
        output,
        raw,
        secrets: found,
    }
}

/// The store's record of one checked line; evidence the tracker added is redacted here.
fn record_of(
    engine: &Engine,
    secrets: &cordon_secrets::Secrets,
    c: Checked,
    p: Prepared,
) -> cordon_store::Record {
    let mut verdict = c.verdict;
    for f in &mut verdict.findings {
        f.evidence = secrets.redact(&f.evidence).0;
    }
    let ev = c.event;
    cordon_store::Record {
        line: Some(c.line as u64),
        event_id: ev
            .as_ref()
            .and_then(|e| e.id.clone())
            .or_else(|| verdict.id.clone()),
        session: ev.as_ref().and_then(|e| e.session.clone()),
        agent: ev.as_ref().and_then(|e| e.agent.clone()),
        task: ev.as_ref().and_then(|e| e.task.clone()),
        kind: ev.as_ref().map(|e| e.kind),
        tool: ev.as_ref().map(|e| e.tool.clone()),
        capability: ev.as_ref().map(|e| {
            format!("{:?}", engine.policy().tools.capability(&e.tool)).to_ascii_lowercase()
        }),
        input: p.input,
        output: p.output,
        raw: p.raw,
        ts: ev.as_ref().and_then(|e| e.ts.clone()),
        verdict,
        secrets: p.secrets,
    }
}

/// Canaries planted through this store (or the default store, when it exists).
fn planted_canaries(
    store: Option<&cordon_store::Store>,
) -> Result<Vec<cordon_episode::CanaryInfo>, String> {
    let from = |s: &cordon_store::Store| -> Result<Vec<cordon_episode::CanaryInfo>, String> {
        Ok(s.canaries()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|c| cordon_episode::CanaryInfo {
                id: c.id,
                kind: c.kind,
                marker: c.marker,
                path: c.path,
            })
            .collect())
    };
    match store {
        Some(s) => from(s),
        None => {
            let p = cordon_store::default_path();
            if p.exists() {
                from(&cordon_store::Store::open_existing(&p).map_err(|e| e.to_string())?)
            } else {
                Ok(Vec::new())
            }
        }
    }
}

/// A fingerprint key for a run without a store: fingerprints then only link
/// events within this run, and are never written anywhere.
fn ephemeral_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut key);
    }
    key
}

/// `--store` without a value means the default path.
fn store_path(p: PathBuf) -> PathBuf {
    if p.as_os_str().is_empty() {
        cordon_store::default_path()
    } else {
        p
    }
}

fn worse(a: Decision, b: Decision) -> Decision {
    match (a, b) {
        (_, Decision::Block) | (Decision::Block, _) => Decision::Block,
        (_, Decision::Warn) | (Decision::Warn, _) => Decision::Warn,
        _ => Decision::Allow,
    }
}
