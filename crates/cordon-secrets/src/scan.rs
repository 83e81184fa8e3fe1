//! `Secrets`: find, redact and fingerprint credentials in text and JSON.
use std::collections::BTreeMap;
use std::sync::{LazyLock, OnceLock};

use cordon_core::Keywords;
use hmac::{Hmac, Mac};
use regex::Regex;
use serde::Serialize;
use serde_json::Value as Json;
use sha2::Sha256;

use cordon_core::floor_char_boundary;

use crate::recognizers::{Recognizer, TABLE};

/// How much of a text is scanned by default; bytes past it are not looked at.
pub const DEFAULT_SCAN_LIMIT: usize = 1 << 20;

/// See `secret_span`.
const MAX_GROUPED_MATCH: usize = 8 << 10;

/// One credential found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretHit {
    /// What it is: `aws-access-key-id`, `github-token`, `password-assignment`, ...
    pub kind: &'static str,
    /// Byte range of the secret itself (not of the name or header around it) in the scanned text.
    pub span: (usize, usize),
    /// `Secrets::fingerprint` of the secret.
    pub fingerprint: String,
}

/// The table compiled once per process: its patterns and the anchor prefilter.
struct Compiled {
    /// Each row's regex, compiled the first time its anchor occurs: most
    /// texts name no credential, and compiling all of them was a fifth of a
    /// hook process's start.
    regexes: Vec<OnceLock<Regex>>,
    anchors: Keywords,
    /// For each anchor pattern, the row it belongs to.
    anchor_row: Vec<usize>,
}

/// A row's pattern as compiled: Unicode word boundaries would push the DFA off
/// its fast path on non-ASCII text; ours are ASCII.
fn row_regex(row: &Recognizer) -> Regex {
    Regex::new(&row.pattern.replace(r"\b", r"(?-u:\b)"))
        .unwrap_or_else(|e| panic!("{}: {e}", row.kind))
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let regexes = TABLE.iter().map(|_| OnceLock::new()).collect();
    let (anchor_row, anchors): (Vec<usize>, Vec<&str>) = TABLE
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.anchors.iter().map(move |a| (i, *a)))
        .unzip();
    let anchors = Keywords::new(anchors, true).expect("anchors compile");
    Compiled {
        regexes,
        anchors,
        anchor_row,
    }
});

/// Recognises credentials; holds the key their fingerprints are made with.
pub struct Secrets {
    key: [u8; 32],
    limit: usize,
}

impl Secrets {
    pub fn new(key: [u8; 32]) -> Secrets {
        LazyLock::force(&COMPILED);
        Secrets {
            key,
            limit: DEFAULT_SCAN_LIMIT,
        }
    }

    /// Scan at most `limit` bytes of each text (default `DEFAULT_SCAN_LIMIT`); secrets beyond it go unseen, and
    /// `redact` passes that tail through unchanged.
    pub fn with_scan_limit(mut self, limit: usize) -> Secrets {
        self.limit = limit;
        self
    }

    /// Every credential in `text` (up to the scan limit), in order, none overlapping.
    pub fn scan(&self, text: &str) -> Vec<SecretHit> {
        let text = &text[..floor_char_boundary(text, self.limit)];
        let compiled = &*COMPILED;
        // One pass of the prefilter decides which rows can match at all.
        let mut wanted = vec![false; TABLE.len()];
        compiled
            .anchors
            .each(text, |k| wanted[compiled.anchor_row[k]] = true);
        // Rows in priority order; a hit overlapping one already taken loses.
        let mut taken: BTreeMap<usize, (usize, &'static str)> = BTreeMap::new();
        for ((row, re), _) in TABLE
            .iter()
            .zip(&compiled.regexes)
            .zip(&wanted)
            .filter(|(_, &w)| w)
        {
            let re = re.get_or_init(|| row_regex(row));
            for m in re.find_iter(text) {
                let Some((start, end)) = secret_span(re, text, m) else {
                    continue;
                };
                if accepts(row, m.as_str(), text, start, end) && !overlaps(&taken, start, end) {
                    taken.insert(start, (end, row.kind));
                }
            }
        }
        taken
            .into_iter()
            .map(|(start, (end, kind))| SecretHit {
                kind,
                span: (start, end),
                fingerprint: self.fingerprint(&text[start..end]),
            })
            .collect()
    }

    /// `text` with each secret replaced by `[REDACTED:<kind>:<first 8 hex of its fingerprint>]`, and the hits
    /// (spans in the original text).
    pub fn redact(&self, text: &str) -> (String, Vec<SecretHit>) {
        let hits = self.scan(text);
        (splice(text, &hits), hits)
    }

    /// Redact every string value inside `v`, recursively; object keys are kept, but a key names its value, so
    /// `{"api_key": "..."}` is judged as `api_key: ...` would be. Hit spans are relative to the string they were
    /// found in.
    pub fn redact_value(&self, v: &Json) -> (Json, Vec<SecretHit>) {
        let mut hits = Vec::new();
        let out = self.redact_json(v, None, &mut hits);
        (out, hits)
    }

    /// [`Secrets::redact_value`], serialised as JSON text; a value that holds no
    /// secret (nearly all of them) is serialised as it is, without a copy.
    pub fn redact_value_json(&self, v: &Json) -> (String, Vec<SecretHit>) {
        if self.holds_secret(v, None) {
            let (r, hits) = self.redact_value(v);
            (r.to_string(), hits)
        } else {
            (v.to_string(), Vec::new())
        }
    }

    fn holds_secret(&self, v: &Json, key: Option<&str>) -> bool {
        match v {
            Json::String(s) => !self.found_in(s, key).is_empty(),
            Json::Array(items) => items.iter().any(|i| self.holds_secret(i, None)),
            Json::Object(map) => map.iter().any(|(k, v)| self.holds_secret(v, Some(k))),
            _ => false,
        }
    }

    /// The secrets in one string value; `key` is the object key it sits under.
    fn found_in(&self, s: &str, key: Option<&str>) -> Vec<SecretHit> {
        match key {
            // The key as context: scan `"key": "value"` and keep only what lies inside the value.
            // Only a key that could name a secret changes what is found; framing costs a copy
            // of the value, so ordinary keys (`command`, `content`) are scanned as they are.
            Some(k) if names_a_secret(k) => {
                let prefix = format!("\"{k}\": \"");
                let framed = format!("{prefix}{s}\"");
                let n = prefix.len();
                self.scan(&framed)
                    .into_iter()
                    .filter(|h| h.span.0 >= n && h.span.1 <= n + s.len())
                    .map(|h| SecretHit {
                        span: (h.span.0 - n, h.span.1 - n),
                        ..h
                    })
                    .collect()
            }
            _ => self.scan(s),
        }
    }

    fn redact_json(&self, v: &Json, key: Option<&str>, hits: &mut Vec<SecretHit>) -> Json {
        match v {
            Json::String(s) => {
                let found = self.found_in(s, key);
                let out = splice(s, &found);
                hits.extend(found);
                Json::String(out)
            }
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.redact_json(i, None, hits))
                    .collect(),
            ),
            Json::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.redact_json(v, Some(k), hits)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// HMAC-SHA256 of `secret` under this key, first 16 bytes, lower-case hex: the same secret always gets
    /// the same fingerprint under one key, and nothing about it can be learnt without the key.
    pub fn fingerprint(&self, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(secret.as_bytes());
        hex_lower(&mac.finalize().into_bytes()[..16])
    }
}

/// The secret inside match `m`: all of it when the pattern has no group, else its last group that took part.
/// Finding groups takes a slower engine than finding matches, so a match longer than `MAX_GROUPED_MATCH` is
/// dropped rather than searched for groups; no credential written after a name or flag is that long.
fn secret_span(re: &Regex, text: &str, m: regex::Match) -> Option<(usize, usize)> {
    if re.captures_len() == 1 {
        return Some((m.start(), m.end()));
    }
    if m.len() > MAX_GROUPED_MATCH {
        return None;
    }
    let caps = re.captures_at(text, m.start())?;
    caps.iter()
        .skip(1)
        .flatten()
        .last()
        .map(|g| (g.start(), g.end()))
}

fn accepts(row: &Recognizer, whole: &str, text: &str, start: usize, end: usize) -> bool {
    let quoted = text[..start].ends_with(['"', '\'']);
    let whole = whole.to_ascii_lowercase();
    !row.veto.iter().any(|v| whole.contains(v))
        && !in_redaction(text, start)
        && row.accepts(&text[start..end], quoted)
}

/// Whether `start` lies inside a `[REDACTED:kind:fingerprint]` that `redact` wrote (`url-password:1a2b3c4d` would
/// otherwise read as a password assignment).
fn in_redaction(text: &str, start: usize) -> bool {
    let head = &text.as_bytes()[start.saturating_sub(64)..start];
    head.windows(10)
        .rposition(|w| w == b"[REDACTED:")
        .is_some_and(|i| !head[i..].contains(&b']'))
}

/// Whether [start, end) overlaps any interval in `taken` (keyed by start, non-overlapping).
fn overlaps(taken: &BTreeMap<usize, (usize, &'static str)>, start: usize, end: usize) -> bool {
    taken
        .range(..end)
        .next_back()
        .is_some_and(|(_, &(e, _))| e > start)
}

fn splice(text: &str, hits: &[SecretHit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for h in hits {
        out.push_str(&text[at..h.span.0]);
        out.push_str(&format!("[REDACTED:{}:{}]", h.kind, &h.fingerprint[..8]));
        at = h.span.1;
    }
    out.push_str(&text[at..]);
    out
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Could this object key name a credential? A superset test: the recognizers
/// that read a key as context all need one of these words in it.
fn names_a_secret(key: &str) -> bool {
    const WORDS: &[&str] = &[
        "key", "token", "secret", "pass", "pwd", "auth", "cred", "cookie", "session", "private",
        "sig", "bearer", "api",
    ];
    let k = key.to_ascii_lowercase();
    WORDS.iter().any(|w| k.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows compile lazily; a bad pattern must still fail the tests, not a user's run.
    #[test]
    fn every_row_compiles() {
        for row in TABLE {
            assert!(
                !row_regex(row).as_str().is_empty(),
                "{} has an empty pattern",
                row.kind
            );
        }
        // A text with no anchor compiles nothing.
        let s = Secrets::new([7; 32]);
        assert!(s.scan("ls -la && git status").is_empty());
        assert!(COMPILED.regexes.iter().all(|r| r.get().is_none()));
    }
}
