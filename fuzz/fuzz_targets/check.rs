//! Arbitrary bytes through the whole engine, twice: as the command of a
//! shell call (`Event::shell`), and as one JSONL contract line
//! (`Event::from_json_line`, then `Engine::check` when it parses).
//!
//! Invariants: the verdict is never `Error` and carries no internal error;
//! confidences lie in [0, 1]; for the shell call every finding's span lies
//! inside the command and `&s[span] == evidence`.
#![no_main]

use std::sync::OnceLock;

use cordon_core::{Decision, Event, Policy, Verdict};
use cordon_engine::Engine;
use libfuzzer_sys::fuzz_target;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(Policy::default()).expect("default policy builds"))
}

fn common(v: &Verdict, what: &str) {
    assert_ne!(v.decision, Decision::Error, "{what}: decision Error: {v:?}");
    assert!(v.error.is_none(), "{what}: internal error: {v:?}");
    for f in &v.findings {
        assert!((0.0..=1.0).contains(&f.confidence), "{what}: confidence {} out of [0,1] in {f:?}", f.confidence);
        assert!(f.span[0] <= f.span[1], "{what}: reversed span in {f:?}");
    }
}

/// libfuzzer-sys aborts from its panic hook, even for a panic that the code
/// under test catches: cordon-shell fences brush-parser's own panics with
/// `catch_unwind` and falls back. Replace the hook once so only panics that
/// escape the target (which libfuzzer-sys still turns into an abort) count.
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("panic (caught or not): {info}"))));
}

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    let engine = engine();
    let s = String::from_utf8_lossy(data);

    let v = engine.check(&Event::shell(&s));
    common(&v, "shell");
    for f in &v.findings {
        let [a, b] = f.span;
        assert!(a <= b && b <= s.len(), "finding span {:?} outside input of {} bytes: {f:?}", f.span, s.len());
        assert!(s.is_char_boundary(a) && s.is_char_boundary(b), "finding span {:?} not on char boundaries: {f:?}", f.span);
        assert_eq!(&s[a..b], f.evidence, "evidence differs from input at span {:?}: {f:?}", f.span);
    }

    // The same bytes as a JSONL contract line. Spans here refer to whichever
    // input field matched, not to the line, so only the common checks apply.
    if let Ok(event) = Event::from_json_line(&s) {
        let v = engine.check(&event);
        common(&v, "jsonl");
    }
});
