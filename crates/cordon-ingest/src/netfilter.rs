//! Netfilter `LOG` (iptables `-j LOG`, nftables `log`) kernel messages:
//! `PREFIX IN=eth0 OUT= MAC=... SRC=10.0.0.5 DST=203.0.113.5 LEN=60 ... PROTO=TCP SPT=43210 DPT=22 ... SYN URGP=0`,
//! in a syslog file (RFC 3339, BSD or RFC 5424 header) or in journald's export and JSON forms.

use std::borrow::Cow;

use cordon_core::NetRecord;
use memchr::memmem;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::time::{bsd_syslog_us, num, rfc3339_us};
use crate::{clip_bytes, count, ip, port, proto_text, Ctx, Parse};

/// Syslog lines.
pub(crate) struct Syslog;

impl Parse for Syslog {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let at = find_in(line).ok_or("no IN= field: not a netfilter LOG line")?;
        let (ts, host, prefix) = syslog_head(&line[..at], ctx.opts.now_us)?;
        let mut rec = message(&line[at..], prefix, ts, ctx)?;
        if let Some(h) = host {
            rec.host = Some(h);
        }
        out.push(rec);
        Ok(true)
    }
}

/// Where the `IN=` field starts: at the start, or after a space, `:` or `]`.
fn find_in(line: &[u8]) -> Option<usize> {
    // Built once: `memmem::find` would build its searcher on every line.
    static FINDER: std::sync::LazyLock<memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memmem::Finder::new(b"IN="));
    let mut from = 0;
    while let Some(i) = FINDER.find(&line[from..]) {
        let at = from + i;
        if at == 0 || matches!(line[at - 1], b' ' | b':' | b']' | b'\t') {
            return Some(at);
        }
        from = at + 3;
    }
    None
}

/// The syslog header before the message: time, host, and the log prefix (what is left after the
/// tag and the kernel's uptime stamp).
fn syslog_head(head: &[u8], now_us: i64) -> Result<(i64, Option<String>, &[u8]), String> {
    let mut rest = head;
    // `<4>` priority, then an RFC 5424 version.
    if rest.first() == Some(&b'<') {
        let close =
            memchr::memchr(b'>', &rest[..rest.len().min(6)]).ok_or("bad syslog priority")?;
        rest = &rest[close + 1..];
        if rest.starts_with(b"1 ") {
            rest = &rest[2..];
        }
    }
    let (ts, used) = if let Some((ts, used)) = rfc3339_us(rest) {
        (ts, used)
    } else if let Some(ts) = bsd_syslog_us(rest, now_us) {
        (ts, 15)
    } else {
        return Err(format!(
            "no syslog time at the start of the line ({:?})",
            clip_bytes(rest)
        ));
    };
    rest = skip_spaces(&rest[used..]);
    let host_end = memchr::memchr(b' ', rest).ok_or("no host after the syslog time")?;
    let host = String::from_utf8_lossy(&rest[..host_end]).into_owned();
    rest = skip_spaces(&rest[host_end..]);
    // The tag: `kernel:`, or RFC 5424 `kernel - - -`.
    let tag_end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let tag = &rest[..tag_end];
    rest = skip_spaces(&rest[tag_end..]);
    if !tag.ends_with(b":") {
        for _ in 0..3 {
            if rest.first() == Some(&b'-') && rest.get(1).is_none_or(|c| *c == b' ') {
                rest = skip_spaces(&rest[1.min(rest.len())..]);
            }
        }
    }
    // `[ 1234.567890] ` uptime stamp.
    if rest.first() == Some(&b'[') {
        if let Some(close) = memchr::memchr(b']', rest) {
            if rest[1..close]
                .iter()
                .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b' ')
            {
                rest = skip_spaces(&rest[close + 1..]);
            }
        }
    }
    Ok((ts, Some(host), rest))
}

fn skip_spaces(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| **c == b' ' || **c == b'\t').count();
    &b[n..]
}

/// The fields of a kernel LOG message starting at `IN=`.
fn message(fields: &[u8], prefix: &[u8], ts: i64, ctx: &Ctx) -> Result<NetRecord, String> {
    let prefix = trim_end(prefix);
    let source = if contains_ci(prefix, b"nft") {
        "nftables"
    } else {
        "iptables"
    };
    let mut rec = ctx.record(source, "packet", ts);
    let (mut iface_in, mut iface_out, mut len) = (&b""[..], &b""[..], None);
    let mut proto: Option<&[u8]> = None;
    for tok in fields.split(|c| *c == b' ') {
        let Some(eq) = memchr::memchr(b'=', tok) else {
            continue;
        };
        let (k, v) = (&tok[..eq], &tok[eq + 1..]);
        match k {
            b"IN" => iface_in = v,
            b"OUT" => iface_out = v,
            b"SRC" => rec.src = Some(ip(v, "SRC")?),
            b"DST" => rec.dst = Some(ip(v, "DST")?),
            b"PROTO" => proto = Some(v),
            b"SPT" => rec.sport = Some(port(v, "SPT")?),
            b"DPT" => rec.dport = Some(port(v, "DPT")?),
            b"LEN" if len.is_none() => len = Some(count(v, "LEN")?),
            _ => {}
        }
    }
    if rec.src.is_none() || rec.dst.is_none() {
        return Err("LOG line without SRC= and DST=".into());
    }
    if let Some(p) = proto {
        rec.proto = Some(proto_text(p)?);
    }
    rec.action = action(prefix).map(str::to_owned);
    let mut detail = Map::new();
    if !prefix.is_empty() {
        detail.insert(
            "prefix".into(),
            Value::String(String::from_utf8_lossy(prefix).into_owned()),
        );
    }
    if !iface_in.is_empty() {
        detail.insert(
            "in".into(),
            Value::String(String::from_utf8_lossy(iface_in).into_owned()),
        );
    }
    if !iface_out.is_empty() {
        detail.insert(
            "out".into(),
            Value::String(String::from_utf8_lossy(iface_out).into_owned()),
        );
    }
    if let Some(len) = len {
        detail.insert("len".into(), len.into());
    }
    rec.detail = Value::Object(detail);
    Ok(rec)
}

/// What the log prefix says was done: the words rule writers put there.
fn action(prefix: &[u8]) -> Option<&'static str> {
    if ["DROP", "REJECT", "DENY", "BLOCK"]
        .iter()
        .any(|w| contains_ci(prefix, w.as_bytes()))
    {
        Some("blocked")
    } else if ["ACCEPT", "ALLOW", "PASS"]
        .iter()
        .any(|w| contains_ci(prefix, w.as_bytes()))
    {
        Some("allowed")
    } else {
        None
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn trim_end(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |e| e + 1);
    &b[..end]
}

/// A kernel message from journald (`MESSAGE`), with the entry's time and host.
fn journal_message(
    msg: &[u8],
    ts: i64,
    host: Option<String>,
    ctx: &Ctx,
) -> Result<NetRecord, String> {
    let at = find_in(msg).ok_or("MESSAGE has no IN= field: not a netfilter LOG message")?;
    let mut rec = message(&msg[at..], &msg[..at], ts, ctx)?;
    if host.is_some() {
        rec.host = host;
    }
    Ok(rec)
}

/// `journalctl -o export`: `KEY=value` lines, entries separated by a blank line; a field whose
/// value is binary is its name on a line, then a 64-bit little-endian length, the bytes and `\n`.
#[derive(Default)]
pub(crate) struct JournalExport {
    /// The entry so far.
    ts: Option<i64>,
    host: Option<String>,
    message: Option<Vec<u8>>,
    start: u64,
    in_entry: bool,
    /// A field of this entry was bad (already reported): the entry yields nothing.
    broken: bool,
    /// A binary field being read: its name and the bytes so far (line ends put back).
    binary: Option<(Vec<u8>, Vec<u8>, bool)>,
}

impl JournalExport {
    fn field(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        match key {
            b"__REALTIME_TIMESTAMP" => {
                self.ts = Some(num(value).map(|n| n as i64).ok_or_else(|| {
                    format!(
                        "__REALTIME_TIMESTAMP {:?} is not a number",
                        clip_bytes(value)
                    )
                })?)
            }
            b"_HOSTNAME" => self.host = Some(String::from_utf8_lossy(value).into_owned()),
            b"MESSAGE" => self.message = Some(value.to_vec()),
            _ => {}
        }
        Ok(())
    }

    /// The entry ends: its record, if it is a netfilter message.
    fn end(&mut self, ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        let (ts, host, msg) = (self.ts.take(), self.host.take(), self.message.take());
        self.in_entry = false;
        if std::mem::take(&mut self.broken) {
            return Ok(false);
        }
        let Some(msg) = msg else { return Ok(false) };
        if find_in(&msg).is_none() {
            return Ok(false); // another kernel or service message
        }
        let ctx = Ctx {
            opts: ctx.opts,
            origin: ctx.origin,
            line: self.start,
        };
        let ts =
            ts.ok_or_else(|| format!("entry at line {} has no __REALTIME_TIMESTAMP", self.start))?;
        out.push(journal_message(&msg, ts, host, &ctx)?);
        Ok(true)
    }
}

/// Binary fields larger than this are refused (the stream goes on after them).
const MAX_BINARY: u64 = 1 << 20;

impl Parse for JournalExport {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if let Some((name, mut data, started)) = self.binary.take() {
            if started {
                data.push(b'\n');
            }
            data.extend_from_slice(line);
            if data.len() < 8 {
                self.binary = Some((name, data, true));
                return Ok(false);
            }
            let len = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
            if len > MAX_BINARY {
                self.binary = None;
                return Err(format!("binary field of {len} bytes is too large"));
            }
            if (data.len() as u64) < 8 + len {
                self.binary = Some((name, data, true));
                return Ok(false);
            }
            if data.len() as u64 != 8 + len {
                return Err("binary field length does not match its data".into());
            }
            self.field(&name, &data[8..])?;
            return Ok(false);
        }
        if line.is_empty() {
            return if self.in_entry {
                self.end(ctx, out)
            } else {
                Ok(false)
            };
        }
        if !self.in_entry {
            self.in_entry = true;
            self.start = ctx.line;
        }
        match memchr::memchr(b'=', line) {
            Some(eq) => {
                let r = self.field(&line[..eq], &line[eq + 1..]);
                self.broken |= r.is_err();
                r.map(|()| false)
            }
            None => {
                if line.len() > 256
                    || !line
                        .iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
                {
                    return Err("neither KEY=value nor a binary field name".into());
                }
                self.binary = Some((line.to_vec(), Vec::new(), false));
                Ok(false)
            }
        }
    }

    fn finish(&mut self, ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if self.binary.is_some() {
            return Err("input ends inside a binary field".into());
        }
        if self.in_entry {
            self.end(ctx, out)
        } else {
            Ok(false)
        }
    }
}

/// `journalctl -o json`: one entry a line.
pub(crate) struct JournalJson;

#[derive(Deserialize)]
struct JournalEntry<'a> {
    #[serde(rename = "__REALTIME_TIMESTAMP", borrow)]
    realtime: Option<Cow<'a, str>>,
    #[serde(rename = "_HOSTNAME", borrow)]
    hostname: Option<Cow<'a, str>>,
    #[serde(rename = "MESSAGE")]
    message: Option<Value>,
}

impl Parse for JournalJson {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let e: JournalEntry =
            serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
        // MESSAGE is a string, or an array of bytes when it is not UTF-8.
        let msg: Vec<u8> = match e.message {
            Some(Value::String(s)) => s.into_bytes(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<_>>()
                .ok_or("MESSAGE array is not bytes")?,
            Some(_) => return Err("MESSAGE is neither a string nor bytes".into()),
            None => return Ok(false),
        };
        if find_in(&msg).is_none() {
            return Ok(false);
        }
        let ts = e
            .realtime
            .as_deref()
            .and_then(|t| num(t.as_bytes()))
            .ok_or("no __REALTIME_TIMESTAMP (microseconds) in the entry")? as i64;
        out.push(journal_message(
            &msg,
            ts,
            e.hostname.map(Cow::into_owned),
            ctx,
        )?);
        Ok(true)
    }
}
