//! Ahead-of-time step for the rule pack: the TOML source (with its examples)
//! is turned into compact JSON without the examples, which the engine parses
//! at start. Hook processes start once per tool call, and JSON parses several
//! times faster than TOML; the examples are only needed by the tests.
//!
//! Every regex of the pack is also determinized here into a dense DFA,
//! serialized into the binary: compiling the pack's regexes (and filling
//! their lazy DFAs while searching) was a fifth of the instructions of a
//! `check --jsonl` run, paid again by every process. Patterns whose DFA
//! would be too large are left to the lazy engine at run time.

use std::path::Path;

fn main() {
    let src_path = Path::new("rules/default.toml");
    println!("cargo:rerun-if-changed={}", src_path.display());
    let src = std::fs::read_to_string(src_path).expect("read rules/default.toml");
    let mut pack: toml::Value =
        toml::from_str(&src).unwrap_or_else(|e| panic!("rules/default.toml: {e}"));
    if let Some(rules) = pack.get_mut("rule").and_then(|r| r.as_array_mut()) {
        for r in rules {
            if let Some(t) = r.as_table_mut() {
                t.remove("tests");
                t.remove("description");
            }
        }
    }
    write_dfas(&pack);
    let json = serde_json::to_string(&pack).expect("pack as JSON");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("default_pack.json");
    std::fs::write(out, json).expect("write pack JSON");
}

/// Keys of a rule condition whose string values are regexes (`value` is the
/// pattern of an `option` condition); the engine compiles exactly these.
const REGEX_KEYS: &[&str] = &[
    "value",
    "args",
    "argline",
    "not_args",
    "not_argline",
    "stdin_file",
    "code",
    "code_all",
    "redirect",
    "redirect_write",
    "assign",
    "text",
    "path",
    "content",
];

/// A DFA's serialized form is at most this large; past it, lazy.
const MAX_DFA_BYTES: usize = 1 << 20;

fn collect_regexes(v: &toml::Value, key: &str, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                collect_regexes(x, k, out);
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|x| collect_regexes(x, key, out)),
        toml::Value::String(s) if REGEX_KEYS.contains(&key) => out.push(s.clone()),
        _ => {}
    }
}

/// `pack_dfas.bin` (the DFAs, little-endian, one after another) and
/// `pack_dfas.rs` (a sorted table of pattern, offset, length, shortest match,
/// and the reverse DFA's offset and length; length 0: no DFA).
fn write_dfas(pack: &toml::Value) {
    use regex_automata::{
        dfa::dense,
        nfa::thompson::{self, WhichCaptures},
        util::syntax,
        MatchKind,
    };
    let mut sources = Vec::new();
    // Patterns whose match position is reported (text, path and content
    // rules, `find`), not only whether they match.
    let mut located = Vec::new();
    if let Some(rules) = pack.get("rule") {
        collect_regexes(rules, "", &mut sources);
        for rule in rules.as_array().into_iter().flatten() {
            for cond in ["match", "then"] {
                for key in ["text", "path", "content"] {
                    if let Some(p) = rule
                        .get(cond)
                        .and_then(|c| c.get(key))
                        .and_then(|v| v.as_str())
                    {
                        located.push(p.to_string());
                    }
                }
            }
        }
    }
    sources.sort();
    sources.dedup();
    let align = |blob: &mut Vec<u8>| {
        while blob.len() % 8 != 0 {
            blob.push(0);
        }
    };
    let mut blob = Vec::new();
    let mut index = String::from("&[\n");
    for src in &sources {
        // The same syntax the engine's lazy build uses (rules.rs `build`).
        let built = dense::Builder::new()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .thompson(thompson::Config::new().which_captures(WhichCaptures::None))
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .dfa_size_limit(Some(MAX_DFA_BYTES))
                    .determinize_size_limit(Some(4 * MAX_DFA_BYTES)),
            )
            .build(src);
        // The shortest text a match can be: shorter texts (most arguments
        // against most `args` patterns) are answered without a search.
        let min_len = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(src)
            .ok()
            .and_then(|h| h.properties().minimum_len())
            .unwrap_or(0);
        let bytes = match &built {
            Ok(dfa) => {
                let (bytes, pad) = dfa.to_bytes_little_endian();
                bytes[pad..].to_vec()
            }
            Err(_) => Vec::new(),
        };
        if bytes.len() > MAX_DFA_BYTES || bytes.is_empty() {
            index.push_str(&format!("    ({src:?}, 0, 0, {min_len}, 0, 0),\n"));
            continue;
        }
        // Each DFA starts 8-byte aligned in the blob (the blob itself is aligned at run time).
        align(&mut blob);
        let (off, len) = (blob.len(), bytes.len());
        blob.extend_from_slice(&bytes);
        // Where a match starts: the reverse DFA, run back from the end the
        // forward DFA found, anchored there, longest match (as
        // regex-automata's own DFA regex pairs them).
        let (mut rev_off, mut rev_len) = (0, 0);
        if located.contains(src) {
            let rev = dense::Builder::new()
                .syntax(syntax::Config::new().unicode(false).utf8(false))
                .thompson(
                    thompson::Config::new()
                        .which_captures(WhichCaptures::None)
                        .reverse(true),
                )
                .configure(
                    dense::Config::new()
                        .prefilter(None)
                        .specialize_start_states(false)
                        .start_kind(regex_automata::dfa::StartKind::Anchored)
                        .match_kind(MatchKind::All)
                        .dfa_size_limit(Some(MAX_DFA_BYTES))
                        .determinize_size_limit(Some(4 * MAX_DFA_BYTES)),
                )
                .build(src);
            if let Ok(rev) = rev {
                let (bytes, pad) = rev.to_bytes_little_endian();
                if bytes.len() - pad <= MAX_DFA_BYTES {
                    align(&mut blob);
                    rev_off = blob.len();
                    rev_len = bytes.len() - pad;
                    blob.extend_from_slice(&bytes[pad..]);
                }
            }
        }
        index.push_str(&format!(
            "    ({src:?}, {off}, {len}, {min_len}, {rev_off}, {rev_len}),\n"
        ));
    }
    index.push_str("]\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("pack_dfas.bin"), blob).expect("write pack DFAs");
    std::fs::write(out.join("pack_dfas.rs"), index).expect("write pack DFA index");
}
