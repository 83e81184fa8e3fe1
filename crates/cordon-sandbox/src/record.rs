//! The recorder: every record goes through one thread that writes it
//! (JSONL, then the caller's sink, e.g. the episode store), runs the
//! stream detectors, and enforces block mode. One thread, so detectors see
//! records in order and need no locks.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cordon_core::{Finding, Mode, NetRecord, Severity};
use serde_json::{json, Value};

use crate::detect::{self, ScanWindow};

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Where records go besides the JSONL file (the CLI passes the episode store).
pub trait Sink: Send {
    fn write(&mut self, batch: &[NetRecord]);
}

/// Fields every record of this run shares.
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    pub session: Option<String>,
    pub call_id: Option<String>,
    pub host: Option<String>,
}

pub enum Msg {
    Record(NetRecord),
    /// A finding from outside the stream (CPU, GPU sampling), with its evidence record.
    Finding(Finding, Value),
}

/// Records queued and not yet written; past this, new ones are dropped and counted.
const MAX_QUEUED: usize = 100_000;

/// Cheap to clone; `send` never blocks (a full queue drops and counts).
#[derive(Clone)]
pub struct Recorder {
    tx: Sender<Msg>,
    attr: Arc<Attribution>,
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicUsize>,
}

fn new_record(attr: &Attribution, kind: &str) -> NetRecord {
    NetRecord {
        source: "sandbox".into(),
        kind: kind.into(),
        ts_us: now_us(),
        host: attr.host.clone(),
        session: attr.session.clone(),
        call_id: attr.call_id.clone(),
        ..Default::default()
    }
}

impl Recorder {
    /// A record with this run's source and attribution filled in.
    pub fn new_record(&self, kind: &str) -> NetRecord {
        new_record(&self.attr, kind)
    }

    pub fn send(&self, r: NetRecord) {
        self.push(Msg::Record(r));
    }

    pub fn finding(&self, f: Finding, detail: Value) {
        self.push(Msg::Finding(f, detail));
    }

    fn push(&self, m: Msg) {
        // An unbounded channel with a count, rather than a bounded one, which
        // would allocate all its slots up front (milliseconds at every start).
        if self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let _ = self.tx.send(m);
    }
}

/// What the run found and did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub findings: Vec<Finding>,
    /// The finding that made block mode kill the tree.
    pub killed_for: Option<Finding>,
    pub records: u64,
    pub dropped: u64,
}

pub struct Brain {
    pub mode: Mode,
    pub block_on: Vec<Severity>,
    pub scan: ScanWindow,
    /// Kills the whole tree (the PID namespace's init).
    pub kill: Box<dyn Fn() + Send>,
    pub verbose: bool,
    pub jsonl: Option<Box<dyn Write + Send>>,
    pub sink: Option<Box<dyn Sink>>,
}

/// Start the recorder thread; join it after dropping every Recorder clone.
pub fn start(attr: Attribution, mut brain: Brain) -> (Recorder, std::thread::JoinHandle<Summary>) {
    let (tx, rx) = channel();
    let dropped = Arc::new(AtomicU64::new(0));
    let queued = Arc::new(AtomicUsize::new(0));
    let attr = Arc::new(attr);
    let rec = Recorder {
        tx,
        attr: attr.clone(),
        dropped: dropped.clone(),
        queued: queued.clone(),
    };
    let h = std::thread::Builder::new()
        .name("cordon-recorder".into())
        .spawn(move || {
            let mut s = run(&mut brain, &attr, rx, &dropped, &queued);
            s.dropped = dropped.load(Ordering::Relaxed);
            s
        })
        .expect("spawn recorder thread");
    (rec, h)
}

fn run(
    brain: &mut Brain,
    rec: &Attribution,
    rx: Receiver<Msg>,
    dropped: &AtomicU64,
    queued: &AtomicUsize,
) -> Summary {
    let mut summary = Summary::default();
    // pid -> (exe, argv), from process records: who made a direct connect.
    let mut procs: HashMap<u64, (String, Vec<String>)> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut batch: Vec<NetRecord> = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        let msg = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(m) => Some(m),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if let Some(msg) = msg {
            queued.fetch_sub(1, Ordering::Relaxed);
            let mut out = Vec::new();
            match msg {
                Msg::Record(r) => {
                    let findings = judge(brain, &mut procs, &mut seen, &r);
                    out.push(r);
                    for (f, d) in findings {
                        out.push(finding_record(rec, &f, d));
                        decide(brain, &mut summary, &f, out.last_mut().unwrap());
                    }
                }
                Msg::Finding(f, d) => {
                    out.push(finding_record(rec, &f, d));
                    decide(brain, &mut summary, &f, out.last_mut().unwrap());
                }
            }
            for r in out {
                write_jsonl(brain, &r);
                summary.records += 1;
                batch.push(r);
            }
        }
        if !batch.is_empty()
            && (batch.len() >= 512 || last_flush.elapsed() >= Duration::from_millis(500))
        {
            flush(brain, &mut batch);
            last_flush = Instant::now();
        }
    }
    let lost = dropped.load(Ordering::Relaxed);
    if lost > 0 {
        let mut r = new_record(rec, "resource");
        r.detail = json!({"dropped_records": lost});
        write_jsonl(brain, &r);
        batch.push(r);
    }
    flush(brain, &mut batch);
    summary
}

fn flush(brain: &mut Brain, batch: &mut Vec<NetRecord>) {
    if let Some(j) = brain.jsonl.as_mut() {
        let _ = j.flush();
    }
    if let Some(s) = brain.sink.as_mut() {
        s.write(batch);
    }
    batch.clear();
}

fn write_jsonl(brain: &mut Brain, r: &NetRecord) {
    if let Some(j) = brain.jsonl.as_mut() {
        if let Ok(line) = serde_json::to_string(r) {
            let _ = writeln!(j, "{line}");
        }
    }
}

fn finding_record(rec: &Attribution, f: &Finding, extra: Value) -> NetRecord {
    let mut r = new_record(rec, "finding");
    r.action = Some("alert".into());
    let mut detail = serde_json::to_value(f).unwrap_or(Value::Null);
    if let (Value::Object(d), Value::Object(e)) = (&mut detail, extra) {
        for (k, v) in e {
            if k == "dst" {
                r.dst = v.as_str().map(String::from);
            } else if k == "dport" {
                r.dport = v.as_u64().and_then(|p| u16::try_from(p).ok());
            } else {
                d.insert(k, v);
            }
        }
    }
    r.detail = detail;
    r
}

/// Block mode kills the tree for a finding at a blocking severity; either
/// way the finding is reported on stderr.
fn decide(brain: &mut Brain, summary: &mut Summary, f: &Finding, r: &mut NetRecord) {
    summary.findings.push(f.clone());
    let block = brain.mode == Mode::Block && brain.block_on.contains(&f.severity);
    if block && summary.killed_for.is_none() {
        (brain.kill)();
        summary.killed_for = Some(f.clone());
        r.action = Some("blocked".into());
        if let Value::Object(d) = &mut r.detail {
            d.insert("enforced".into(), json!("killed the process tree"));
        }
        eprintln!(
            "cordon: {} ({}): {} [{}]; killed the command's process tree",
            f.kind,
            f.severity.as_str(),
            f.message,
            f.rule
        );
    } else if !block || summary.killed_for.is_some() {
        eprintln!(
            "cordon: {} ({}): {} [{}]",
            f.kind,
            f.severity.as_str(),
            f.message,
            f.rule
        );
    }
}

/// Findings a record raises, with the fields that locate them.
fn judge(
    brain: &mut Brain,
    procs: &mut HashMap<u64, (String, Vec<String>)>,
    seen: &mut HashSet<String>,
    r: &NetRecord,
) -> Vec<(Finding, Value)> {
    let mut out = Vec::new();
    let d = &r.detail;
    let pid = d.get("pid").and_then(Value::as_u64);
    match r.kind.as_str() {
        "process" => {
            if let Some(pid) = pid {
                let exe = d
                    .get("exe")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let argv = d
                    .get("argv")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if procs.len() > 100_000 {
                    procs.clear();
                }
                procs.insert(pid, (exe, argv));
            }
        }
        "connect" => {
            let (Some(dst), Some(port)) = (r.dst.as_deref(), r.dport) else {
                return out;
            };
            let dest = match d.get("host").and_then(Value::as_str) {
                Some(h) if h != dst => format!("{h}:{port}"),
                _ => format!("{dst}:{port}"),
            };
            let loopback = dst.starts_with("127.") || dst == "::1" || dst == "localhost";
            let allowed = r.action.as_deref() == Some("allowed");
            let loc = json!({"dst": dst, "dport": port, "pid": pid});
            // Protocol findings are raised by the proxy itself, as the bytes arrive.
            if d.get("via").and_then(Value::as_str) == Some("direct") && !loopback && !allowed {
                let (exe, argv) = pid.and_then(|p| procs.get(&p).cloned()).unwrap_or_else(|| {
                    (
                        d.get("exe")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string(),
                        Vec::new(),
                    )
                });
                let f = detect::direct_connect_finding(&exe, &argv, &dest);
                // One PROXY_BYPASS per program, not one per attempt (a scan makes hundreds).
                let key = if f.kind == "PROXY_BYPASS" {
                    format!("{}|{exe}", f.rule)
                } else {
                    format!("{}|{dest}", f.rule)
                };
                if seen.insert(key) {
                    out.push((f, loc.clone()));
                }
            }
            if !loopback {
                if let Some((n, sample)) = brain.scan.add(Instant::now(), dest) {
                    out.push((detect::scan_finding(n, brain.scan.window(), &sample), loc));
                }
            }
        }
        _ => {}
    }
    out
}
