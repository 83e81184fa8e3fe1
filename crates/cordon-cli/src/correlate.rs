//! `cordon correlate`: network events attributed to episodes and tool calls (issue 6).
//!
//! Reads the episodes and the network records of the store, attributes each record to the
//! episode and tool call running when (after clock skew) and where (`--hosts`) it happened, and
//! prints a table, JSON or an SVG timeline. Exit 0 done, 3 error.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use cordon_core::EventKind;
use cordon_correlate::{Call, Config, Episode, HostMap, Skew};
use cordon_store::{time, EpisodeFilter, Store, StoredEvent};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OutFormat {
    Table,
    Json,
    Svg,
}

#[derive(clap::Args)]
pub struct CorrelateArgs {
    /// Episode store (SQLite file) holding the episodes and the ingested records; the default path otherwise.
    #[arg(long, env = "CORDON_STORE", num_args = 0..=1, default_missing_value = "")]
    store: Option<PathBuf>,
    /// TOML mapping agents or sessions to the hosts, addresses and namespaces the logs name
    /// (without it, all episodes and records are treated as one host).
    #[arg(long)]
    hosts: Option<PathBuf>,
    /// How far outside a tool call's window (after skew) a record may still be attributed to it.
    #[arg(long, default_value = "5s", value_parser = duration_us)]
    window: i64,
    /// `auto` (estimated per log file within ±60s), `auto:DUR` (within ±DUR), or a fixed
    /// skew: record clock minus episode clock (`2s`, `-1500ms`).
    #[arg(long, default_value = "auto")]
    skew: String,
    /// A call without a result is taken to last this long (or until the episode's next event).
    #[arg(long, default_value = "30s", value_parser = duration_us)]
    call_duration: i64,
    /// Only episodes and records at or after this time (RFC 3339, or a date).
    #[arg(long)]
    since: Option<String>,
    /// Only episodes and records at or before this time.
    #[arg(long)]
    until: Option<String>,
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
    /// Write here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// `5s`, `500ms`, `2m`, `1.5s`, `-2s`, `250us` to µs.
fn duration_us(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let scale = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        _ => return Err(format!("{s:?}: unit must be us, ms, s, m or h")),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration"))?;
    let us = v * scale;
    if !us.is_finite() || us.abs() > 1e15 {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(us.round() as i64)
}

fn parse_skew(s: &str) -> Result<Skew, String> {
    if s == "auto" {
        return Ok(Skew::Auto {
            bound_us: 60_000_000,
        });
    }
    if let Some(b) = s.strip_prefix("auto:") {
        return Ok(Skew::Auto {
            bound_us: duration_us(b)?.abs(),
        });
    }
    duration_us(s)
        .map(Skew::Fixed)
        .map_err(|e| format!("--skew: {e} (or auto, auto:DUR)"))
}

pub fn run(args: CorrelateArgs) -> ExitCode {
    match correlate(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("cordon: {msg}");
            ExitCode::from(3)
        }
    }
}

fn time_arg(s: &Option<String>, what: &str, end_of_day: bool) -> Result<Option<i64>, String> {
    let Some(s) = s else { return Ok(None) };
    let ns = time::parse_nanos(s)
        .ok_or_else(|| format!("{what} {s:?} is not an RFC 3339 time or a date"))?;
    let extra = if end_of_day && s.trim().len() == 10 {
        86_400_000_000_000 - 1
    } else {
        0
    };
    Ok(Some((ns + extra) / 1000))
}

fn correlate(args: CorrelateArgs) -> Result<(), String> {
    let skew = parse_skew(&args.skew)?;
    if args.window <= 0 {
        return Err("--window must be positive".into());
    }
    let since = time_arg(&args.since, "--since", false)?;
    let until = time_arg(&args.until, "--until", true)?;
    let (map, note) = match &args.hosts {
        Some(p) => {
            let text = fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let map = HostMap::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            let note = format!("hosts from {} ({} hosts)", p.display(), map.hosts.len());
            (Some(map), note)
        }
        None => (
            None,
            "no --hosts mapping: all episodes and records are treated as one host".to_owned(),
        ),
    };
    let path = match &args.store {
        Some(p) if !p.as_os_str().is_empty() => p.clone(),
        _ => cordon_store::default_path(),
    };
    let store = Store::open_existing(&path).map_err(|e| e.to_string())?;
    let filter = EpisodeFilter {
        since_ms: since.map(|u| u / 1000),
        until_ms: until.map(|u| u / 1000),
        ..EpisodeFilter::default()
    };
    let mut episodes = Vec::new();
    for e in store.list_episodes(&filter).map_err(|e| e.to_string())? {
        let events = store.events(&e.key).map_err(|e| e.to_string())?;
        if let Some(ep) = episode(
            &e.key,
            e.agent.clone(),
            e.task.clone(),
            &events,
            args.call_duration,
        ) {
            episodes.push(ep);
        }
    }
    episodes.sort_by(|a, b| a.start_us.cmp(&b.start_us).then(a.session.cmp(&b.session)));
    // Records: the range, widened by how far skew and window reach.
    let reach = match skew {
        Skew::Auto { bound_us } => bound_us,
        Skew::Fixed(s) => s.abs(),
    } + args.window;
    let records = store
        .net_events(since.map(|s| s - reach), until.map(|u| u + reach))
        .map_err(|e| e.to_string())?;
    let cfg = Config {
        window_us: args.window,
        skew,
        ..Config::default()
    };
    let report = cordon_correlate::correlate(&episodes, &records, map.as_ref(), &note, &cfg);
    let text = match args.format {
        OutFormat::Table => report.table(),
        OutFormat::Json => serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n",
        OutFormat::Svg => cordon_correlate::svg::timeline(&report, &episodes),
    };
    match &args.out {
        Some(p) => fs::write(p, text).map_err(|e| format!("{}: {e}", p.display())),
        None => {
            use std::io::Write;
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(format!("writing output: {e}"))
                }
                _ => Ok(()),
            }
        }
    }
}

/// What a call did, in a few words: its command, URL or path.
fn summary(e: &StoredEvent) -> String {
    let input = e.input.as_ref();
    let text = ["command", "cmd", "url", "path", "file_path", "query"]
        .iter()
        .find_map(|k| {
            input
                .and_then(|i| i.get(*k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .or_else(|| input.map(|i| i.to_string()))
        .unwrap_or_default();
    let mut s: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        s.push('…');
    }
    s
}

/// Tool-call windows from an episode's events: a call runs until its result (the result with the
/// same id, else the next result), or `default_us`, or the episode's next event, whichever first.
fn episode(
    key: &str,
    agent: Option<String>,
    task: Option<String>,
    events: &[StoredEvent],
    default_us: i64,
) -> Option<Episode> {
    let times: Vec<i64> = events.iter().map(|e| e.time_nanos() / 1000).collect();
    let (start, end) = (*times.iter().min()?, *times.iter().max()?);
    let mut calls: Vec<(Call, Option<usize>)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let t = times[i];
        let id = e
            .event_id
            .as_ref()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        match e.kind {
            Some(EventKind::Call) => {
                let decision = serde_json::to_value(e.verdict.decision)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                calls.push((
                    Call {
                        id: id.unwrap_or_else(|| format!("step {}", e.step)),
                        tool: e.tool.clone().unwrap_or_default(),
                        summary: summary(e),
                        start_us: t,
                        end_us: t,
                        has_result: false,
                        decision,
                        findings: e.verdict.findings.iter().map(|f| f.kind.clone()).collect(),
                    },
                    Some(i),
                ));
            }
            Some(EventKind::Result) => {
                let open = |c: &(Call, Option<usize>)| !c.0.has_result;
                let pos = calls
                    .iter()
                    .rposition(|c| open(c) && id.as_deref() == Some(c.0.id.as_str()))
                    .or_else(|| calls.iter().rposition(open));
                if let Some(p) = pos {
                    calls[p].0.end_us = t.max(calls[p].0.start_us);
                    calls[p].0.has_result = true;
                }
            }
            None => {}
        }
    }
    let mut out = Vec::with_capacity(calls.len());
    for (mut c, at) in calls {
        if !c.has_result {
            let next = at.and_then(|i| {
                times
                    .iter()
                    .skip(i + 1)
                    .copied()
                    .filter(|&t| t > c.start_us)
                    .min()
            });
            c.end_us = next.map_or(c.start_us + default_us, |n| n.min(c.start_us + default_us));
        }
        out.push(c);
    }
    let end = out.iter().map(|c| c.end_us).max().unwrap_or(end).max(end);
    Some(Episode {
        session: key.to_owned(),
        agent,
        task,
        start_us: start,
        end_us: end,
        calls: out,
    })
}
