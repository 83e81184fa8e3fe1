//! Arbitrary bytes (lossily decoded as UTF-8) through `cordon_shell::analyze`.
//!
//! Invariants: every command's span lies inside the input on char
//! boundaries, and the number of commands respects `Limits::max_commands`.
#![no_main]

use cordon_shell::{analyze, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
