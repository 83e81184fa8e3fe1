//! Prometheus text exposition, kept by hand: a few counters and one histogram.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use cordon_core::{Decision, Verdict};

use crate::AppState;

/// Upper bounds of the check latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// allow, warn, block, error.
    verdicts: [AtomicU64; 4],
    findings: Mutex<BTreeMap<String, u64>>,
    /// One more than BUCKETS: the last is +Inf.
    latency: [AtomicU64; 13],
    latency_sum_ns: AtomicU64,
}

impl Metrics {
    pub(crate) fn request(&self, route: String, status: u16) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route, status))
            .or_default() += 1;
    }

    pub(crate) fn verdict(&self, v: &Verdict, took: Duration) {
        let i = match v.decision {
            Decision::Allow => 0,
            Decision::Warn => 1,
            Decision::Block => 2,
            Decision::Error => 3,
        };
        self.verdicts[i].fetch_add(1, Ordering::Relaxed);
        if !v.findings.is_empty() {
            let mut kinds = self.findings.lock().unwrap_or_else(|e| e.into_inner());
            for f in &v.findings {
                *kinds.entry(f.kind.clone()).or_default() += 1;
            }
        }
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP cordon_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE cordon_http_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "cordon_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP cordon_verdicts_total Verdicts produced, by decision.\n");
        out.push_str("# TYPE cordon_verdicts_total counter\n");
        for (name, n) in ["allow", "warn", "block", "error"]
            .iter()
            .zip(&self.verdicts)
        {
            let _ = writeln!(
                out,
                "cordon_verdicts_total{{decision=\"{name}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP cordon_findings_total Findings produced, by kind.\n");
        out.push_str("# TYPE cordon_findings_total counter\n");
        for (kind, n) in self
            .findings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "cordon_findings_total{{kind=\"{}\"}} {n}",
                escape(kind)
            );
        }
        out.push_str("# HELP cordon_check_duration_seconds Time to check one event, store commit included.\n");
        out.push_str("# TYPE cordon_check_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, n) in self.latency.iter().enumerate() {
            cumulative += n.load(Ordering::Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "cordon_check_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "cordon_check_duration_seconds_sum {sum}");
        let _ = writeln!(out, "cordon_check_duration_seconds_count {cumulative}");
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) async fn render(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.inner.metrics.text(),
    )
}
