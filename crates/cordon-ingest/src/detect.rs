//! Which format a file is in, from its first lines.

use memchr::memmem;

use crate::Format;

/// The format the first lines of an input show, or `None` when none fits. Each line is tried in
/// order; blank lines decide nothing.
pub fn detect(lines: &[&[u8]]) -> Option<Format> {
    lines.iter().find_map(|l| one(l))
}

fn one(line: &[u8]) -> Option<Format> {
    let l = trim(line);
    if l.is_empty() {
        return None;
    }
    if l.starts_with(b"#separator") || l.starts_with(b"#fields") || l.starts_with(b"#path") {
        return Some(Format::ZeekTsv);
    }
    if l[0] == b'{' {
        let v: serde_json::Value = serde_json::from_slice(l).ok()?;
        let has = |k: &str| v.get(k).is_some();
        return if has("event_type") && has("timestamp") {
            Some(Format::Suricata)
        } else if has("id.orig_h") {
            Some(Format::ZeekJson)
        } else if has("__REALTIME_TIMESTAMP") || (has("MESSAGE") && has("_HOSTNAME")) {
            Some(Format::JournalJson)
        } else if has("ts_us") && has("source") {
            Some(Format::Sandbox)
        } else {
            None
        };
    }
    if journal_field(l) {
        return Some(Format::JournalExport);
    }
    let first = l.split(|c| *c == b' ').next().unwrap_or_default();
    if first == b"version" && memmem::find(l, b"srcaddr").is_some() {
        return Some(Format::VpcFlow);
    }
    let tokens: Vec<&[u8]> = l.split(|c| *c == b' ').filter(|t| !t.is_empty()).collect();
    if tokens.len() >= 14
        && matches!(tokens[0], b"2" | b"3" | b"4" | b"5")
        && (tokens[2].starts_with(b"eni-") || tokens[2] == b"-")
    {
        return Some(Format::VpcFlow);
    }
    if (memmem::find(l, b"[NEW]").is_some()
        || memmem::find(l, b"[UPDATE]").is_some()
        || memmem::find(l, b"[DESTROY]").is_some())
        || (memmem::find(l, b" src=").is_some() && memmem::find(l, b" dst=").is_some())
    {
        return Some(Format::Conntrack);
    }
    if memmem::find(l, b"IN=").is_some()
        && memmem::find(l, b" SRC=").is_some()
        && memmem::find(l, b" DST=").is_some()
    {
        return Some(Format::Netfilter);
    }
    None
}

/// `__CURSOR=...`, `__REALTIME_TIMESTAMP=...`: a journald export field line.
fn journal_field(l: &[u8]) -> bool {
    l.starts_with(b"__CURSOR=")
        || l.starts_with(b"__REALTIME_TIMESTAMP=")
        || l.starts_with(b"__MONOTONIC_TIMESTAMP=")
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}
