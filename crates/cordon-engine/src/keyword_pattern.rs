//! The pattern of a keyword filter. build.rs writes a DFA for each of the
//! pack's keyword sets and the engine looks it up by this string, so both
//! include this one file (build.rs by `#[path]`) rather than each spelling it.

/// Any of `keywords`, case folded (ASCII and Unicode: folding more only
/// lets more texts through to the exact keyword automaton). Order and
/// repeats in `keywords` do not change the pattern.
pub fn keyword_pattern<S: AsRef<str>>(keywords: &[S]) -> String {
    let mut k: Vec<String> = keywords
        .iter()
        .map(|k| k.as_ref().to_ascii_lowercase())
        .collect();
    k.sort();
    k.dedup();
    let alts: Vec<String> = k.iter().map(|k| regex_syntax::escape(k)).collect();
    format!("(?i:{})", alts.join("|"))
}
