//! Differential check of the plain-list fast path against the parser on real
//! commands: `cargo run --release -p cordon-shell --example plain_diff -- FILE.jsonl...`
//! (JSONL events with `input.command`). Prints every command where they differ.

use cordon_shell::{analyze, Limits};

fn main() {
    let (mut n, mut differ) = (0, 0);
    for path in std::env::args().skip(1) {
        for line in std::fs::read_to_string(&path).expect("read").lines() {
            let Some(cmd) = line
                .split("\"command\": \"")
                .nth(1)
                .map(|_| ())
                .and_then(|_| {
                    let v: serde_json::Value = serde_json::from_str(line).ok()?;
                    v["input"]["command"].as_str().map(str::to_string)
                })
            else {
                continue;
            };
            n += 1;
            let fast = analyze(&cmd, &Limits::default());
            let slow = analyze(
                &cmd,
                &Limits {
                    plain_fast_path: false,
                    ..Limits::default()
                },
            );
            let key = |a: &cordon_shell::Analysis| {
                a.commands
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            c.argv.clone(),
                            c.span.0,
                            c.privileged,
                            c.stdin.clone(),
                            c.redirects.clone(),
                            c.code.clone(),
                            c.assignments.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            if key(&fast) != key(&slow) || fast.signals != slow.signals {
                differ += 1;
                println!(
                    "DIFF {cmd:?}\n  fast {:?}\n  slow {:?}",
                    key(&fast),
                    key(&slow)
                );
            }
        }
    }
    println!("{n} commands, {differ} differ");
}
