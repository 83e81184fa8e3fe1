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
/// `pack_dfas.rs` (a sorted table of pattern, shortest match, and its DFAs:
/// for each, the forward DFA's offset and length and the reverse one's,
/// length 0 when there is none; no DFAs: the lazy engine runs it).
fn write_dfas(pack: &toml::Value) {
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
    sources.extend(keyword_filters(pack));
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
        // The shortest text a match can be: shorter texts (most arguments
        // against most `args` patterns) are answered without a search.
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(src)
            .ok();
        let min_len = hir
            .as_ref()
            .and_then(|h| h.properties().minimum_len())
            .unwrap_or(0);
        let located = located.contains(src);
        // One DFA for the pattern; when that is too large, one per top-level
        // alternative: `a.*b|c.*d` determinizes to the product of its
        // branches' states, each branch alone to a few kilobytes (a pack
        // pattern went from 17 MB to 174 KB this way). The engine asks every
        // branch and keeps the leftmost match, which is what the whole
        // pattern's leftmost-first search returns.
        let parts = match part(hir.as_ref(), src, located) {
            Some(p) => vec![p],
            None => match hir.as_ref().map(|h| h.kind()) {
                Some(regex_syntax::hir::HirKind::Alternation(alts)) => alts
                    .iter()
                    .map(|a| part(Some(a), &a.to_string(), located))
                    .collect::<Option<Vec<_>>>()
                    .filter(|p| p.iter().map(Part::size).sum::<usize>() <= 2 * MAX_DFA_BYTES)
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
        };
        let mut put = |dfa: &[u8]| {
            if dfa.is_empty() {
                return (0, 0);
            }
            // Each DFA starts 8-byte aligned in the blob (the blob itself is aligned at run time).
            align(&mut blob);
            let at = (blob.len(), dfa.len());
            blob.extend_from_slice(dfa);
            at
        };
        let entries: Vec<String> = parts
            .iter()
            .map(|p| match p {
                Part::One(fwd, rev) => format!("DfaSpec::One({:?}, {:?})", put(fwd), put(rev)),
                Part::Gap { first, first_rev, within, then, then_rev } => format!(
                    "DfaSpec::Gap {{ first: {:?}, first_rev: {:?}, within: {within}, then: {:?}, then_rev: {:?} }}",
                    put(first),
                    put(first_rev),
                    put(then),
                    put(then_rev)
                ),
            })
            .collect();
        index.push_str(&format!(
            "    ({src:?}, {min_len}, &[{}]),\n",
            entries.join(", ")
        ));
    }
    index.push_str("]\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("pack_dfas.bin"), blob).expect("write pack DFAs");
    std::fs::write(out.join("pack_dfas.rs"), index).expect("write pack DFA index");
}

/// What the engine runs for a pattern, or for one of its top-level alternatives.
enum Part {
    /// The forward DFA (leftmost first) and, for a pattern whose match is
    /// located, the reverse one that finds where a match starts, run back
    /// from the end the forward one found, anchored there, longest match (as
    /// regex-automata's own DFA regex pairs them); empty when too large.
    One(Vec<u8>, Vec<u8>),
    /// `X.{0,N}Y` with a long gap: a DFA must count the gap for every `X`
    /// it has seen, which no size limit holds (800 bytes of gap did not fit
    /// in 64 MB). `X` and `Y` alone are small: the engine finds each end of
    /// an `X` (all of them: `first` reports every match), then the nearest
    /// `Y` starting after it, and the pattern matches when that start is at
    /// most `within` bytes on.
    Gap {
        first: Vec<u8>,
        first_rev: Vec<u8>,
        within: u32,
        then: Vec<u8>,
        then_rev: Vec<u8>,
    },
}

impl Part {
    fn size(&self) -> usize {
        match self {
            Part::One(f, r) => f.len() + r.len(),
            Part::Gap {
                first,
                first_rev,
                then,
                then_rev,
                ..
            } => first.len() + first_rev.len() + then.len() + then_rev.len(),
        }
    }
}

/// Gaps from this length on are split out of a pattern (see [`Part::Gap`]).
const MIN_GAP: u32 = 64;

fn part(hir: Option<&regex_syntax::hir::Hir>, src: &str, located: bool) -> Option<Part> {
    use regex_automata::MatchKind;
    use regex_syntax::hir::{Class, Hir, HirKind};
    if let Some(fwd) = dfa(src, MatchKind::LeftmostFirst, false) {
        let rev = if located {
            dfa(src, MatchKind::All, true).unwrap_or_default()
        } else {
            Vec::new()
        };
        return Some(Part::One(fwd, rev));
    }
    // `X.{0,N}Y`, `.` any byte: split at the gap.
    let HirKind::Concat(subs) = hir?.kind() else {
        return None;
    };
    let any_byte = |h: &Hir| match h.kind() {
        HirKind::Class(Class::Bytes(c)) => {
            c.ranges().len() == 1 && c.ranges()[0].start() == 0 && c.ranges()[0].end() == 255
        }
        HirKind::Class(Class::Unicode(c)) => {
            c.ranges().len() == 1
                && c.ranges()[0].start() == '\0'
                && c.ranges()[0].end() == char::MAX
        }
        _ => false,
    };
    let (k, within) = subs.iter().enumerate().find_map(|(k, h)| match h.kind() {
        HirKind::Repetition(r) if r.min == 0 && any_byte(&r.sub) => {
            r.max.filter(|&m| m >= MIN_GAP).map(|m| (k, m))
        }
        _ => None,
    })?;
    let (x, y) = (
        Hir::concat(subs[..k].to_vec()).to_string(),
        Hir::concat(subs[k + 1..].to_vec()).to_string(),
    );
    if x.is_empty() || y.is_empty() {
        return None;
    }
    Some(Part::Gap {
        first: dfa(&x, MatchKind::All, false)?,
        first_rev: dfa(&x, MatchKind::All, true)?,
        within,
        then: dfa(&y, MatchKind::LeftmostFirst, false)?,
        then_rev: dfa(&y, MatchKind::All, true)?,
    })
}

/// `src` determinized, serialized; `None` past [`MAX_DFA_BYTES`]. Forward
/// DFAs search unanchored; reverse ones run back from a known end, anchored.
fn dfa(src: &str, kind: regex_automata::MatchKind, reverse: bool) -> Option<Vec<u8>> {
    use regex_automata::{
        dfa::{dense, StartKind},
        nfa::thompson::{self, WhichCaptures},
        util::syntax,
    };
    let mut config = dense::Config::new()
        .match_kind(kind)
        .dfa_size_limit(Some(MAX_DFA_BYTES))
        .determinize_size_limit(Some(4 * MAX_DFA_BYTES));
    if reverse {
        config = config
            .prefilter(None)
            .specialize_start_states(false)
            .start_kind(StartKind::Anchored);
    }
    // The same syntax the engine's lazy build uses (rules.rs `build`).
    let built = dense::Builder::new()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .thompson(
            thompson::Config::new()
                .which_captures(WhichCaptures::None)
                .reverse(reverse),
        )
        .configure(config)
        .build(src)
        .ok()?;
    let (bytes, pad) = built.to_bytes_little_endian();
    (bytes.len() - pad <= MAX_DFA_BYTES).then(|| bytes[pad..].to_vec())
}

#[path = "src/keyword_pattern.rs"]
mod keyword_pattern;

/// The patterns of the engine's keyword filters (`keyword_filter` in
/// src/rules.rs asks for the same strings; a test there checks that the
/// pack's have their DFA): one over text-rule keywords, one over
/// command-rule keywords.
fn keyword_filters(pack: &toml::Value) -> Vec<String> {
    let (mut text, mut command) = (Vec::new(), Vec::new());
    for rule in pack
        .get("rule")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        let scope = rule
            .get("scope")
            .and_then(|s| s.as_str())
            .unwrap_or("command");
        for cond in ["match", "then"] {
            let Some(kws) = rule
                .get(cond)
                .and_then(|c| c.get("keywords"))
                .and_then(|k| k.as_array())
            else {
                continue;
            };
            let into = match (scope, cond) {
                ("text", "match") => &mut text,
                ("command", _) => &mut command,
                _ => continue,
            };
            into.extend(kws.iter().filter_map(|k| k.as_str()));
        }
    }
    [text, command]
        .iter()
        .filter(|k| !k.is_empty())
        .map(|k| keyword_pattern::keyword_pattern(k))
        .collect()
}
