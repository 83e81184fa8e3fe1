//! `cordon ingest`: network telemetry into normalised records (issue 6).
//!
//! Reads files (or stdin), plain or gzip, in a format told by `--format` or guessed from each
//! input's first lines; stores the records in batches (one transaction per 8,192), prints them
//! with `--jsonl`, and scans every raw line for the store's canary markers. Each bad line is
//! reported as `FILE:LINE: what is wrong` and skipped. Exit 0 read, 1 a canary fired, 3 error.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cordon_core::{Finding, NetRecord, Severity};
use cordon_ingest::{Format, Options, Outcome, Reader, Summary};
use cordon_secrets::CanaryMatcher;
use cordon_store::{CanaryRecord, Store};
use serde_json::json;

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Files to read, plain or gzip; `-` or none: standard input.
    files: Vec<PathBuf>,
    /// netfilter (iptables/nftables syslog), journal-export, journal-json, conntrack, zeek,
    /// zeek-json, suricata, vpcflow, sandbox; guessed from the first lines otherwise.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// Host of records whose format names none (conntrack, Zeek without _node_name, ...).
    #[arg(long)]
    host: Option<String>,
    /// Store the records in the episode store (SQLite); without FILE the default path.
    #[arg(long, env = "CORDON_STORE", num_args = 0..=1, default_missing_value = "")]
    store: Option<PathBuf>,
    /// Print each record as a JSON line.
    #[arg(long)]
    jsonl: bool,
    /// No per-line errors and no summary (canary alarms are always printed).
    #[arg(long)]
    quiet: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}; one of {}", names.join(", "))
    })
}

/// Records per store transaction.
const BATCH: usize = 8192;
/// Records kept between flushes when nothing is stored: small, so freed records are reused hot.
const PRINT_BATCH: usize = 256;
/// Bad lines reported per input before only counting them.
const MAX_REPORTED: u64 = 1000;

struct Canaries {
    matcher: CanaryMatcher,
    by_id: HashMap<String, CanaryRecord>,
}

pub fn run(args: IngestArgs) -> ExitCode {
    match ingest(args) {
        Ok(fired) => ExitCode::from(u8::from(fired)),
        Err(msg) => {
            eprintln!("cordon: {msg}");
            ExitCode::from(3)
        }
    }
}

fn ingest(args: IngestArgs) -> Result<bool, String> {
    let mut store = match &args.store {
        Some(p) => {
            let p = if p.as_os_str().is_empty() {
                cordon_store::default_path()
            } else {
                p.clone()
            };
            Some(Store::open(&p).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let canaries = match &store {
        Some(s) => {
            let records = s.canaries().map_err(|e| e.to_string())?;
            (!records.is_empty()).then(|| {
                let pairs: Vec<(String, String)> = records
                    .iter()
                    .map(|r| (r.id.clone(), r.marker.clone()))
                    .collect();
                Canaries {
                    matcher: CanaryMatcher::new(&pairs),
                    by_id: records.into_iter().map(|r| (r.id.clone(), r)).collect(),
                }
            })
        }
        None => None,
    };
    let files = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut total = Summary::default();
    let mut fired = false;
    let mut batch: Vec<NetRecord> = Vec::with_capacity(BATCH + 64);
    for path in &files {
        let origin = path.display().to_string();
        let input: Box<dyn io::Read + Send> = if origin == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).map_err(|e| format!("{origin}: {e}"))?)
        };
        let opts = Options {
            default_host: args.host.clone(),
            ..Options::default()
        };
        let mut reader =
            Reader::new(input, &origin, args.format, opts).map_err(|e| e.to_string())?;
        let (format, gzip) = (reader.format(), reader.gzip());
        let mut summary = Summary::default();
        loop {
            let before = batch.len();
            let line = match reader.next(&mut batch) {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => return Err(format!("{origin}: after line {}: {e}", summary.lines)),
            };
            summary.add(&line.outcome);
            if let Outcome::Bad(msg) = &line.outcome {
                if !args.quiet && summary.bad <= MAX_REPORTED {
                    eprintln!("{origin}:{}: {msg}", line.no);
                }
            }
            if let Some(c) = &canaries {
                let text = String::from_utf8_lossy(line.raw);
                let hits = c.matcher.find(&text);
                if !hits.is_empty() {
                    let parsed = batch.get(before).cloned();
                    let mut seen: Vec<&str> = Vec::new();
                    for hit in &hits {
                        let Some(rec) = c.by_id.get(&hit.id) else {
                            continue;
                        };
                        let id = cordon_secrets::canary_id(&rec.id);
                        if seen.contains(&id) {
                            continue;
                        }
                        seen.push(id);
                        fired = true;
                        let finding = Finding {
                            kind: "CANARY_TRIGGERED".into(),
                            severity: Severity::Critical,
                            confidence: 0.99,
                            rule: "canary.triggered".into(),
                            attack: vec!["T1552".into()],
                            evidence: format!("canary {id} ({}) seen {} in {origin}:{}", rec.kind, hit.form, line.no),
                            span: [hit.span.0, hit.span.1],
                            message: format!(
                                "a decoy {} credential planted at {} appeared in network telemetry ({} form): someone read the decoy and is using it",
                                rec.kind, rec.path, hit.form
                            ),
                            related: vec![],
                        };
                        let alarm = format!(
                            "CANARY_TRIGGERED (critical) {origin}:{}: {}; {}",
                            line.no, finding.evidence, finding.message
                        );
                        if args.jsonl {
                            eprintln!("{alarm}");
                        } else {
                            let _ = writeln!(out, "{alarm}");
                        }
                        let mut r = parsed.clone().unwrap_or_else(|| NetRecord {
                            source: format.name().into(),
                            ts_us: cordon_ingest::now_us(),
                            host: args.host.clone(),
                            origin: Some(origin.clone()),
                            line: Some(line.no),
                            ..NetRecord::default()
                        });
                        r.kind = "canary".into();
                        r.detail = json!({
                            "canary": id, "kind": rec.kind, "planted": rec.path, "form": hit.form,
                            "evidence": finding.evidence, "finding": finding,
                        });
                        batch.push(r);
                    }
                }
            }
            if batch.len() >= if store.is_some() { BATCH } else { PRINT_BATCH } {
                flush(&mut batch, store.as_mut(), args.jsonl, &mut out)?;
            }
        }
        flush(&mut batch, store.as_mut(), args.jsonl, &mut out)?;
        if !args.quiet {
            if summary.bad > MAX_REPORTED {
                eprintln!(
                    "{origin}: {} more bad lines not shown",
                    summary.bad - MAX_REPORTED
                );
            }
            eprintln!(
                "{origin}: {format}{}: {} lines, {} records, {} skipped, {} bad",
                if gzip { " (gzip)" } else { "" },
                summary.lines,
                summary.records,
                summary.skipped,
                summary.bad
            );
        }
        total.lines += summary.lines;
        total.records += summary.records;
        total.skipped += summary.skipped;
        total.bad += summary.bad;
    }
    if !args.quiet && files.len() > 1 {
        eprintln!(
            "total: {} lines, {} records, {} skipped, {} bad",
            total.lines, total.records, total.skipped, total.bad
        );
    }
    if let Some(s) = &store {
        if !args.quiet {
            eprintln!("stored {} records in {}", total.records, s.path().display());
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(format!("writing output: {e}"))
        }
        _ => {}
    }
    Ok(fired)
}

fn flush(
    batch: &mut Vec<NetRecord>,
    store: Option<&mut Store>,
    jsonl: bool,
    out: &mut impl Write,
) -> Result<(), String> {
    if let Some(s) = store {
        s.record_net(batch).map_err(|e| e.to_string())?;
    }
    if jsonl {
        for r in batch.iter() {
            let line = serde_json::to_string(r).map_err(|e| e.to_string())?;
            if let Err(e) = writeln!(out, "{line}") {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    std::process::exit(0);
                }
                return Err(format!("writing output: {e}"));
            }
        }
    }
    batch.clear();
    Ok(())
}
