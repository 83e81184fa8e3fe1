//! Cordon's tokenizer and simple-command tree builder against brush-parser's
//! on arbitrary text.
//!
//! Invariants: where `cordon_shell::tokens::tokenize` gives tokens, brush's
//! own tokenizer gives the same ones (text and positions) and does not fail;
//! where `cordon_shell::simple::parse` builds a tree from them, brush's
//! grammar builds the same tree. Where either gives `None`, the walker falls
//! back to brush, so any answer is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| eprintln!("panic (caught or not): {info}")))
    });
}

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ours) = cordon_shell::tokens::tokenize(text) else {
        return;
    };
    // brush panics or loops on some inputs the walker keeps from it (see lex::parser_safe).
    if !cordon_shell::parser_safe(text) {
        return;
    }
    let theirs =
        std::panic::catch_unwind(|| brush_parser::uncached_tokenize_str(text, &Default::default()));
    match theirs {
        Ok(Ok(t)) => assert_eq!(format!("{ours:?}"), format!("{t:?}"), "{text:?}"),
        Ok(Err(e)) => panic!("brush rejects {text:?} ({e}), cordon gave {ours:?}"),
        Err(_) => return,
    }
    let Some(tree) = cordon_shell::simple::parse(&ours) else {
        return;
    };
    let opts = brush_parser::ParserOptions::default();
    match std::panic::catch_unwind(|| brush_parser::parse_tokens(&ours, &opts)) {
        Ok(Ok(t)) => assert_eq!(format!("{tree:?}"), format!("{t:?}"), "{text:?}"),
        Ok(Err(e)) => panic!("brush's grammar rejects {text:?} ({e}), cordon built {tree:?}"),
        Err(_) => {}
    }
});
