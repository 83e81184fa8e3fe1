//! Network events attributed to the agent episodes and tool calls that were running when and where
//! they happened: what found ROME's reverse tunnels and miners, done by a program instead of by hand.
//!
//! Pure logic, no I/O: the caller gives episodes (tool-call windows), network records and a
//! [`Config`]; [`correlate`] returns a [`Report`] (table via [`Report::table`], JSON via serde,
//! SVG via [`svg::timeline`]).
//!
//! - **Where**: a record belongs to a host by its `host` (syslog host, sensor, instance, ENI,
//!   network namespace) or its source (else destination) address, per the [`hosts::HostMap`];
//!   without a map everything is one host. Sandbox records that name their session and call are
//!   attributed directly (confidence 1).
//! - **When**: each log source (file) has its own clock. Its skew against the episode clock is
//!   estimated as the offset, within ±`skew_bound`, that puts the most of its (allowed) records
//!   inside tool-call windows on their hosts (an exact sweep over offsets; the middle of the best
//!   plateau), or given.
//! - **Confidence**: inside a call window scores 1, outside it falls linearly to 0 at `window`
//!   away (times 0.6); times the weight of the host tie; times the best candidate's share among
//!   all candidates.
//! - **Significance**: do violations (blocked or alert records) fall inside tool-execution
//!   windows more than the windows' share of time gives? Exact Poisson-binomial tail with each
//!   host's duty cycle, and a circular-shift permutation test that keeps bursts together.

use std::collections::{BTreeMap, HashMap};

use cordon_core::NetRecord;
use serde::Serialize;

pub mod gen;
pub mod hosts;
pub mod stats;
pub mod svg;

pub use hosts::{HostMap, HostMatch};

/// One tool call: from its call to its result (or an assumed duration).
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub id: String,
    pub tool: String,
    /// The command, URL or path, shortened.
    pub summary: String,
    pub start_us: i64,
    pub end_us: i64,
    /// Whether `end_us` comes from a result (else assumed).
    pub has_result: bool,
    /// The verdict on the call (`allow`, `warn`, `block`) and its finding kinds.
    pub decision: String,
    pub findings: Vec<String>,
}

/// One episode: an agent's run on a task.
#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    pub session: String,
    pub agent: Option<String>,
    pub task: Option<String>,
    pub start_us: i64,
    pub end_us: i64,
    pub calls: Vec<Call>,
}

/// How the skew is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Skew {
    /// Estimated per log source within ± this many µs.
    Auto { bound_us: i64 },
    /// Given: record time minus this is episode time.
    Fixed(i64),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// How far outside a call window (after skew) a record may still be attributed to it.
    pub window_us: i64,
    pub skew: Skew,
    /// Permutations for the circular-shift test.
    pub shifts: usize,
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window_us: 5_000_000,
            skew: Skew::Auto {
                bound_us: 60_000_000,
            },
            shifts: 9_999,
            seed: 0x636f_72646f6e,
        }
    }
}

/// The host lane name used when there is no mapping.
pub const ALL_HOSTS: &str = "(all)";
/// The lane of records and episodes no host of the mapping claims.
pub const UNMAPPED: &str = "(unmapped)";

#[derive(Debug, Clone, Serialize)]
pub struct SkewEstimate {
    /// The log source: the file the records came from (else their format).
    pub clock: String,
    /// Record time minus episode time, in ms.
    pub skew_ms: f64,
    /// `auto`, `fixed`, `direct` (sandbox records: the episode clock), or `auto (too few records: 0)`.
    pub method: String,
    pub records: usize,
    /// Records inside call windows at this skew (auto).
    pub aligned: usize,
}

/// One record's attribution.
#[derive(Debug, Clone, Serialize)]
pub struct Attribution {
    /// Index into the records given.
    pub record: usize,
    pub origin: Option<String>,
    pub line: Option<u64>,
    pub source: String,
    pub kind: String,
    /// Record time, and the time on the episode clock (after skew), Unix µs.
    pub ts_us: i64,
    pub adjusted_us: i64,
    pub host: String,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub dport: Option<u16>,
    pub proto: Option<String>,
    pub action: Option<String>,
    pub session: String,
    pub agent: Option<String>,
    /// The call, when the record falls near one.
    pub call_id: Option<String>,
    pub tool: Option<String>,
    pub confidence: f64,
    /// How the host was told (`host name`, `source address`, `sandbox record`, ...).
    pub by: String,
    pub inside_call: bool,
    /// How many calls or episodes were in the running.
    pub candidates: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    pub id: String,
    pub tool: String,
    pub summary: String,
    pub start_us: i64,
    pub end_us: i64,
    pub decision: String,
    pub findings: Vec<String>,
    pub net_events: usize,
    pub violations: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EpisodeReport {
    pub session: String,
    pub agent: Option<String>,
    pub task: Option<String>,
    pub host: String,
    pub start_us: i64,
    pub end_us: i64,
    pub net_events: usize,
    pub violations: usize,
    pub canaries: usize,
    /// Destinations contacted, most frequent first (`addr:port`, count), at most 10.
    pub destinations: Vec<(String, usize)>,
    pub calls: Vec<CallReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentReport {
    pub agent: String,
    pub episodes: usize,
    pub net_events: usize,
    pub violations: usize,
    pub canaries: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub name: String,
    pub episodes: usize,
    pub records: usize,
    pub violations: usize,
    /// Share of the host's observed time inside tool-call windows.
    pub duty_fraction: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Significance {
    /// Violations on hosts with episodes.
    pub violations: usize,
    /// Of them, inside a tool-call window (after skew).
    pub inside: usize,
    /// The windows' share of the observed time (weighted over the violations' hosts).
    pub duty_fraction: f64,
    pub expected_inside: f64,
    /// Exact Poisson-binomial upper tail.
    pub p_value: f64,
    /// Circular-shift test: shifts at least as extreme, and shifts run.
    pub shift_extreme: usize,
    pub shifts: usize,
    pub shift_p: f64,
    /// The sentence a person reads.
    pub line: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    pub record: usize,
    pub canary: String,
    pub canary_kind: String,
    pub planted: String,
    pub evidence: String,
    pub ts_us: i64,
    pub host: Option<String>,
    pub origin: Option<String>,
    pub line: Option<u64>,
    pub session: Option<String>,
    pub call_id: Option<String>,
    pub finding: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where hosts came from, or that there was no mapping.
    pub hosts_note: String,
    pub window_ms: f64,
    pub skew: Vec<SkewEstimate>,
    pub records: usize,
    pub attributed: usize,
    pub unattributed: usize,
    pub hosts: Vec<HostReport>,
    pub episodes: Vec<EpisodeReport>,
    pub agents: Vec<AgentReport>,
    pub significance: Option<Significance>,
    pub canaries: Vec<CanaryReport>,
    pub attributions: Vec<Attribution>,
    /// Records with no attribution, for the timeline: (record index, host lane, adjusted time).
    #[serde(skip)]
    pub background: Vec<(usize, String, i64, bool)>,
}

fn is_violation(r: &NetRecord) -> bool {
    matches!(r.action.as_deref(), Some("blocked" | "alert"))
}

fn clock_of(r: &NetRecord) -> String {
    r.origin.clone().unwrap_or_else(|| r.source.clone())
}

/// A record's time precision: whole-second stamps (VPC flow logs, BSD syslog) cover a second.
fn width_of(r: &NetRecord) -> i64 {
    if r.ts_us % 1_000_000 == 0 {
        999_999
    } else {
        0
    }
}

/// A call window on a host.
#[derive(Clone, Copy)]
struct Win {
    start: i64,
    end: i64,
    episode: usize,
    call: usize,
}

struct HostIndex {
    name: String,
    /// Call windows sorted by start.
    wins: Vec<Win>,
    max_len: i64,
    episodes: Vec<usize>,
    merged: Vec<(i64, i64)>,
}

impl HostIndex {
    /// Windows overlapping [a, b].
    fn around(&self, a: i64, b: i64) -> impl Iterator<Item = &Win> {
        let hi = self.wins.partition_point(|w| w.start <= b);
        let lo = self.wins[..hi].partition_point(|w| w.start < a - self.max_len);
        self.wins[lo..hi].iter().filter(move |w| w.end >= a)
    }
}

/// Attribute `records` to `episodes`.
pub fn correlate(
    episodes: &[Episode],
    records: &[NetRecord],
    map: Option<&HostMap>,
    hosts_note: &str,
    cfg: &Config,
) -> Report {
    // Hosts: the mapping's, or one for all; plus one for what the mapping does not claim.
    let mut host_names: Vec<String> = match map {
        Some(m) => m.hosts.iter().map(|h| h.name.clone()).collect(),
        None => vec![ALL_HOSTS.to_owned()],
    };
    let unmapped = host_names.len();
    host_names.push(UNMAPPED.to_owned());
    let episode_host: Vec<usize> = episodes
        .iter()
        .map(|e| match map {
            Some(m) => m
                .episode_host(&e.session, e.agent.as_deref())
                .unwrap_or(unmapped),
            None => 0,
        })
        .collect();
    let mut index: Vec<HostIndex> = host_names
        .iter()
        .map(|n| HostIndex {
            name: n.clone(),
            wins: Vec::new(),
            max_len: 0,
            episodes: Vec::new(),
            merged: Vec::new(),
        })
        .collect();
    for (ei, e) in episodes.iter().enumerate() {
        let h = &mut index[episode_host[ei]];
        h.episodes.push(ei);
        for (ci, c) in e.calls.iter().enumerate() {
            let end = c.end_us.max(c.start_us);
            h.wins.push(Win {
                start: c.start_us,
                end,
                episode: ei,
                call: ci,
            });
            h.max_len = h.max_len.max(end - c.start_us);
        }
    }
    for h in &mut index {
        h.wins.sort_by_key(|w| (w.start, w.end));
        h.merged = stats::merge(h.wins.iter().map(|w| (w.start, w.end)).collect());
    }
    let session_index: HashMap<&str, usize> = episodes
        .iter()
        .enumerate()
        .map(|(i, e)| (e.session.as_str(), i))
        .collect();

    // Each record's host.
    let rec_host: Vec<Option<(usize, HostMatch)>> = records
        .iter()
        .map(|r| match map {
            Some(m) => m.record_host(r.host.as_deref(), r.src.as_deref(), r.dst.as_deref()),
            None => Some((0, HostMatch::Single)),
        })
        .collect();

    // Skew per clock.
    let mut clocks: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if r.session.is_some() || r.kind == "canary" {
            continue;
        }
        clocks.entry(clock_of(r)).or_default().push(i);
    }
    let mut skew_of: HashMap<String, i64> = HashMap::new();
    let mut skews = Vec::new();
    for (clock, idx) in &clocks {
        let est = match cfg.skew {
            Skew::Fixed(s) => SkewEstimate {
                clock: clock.clone(),
                skew_ms: s as f64 / 1000.0,
                method: "fixed".into(),
                records: idx.len(),
                aligned: 0,
            },
            Skew::Auto { bound_us } => {
                estimate_skew(clock, idx, records, &rec_host, &index, bound_us)
            }
        };
        skew_of.insert(clock.clone(), (est.skew_ms * 1000.0).round() as i64);
        skews.push(est);
    }
    if records.iter().any(|r| r.session.is_some()) {
        skews.push(SkewEstimate {
            clock: "sandbox records".into(),
            skew_ms: 0.0,
            method: "direct".into(),
            records: records.iter().filter(|r| r.session.is_some()).count(),
            aligned: 0,
        });
    }

    // Attribution.
    let mut attributions = Vec::new();
    let mut background = Vec::new();
    let mut canary_attr: HashMap<usize, (Option<String>, Option<String>)> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let skew = if r.session.is_some() {
            0
        } else {
            skew_of.get(&clock_of(r)).copied().unwrap_or(0)
        };
        let t = r.ts_us - skew;
        let a = attribute(
            i,
            r,
            t,
            episodes,
            &episode_host,
            &rec_host,
            &index,
            &session_index,
            cfg.window_us,
        );
        match a {
            Some(a) => {
                if r.kind == "canary" {
                    canary_attr.insert(i, (Some(a.session.clone()), a.call_id.clone()));
                } else {
                    attributions.push(a);
                }
            }
            None => {
                let lane =
                    rec_host[i].map_or_else(|| UNMAPPED.to_owned(), |(h, _)| host_names[h].clone());
                if r.kind != "canary" {
                    background.push((i, lane, t, is_violation(r)));
                }
            }
        }
    }

    // Per call, episode, agent, host.
    let mut per_call: HashMap<(usize, usize), (usize, usize)> = HashMap::new();
    let mut per_episode: Vec<(usize, usize, usize, BTreeMap<String, usize>)> =
        vec![(0, 0, 0, BTreeMap::new()); episodes.len()];
    for a in &attributions {
        let ei = session_index[a.session.as_str()];
        let v = usize::from(matches!(a.action.as_deref(), Some("blocked" | "alert")));
        per_episode[ei].0 += 1;
        per_episode[ei].1 += v;
        if let Some(dst) = &a.dst {
            let key = match a.dport {
                Some(p) => format!("{dst}:{p}"),
                None => dst.clone(),
            };
            *per_episode[ei].3.entry(key).or_default() += 1;
        }
        if let Some(cid) = &a.call_id {
            if let Some(ci) = episodes[ei].calls.iter().position(|c| &c.id == cid) {
                let e = per_call.entry((ei, ci)).or_default();
                e.0 += 1;
                e.1 += v;
            }
        }
    }
    let mut canaries = Vec::new();
    for (i, r) in records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == "canary")
    {
        let (session, call_id) = canary_attr.get(&i).cloned().unwrap_or((None, None));
        if let Some(s) = &session {
            per_episode[session_index[s.as_str()]].2 += 1;
        }
        let d = &r.detail;
        let s = |k: &str| {
            d.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        canaries.push(CanaryReport {
            record: i,
            canary: s("canary"),
            canary_kind: s("kind"),
            planted: s("planted"),
            evidence: s("evidence"),
            ts_us: r.ts_us,
            host: r.host.clone(),
            origin: r.origin.clone(),
            line: r.line,
            session,
            call_id,
            finding: d.get("finding").cloned().unwrap_or(serde_json::Value::Null),
        });
    }
    let episode_reports: Vec<EpisodeReport> = episodes
        .iter()
        .enumerate()
        .map(|(ei, e)| {
            let (n, v, c, dests) = &per_episode[ei];
            let mut destinations: Vec<(String, usize)> =
                dests.iter().map(|(k, v)| (k.clone(), *v)).collect();
            destinations.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            destinations.truncate(10);
            EpisodeReport {
                session: e.session.clone(),
                agent: e.agent.clone(),
                task: e.task.clone(),
                host: host_names[episode_host[ei]].clone(),
                start_us: e.start_us,
                end_us: e.end_us,
                net_events: *n,
                violations: *v,
                canaries: *c,
                destinations,
                calls: e
                    .calls
                    .iter()
                    .enumerate()
                    .map(|(ci, c)| {
                        let (n, v) = per_call.get(&(ei, ci)).copied().unwrap_or_default();
                        CallReport {
                            id: c.id.clone(),
                            tool: c.tool.clone(),
                            summary: c.summary.clone(),
                            start_us: c.start_us,
                            end_us: c.end_us,
                            decision: c.decision.clone(),
                            findings: c.findings.clone(),
                            net_events: n,
                            violations: v,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let mut agents: BTreeMap<String, AgentReport> = BTreeMap::new();
    for e in &episode_reports {
        let name = e.agent.clone().unwrap_or_else(|| "(no agent)".into());
        let a = agents.entry(name.clone()).or_insert(AgentReport {
            agent: name,
            episodes: 0,
            net_events: 0,
            violations: 0,
            canaries: 0,
        });
        a.episodes += 1;
        a.net_events += e.net_events;
        a.violations += e.violations;
        a.canaries += e.canaries;
    }

    // Significance over hosts with episodes.
    let mut host_times: Vec<(i64, i64)> = vec![(i64::MAX, i64::MIN); host_names.len()];
    let mut host_records = vec![0usize; host_names.len()];
    let mut host_viol: Vec<Vec<(i64, i64)>> = vec![Vec::new(); host_names.len()];
    for (i, r) in records.iter().enumerate() {
        if r.kind == "canary" {
            continue;
        }
        let Some((h, _)) = rec_host[i] else { continue };
        let skew = if r.session.is_some() {
            0
        } else {
            skew_of.get(&clock_of(r)).copied().unwrap_or(0)
        };
        let t = r.ts_us - skew;
        host_records[h] += 1;
        host_times[h] = (host_times[h].0.min(t), host_times[h].1.max(t));
        if is_violation(r) {
            host_viol[h].push((t, width_of(r)));
        }
    }
    for (hi, h) in index.iter().enumerate() {
        for &ei in &h.episodes {
            host_times[hi] = (
                host_times[hi].0.min(episodes[ei].start_us),
                host_times[hi].1.max(episodes[ei].end_us),
            );
        }
    }
    let mut host_reports = Vec::new();
    let mut series = Vec::new();
    let mut probs = Vec::new();
    let mut inside_count = 0;
    for (hi, h) in index.iter().enumerate() {
        let (a, b) = host_times[hi];
        let duty = if b > a {
            let covered: i64 = h
                .merged
                .iter()
                .map(|(s, e)| (e.min(&b) - s.max(&a)).max(0))
                .sum();
            covered as f64 / (b - a) as f64
        } else {
            0.0
        };
        if hi == unmapped && h.episodes.is_empty() && host_records[hi] == 0 {
            continue;
        }
        host_reports.push(HostReport {
            name: h.name.clone(),
            episodes: h.episodes.len(),
            records: host_records[hi],
            violations: host_viol[hi].len(),
            duty_fraction: duty,
        });
        if h.episodes.is_empty() || host_viol[hi].is_empty() || b <= a {
            continue;
        }
        for &(t, w) in &host_viol[hi] {
            probs.push(duty);
            inside_count += usize::from(stats::overlaps(&h.merged, t, t + w));
        }
        series.push(stats::HostSeries {
            period: (a, b + 1),
            windows: h.merged.clone(),
            times: host_viol[hi].clone(),
        });
    }
    let significance = (!probs.is_empty()).then(|| {
        let n = probs.len();
        let p_value = stats::upper_tail(&probs, inside_count);
        let shifts = if n > 2000 { cfg.shifts.min(999) } else { cfg.shifts };
        let (extreme, shifts) = stats::circular_shift(&series, inside_count, shifts, &mut stats::Rng::new(cfg.seed));
        let duty = probs.iter().sum::<f64>() / n as f64;
        let shift_p = (extreme + 1) as f64 / (shifts + 1) as f64;
        let line = format!(
            "{inside_count} of {n} blocked or alerted connections fall in tool-execution windows covering {} of the time ({}; circular-shift test {})",
            percent(duty),
            p_text(p_value),
            if extreme == 0 { format!("p < {}", sci(1.0 / shifts as f64)) } else { format!("p = {}", sci(shift_p)) }
        );
        Significance { violations: n, inside: inside_count, duty_fraction: duty, expected_inside: duty * n as f64, p_value, shift_extreme: extreme, shifts, shift_p, line }
    });

    let attributed = attributions.len();
    let counted = records.iter().filter(|r| r.kind != "canary").count();
    Report {
        hosts_note: hosts_note.to_owned(),
        window_ms: cfg.window_us as f64 / 1000.0,
        skew: skews,
        records: counted,
        attributed,
        unattributed: counted - attributed,
        hosts: host_reports,
        episodes: episode_reports,
        agents: agents.into_values().collect(),
        significance,
        canaries,
        attributions,
        background,
    }
}

fn percent(f: f64) -> String {
    let p = f * 100.0;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else if p >= 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.2}%")
    }
}

/// `3.2e-47`.
pub fn sci(p: f64) -> String {
    if p == 0.0 {
        "0".into()
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

fn p_text(p: f64) -> String {
    if p < 1e-300 {
        "p < 1e-300".into()
    } else if p < 1e-12 {
        format!("p < 1e-12, p = {}", sci(p))
    } else {
        format!("p = {}", sci(p))
    }
}

fn estimate_skew(
    clock: &str,
    idx: &[usize],
    records: &[NetRecord],
    rec_host: &[Option<(usize, HostMatch)>],
    index: &[HostIndex],
    bound: i64,
) -> SkewEstimate {
    // Allowed records when there are enough (violations then test the alignment fairly).
    let usable: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| rec_host[i].is_some_and(|(h, _)| !index[h].wins.is_empty()))
        .collect();
    let allowed: Vec<usize> = usable
        .iter()
        .copied()
        .filter(|&i| !is_violation(&records[i]))
        .collect();
    let pool = if allowed.len() >= 10 { allowed } else { usable };
    // At most 50,000 records, evenly spread.
    let step = pool.len().div_ceil(50_000).max(1);
    let mut events: Vec<(i64, i32)> = Vec::new();
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for &i in pool.iter().step_by(step) {
        let r = &records[i];
        let (h, _) = rec_host[i].expect("usable");
        let w = width_of(r);
        spans.clear();
        // d such that [ts - d, ts - d + w] meets [s, e]: d in [ts - e, ts + w - s].
        for win in index[h].around(r.ts_us - bound, r.ts_us + w + bound) {
            let lo = (r.ts_us - win.end).max(-bound);
            let hi = (r.ts_us + w - win.start).min(bound);
            if lo <= hi {
                spans.push((lo, hi));
            }
        }
        for (lo, hi) in stats::merge(std::mem::take(&mut spans)) {
            events.push((lo, 1));
            events.push((hi + 1, -1));
        }
    }
    events.sort_unstable();
    let (mut level, mut best, mut best_segments) = (0i32, 0i32, Vec::<(i64, i64)>::new());
    let mut k = 0;
    while k < events.len() {
        let x = events[k].0;
        while k < events.len() && events[k].0 == x {
            level += events[k].1;
            k += 1;
        }
        let next = events.get(k).map_or(x, |e| e.0 - 1);
        if level > best {
            best = level;
            best_segments.clear();
        }
        if level == best && level > 0 {
            best_segments.push((x, next));
        }
    }
    if best < 3 {
        return SkewEstimate {
            clock: clock.to_owned(),
            skew_ms: 0.0,
            method: format!("auto (too few records in call windows: {best}), 0 assumed"),
            records: idx.len(),
            aligned: best.max(0) as usize,
        };
    }
    // Adjacent best segments form a plateau; take the plateau nearest zero, its middle.
    let plateaus = stats::merge(best_segments.iter().map(|&(a, b)| (a, b + 1)).collect());
    let (a, b) = plateaus
        .iter()
        .min_by_key(|(a, b)| {
            if *a <= 0 && 0 <= *b {
                0
            } else {
                a.abs().min(b.abs())
            }
        })
        .copied()
        .expect("a best level");
    let mid = a + (b - 1 - a) / 2;
    SkewEstimate {
        clock: clock.to_owned(),
        skew_ms: (mid as f64 / 1000.0).round(),
        method: "auto".into(),
        records: idx.len(),
        aligned: best as usize,
    }
}

#[allow(clippy::too_many_arguments)]
fn attribute(
    i: usize,
    r: &NetRecord,
    t: i64,
    episodes: &[Episode],
    episode_host: &[usize],
    rec_host: &[Option<(usize, HostMatch)>],
    index: &[HostIndex],
    sessions: &HashMap<&str, usize>,
    window: i64,
) -> Option<Attribution> {
    let base = |session: &Episode,
                call: Option<&Call>,
                host: &str,
                conf: f64,
                by: &str,
                inside: bool,
                candidates: usize| Attribution {
        record: i,
        origin: r.origin.clone(),
        line: r.line,
        source: r.source.clone(),
        kind: r.kind.clone(),
        ts_us: r.ts_us,
        adjusted_us: t,
        host: host.to_owned(),
        src: r.src.clone(),
        dst: r.dst.clone(),
        dport: r.dport,
        proto: r.proto.clone(),
        action: r.action.clone(),
        session: session.session.clone(),
        agent: session.agent.clone(),
        call_id: call.map(|c| c.id.clone()),
        tool: call.map(|c| c.tool.clone()),
        confidence: (conf * 100.0).round() / 100.0,
        by: by.to_owned(),
        inside_call: inside,
        candidates,
    };
    // Records that name their episode.
    if let Some(s) = &r.session {
        let &ei = sessions.get(s.as_str())?;
        let e = &episodes[ei];
        let call = r
            .call_id
            .as_ref()
            .and_then(|c| e.calls.iter().find(|x| &x.id == c));
        let call = call.or_else(|| e.calls.iter().find(|c| c.start_us <= t && t <= c.end_us));
        let inside = call.is_some_and(|c| c.start_us <= t && t <= c.end_us);
        let host = &index[episode_host[ei]].name;
        return Some(base(e, call, host, 1.0, "sandbox record", inside, 1));
    }
    let (h, how) = rec_host[i]?;
    let hx = &index[h];
    let w = width_of(r);
    // Calls within the window: (score, distance, window).
    let mut cands: Vec<(f64, i64, Win)> = Vec::new();
    for win in hx.around(t - window, t + w + window) {
        let dist = (win.start - (t + w)).max(t - win.end).max(0);
        let score = if dist == 0 {
            1.0
        } else {
            0.6 * (1.0 - dist as f64 / window as f64)
        };
        if score > 0.0 {
            cands.push((score, dist, *win));
        }
    }
    if !cands.is_empty() {
        // One candidate per episode: its best call.
        cands.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(a.1.cmp(&b.1))
                .then(b.2.start.cmp(&a.2.start))
        });
        let best = cands[0];
        let mut per_episode: HashMap<usize, f64> = HashMap::new();
        for c in &cands {
            let e = per_episode.entry(c.2.episode).or_insert(0.0);
            *e = e.max(c.0);
        }
        let total: f64 = per_episode.values().sum();
        // Within the chosen episode, a nearer call split evenly with the others inside too.
        let inside_same = cands
            .iter()
            .filter(|c| c.2.episode == best.2.episode && c.1 == 0)
            .count()
            .max(1);
        let conf = how.weight() * best.0 * (best.0 / total)
            / if best.1 == 0 { inside_same as f64 } else { 1.0 };
        let e = &episodes[best.2.episode];
        return Some(base(
            e,
            Some(&e.calls[best.2.call]),
            &hx.name,
            conf,
            how.as_str(),
            best.1 == 0,
            cands.len(),
        ));
    }
    // Inside an episode but near no call: the episode, weakly.
    let eps: Vec<usize> = hx
        .episodes
        .iter()
        .copied()
        .filter(|&ei| episodes[ei].start_us - window <= t + w && t <= episodes[ei].end_us + window)
        .collect();
    let &ei = eps.first()?;
    let conf = how.weight() * 0.4 / eps.len() as f64;
    Some(base(
        &episodes[ei],
        None,
        &hx.name,
        conf,
        how.as_str(),
        false,
        eps.len(),
    ))
}

impl Report {
    /// The terminal table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.hosts_note);
        let _ = writeln!(
            s,
            "window ±{} ms; clock skew (record time minus episode time):",
            self.window_ms
        );
        for k in &self.skew {
            let _ = writeln!(
                s,
                "  {:<40} {:>+9.0} ms  {} ({} records, {} in call windows)",
                k.clock, k.skew_ms, k.method, k.records, k.aligned
            );
        }
        let _ = writeln!(
            s,
            "{} network records: {} attributed to episodes, {} not",
            self.records, self.attributed, self.unattributed
        );
        if let Some(sig) = &self.significance {
            let _ = writeln!(s, "\n{}", sig.line);
        }
        for c in &self.canaries {
            let _ = writeln!(
                s,
                "\nCANARY_TRIGGERED (critical) canary {} ({}) planted at {} seen in {}:{}{}",
                c.canary,
                c.canary_kind,
                c.planted,
                c.origin.as_deref().unwrap_or("-"),
                c.line.unwrap_or(0),
                match (&c.session, &c.call_id) {
                    (Some(s), Some(call)) => format!(" during episode {s}, call {call}"),
                    (Some(s), None) => format!(" during episode {s}"),
                    _ => String::new(),
                }
            );
        }
        let _ = writeln!(
            s,
            "\n{:<24} {:<14} {:<14} {:>7} {:>10} {:>8}  TOP DESTINATIONS",
            "EPISODE", "AGENT", "HOST", "EVENTS", "VIOLATIONS", "CANARIES"
        );
        for e in &self.episodes {
            let dests: Vec<String> = e
                .destinations
                .iter()
                .take(3)
                .map(|(d, n)| format!("{d} ×{n}"))
                .collect();
            let _ = writeln!(
                s,
                "{:<24} {:<14} {:<14} {:>7} {:>10} {:>8}  {}",
                clip(&e.session, 24),
                clip(e.agent.as_deref().unwrap_or("-"), 14),
                clip(&e.host, 14),
                e.net_events,
                e.violations,
                e.canaries,
                dests.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "\n{:<24} {:>8} {:>7} {:>10} {:>8}",
            "AGENT", "EPISODES", "EVENTS", "VIOLATIONS", "CANARIES"
        );
        for a in &self.agents {
            let _ = writeln!(
                s,
                "{:<24} {:>8} {:>7} {:>10} {:>8}",
                clip(&a.agent, 24),
                a.episodes,
                a.net_events,
                a.violations,
                a.canaries
            );
        }
        let mut calls: Vec<(&EpisodeReport, &CallReport)> = self
            .episodes
            .iter()
            .flat_map(|e| e.calls.iter().map(move |c| (e, c)))
            .filter(|(_, c)| c.violations > 0)
            .collect();
        if !calls.is_empty() {
            calls.sort_by_key(|c| std::cmp::Reverse(c.1.violations));
            let _ = writeln!(s, "\nTool calls with violations:");
            let _ = writeln!(
                s,
                "{:<24} {:<10} {:>10} {:<8}  COMMAND",
                "EPISODE", "CALL", "VIOLATIONS", "VERDICT"
            );
            for (e, c) in calls.iter().take(20) {
                let _ = writeln!(
                    s,
                    "{:<24} {:<10} {:>10} {:<8}  {}",
                    clip(&e.session, 24),
                    clip(&c.id, 10),
                    c.violations,
                    c.decision,
                    clip(&c.summary, 60)
                );
            }
        }
        s
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests;
