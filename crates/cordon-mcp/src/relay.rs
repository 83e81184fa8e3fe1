//! The proxy's I/O: the server as a child process, a thread reading each
//! side, and the relay loop that hands every line to the [`Proxy`] in
//! arrival order and writes what it says. Verdicts go to stderr and the
//! `--log` file; records go to the episode store on a thread of their own,
//! off the path of the messages.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use cordon_core::{Decision, Event, EventKind, Verdict};
use cordon_engine::registry::{parse_tool_defs, ToolDef};
use cordon_engine::Engine;
use cordon_secrets::Secrets;
use cordon_store::time::{format_ms, now_ms};
use cordon_store::{Record, Store};
use serde_json::{json, Value};

use crate::pins::{Pin, Pins};
use crate::proxy::{Peer, Proxy};

/// Longest line read from either side; a longer one is dropped (and logged)
/// without being held in memory.
pub const MAX_LINE: usize = 64 << 20;

/// How long the server gets to exit once the client has gone, before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// How long `--repin` waits for each answer (an `npx` server may install itself first).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) enum Line {
    Full(Vec<u8>),
    Oversized(usize),
}

#[derive(Debug)]
pub(crate) enum Msg {
    Client(Line),
    Server(Line),
    ClientClosed,
    ServerClosed,
}

/// Run the proxy between this process's stdio and `command`; the server's
/// exit status when it ends.
pub fn serve(
    mut proxy: Proxy<'_>,
    command: &[String],
    log: Option<Box<dyn Write>>,
    store: Option<Store>,
) -> Result<u8, String> {
    let mut child = spawn(command)?;
    let server_in = child.stdin.take();
    let server_out = child.stdout.take().ok_or("the server has no stdout")?;
    let (tx, inbox) = mpsc::channel();
    let server_tx = tx.clone();
    thread::spawn(move || {
        pump(
            BufReader::with_capacity(1 << 16, server_out),
            server_tx,
            Msg::Server,
            Msg::ServerClosed,
        )
    });
    // Not joined: a client that never closes stdin must not keep the proxy alive after the server is gone.
    thread::spawn(move || pump(io::stdin().lock(), tx, Msg::Client, Msg::ClientClosed));
    let (engine, secrets) = (proxy.engine, proxy.secrets);
    let failure = OnceLock::new();
    let ended = thread::scope(|s| {
        let records = store.map(|store| {
            let (tx, rx) = mpsc::channel();
            let failure = &failure;
            s.spawn(move || record_loop(store, rx, engine, secrets, failure));
            tx
        });
        let mut journal = Journal {
            log,
            records,
            secrets,
        };
        relay(
            &mut proxy,
            &inbox,
            &mut io::stdout().lock(),
            server_in,
            &mut journal,
            &failure,
        )
    });
    // A server that closed its output is on its way out; one that outlived the client's grace is not.
    let grace = if ended { GRACE } else { Duration::ZERO };
    finish(child, grace).map_err(|e| format!("waiting for the server: {e}"))
}

/// The relay loop, until the server's output ends (true) or the server
/// outlives the client by more than `GRACE` (false).
pub(crate) fn relay(
    proxy: &mut Proxy,
    inbox: &Receiver<Msg>,
    client: &mut impl Write,
    mut server: Option<impl Write>,
    journal: &mut Journal,
    store_failure: &OnceLock<String>,
) -> bool {
    let mut client_open = true;
    let mut closed_at: Option<Instant> = None;
    let mut failure_seen = false;
    loop {
        let msg = match closed_at {
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => inbox.recv_timeout(GRACE.saturating_sub(t.elapsed())),
        };
        let msg = match msg {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => return true,
        };
        if !failure_seen {
            if let Some(e) = store_failure.get() {
                failure_seen = true;
                let closed = proxy.guard_failed(e);
                journal.note(&format!(
                    "{e}; {}",
                    if closed {
                        "calls are refused from now on (fail closed)"
                    } else {
                        "calls go on unrecorded (fail open)"
                    }
                ));
            }
        }
        let (line, from_client) = match msg {
            Msg::Client(line) => (line, true),
            Msg::Server(line) => (line, false),
            Msg::ClientClosed => {
                // Closing its stdin is how the client's end reaches the server.
                server = None;
                closed_at.get_or_insert_with(Instant::now);
                continue;
            }
            Msg::ServerClosed => return true,
        };
        let line = match line {
            Line::Full(l) => l,
            Line::Oversized(n) => {
                journal.note(&format!(
                    "dropped a {n}-byte line from the {}: over the {MAX_LINE}-byte limit",
                    if from_client { "client" } else { "server" }
                ));
                continue;
            }
        };
        let out = if from_client {
            proxy.from_client(&line)
        } else {
            proxy.from_server(&line)
        };
        for n in &out.notes {
            journal.note(n);
        }
        for (event, verdict) in out.checked {
            journal.checked(event, verdict);
        }
        match out.send {
            Some((Peer::Server, bytes)) => {
                if let Some(w) = server.as_mut() {
                    if let Err(e) = w.write_all(&bytes).and_then(|()| w.flush()) {
                        journal.note(&format!("writing to the server: {e}"));
                        server = None;
                    }
                }
            }
            Some((Peer::Client, bytes)) if client_open => {
                let written = client.write_all(&bytes).and_then(|()| client.flush());
                if written.is_err() {
                    // The client is gone: let the server finish as if it had closed stdin.
                    client_open = false;
                    server = None;
                    closed_at.get_or_insert_with(Instant::now);
                }
            }
            _ => {}
        }
    }
}

/// Where verdicts and notes go.
pub(crate) struct Journal<'s> {
    pub(crate) log: Option<Box<dyn Write>>,
    pub(crate) records: Option<Sender<(Event, Verdict)>>,
    pub(crate) secrets: &'s Secrets,
}

impl Journal<'_> {
    fn note(&self, note: &str) {
        eprintln!("cordon mcp-proxy: {note}");
    }

    fn checked(&mut self, mut event: Event, mut verdict: Verdict) {
        event.ts = Some(format_ms(now_ms()));
        for f in &mut verdict.findings {
            f.evidence = self.secrets.redact(&f.evidence).0;
        }
        let kind = if event.kind == EventKind::Call {
            "tools/call"
        } else {
            "result of"
        };
        if verdict.decision != Decision::Allow || !verdict.findings.is_empty() {
            let id = event.id.as_ref().map(Value::to_string).unwrap_or_default();
            let kinds: Vec<String> = verdict
                .findings
                .iter()
                .map(|f| format!("{} ({}, {})", f.kind, f.severity.as_str(), f.rule))
                .collect();
            let decision = serde_json::to_value(verdict.decision)
                .ok()
                .and_then(|d| d.as_str().map(str::to_uppercase))
                .unwrap_or_default();
            self.note(&format!(
                "{decision} {kind} `{}` id {id}: {}",
                event.tool,
                kinds.join(", ")
            ));
        }
        if let Some(log) = self.log.as_mut() {
            let mut line = verdict.to_contract_json();
            line["type"] = json!(event.kind);
            line["tool"] = json!(event.tool);
            line["session"] = json!(event.session);
            line["ts"] = json!(event.ts);
            let written = serde_json::to_writer(&mut *log, &line)
                .map_err(io::Error::from)
                .and_then(|()| log.write_all(b"\n"))
                .and_then(|()| log.flush());
            if let Err(e) = written {
                self.note(&format!("--log: {e}; not logging any more"));
                self.log = None;
            }
        }
        if let Some(tx) = &self.records {
            let _ = tx.send((event, verdict));
        }
    }
}

/// Write records as they come, in batches of what is waiting (one durable
/// transaction each).
fn record_loop(
    mut store: Store,
    rx: Receiver<(Event, Verdict)>,
    engine: &Engine,
    secrets: &Secrets,
    failure: &OnceLock<String>,
) {
    while let Ok(first) = rx.recv() {
        let batch: Vec<Record> = std::iter::once(first)
            .chain(rx.try_iter())
            .map(|(e, v)| record(engine, secrets, e, v))
            .collect();
        if let Err(e) = store.record(&batch) {
            let _ = failure.set(format!("episode store: {e}"));
        }
    }
}

/// What the store keeps of a checked event: arguments and results redacted,
/// secrets as fingerprints (as `cordon check --store` keeps them).
fn record(engine: &Engine, secrets: &Secrets, event: Event, verdict: Verdict) -> Record {
    let mut found = Vec::new();
    let mut redact = |v: &Value| {
        let (r, hits) = secrets.redact_value(v);
        found.extend(
            hits.into_iter()
                .map(|h| (h.kind.to_string(), h.fingerprint)),
        );
        r.to_string()
    };
    let input = (event.kind == EventKind::Call).then(|| redact(&event.input));
    let output = event.output.as_ref().map(&mut redact);
    let capability =
        format!("{:?}", engine.policy().tools.capability(&event.tool)).to_ascii_lowercase();
    Record {
        line: None,
        event_id: event.id,
        session: event.session,
        agent: event.agent,
        task: event.task,
        kind: Some(event.kind),
        tool: Some(event.tool),
        capability: Some(capability),
        input,
        output,
        raw: None,
        ts: event.ts,
        verdict,
        secrets: found,
    }
}

/// Read lines from `r` into `tx` until it ends.
fn pump(mut r: impl BufRead, tx: Sender<Msg>, wrap: fn(Line) -> Msg, closed: Msg) {
    while let Ok(Some(line)) = read_line(&mut r, MAX_LINE) {
        if tx.send(wrap(line)).is_err() {
            return;
        }
    }
    let _ = tx.send(closed);
}

/// One line with its newline, or the size of a line longer than `cap`
/// (read and discarded). `None` at the end of input.
pub(crate) fn read_line(r: &mut impl BufRead, cap: usize) -> io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let mut dropped = 0usize;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        let (n, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if dropped == 0 && buf.len() + n <= cap {
            buf.extend_from_slice(&avail[..n]);
        } else {
            dropped += std::mem::take(&mut buf).len() + n;
        }
        r.consume(n);
        if done {
            break;
        }
    }
    Ok(match (dropped, buf.is_empty()) {
        (0, true) => None,
        (0, false) => Some(Line::Full(buf)),
        (n, _) => Some(Line::Oversized(n)),
    })
}

fn spawn(command: &[String]) -> Result<Child, String> {
    let (program, args) = command.split_first().ok_or("no server command")?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))
}

/// The server's exit status; a server still running after `grace` is killed.
fn finish(mut child: Child, grace: Duration) -> io::Result<u8> {
    drop(child.stdin.take());
    let deadline = Instant::now() + grace;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait()?;
        }
        thread::sleep(Duration::from_millis(5));
    };
    Ok(exit_code(status))
}

/// The status as a shell reports it: the exit code, or 128 + the signal.
fn exit_code(status: ExitStatus) -> u8 {
    #[cfg(unix)]
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return 128u8.saturating_add(sig as u8);
    }
    status.code().map_or(1, |c| c as u8)
}

/// `--repin`: connect to the server as a client, list its tools and pin
/// them as they are now, accepting changes. The server's name and how each
/// tool compared with its pin.
pub fn repin(command: &[String], pins: &mut Pins) -> Result<(String, Vec<(String, Pin)>), String> {
    let mut child = spawn(command)?;
    let mut input = child.stdin.take().ok_or("the server has no stdin")?;
    let output = child.stdout.take().ok_or("the server has no stdout")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || pump(BufReader::new(output), tx, Msg::Server, Msg::ServerClosed));
    let listed = list_tools(&mut input, &rx);
    drop(input);
    let _ = finish(child, GRACE);
    let (server, defs) = listed?;
    let server = server.unwrap_or_else(|| crate::default_server_name(command));
    let states = defs
        .iter()
        .map(|d| pins.accept(d).map(|p| (d.name.clone(), p)))
        .collect::<Result<_, _>>()?;
    Ok((server, states))
}

fn list_tools(
    input: &mut ChildStdin,
    rx: &Receiver<Msg>,
) -> Result<(Option<String>, Vec<ToolDef>), String> {
    const MAX_PAGES: u64 = 100;
    let client = json!({"name": "cordon", "version": env!("CARGO_PKG_VERSION")});
    let init = request(
        input,
        rx,
        1,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client}),
    )?;
    let server = init
        .pointer("/serverInfo/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(String::from);
    write_line(
        input,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )?;
    let mut defs = Vec::new();
    let mut cursor: Option<String> = None;
    for id in 2..2 + MAX_PAGES {
        let params = cursor
            .as_ref()
            .map_or_else(|| json!({}), |c| json!({"cursor": c}));
        let page = request(input, rx, id, "tools/list", params)?;
        defs.extend(parse_tool_defs(&page)?);
        cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(String::from);
        if cursor.is_none() {
            return Ok((server, defs));
        }
    }
    Err(format!(
        "tools/list goes on for more than {MAX_PAGES} pages"
    ))
}

/// Send a request and wait for its answer, answering what the server asks meanwhile.
fn request(
    input: &mut ChildStdin,
    rx: &Receiver<Msg>,
    id: u64,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    write_line(
        input,
        &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
    )?;
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let line = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Msg::Server(Line::Full(l))) => l,
            Ok(Msg::Server(Line::Oversized(_))) => continue,
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no answer to {method} in {}s",
                    REQUEST_TIMEOUT.as_secs()
                ))
            }
            _ => {
                return Err(format!(
                    "the server closed its output before answering {method}"
                ))
            }
        };
        let Ok(msg) = serde_json::from_slice::<Value>(line.trim_ascii()) else {
            continue;
        };
        match (msg.get("method"), msg.get("id")) {
            (None, Some(i)) if *i == json!(id) => {
                return msg.get("result").cloned().ok_or_else(|| {
                    format!(
                        "{method} failed: {}",
                        msg.get("error").unwrap_or(&Value::Null)
                    )
                });
            }
            // The server asks something of us (ping, roots/list): answer, so it does not wait.
            (Some(m), Some(i)) => {
                let reply = if m == "ping" {
                    json!({"jsonrpc": "2.0", "id": i, "result": {}})
                } else {
                    json!({"jsonrpc": "2.0", "id": i, "error": {"code": -32601, "message": "not supported by cordon mcp-proxy --repin"}})
                };
                write_line(input, &reply)?;
            }
            _ => {}
        }
    }
}

fn write_line(w: &mut impl Write, msg: &Value) -> Result<(), String> {
    let mut line = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
    line.push(b'\n');
    w.write_all(&line)
        .and_then(|()| w.flush())
        .map_err(|e| format!("writing to the server: {e}"))
}
