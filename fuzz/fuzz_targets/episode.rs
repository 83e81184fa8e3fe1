//! Arbitrary bytes as a JSONL stream of one agent's events, through the
//! stateless check, the episode tracker and the secret redactor, the way
//! `cordon check --jsonl --store` runs them. Lines that are not events are
//! also fed as tool results (text an attacker controls), so the injection
//! cues, taint and secret flows see hostile text.
//!
//! Invariants: no panic; verdicts are never `Error`; confidences in [0, 1];
//! results are never blocked; redacted text is valid UTF-8 JSON-able and
//! redacting it again changes nothing.
#![no_main]

use std::sync::{Arc, OnceLock};

use cordon_core::{Decision, Event, EventKind, Policy};
use cordon_engine::Engine;
use cordon_episode::{CanaryInfo, FlowConfig, Tracker, TrackerLimits};
use cordon_secrets::Secrets;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(Policy::default()).expect("default policy builds"))
}

fn flow() -> Arc<FlowConfig> {
    static FLOW: OnceLock<Arc<FlowConfig>> = OnceLock::new();
    FLOW.get_or_init(|| Arc::new(FlowConfig::new(&engine().policy().flow).expect("flow defaults compile"))).clone()
}

fn secrets() -> &'static Secrets {
    static SECRETS: OnceLock<Secrets> = OnceLock::new();
    SECRETS.get_or_init(|| Secrets::new([7; 32]))
}

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let canary = CanaryInfo { id: "c1".into(), kind: "aws".into(), marker: "AKIAFUZZCANARY000001".into(), path: "/fuzz/.aws/credentials".into() };
    let limits = TrackerLimits { max_episode_text: 1 << 16, max_episodes: 4, injection_reach: 600 };
    let mut tracker = Tracker::with_flow(engine, flow(), limits).with_secrets(secrets()).with_canaries(vec![canary]);
    let text = String::from_utf8_lossy(data);
    for (i, line) in text.lines().enumerate().take(64) {
        let event = Event::from_json_line(line).unwrap_or_else(|_| {
            let mut e: Event = serde_json::from_value(json!({"tool": "read_file", "type": "result", "output": line})).unwrap();
            e.id = Some(json!(i));
            e.session = Some(format!("s{}", i % 3));
            e
        });
        let mut v = engine.check(&event);
        tracker.observe(&event, &mut v);
        assert_ne!(v.decision, Decision::Error, "{v:?}");
        if event.kind == EventKind::Result {
            assert_ne!(v.decision, Decision::Block, "a result was blocked: {v:?}");
        }
        for f in &v.findings {
            assert!((0.0..=1.0).contains(&f.confidence), "{f:?}");
        }
        let (once, _) = secrets().redact(line);
        let (twice, again) = secrets().redact(&once);
        assert_eq!(once, twice, "redaction is not idempotent (found again: {again:?})");
        let _ = secrets().redact_value_json(&event.input);
    }
});
