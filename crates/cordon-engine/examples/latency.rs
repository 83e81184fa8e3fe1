//! Per-call latency distribution over real commands, in process.
//!
//!   cargo run --release -p cordon-engine --example latency -- ../shared/corpus/dev/*.jsonl
//!
//! Reads events from the JSONL files given (nothing is bundled), keeps shell
//! calls up to 1 KB, checks each one many times and reports p50/p99/max of
//! the per-call time, next to a baseline measured in the same run: parsing
//! the same event line from JSON, which any consumer of the event must do.

use std::time::Instant;

// The allocator the `cordon` binary ships with (crates/cordon-cli), so the
// figures are the ones its engine runs at.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cordon_core::{Event, Policy};
use cordon_engine::Engine;

fn percentile(sorted: &[u128], p: f64) -> u128 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let engine = Engine::new(Policy::default()).expect("default policy");
    let mut lines = Vec::new();
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for line in text.lines() {
            let Ok(ev) = Event::from_json_line(line) else {
                continue;
            };
            let Some(cmd) = cordon_engine::shell_text(&ev.input) else {
                continue;
            };
            if cmd.len() <= 1024 {
                lines.push((line.to_string(), ev));
            }
        }
    }
    assert!(
        !lines.is_empty(),
        "give JSONL corpus files with shell calls"
    );
    // One warm-up round: regexes compile lazily on first use.
    for (_, ev) in &lines {
        std::hint::black_box(engine.check(ev));
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (mut check, mut base) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (line, ev) in &lines {
            let t0 = Instant::now();
            std::hint::black_box(engine.check(std::hint::black_box(ev)));
            check.push(t0.elapsed().as_nanos());
            let t0 = Instant::now();
            std::hint::black_box(Event::from_json_line(std::hint::black_box(line)).ok());
            base.push(t0.elapsed().as_nanos());
        }
    }
    if std::env::var_os("SLOWEST").is_some() {
        let mut per: Vec<(u128, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, (l, _))| (check[i], l.as_str()))
            .collect();
        per.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        for (t, l) in per.iter().take(12) {
            println!("{:>8.1} us  {}", *t as f64 / 1e3, &l[..l.len().min(160)]);
        }
    }
    // Per command, the median of its rounds: one number per call that a
    // preempted round cannot move (criterion reports per-benchmark medians the same way).
    let n = lines.len();
    let mut per_cmd: Vec<(u128, usize)> = (0..n)
        .map(|i| {
            let mut v: Vec<u128> = (0..rounds).map(|r| check[r * n + i]).collect();
            v.sort_unstable();
            (v[rounds / 2], i)
        })
        .collect();
    per_cmd.sort_unstable();
    // The tail to profile, as JSONL: the slowest 2% of commands (SLOWEST_PER=50)
    // by the median of their rounds, after the SLOWEST_SKIP slowest of all
    // (to profile the band around the p99 rather than its far end).
    if let Some(out) = std::env::var_os("SLOWEST_OUT") {
        let env = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let (frac, skip) = (env("SLOWEST_PER", 50), env("SLOWEST_SKIP", 0));
        let tail: Vec<&str> = per_cmd
            .iter()
            .rev()
            .skip(skip)
            .take(n / frac)
            .map(|(_, i)| lines[*i].0.as_str())
            .collect();
        std::fs::write(out, tail.join("\n") + "\n").expect("write SLOWEST_OUT");
    }
    // SLOWEST_MEDIAN=N: print the N slowest commands (40 when N is not a number).
    if let Some(count) = std::env::var_os("SLOWEST_MEDIAN") {
        let count = count.to_str().and_then(|c| c.parse().ok()).unwrap_or(40);
        for (t, i) in per_cmd.iter().rev().take(count) {
            let l = &lines[*i].0;
            println!(
                "{:>8.1} us {:>5} B  {}",
                *t as f64 / 1e3,
                l.len(),
                &l[..l.len().min(140)]
            );
        }
    }
    let med: Vec<u128> = per_cmd.iter().map(|(t, _)| *t).collect();
    for bar_us in [10u128, 20, 50] {
        let over = med.iter().filter(|t| **t > bar_us * 1000).count();
        println!(
            "commands over {bar_us} us (median of rounds): {over} of {n} ({:.2}%)",
            over as f64 * 100.0 / n as f64
        );
    }
    check.sort_unstable();
    base.sort_unstable();
    let (c50, c99, cmax) = (
        percentile(&check, 0.5),
        percentile(&check, 0.99),
        *check.last().unwrap(),
    );
    let (b50, b99) = (percentile(&base, 0.5), percentile(&base, 0.99));
    println!("{} shell calls <= 1 KB, {} rounds", lines.len(), rounds);
    println!(
        "check:          p50 {:>7.2} us  p99 {:>7.2} us  max {:>8.2} us",
        c50 as f64 / 1e3,
        c99 as f64 / 1e3,
        cmax as f64 / 1e3
    );
    println!(
        "per command (median of its rounds): p50 {:>7.2} us  p99 {:>7.2} us  max {:>8.2} us",
        percentile(&med, 0.5) as f64 / 1e3,
        percentile(&med, 0.99) as f64 / 1e3,
        *med.last().unwrap() as f64 / 1e3
    );
    println!(
        "baseline (JSON): p50 {:>7.2} us  p99 {:>7.2} us",
        b50 as f64 / 1e3,
        b99 as f64 / 1e3
    );
    println!(
        "ratio check/baseline: p50 {:.1}x  p99 {:.1}x",
        c50 as f64 / b50 as f64,
        c99 as f64 / b99 as f64
    );
}
