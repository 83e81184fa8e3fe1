//! Arbitrary bytes (lossily decoded as UTF-8) through `cordon_shell::analyze`.
//!
//! Invariants: every command's span lies inside the input on char
//! boundaries, and the number of commands respects `Limits::max_commands`.
#![no_main]

use cordon_shell::{analyze, Limits};
use libfuzzer_sys::fuzz_target;

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
    let s = String::from_utf8_lossy(data);
    let limits = Limits::default();
    let a = analyze(&s, &limits);
    assert!(
        a.commands.len() <= limits.max_commands,
        "{} commands > max_commands {}",
        a.commands.len(),
        limits.max_commands
    );
    for (i, c) in a.commands.iter().enumerate() {
        let (start, end) = c.span;
        assert!(
            start <= end && end <= s.len(),
            "command {i} ({:?}) span {:?} outside input of {} bytes",
            c.name,
            c.span,
            s.len()
        );
        assert!(
            s.is_char_boundary(start) && s.is_char_boundary(end),
            "command {i} ({:?}) span {:?} not on char boundaries",
            c.name,
            c.span
        );
    }
});
