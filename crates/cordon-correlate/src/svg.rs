//! The timeline as SVG: one lane per host, episodes and tool calls as bars, network events as
//! marks (violations red and taller, canaries purple), a time axis in UTC, a legend.

use std::fmt::Write;

use crate::{Episode, Report};

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 16.0;
const MARKS: f64 = 22.0;
const TOP: f64 = 86.0;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn hms(us: i64) -> String {
    let s = us.div_euclid(1_000_000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// A tick step (µs) that gives about 8 to 12 ticks over `span`.
fn tick_step(span: i64) -> i64 {
    const STEPS: [i64; 14] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
    ];
    let target = span / 10;
    STEPS
        .iter()
        .map(|s| s * 1_000_000)
        .find(|s| *s >= target)
        .unwrap_or(4 * 3600 * 1_000_000)
}

/// The SVG document.
pub fn timeline(report: &Report, episodes: &[Episode]) -> String {
    // Time range: episodes and attributed records.
    let (mut t0, mut t1) = (i64::MAX, i64::MIN);
    for e in episodes {
        t0 = t0.min(e.start_us);
        t1 = t1.max(e.end_us);
    }
    for a in &report.attributions {
        t0 = t0.min(a.adjusted_us);
        t1 = t1.max(a.adjusted_us);
    }
    if t0 > t1 {
        for &(_, _, t, _) in &report.background {
            t0 = t0.min(t);
            t1 = t1.max(t);
        }
    }
    if t0 > t1 {
        (t0, t1) = (0, 1_000_000);
    }
    let pad = ((t1 - t0) / 50).max(500_000);
    let (t0, t1) = (t0 - pad, t1 + pad);
    let x = |t: i64| LEFT + (t - t0) as f64 / (t1 - t0) as f64 * (WIDTH - LEFT - RIGHT);

    // Lanes: the report's hosts, in order; episodes packed into rows where they overlap.
    let lanes: Vec<&str> = report.hosts.iter().map(|h| h.name.as_str()).collect();
    let mut rows_of: Vec<Vec<Vec<usize>>> = vec![Vec::new(); lanes.len()];
    for (ei, e) in report.episodes.iter().enumerate() {
        let Some(li) = lanes.iter().position(|l| *l == e.host) else {
            continue;
        };
        let rows = &mut rows_of[li];
        match rows.iter_mut().find(|r| {
            r.last()
                .is_none_or(|&last| report.episodes[last].end_us < e.start_us)
        }) {
            Some(r) => r.push(ei),
            None => rows.push(vec![ei]),
        }
    }
    let lane_height = |li: usize| MARKS + rows_of[li].len().max(1) as f64 * (ROW + 4.0) + 14.0;
    let height = TOP + (0..lanes.len()).map(lane_height).sum::<f64>() + 40.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let title = format!(
        "Network events by episode: {} records, {} attributed",
        report.records, report.attributed
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(&title)
    );
    let sub = match &report.significance {
        Some(sig) => sig.line.clone(),
        None => report.hosts_note.clone(),
    };
    let _ = writeln!(s, r#"<text x="10" y="34">{}</text>"#, esc(&sub));
    let skews: Vec<String> = report
        .skew
        .iter()
        .map(|k| {
            format!(
                "{} {:+.0} ms",
                k.clock.rsplit('/').next().unwrap_or(&k.clock),
                k.skew_ms
            )
        })
        .collect();
    let _ = writeln!(
        s,
        r##"<text x="10" y="48" fill="#555">{}</text>"##,
        esc(&format!(
            "{}; clock skew: {}",
            report.hosts_note,
            skews.join(", ")
        ))
    );
    // Legend.
    let ly = 62.0;
    let _ = writeln!(s, r#"<g class="legend" transform="translate(10,{ly})">"#);
    let _ = writeln!(
        s,
        r##"<rect x="0" y="-9" width="24" height="10" fill="#dbe7f5" stroke="#7a9cc6"/><text x="30" y="0">episode</text>"##
    );
    let _ = writeln!(
        s,
        r##"<rect x="90" y="-9" width="24" height="10" fill="#4a78b5"/><text x="120" y="0">tool call</text>"##
    );
    let _ = writeln!(
        s,
        r##"<rect x="180" y="-9" width="24" height="10" fill="#c0392b"/><text x="210" y="0">blocked call</text>"##
    );
    let _ = writeln!(
        s,
        r##"<line x1="290" y1="-10" x2="290" y2="2" stroke="#2c6e49" stroke-width="2"/><text x="297" y="0">network event (attributed)</text>"##
    );
    let _ = writeln!(
        s,
        r##"<line x1="450" y1="-10" x2="450" y2="2" stroke="#aaaaaa" stroke-width="1"/><text x="457" y="0">not attributed</text>"##
    );
    let _ = writeln!(
        s,
        r##"<path d="M600,-11 L605,1 L595,1 Z" fill="#e00000"/><text x="611" y="0">violation (blocked / alert)</text>"##
    );
    let _ = writeln!(
        s,
        r##"<circle cx="780" cy="-4" r="5" fill="#8e44ad"/><text x="790" y="0">canary</text>"##
    );
    let _ = writeln!(s, "</g>");

    // Axis and grid.
    let bottom = height - 30.0;
    let step = tick_step(t1 - t0);
    let _ = writeln!(s, r#"<g class="axis">"#);
    let mut t = (t0 / step + 1) * step;
    while t < t1 {
        let xx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{bottom:.0}" stroke="#eeeeee"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{xx:.1}" y="{:.0}" text-anchor="middle">{}</text>"#,
            bottom + 14.0,
            hms(t)
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{bottom:.0}" x2="{:.0}" y2="{bottom:.0}" stroke="#333333"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="{:.0}" text-anchor="end">UTC</text>"#,
        WIDTH - RIGHT,
        bottom + 26.0
    );
    let _ = writeln!(s, "</g>");

    // Lanes.
    let mut y = TOP;
    for (li, lane) in lanes.iter().enumerate() {
        let h = lane_height(li);
        let _ = writeln!(s, r#"<g class="lane" data-host="{}">"#, esc(lane));
        let fill = if li % 2 == 0 { "#fafafa" } else { "#f2f2f2" };
        let _ = writeln!(
            s,
            r#"<rect x="0" y="{y:.0}" width="{WIDTH}" height="{h:.0}" fill="{fill}"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="8" y="{:.0}" font-weight="bold">{}</text>"#,
            y + 16.0,
            esc(&short(lane, 22))
        );
        let host = report.hosts.iter().find(|x| x.name == *lane);
        if let Some(host) = host {
            let _ = writeln!(
                s,
                r##"<text x="8" y="{:.0}" fill="#555">{} ep, {} events, {} viol.</text>"##,
                y + 30.0,
                host.episodes,
                host.records,
                host.violations
            );
        }
        // Episodes and calls.
        for (ri, row) in rows_of[li].iter().enumerate() {
            let ry = y + MARKS + ri as f64 * (ROW + 4.0);
            for &ei in row {
                let e = &report.episodes[ei];
                let (ex0, ex1) = (x(e.start_us), x(e.end_us).max(x(e.start_us) + 2.0));
                let label = format!(
                    "{} ({}): {} events, {} violations",
                    e.session,
                    e.agent.as_deref().unwrap_or("-"),
                    e.net_events,
                    e.violations
                );
                let _ = writeln!(
                    s,
                    r##"<g class="episode" data-session="{}"><rect x="{ex0:.1}" y="{ry:.1}" width="{:.1}" height="{ROW}" fill="#dbe7f5" stroke="#7a9cc6"><title>{}</title></rect>"##,
                    esc(&e.session),
                    ex1 - ex0,
                    esc(&label)
                );
                for c in &e.calls {
                    let (cx0, cx1) = (x(c.start_us), x(c.end_us).max(x(c.start_us) + 1.5));
                    let color = match c.decision.as_str() {
                        "block" => "#c0392b",
                        "warn" => "#e6a23c",
                        _ => "#4a78b5",
                    };
                    let tip = format!("{} {} [{}] {}", c.id, c.tool, c.decision, c.summary);
                    let _ = writeln!(
                        s,
                        r#"<rect class="call" x="{cx0:.1}" y="{:.1}" width="{:.1}" height="{:.0}" fill="{color}"><title>{}</title></rect>"#,
                        ry + 3.0,
                        cx1 - cx0,
                        ROW - 6.0,
                        esc(&tip)
                    );
                }
                if ex1 - ex0 > 60.0 {
                    let _ = writeln!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" fill="#1d3557" font-size="9">{}</text>"##,
                        ex0 + 2.0,
                        ry - 1.0,
                        esc(&short(&e.session, 30))
                    );
                }
                let _ = writeln!(s, "</g>");
            }
        }
        // Marks: unattributed first (under), then attributed, then violations on top.
        let my = y + 4.0;
        for &(_, ref l, t, v) in &report.background {
            if l == lane && t >= t0 && t <= t1 {
                let xx = x(t);
                if v {
                    let _ = writeln!(
                        s,
                        r##"<path class="net violation" d="M{xx:.1},{my:.1} L{:.1},{:.1} L{:.1},{:.1} Z" fill="#f0a0a0"/>"##,
                        xx + 3.0,
                        my + 10.0,
                        xx - 3.0,
                        my + 10.0
                    );
                } else {
                    let _ = writeln!(
                        s,
                        r##"<line class="net" x1="{xx:.1}" y1="{my:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#aaaaaa"/>"##,
                        my + 12.0
                    );
                }
            }
        }
        for a in report.attributions.iter().filter(|a| a.host == *lane) {
            let xx = x(a.adjusted_us);
            let tip = format!(
                "{} {} {} → {}:{} {} ({}, confidence {:.2})",
                crate::svg::hms(a.adjusted_us),
                a.source,
                a.src.as_deref().unwrap_or("-"),
                a.dst.as_deref().unwrap_or("-"),
                a.dport.map_or("-".into(), |p| p.to_string()),
                a.action.as_deref().unwrap_or(""),
                a.session,
                a.confidence
            );
            if matches!(a.action.as_deref(), Some("blocked" | "alert")) {
                let _ = writeln!(
                    s,
                    r##"<path class="net violation" d="M{xx:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z" fill="#e00000"><title>{}</title></path>"##,
                    my - 2.0,
                    xx + 4.0,
                    my + 12.0,
                    xx - 4.0,
                    my + 12.0,
                    esc(&tip)
                );
            } else {
                let _ = writeln!(
                    s,
                    r##"<line class="net" x1="{xx:.1}" y1="{my:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#2c6e49" stroke-width="1.5"><title>{}</title></line>"##,
                    my + 14.0,
                    esc(&tip)
                );
            }
        }
        for c in &report.canaries {
            let Some(sess) = &c.session else { continue };
            let Some(e) = report.episodes.iter().find(|e| &e.session == sess) else {
                continue;
            };
            if e.host != *lane {
                continue;
            }
            let xx = x(c.ts_us.clamp(t0, t1));
            let _ = writeln!(
                s,
                r##"<circle class="canary" cx="{xx:.1}" cy="{:.1}" r="5" fill="#8e44ad"><title>{}</title></circle>"##,
                my + 6.0,
                esc(&format!(
                    "CANARY_TRIGGERED {} ({}) planted at {}",
                    c.canary, c.canary_kind, c.planted
                ))
            );
        }
        let _ = writeln!(s, "</g>");
        y += h;
    }
    s.push_str("</svg>\n");
    s
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
