//! `cordon episodes list|show|export`: read the episode store.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cordon_core::{Decision, EventKind};
use cordon_store::export::{self, command, id_text};
use cordon_store::{time, Episode, EpisodeFilter, Lookup, Store, StoredEvent};
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum EpisodesCmd {
    /// List episodes, most recently active first.
    List {
        /// Only this agent's episodes.
        #[arg(long)]
        agent: Option<String>,
        /// Only episodes whose task contains this text (ignoring case).
        #[arg(long)]
        task: Option<String>,
        /// Only episodes active at or after this time (RFC 3339, or a date: its midnight UTC).
        #[arg(long, value_parser = since_ms)]
        since: Option<i64>,
        /// Only episodes active at or before this time (RFC 3339, or a date: the end of that day UTC).
        #[arg(long, value_parser = until_ms)]
        until: Option<i64>,
        /// Only episodes with findings.
        #[arg(long)]
        findings: bool,
        /// Only episodes with a finding of this kind (REVERSE_TUNNEL, ...).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many episodes.
        #[arg(long)]
        limit: Option<usize>,
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// An episode's timeline: each event, its decision, and its findings.
    Show {
        /// The episode's session key, or a unique prefix of it ("(no session)" for events without one).
        id: String,
        /// JSON instead of the timeline.
        #[arg(long)]
        json: bool,
    },
    /// Export one episode, or all, as JSON lines, OCSF findings or OpenTelemetry traces.
    Export {
        /// The episode's session key, or a unique prefix of it.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every episode, oldest first.
        #[arg(long)]
        all: bool,
        /// jsonl: one line per event; ocsf: one OCSF Detection Finding per finding;
        /// otel: one OTLP/JSON trace per episode, a line each.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Ocsf,
    Otel,
}

/// Exit 0 done, 1 no such episode, 3 the store or the output failed.
pub fn run(store: Option<PathBuf>, cmd: EpisodesCmd) -> ExitCode {
    let path = store.unwrap_or_else(cordon_store::default_path);
    let store = match Store::open_existing(&path) {
        Ok(s) => s,
        Err(e) => return fail(3, e),
    };
    let done = match cmd {
        EpisodesCmd::List {
            agent,
            task,
            since,
            until,
            findings,
            kind,
            limit,
            json,
        } => {
            let filter = EpisodeFilter {
                agent,
                task,
                since_ms: since,
                until_ms: until,
                with_findings: findings,
                finding_kind: kind,
                limit,
            };
            list(&store, &filter, json)
        }
        EpisodesCmd::Show { id, json } => {
            resolve(&store, &id).and_then(|ep| show(&store, &ep, json))
        }
        EpisodesCmd::Export {
            id, format, output, ..
        } => {
            let episodes = match id {
                Some(id) => resolve(&store, &id).map(|ep| vec![ep]),
                None => store
                    .list_episodes(&EpisodeFilter::default())
                    .map(|mut all| {
                        all.reverse();
                        all
                    })
                    .map_err(Failure::from),
            };
            episodes.and_then(|eps| export(&store, &eps, format, output))
        }
    };
    match done {
        Ok(()) | Err(Failure(0, _)) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => fail(code, msg),
    }
}

/// An exit status and what to say (status 0: stop quietly).
struct Failure(u8, String);

impl From<cordon_store::StoreError> for Failure {
    fn from(e: cordon_store::StoreError) -> Failure {
        Failure(3, e.to_string())
    }
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordon: {msg}");
    ExitCode::from(code)
}

/// Output errors: a closed pipe (`| head`) ends quietly, anything else is a failure.
fn out_err(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure(0, String::new())
    } else {
        Failure(3, format!("cannot write the output: {e}"))
    }
}

fn resolve(store: &Store, id: &str) -> Result<Episode, Failure> {
    match store.find_episode(id)? {
        Lookup::Found(ep) => Ok(ep),
        Lookup::NotFound => Err(Failure(
            1,
            format!("no episode {id:?} in {}", store.path().display()),
        )),
        Lookup::Ambiguous(keys) => Err(Failure(
            1,
            format!(
                "{id:?} is the start of several episodes: {}; give more of it",
                keys.join(", ")
            ),
        )),
    }
}

fn list(store: &Store, filter: &EpisodeFilter, as_json: bool) -> Result<(), Failure> {
    let episodes = store.list_episodes(filter)?;
    let mut out = io::stdout().lock();
    if as_json {
        return writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&episodes).unwrap_or_default()
        )
        .map_err(out_err);
    }
    if episodes.is_empty() {
        eprintln!("cordon: no episodes match");
        return Ok(());
    }
    let rows: Vec<[String; 8]> = episodes
        .iter()
        .map(|e| {
            [
                e.label().to_string(),
                e.agent.clone().unwrap_or_else(|| "-".into()),
                e.events.to_string(),
                e.findings.to_string(),
                e.worst_severity.map_or("-", |s| s.as_str()).to_string(),
                clock(&e.first, true),
                clock(&e.last, true),
                e.task.as_deref().map_or("-".into(), |t| one_line(t, 50)),
            ]
        })
        .collect();
    let header = [
        "EPISODE",
        "AGENT",
        "EVENTS",
        "FINDINGS",
        "WORST",
        "FIRST (UTC)",
        "LAST (UTC)",
        "TASK",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric = [false, false, true, true, false, false, false, false];
    let mut line = |cells: [&str; 8]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == cells.len() - 1 {
                s.push_str(cell);
            } else if numeric[i] {
                s.push_str(&format!("{}{cell}  ", " ".repeat(pad)));
            } else {
                s.push_str(&format!("{cell}{}  ", " ".repeat(pad)));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(header).map_err(out_err)?;
    for row in &rows {
        line(row.each_ref().map(String::as_str)).map_err(out_err)?;
    }
    Ok(())
}

fn show(store: &Store, ep: &Episode, as_json: bool) -> Result<(), Failure> {
    let events = store.events(&ep.key)?;
    let mut out = io::stdout().lock();
    if as_json {
        let doc = json!({
            "episode": ep,
            "events": events.iter().map(|e| export::jsonl(ep, e)).collect::<Vec<_>>(),
        });
        return writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        )
        .map_err(out_err);
    }
    let paint = Paint(
        io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR")
                .filter(|v| !v.is_empty())
                .is_none(),
    );
    let one_day = ep.first.get(..10) == ep.last.get(..10);
    // An id names its call (the first event with it), not the result that repeats it.
    let mut steps: HashMap<String, u64> = HashMap::new();
    for e in &events {
        if let Some(id) = &e.event_id {
            steps.entry(id_text(id)).or_insert(e.step);
        }
    }

    let mut w = |s: String| writeln!(out, "{s}").map_err(out_err);
    w(paint.bold(&format!("episode {}", ep.label())))?;
    let mut about = Vec::new();
    if let Some(a) = &ep.agent {
        about.push(format!("agent {a}"));
    }
    if let Some(t) = &ep.task {
        about.push(format!("task: {}", one_line(t, 100)));
    }
    if !about.is_empty() {
        w(about.join("   "))?;
    }
    w(format!(
        "{}, {}{}, {} .. {} UTC",
        count(ep.events, "event"),
        count(ep.findings, "finding"),
        ep.worst_severity
            .map_or(String::new(), |s| format!(" (worst {})", s.as_str())),
        clock(&ep.first, false),
        clock(&ep.last, false)
    ))?;
    w(String::new())?;

    let tool_width = events
        .iter()
        .filter_map(|e| e.tool.as_ref())
        .map(|t| t.chars().count().min(24))
        .max()
        .unwrap_or(4);
    for e in &events {
        let at = time::format_ms(e.time_nanos().div_euclid(1_000_000));
        let at = if one_day {
            at[11..23].to_string()
        } else {
            clock(&at, false)
        };
        let kind = e.kind.map_or("error", |k| {
            if k == EventKind::Call {
                "call"
            } else {
                "result"
            }
        });
        let tool = one_line(e.tool.as_deref().unwrap_or("-"), 24);
        let decision = paint.decision(e.verdict.decision);
        w(format!(
            "{:>4}  {at}  {kind:<6}  {tool:<tool_width$}  {decision}  {}",
            format!("#{}", e.step),
            summary(e)
        ))?;
        if let Some(err) = &e.verdict.error {
            w(format!("        error: {}", one_line(err, 200)))?;
        }
        for f in &e.verdict.findings {
            w(format!(
                "        {}  {}  {:.2}  {}  {}",
                paint.bold(&f.kind),
                f.severity.as_str(),
                f.confidence,
                f.rule,
                f.attack.join(" ")
            ))?;
            w(format!("          {}", f.message))?;
            if !f.evidence.is_empty() {
                w(format!(
                    "          evidence: {}",
                    one_line(&f.evidence, 200)
                ))?;
            }
            if !f.related.is_empty() {
                let related: Vec<String> = f
                    .related
                    .iter()
                    .map(|id| {
                        let id = id_text(id);
                        match steps.get(&id) {
                            Some(step) => format!("{id} (#{step})"),
                            None => id,
                        }
                    })
                    .collect();
                w(format!("          related: {}", related.join(", ")))?;
            }
        }
    }
    Ok(())
}

fn export(
    store: &Store,
    episodes: &[Episode],
    format: Format,
    output: Option<PathBuf>,
) -> Result<(), Failure> {
    let mut out: Box<dyn Write> = match &output {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).map_err(|e| {
                Failure(3, format!("{}: cannot create: {e}", p.display()))
            })?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let mut lines = 0u64;
    for ep in episodes {
        let events = store.events(&ep.key)?;
        let docs = match format {
            Format::Jsonl => events.iter().map(|e| export::jsonl(ep, e)).collect(),
            Format::Ocsf => export::ocsf(ep, &events),
            Format::Otel => vec![export::otlp(ep, &events)],
        };
        for doc in docs {
            writeln!(out, "{doc}").map_err(out_err)?;
            lines += 1;
        }
    }
    out.flush().map_err(out_err)?;
    if let Some(p) = output {
        eprintln!("cordon: wrote {lines} lines to {}", p.display());
    }
    Ok(())
}

/// A short form of what the event did: the command of a shell call, the
/// output of a result, else the input as JSON.
fn summary(e: &StoredEvent) -> String {
    if e.kind.is_none() {
        return one_line(e.raw.as_deref().unwrap_or(""), 100);
    }
    if let Some(cmd) = command(e) {
        return one_line(cmd, 100);
    }
    if e.kind == Some(EventKind::Result) {
        if let Some(out) = &e.output {
            return format!(
                "-> {}",
                one_line(
                    &out.as_str().map_or_else(|| out.to_string(), str::to_string),
                    96
                )
            );
        }
    }
    e.input
        .as_ref()
        .map_or_else(String::new, |i| one_line(&i.to_string(), 100))
}

fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `text` on one line (control characters as spaces), cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A stored RFC 3339 UTC time as `2025-06-01 10:00:00`, with millis unless `short`.
fn clock(rfc3339: &str, short: bool) -> String {
    let end = if short { 19 } else { 23 };
    rfc3339
        .get(..end)
        .map_or_else(|| rfc3339.to_string(), |s| s.replacen('T', " ", 1))
}

/// ANSI colors, when writing to a terminal.
struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }

    fn decision(&self, d: Decision) -> String {
        match d {
            Decision::Allow => self.wrap("32", "allow"),
            Decision::Warn => self.wrap("33", "WARN "),
            Decision::Block => self.wrap("1;31", "BLOCK"),
            Decision::Error => self.wrap("35", "error"),
        }
    }
}

fn since_ms(s: &str) -> Result<i64, String> {
    time::parse_ms(s)
        .ok_or_else(|| format!("{s:?} is not a time (RFC 3339, or a date like 2025-06-01)"))
}

/// A bare date means the end of that day.
fn until_ms(s: &str) -> Result<i64, String> {
    let ms = since_ms(s)?;
    Ok(if s.trim().len() == 10 {
        ms + 86_400_000 - 1
    } else {
        ms
    })
}
