//! Patterns that span several calls of an episode: a file written by one
//! call and run by a later one, download → chmod → execute, recon → tunnel,
//! credentials read → sent outward.

use std::collections::HashMap;

use cordon_core::{Capability, Event, Finding, Severity, Verdict};
use cordon_engine::Engine;
use cordon_net::DestClass;
use serde_json::Value;

use crate::Episode;

/// Most files remembered per episode, and the largest kept.
const MAX_FILES: usize = 256;
const MAX_FILE_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub(crate) struct Steps {
    /// Files written with known content, by path, with the writing call.
    files: HashMap<String, (String, Value)>,
    /// Files downloaded from a destination the egress policy does not allow, with the call and URL.
    downloads: HashMap<String, (Value, String)>,
    /// Files made executable, with the call.
    chmods: HashMap<String, Value>,
    recon: Option<Value>,
    creds: Option<Value>,
}

const FETCHERS: &[&str] = &[
    "curl", "wget", "aria2c", "fetch", "axel", "http", "xh", "scp", "rsync", "ftp", "tftp",
];
const RUNNERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "source", ".", "python", "python3", "perl", "ruby", "node",
    "php",
];

pub(crate) fn call(
    ep: &mut Episode,
    engine: &Engine,
    event: &Event,
    verdict: &Verdict,
    id: &Value,
    out: &mut Vec<Finding>,
) {
    let steps = &mut ep.seq;
    let cap = engine.policy().tools.capability(&event.tool);
    let kinds: Vec<&str> = verdict.findings.iter().map(|f| f.kind.as_str()).collect();
    if cap == Capability::FileWrite {
        let input = &event.input;
        let path = [
            "file_path",
            "path",
            "filepath",
            "filename",
            "file",
            "target_file",
            "absolute_path",
        ]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str));
        let content = ["content", "file_text", "text", "contents"]
            .iter()
            .find_map(|k| input.get(*k).and_then(Value::as_str));
        if let (Some(p), Some(c)) = (path, content) {
            remember(steps, p, c, id);
        }
    }
    if cap == Capability::Shell {
        if let Some(cmd) = cordon_engine::shell_text(&event.input) {
            shell(steps, engine, event, verdict, &cmd, id, out);
        }
    }
    // Recon, then a tunnel: the tunnel is the next step of the same intrusion.
    if kinds.contains(&"REVERSE_TUNNEL") || kinds.contains(&"REVERSE_SHELL") {
        if let Some(r) = &steps.recon {
            out.push(seq_finding("seq.recon-then-tunnel", Severity::Critical, "ATTACK_SEQUENCE", vec![r.clone()], "network reconnaissance earlier in this episode, now a tunnel or remote shell: the sequence ROME ran", vec!["T1046", "T1572"]));
        }
    }
    if kinds.contains(&"NETWORK_RECON") {
        steps.recon.get_or_insert(id.clone());
    }
    if kinds.contains(&"CREDENTIAL_ACCESS") {
        steps.creds.get_or_insert(id.clone());
    }
}

fn remember(steps: &mut Steps, path: &str, content: &str, id: &Value) {
    if steps.files.len() < MAX_FILES && content.len() <= MAX_FILE_BYTES {
        steps.files.insert(
            cordon_shell::file_key(path),
            (content.to_string(), id.clone()),
        );
    }
}

fn shell(
    steps: &mut Steps,
    engine: &Engine,
    event: &Event,
    verdict: &Verdict,
    cmd: &str,
    id: &Value,
    out: &mut Vec<Finding>,
) {
    // A file an earlier call wrote, run now: check the call with its content.
    let runs_written: Vec<(String, Value)> = steps
        .files
        .iter()
        .filter(|(p, _)| mentions(cmd, p))
        .map(|(p, (_, w))| (p.clone(), w.clone()))
        .collect();
    if !runs_written.is_empty() {
        let files: HashMap<String, String> = steps
            .files
            .iter()
            .map(|(p, (c, _))| (p.clone(), c.clone()))
            .collect();
        let with = engine.check_with_files(event, Some(&files));
        for mut f in with.findings {
            if verdict.findings.iter().any(|g| g.rule == f.rule)
                || out.iter().any(|g| g.rule == f.rule)
            {
                continue;
            }
            let names: Vec<&str> = runs_written.iter().map(|(p, _)| p.as_str()).collect();
            f.message = format!(
                "{} (in {}, written by an earlier call)",
                f.message,
                names.join(", ")
            );
            f.related = runs_written.iter().map(|(_, w)| w.clone()).collect();
            out.push(f);
        }
    }
    let analysis = cordon_shell::analyze(cmd, &cordon_shell::Limits::default());
    for (path, content) in &analysis.files {
        remember(steps, path, content, id);
    }
    for c in &analysis.commands {
        let args = c.args();
        if FETCHERS.contains(&c.name.as_str()) {
            // The source is the URL (or `host:path` for scp/rsync), not an output name like `install.sh`.
            let url = args
                .iter()
                .find(|a| a.contains("://"))
                .or_else(|| args.iter().find(|a| !a.starts_with('-') && a.contains(':')));
            let outside = url
                .into_iter()
                .flat_map(|a| cordon_net::extract(a, true))
                .find(|d| d.class == DestClass::Public && !engine.egress().allows(d));
            if let (Some(url), Some(_)) = (url, outside) {
                for target in download_targets(c, url) {
                    steps
                        .downloads
                        .insert(cordon_shell::file_key(&target), (id.clone(), url.clone()));
                }
            }
        }
        if c.name == "chmod"
            && args.iter().any(|a| {
                a.contains('x')
                    || a.chars()
                        .next()
                        .is_some_and(|d| matches!(d, '1' | '3' | '5' | '7'))
            })
        {
            for a in args
                .iter()
                .filter(|a| !a.starts_with(['-', '+']) && !a.chars().all(|ch| ch.is_ascii_digit()))
            {
                steps.chmods.insert(cordon_shell::file_key(a), id.clone());
            }
        }
        // What this command runs: a path as the program, or a script given to a shell or interpreter.
        let mut ran: Vec<&str> = Vec::new();
        if c.argv.first().is_some_and(|a| a.contains('/')) {
            ran.push(&c.argv[0]);
        }
        if RUNNERS.contains(&c.name.as_str()) {
            if let Some(script) = args.iter().find(|a| !a.starts_with('-')) {
                ran.push(script);
            }
        }
        for r in ran {
            let key = cordon_shell::file_key(r);
            let Some((dl, url)) = steps.downloads.get(&key) else {
                continue;
            };
            if dl == id {
                continue; // the same call: the stateless check sees it whole
            }
            let mut related = vec![dl.clone()];
            related.extend(steps.chmods.get(&key).cloned());
            out.push(seq_finding(
                "seq.download-chmod-execute",
                Severity::High,
                "DOWNLOAD_EXECUTE",
                related,
                &format!("{key} was downloaded from {url} (outside the egress allowlist) by an earlier call and is run now"),
                vec!["T1105", "T1204"],
            ));
        }
    }
    // Credentials read earlier, now a connection outside the allowlist.
    if let Some(c) = &steps.creds {
        if c != id {
            let outside = analysis
                .commands
                .iter()
                .flat_map(|c| c.args().iter())
                .flat_map(|a| cordon_net::extract(a, false))
                .find(|d| d.class == DestClass::Public && !engine.egress().allows(d));
            if let Some(d) = outside {
                out.push(seq_finding(
                    "seq.credentials-then-egress",
                    Severity::High,
                    "DATA_EXFIL_SEQUENCE",
                    vec![c.clone()],
                    &format!("credentials were read earlier in this episode, now a connection to {} outside the egress allowlist", d.host),
                    vec!["T1552", "T1041"],
                ));
            }
        }
    }
}

/// Where a fetcher writes: `-o FILE`, `-O FILE` (wget), `--output FILE`, a
/// `> FILE` redirect, or curl's `-O` (the URL's last path segment).
fn download_targets(c: &cordon_shell::Command, url: &str) -> Vec<String> {
    let args = c.args();
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let next = args.get(i + 1);
        match a.as_str() {
            "-o" | "--output" | "--output-document" => out.extend(next.cloned()),
            "-O" if c.name == "wget" => out.extend(next.cloned()),
            "-O" | "--remote-name" => out.extend(url.rsplit('/').next().map(str::to_string)),
            _ => {}
        }
    }
    out.extend(
        c.redirects
            .iter()
            .filter(|r| matches!(r.op, cordon_shell::RedirectOp::Write))
            .map(|r| r.target.clone()),
    );
    if c.name == "wget" && out.is_empty() {
        out.extend(
            url.rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    out
}

/// Does the command text name this path (as written, or its file name after a `/`)?
fn mentions(cmd: &str, path: &str) -> bool {
    if cmd.contains(path) {
        return true;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    name.len() >= 3
        && cmd
            .match_indices(name)
            .any(|(i, _)| i > 0 && cmd.as_bytes()[i - 1] == b'/')
}

fn seq_finding(
    rule: &str,
    severity: Severity,
    kind: &str,
    related: Vec<Value>,
    message: &str,
    attack: Vec<&str>,
) -> Finding {
    Finding {
        kind: kind.into(),
        severity,
        confidence: 0.85,
        rule: rule.into(),
        attack: attack.into_iter().map(String::from).collect(),
        evidence: message.chars().take(160).collect(),
        span: [0, 0],
        message: message.into(),
        related,
    }
}
