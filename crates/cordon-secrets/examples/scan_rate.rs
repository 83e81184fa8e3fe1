//! Scan rate of `Secrets::scan` on ordinary development text, and every hit in it (there should be next to none).
//!
//! `cargo run --release -p cordon-secrets --example scan_rate [FILE.jsonl ...]`: each line's `input.command`
//! (default: the dev corpus's benign and hard-negative files) is scanned once for the hits, then all of them
//! repeatedly for the rate.
use std::time::{Duration, Instant};

use cordon_secrets::Secrets;

fn main() {
    let mut files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        files = ["benign.jsonl", "hard_negatives.jsonl"]
            .map(|f| format!("/work/shared/corpus/dev/{f}"))
            .to_vec();
    }
    let mut commands = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{file}: {e}"));
            if let Some(c) = v["input"]["command"].as_str() {
                commands.push((v["id"].as_str().unwrap_or("?").to_owned(), c.to_owned()));
            }
        }
    }
    let secrets = Secrets::new([7; 32]);
    let mut hits = 0;
    for (id, command) in &commands {
        for h in secrets.scan(command) {
            hits += 1;
            let (s, e) = h.span;
            let before =
                &command[cordon_core::floor_char_boundary(command, s.saturating_sub(40))..s];
            let after = &command[e..cordon_core::floor_char_boundary(command, e + 20)];
            println!(
                "{id}\t{}\t{before:?} [[{}]] {after:?}",
                h.kind,
                &command[s..e]
            );
        }
    }
    let bytes: usize = commands.iter().map(|(_, c)| c.len()).sum();
    let (mut scanned, start) = (0usize, Instant::now());
    while start.elapsed() < Duration::from_secs(2) {
        for (_, c) in &commands {
            std::hint::black_box(secrets.scan(c));
        }
        scanned += bytes;
    }
    let rate = scanned as f64 / 1e6 / start.elapsed().as_secs_f64();
    println!(
        "{} commands, {hits} hits; {:.1} MB of commands, scanned at {rate:.0} MB/s",
        commands.len(),
        bytes as f64 / 1e6
    );
}
