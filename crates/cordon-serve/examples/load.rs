//! Open-loop load on a running `cordon serve`: N keep-alive connections
//! sending one typical call each at a fixed total rate for a fixed time.
//! Latency is measured from sending a request to reading its whole answer.
//! Tokio's timer has millisecond resolution, so timing from when a request
//! was due would mostly measure the timer; instead, a send that starts more
//! than 2 ms after it was due is counted as late, which is how a stalled
//! server shows up (the rate is kept: late requests are sent at once).
//! With --pid, the server's resident memory is sampled every 5 s.
//!
//!   cargo run --release -p cordon-serve --example load -- \
//!       --addr 127.0.0.1:7878 --token T --rate 5000 --conns 16 --secs 60 --pid PID

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const BODY: &str = r#"{"tool":"bash","input":{"command":"ls -la"}}"#;

struct Args {
    addr: String,
    token: Option<String>,
    rate: f64,
    conns: usize,
    secs: u64,
    pid: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:7878".into(),
        token: None,
        rate: 5000.0,
        conns: 16,
        secs: 60,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = value,
            "--token" => a.token = Some(value),
            "--rate" => a.rate = number(&flag, &value),
            "--conns" => a.conns = number(&flag, &value),
            "--secs" => a.secs = number(&flag, &value),
            "--pid" => a.pid = Some(number(&flag, &value)),
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| panic!("bad value for {flag}: {value}"))
}

#[derive(Default)]
struct Tally {
    /// Of the answered requests, µs.
    latencies: Vec<u32>,
    errors: u64,
    late: u64,
}

async fn connection(
    addr: String,
    request: String,
    period: Duration,
    offset: Duration,
    until: Instant,
) -> Tally {
    let mut conn = BufReader::new(
        TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}")),
    );
    conn.get_ref().set_nodelay(true).expect("nodelay");
    let mut tally = Tally::default();
    let mut due = Instant::now() + offset;
    let mut line = String::new();
    let mut body = Vec::new();
    while due < until {
        tokio::time::sleep_until(due.into()).await;
        let sent = Instant::now();
        if sent - due > Duration::from_millis(2) {
            tally.late += 1;
        }
        conn.get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        line.clear();
        conn.read_line(&mut line).await.expect("status line");
        let ok = line.split(' ').nth(1) == Some("200");
        let mut len = 0;
        loop {
            line.clear();
            conn.read_line(&mut line).await.expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().expect("content-length");
                }
            }
        }
        body.resize(len, 0);
        conn.read_exact(&mut body).await.expect("body");
        if ok && body.starts_with(br#"{"#) {
            tally
                .latencies
                .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
        } else {
            tally.errors += 1;
        }
        due += period;
    }
    tally
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    let auth = a
        .token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /v1/check HTTP/1.1\r\nHost: cordon\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let period = Duration::from_secs_f64(a.conns as f64 / a.rate);
    let start = Instant::now();
    let until = start + Duration::from_secs(a.secs);
    if let Some(pid) = a.pid {
        tokio::spawn(async move {
            while Instant::now() < until {
                println!(
                    "t={:>4}s rss={} KiB",
                    start.elapsed().as_secs(),
                    rss_kib(pid).unwrap_or(0)
                );
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }
    // Connections start staggered across one period, so requests are evenly spread.
    let tasks: Vec<_> = (0..a.conns)
        .map(|i| {
            tokio::spawn(connection(
                a.addr.clone(),
                request.clone(),
                period,
                period * i as u32 / a.conns as u32,
                until,
            ))
        })
        .collect();
    let mut all = Vec::new();
    let (mut errors, mut late) = (0, 0);
    for t in tasks {
        let t = t.await.expect("connection task");
        all.extend(t.latencies);
        errors += t.errors;
        late += t.late;
    }
    let took = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{} requests in {took:.1} s ({:.0}/s), {errors} errors, {late} sent >2 ms late; latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
        all.len(),
        all.len() as f64 / took,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        all.last().copied().unwrap_or(0)
    );
    if let Some(pid) = a.pid {
        println!("final rss={} KiB", rss_kib(pid).unwrap_or(0));
    }
}
