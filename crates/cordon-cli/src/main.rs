//! `cordon`: the command-line adapter over the check engine.

use std::io::{BufRead, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cordon_core::{Decision, Event, Policy, Verdict};
use cordon_engine::Engine;

mod canary;
mod episodes;

#[derive(Parser)]
#[command(name = "cordon", version, about = "Runtime security for AI agents: inspect every tool call before it runs")]
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
        Cmd::Check { command, policy, json, jsonl, tool } => {
            let engine = match load_engine(policy.as_ref(), false) {
                Ok(e) => e,
                Err(msg) => {
                    eprintln!("cordon: {msg}");
                    return ExitCode::from(3);
                }
            };
            if jsonl {
                return run_jsonl(&engine);
            }
            check_one(&engine, command, &tool, json)
        }
        Cmd::Policy { action: PolicyCmd::Check { file } } => policy_check(&file),
        Cmd::Episodes { store, action } => episodes::run(store, action),
        Cmd::Canary { store, action } => canary::run(store, action),
        Cmd::Rules { action: RulesCmd::List { policy } } => match load_engine(policy.as_ref(), false) {
            Ok(e) => {
                // A closed pipe (`| head`) ends the listing quietly.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "rule pack {} ({} rules)", e.rules().version, e.rules().rules.len());
                for r in &e.rules().rules {
                    if writeln!(out, "{:<40} {:<22} {:<8} {}", r.id, r.kind, r.severity.as_str(), r.attack.join(",")).is_err() {
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
        Cmd::Rules { action: RulesCmd::Test { policy } } => match load_engine(policy.as_ref(), true) {
            Ok(e) => {
                let (n, failures) = e.run_rule_examples();
                for f in &failures {
                    println!("FAIL {} ({}): {:?}", f.rule, if f.expected_match { "should match" } else { "should not match" }, f.example);
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
    let policy = match path {
        None => Policy::default(),
        Some(p) => {
            let src = std::fs::read_to_string(p).map_err(|e| format!("cannot read policy {}: {e}", p.display()))?;
            Policy::from_toml(&src).map_err(|errs| errs.iter().map(|e| format!("{}: {e}", p.display())).collect::<Vec<_>>().join("\n"))?
        }
    };
    let engine = if checked { Engine::new_checked(policy) } else { Engine::new(policy) };
    let engine = engine.map_err(|e| match path {
        Some(p) => format!("{}: {e}", p.display()),
        None => e.to_string(),
    })?;
    for id in &engine.rules().unknown_ids {
        eprintln!("cordon: warning: policy names rule `{id}`, which does not exist");
    }
    Ok(engine)
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
                println!("{}: ok ({} rules in effect, mode {:?})", file.display(), e.rules().rules.len(), e.policy().mode);
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
                eprintln!("{}:{}: {}", file.display(), engine_error_line(&src, &err.to_string()), err);
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
    if let Some(i) = msg.split("rules.add[").nth(1).and_then(|r| r.split(']').next()).and_then(|n| n.parse::<usize>().ok()) {
        let starts: Vec<usize> = src.lines().enumerate().filter(|(_, l)| l.trim() == "[[rules.add]]").map(|(n, _)| n + 1).collect();
        if let Some(l) = starts.get(i) {
            return *l;
        }
    }
    if let Some(id) = msg.split("rule `").nth(1).and_then(|r| r.split('`').next()) {
        if let Some(l) = line_of(src, &format!("\"{id}\"")) {
            return l;
        }
    }
    if let Some(entry) = msg.split("entry \"").nth(1).and_then(|r| r.split('"').next()) {
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
                    let text = cordon_engine::shell_text(&ev.input).unwrap_or_else(|| ev.input.to_string());
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
        println!("{}", verdict.to_contract_json());
    } else {
        print_readable(&verdict, &text, std::io::stdout().is_terminal());
    }
    ExitCode::from(verdict.decision.exit_code() as u8)
}

fn print_readable(v: &Verdict, input: &str, color: bool) {
    let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    let (label, code) = match v.decision {
        Decision::Allow => ("ALLOW", "32;1"),
        Decision::Warn => ("WARN", "33;1"),
        Decision::Block => ("BLOCK", "31;1"),
        Decision::Error => ("ERROR", "35;1"),
    };
    let sev = v.severity.map(|s| s.as_str()).unwrap_or("none");
    println!("{} severity {} ({} finding{})", paint(code, label), sev, v.findings.len(), if v.findings.len() == 1 { "" } else { "s" });
    for f in &v.findings {
        println!("  {} {} confidence {:.2}  rule {}  ATT&CK {}", paint("1", &f.kind), f.severity.as_str(), f.confidence, f.rule, f.attack.join(", "));
        println!("    {}", f.message);
        // Show the evidence on its line of the input, underlined.
        let [s, e] = f.span;
        if e > s && e <= input.len() && input.is_char_boundary(s) && input.is_char_boundary(e) {
            let line_start = input[..s].rfind('\n').map(|p| p + 1).unwrap_or(0);
            let line_end = input[s..].find('\n').map(|p| s + p).unwrap_or(input.len());
            let end = e.min(line_end);
            let before = &input[line_start..s];
            let hit = &input[s..end];
            println!("    | {}{}{}", before, paint("31;4", hit), &input[end..line_end]);
            if !color {
                println!("    | {}{}", " ".repeat(before.chars().count()), "^".repeat(hit.chars().count().max(1)));
            }
        } else if !f.evidence.is_empty() {
            println!("    | {}", f.evidence);
        }
    }
}

/// The check contract: one verdict line per input line, in order, flushed as
/// we go. Lines are read in batches of whatever input is already buffered
/// (one line when a producer writes interactively), checked on all cores, and
/// written back in input order; output is flushed after every batch.
fn run_jsonl(engine: &Engine) -> ExitCode {
    use std::collections::BTreeMap;
    use std::sync::{mpsc, Mutex};

    const MAX_BATCH: usize = 128;
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 16);
    let stdin = std::io::stdin();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stdin.lock());
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<(usize, Vec<u8>)>)>(workers * 2);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(u64, Vec<u8>, Decision)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || loop {
                let job = job_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((seq, lines))) = job else { return };
                let mut out = Vec::with_capacity(lines.len() * 96);
                let mut worst = Decision::Allow;
                for (n, line) in lines {
                    let v = check_line(engine, &line, n);
                    worst = worse(worst, v.decision);
                    let _ = serde_json::to_writer(&mut out, &v.to_contract_json());
                    out.push(b'\n');
                }
                if done_tx.send((seq, out, worst)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let writer = scope.spawn(move || -> Result<Decision, std::io::Error> {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            let mut next = 0u64;
            let mut held: BTreeMap<u64, (Vec<u8>, Decision)> = BTreeMap::new();
            let mut worst = Decision::Allow;
            for (seq, bytes, d) in done_rx {
                held.insert(seq, (bytes, d));
                while let Some((bytes, d)) = held.remove(&next) {
                    out.write_all(&bytes)?;
                    worst = worse(worst, d);
                    next += 1;
                }
                out.flush()?;
            }
            out.flush()?;
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
                if job_tx.send((seq, std::mem::take(&mut batch))).is_err() {
                    break;
                }
                seq += 1;
            }
        }
        if !batch.is_empty() {
            let _ = job_tx.send((seq, batch));
        }
        drop(job_tx);
        match writer.join() {
            Ok(Ok(worst)) if !read_error => ExitCode::from(worst.exit_code() as u8),
            _ => ExitCode::from(3),
        }
    })
}

fn check_line(engine: &Engine, line: &[u8], n: usize) -> Verdict {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return Verdict::error(None, "empty line".into(), Some(n));
    }
    match Event::from_json_line(text) {
        Ok(ev) => engine.check(&ev),
        Err((id, msg)) => Verdict::error(id, msg, Some(n)),
    }
}

fn worse(a: Decision, b: Decision) -> Decision {
    match (a, b) {
        (_, Decision::Block) | (Decision::Block, _) => Decision::Block,
        (_, Decision::Warn) | (Decision::Warn, _) => Decision::Warn,
        _ => Decision::Allow,
    }
}
