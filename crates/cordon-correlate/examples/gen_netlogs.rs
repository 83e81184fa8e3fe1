//! Generate test data with ground truth, or bulk lines for throughput measurements.
//!
//! ```sh
//! cargo run -p cordon-correlate --example gen_netlogs -- DIR [--canary MARKER] [--episodes N] [--skew-ms MS]
//! cargo run --release -p cordon-correlate --example gen_netlogs -- --bulk zeek 10000000 /tmp/conn.log
//! ```
//! DIR gets episodes.jsonl (contract events), hosts.toml, one file per log format, truth.jsonl
//! (file, line, session, call of every generated line) and ingest-args.txt (extra `cordon ingest`
//! arguments per file).
use std::io::Write;

use cordon_correlate::gen::{bulk, generate, Params};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--bulk") {
        let (Some(format), Some(n), Some(path)) = (
            args.get(1),
            args.get(2).and_then(|n| n.parse().ok()),
            args.get(3),
        ) else {
            eprintln!("usage: gen_netlogs --bulk FORMAT N FILE");
            std::process::exit(2);
        };
        let mut out = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).expect("create"),
        );
        bulk(format, n, |l| out.write_all(l.as_bytes()).expect("write")).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
        out.flush().expect("flush");
        return;
    }
    let Some(dir) = args.first() else {
        eprintln!("usage: gen_netlogs DIR [--canary MARKER] [--episodes N] [--skew-ms MS]");
        std::process::exit(2);
    };
    let mut p = Params::default();
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--canary" => p.canary = Some(args[i + 1].clone()),
            "--episodes" => p.episodes_per_host = args[i + 1].parse().expect("a number"),
            "--skew-ms" => p.skew_us = args[i + 1].parse::<i64>().expect("a number") * 1000,
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    let g = generate(&p);
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("episodes.jsonl"), &g.episodes).expect("write");
    std::fs::write(dir.join("hosts.toml"), &g.hosts).expect("write");
    let mut args_txt = String::new();
    for (name, text, extra) in &g.files {
        std::fs::write(dir.join(name), text).expect("write");
        args_txt.push_str(&format!("{name} {}\n", extra.join(" ")));
    }
    std::fs::write(dir.join("ingest-args.txt"), args_txt).expect("write");
    let truth: String = g
        .truth
        .iter()
        .map(|t| serde_json::json!({"file": t.file, "line": t.line, "session": t.session, "call": t.call, "violation": t.violation}).to_string() + "\n")
        .collect();
    std::fs::write(dir.join("truth.jsonl"), truth).expect("write");
    eprintln!(
        "wrote {} log lines with ground truth in {} files to {}",
        g.truth.len(),
        g.files.len(),
        dir.display()
    );
}
