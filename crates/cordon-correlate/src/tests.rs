//! The whole method on generated data: every format parsed, episodes from the contract events,
//! attribution scored against the ground truth.

use std::collections::HashMap;

use super::*;
use crate::gen::{generate, Params};

/// Episodes from contract JSONL the way the CLI builds them from the store (call to result).
fn episodes_from(jsonl: &str) -> Vec<Episode> {
    let mut eps: Vec<Episode> = Vec::new();
    for line in jsonl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ts = cordon_ingest_time(v["ts"].as_str().unwrap());
        let session = v["session"].as_str().unwrap().to_owned();
        let i = match eps.iter().position(|e| e.session == session) {
            Some(i) => i,
            None => {
                eps.push(Episode {
                    session: session.clone(),
                    agent: v["agent"].as_str().map(str::to_owned),
                    task: v["task"].as_str().map(str::to_owned),
                    start_us: ts,
                    end_us: ts,
                    calls: vec![],
                });
                eps.len() - 1
            }
        };
        let e = &mut eps[i];
        e.end_us = e.end_us.max(ts);
        if v["type"] == "call" {
            e.calls.push(Call {
                id: v["id"].as_str().unwrap().into(),
                tool: "bash".into(),
                summary: v["input"]["command"].as_str().unwrap().into(),
                start_us: ts,
                end_us: ts + 10_000_000,
                has_result: false,
                decision: "allow".into(),
                findings: vec![],
            });
        } else if let Some(c) = e
            .calls
            .iter_mut()
            .rev()
            .find(|c| c.id == v["id"].as_str().unwrap())
        {
            c.end_us = ts;
            c.has_result = true;
        }
    }
    eps
}

fn cordon_ingest_time(s: &str) -> i64 {
    // 2026-03-02T09:00:01.234567Z
    let secs = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let day = secs(8, 10) - 2;
    let us = secs(20, 26);
    gen::T0
        + (day * 86_400 + (secs(11, 13) - 9) * 3600 + secs(14, 16) * 60 + secs(17, 19)) * 1_000_000
        + us
}

fn records(g: &gen::Generated) -> Vec<NetRecord> {
    let mut out = Vec::new();
    for (name, text, args) in &g.files {
        let opts = cordon_ingest::Options {
            default_host: args.get(1).cloned(),
            arrival_time: false,
            ..Default::default()
        };
        let mut r = cordon_ingest::Reader::new(
            std::io::Cursor::new(text.clone().into_bytes()),
            name,
            None,
            opts,
        )
        .unwrap();
        while let Some(l) = r.next(&mut out).unwrap() {
            assert!(
                !matches!(l.outcome, cordon_ingest::Outcome::Bad(_)),
                "{name}:{}: {:?}",
                l.no,
                l.outcome
            );
        }
    }
    out
}

/// (precision, recall) at the call level.
fn score(g: &gen::Generated, report: &Report) -> (f64, f64) {
    let truth: HashMap<(String, u64), &gen::Truth> = g
        .truth
        .iter()
        .map(|t| ((t.file.clone(), t.line), t))
        .collect();
    let (mut right, mut wrong) = (0, 0);
    for a in &report.attributions {
        let t = truth[&(a.origin.clone().unwrap(), a.line.unwrap())];
        if t.session.as_deref() == Some(&a.session) && t.call == a.call_id {
            right += 1;
        } else {
            wrong += 1;
        }
    }
    let positives = g.truth.iter().filter(|t| t.session.is_some()).count();
    (
        right as f64 / (right + wrong) as f64,
        right as f64 / positives as f64,
    )
}

#[test]
fn generated_data_is_attributed_with_high_precision_and_recall() {
    let g = generate(&Params::default());
    let recs = records(&g);
    assert_eq!(recs.len(), g.truth.len(), "one record per generated line");
    let eps = episodes_from(&g.episodes);
    assert_eq!(eps.len(), 12);
    let map = HostMap::parse(&g.hosts).unwrap();
    let report = correlate(
        &eps,
        &recs,
        Some(&map),
        "hosts from test",
        &Config::default(),
    );
    let (p, r) = score(&g, &report);
    assert!(p >= 0.99 && r >= 0.99, "precision {p}, recall {r}");
    // Every log clock is found about 2 s ahead (VPC stamps are whole seconds, so within 1 s).
    for k in report.skew.iter().filter(|k| k.method == "auto") {
        assert!((k.skew_ms - 2000.0).abs() <= 1000.0, "{k:?}");
    }
    let sig = report.significance.as_ref().unwrap();
    assert!(
        sig.p_value < 1e-12 && sig.inside as f64 / sig.violations as f64 > sig.duty_fraction * 3.0,
        "{sig:?}"
    );
    assert!(
        sig.line.contains("fall in tool-execution windows covering"),
        "{}",
        sig.line
    );
    assert_eq!(report.hosts.iter().filter(|h| h.episodes > 0).count(), 3);
    // Rogue episodes hold the violations.
    for e in &report.episodes {
        let rogue = e.session.ends_with("ep02") || e.session.ends_with("ep04");
        assert_eq!(e.violations > 0, rogue, "{}: {}", e.session, e.violations);
    }
    assert!(report.table().contains("rome-a-ep02"));
}

#[test]
fn without_skew_correction_precision_or_recall_drop() {
    // The estimate matters: forcing skew 0 with a tight window loses calls.
    let g = generate(&Params::default());
    let recs = records(&g);
    let eps = episodes_from(&g.episodes);
    let map = HostMap::parse(&g.hosts).unwrap();
    let cfg = Config {
        window_us: 500_000,
        skew: Skew::Fixed(0),
        ..Config::default()
    };
    let (p, r) = score(&g, &correlate(&eps, &recs, Some(&map), "", &cfg));
    let cfg = Config {
        window_us: 500_000,
        ..Config::default()
    };
    let (p2, r2) = score(&g, &correlate(&eps, &recs, Some(&map), "", &cfg));
    assert!(
        p2 * r2 > p * r + 0.05,
        "with estimate {p2}/{r2}, without {p}/{r}"
    );
}

#[test]
fn without_a_mapping_everything_is_one_host() {
    let g = generate(&Params {
        episodes_per_host: 2,
        ..Params::default()
    });
    let recs = records(&g);
    let eps = episodes_from(&g.episodes);
    let report = correlate(&eps, &recs, None, "no --hosts mapping", &Config::default());
    assert_eq!(report.hosts.len(), 1);
    assert_eq!(report.hosts[0].name, ALL_HOSTS);
    // Background traffic during episodes is now attributed: the mapping is what separates it.
    let (p, _) = score(&g, &report);
    assert!(p < 0.99, "{p}");
    assert!(report
        .attributions
        .iter()
        .all(|a| a.confidence <= 0.8 || a.by == "sandbox record"));
}

#[test]
fn confidence_is_higher_inside_a_single_window() {
    let call = |id: &str, s: i64, e: i64| Call {
        id: id.into(),
        tool: "bash".into(),
        summary: String::new(),
        start_us: s,
        end_us: e,
        has_result: true,
        decision: "allow".into(),
        findings: vec![],
    };
    let eps = vec![
        Episode {
            session: "a".into(),
            agent: Some("x".into()),
            task: None,
            start_us: 0,
            end_us: 20_000_000,
            calls: vec![
                call("a1", 1_000_000, 3_000_000),
                call("a2", 10_000_000, 12_000_000),
            ],
        },
        Episode {
            session: "b".into(),
            agent: Some("y".into()),
            task: None,
            start_us: 0,
            end_us: 20_000_000,
            calls: vec![call("b1", 11_000_000, 13_000_000)],
        },
    ];
    let rec = |ts: i64| NetRecord {
        source: "zeek".into(),
        kind: "flow".into(),
        ts_us: ts + 7,
        origin: Some("f".into()),
        ..Default::default()
    };
    let cfg = Config {
        skew: Skew::Fixed(0),
        ..Config::default()
    };
    let recs = vec![
        rec(2_000_000),
        rec(4_000_000),
        rec(11_500_000),
        NetRecord {
            session: Some("b".into()),
            call_id: Some("b1".into()),
            ..rec(50_000_000)
        },
    ];
    let r = correlate(&eps, &recs, None, "", &cfg);
    let by: HashMap<usize, &Attribution> = r.attributions.iter().map(|a| (a.record, a)).collect();
    assert_eq!(
        (by[&0].call_id.as_deref(), by[&0].inside_call),
        (Some("a1"), true)
    );
    assert!(
        by[&0].confidence > by[&1].confidence,
        "inside beats 1 s outside"
    );
    assert_eq!(by[&1].call_id.as_deref(), Some("a1"));
    assert!(
        by[&2].confidence < by[&0].confidence,
        "two episodes' calls both inside: shared"
    );
    assert_eq!(
        (
            by[&3].session.as_str(),
            by[&3].call_id.as_deref(),
            by[&3].confidence
        ),
        ("b", Some("b1"), 1.0)
    );
}

#[test]
fn svg_is_well_formed_with_a_lane_per_host() {
    let g = generate(&Params {
        episodes_per_host: 2,
        ..Params::default()
    });
    let recs = records(&g);
    let eps = episodes_from(&g.episodes);
    let map = HostMap::parse(&g.hosts).unwrap();
    let report = correlate(
        &eps,
        &recs,
        Some(&map),
        "hosts <&> \"file\"",
        &Config::default(),
    );
    let svg = svg::timeline(&report, &eps);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let lanes: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .map(|n| n.attribute("data-host").unwrap())
        .collect();
    assert_eq!(lanes, vec!["gpu-node-1", "gpu-node-2", "cpu-node-3"]);
    assert!(doc
        .descendants()
        .any(|n| n.attribute("class") == Some("net violation")
            && n.attribute("fill") == Some("#e00000")));
    assert_eq!(
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("episode"))
            .count(),
        6
    );
}
