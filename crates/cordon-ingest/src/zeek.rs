//! Zeek `conn.log` (and `dns.log`): the tab-separated form with its `#separator`, `#unset_field`,
//! `#fields` headers, and the JSON form (`LogAscii::use_json`), epoch or ISO 8601 times.

use std::borrow::Cow;

use cordon_core::NetRecord;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::time::{epoch_secs_us, rfc3339_us};
use crate::{clip_bytes, count, ip, proto_text, Ctx, Parse};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Ts,
    Uid,
    OrigH,
    OrigP,
    RespH,
    RespP,
    Proto,
    Service,
    Duration,
    OrigBytes,
    RespBytes,
    ConnState,
    Query,
    Node,
    Other,
}

fn col(name: &[u8]) -> Col {
    match name {
        b"ts" => Col::Ts,
        b"uid" => Col::Uid,
        b"id.orig_h" => Col::OrigH,
        b"id.orig_p" => Col::OrigP,
        b"id.resp_h" => Col::RespH,
        b"id.resp_p" => Col::RespP,
        b"proto" => Col::Proto,
        b"service" => Col::Service,
        b"duration" => Col::Duration,
        b"orig_bytes" => Col::OrigBytes,
        b"resp_bytes" => Col::RespBytes,
        b"conn_state" => Col::ConnState,
        b"query" => Col::Query,
        b"_node_name" => Col::Node,
        _ => Col::Other,
    }
}

pub(crate) struct Tsv {
    sep: Vec<u8>,
    unset: Vec<u8>,
    empty: Vec<u8>,
    cols: Vec<Col>,
    kind: &'static str,
}

impl Default for Tsv {
    fn default() -> Self {
        Tsv {
            sep: b"\t".to_vec(),
            unset: b"-".to_vec(),
            empty: b"(empty)".to_vec(),
            cols: Vec::new(),
            kind: "flow",
        }
    }
}

/// `\x09` escapes in header values.
fn unescape(v: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && v.get(i + 1) == Some(&b'x') && i + 4 <= v.len() {
            let hex = std::str::from_utf8(&v[i + 2..i + 4])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("bad \\x escape in #separator")?;
            out.push(hex);
            i += 4;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    Ok(out)
}

impl Tsv {
    fn header(&mut self, line: &[u8]) -> Result<(), String> {
        if let Some(v) = line.strip_prefix(b"#separator ") {
            let sep = unescape(v)?;
            if sep.is_empty() {
                return Err("empty #separator".into());
            }
            self.sep = sep;
            return Ok(());
        }
        let Some(split) = memchr::memmem::find(line, &self.sep) else {
            return Ok(());
        };
        let (key, value) = (&line[..split], &line[split + self.sep.len()..]);
        match key {
            b"#unset_field" => self.unset = value.to_vec(),
            b"#empty_field" => self.empty = value.to_vec(),
            b"#path" => self.kind = if value == b"dns" { "dns" } else { "flow" },
            b"#fields" => {
                let cols: Vec<Col> = split_sep(value, &self.sep).map(col).collect();
                for need in [Col::Ts, Col::OrigH, Col::RespH] {
                    if !cols.contains(&need) {
                        return Err("#fields lacks ts, id.orig_h or id.resp_h".into());
                    }
                }
                self.cols = cols;
            }
            _ => {}
        }
        Ok(())
    }
}

fn split_sep<'a>(line: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let r = rest?;
        let found = if sep.len() == 1 {
            memchr::memchr(sep[0], r)
        } else {
            memchr::memmem::find(r, sep)
        };
        match found {
            Some(i) => {
                rest = Some(&r[i + sep.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Seconds with a fraction, as Zeek writes `duration`, to µs.
fn duration_us(v: &[u8]) -> Option<i64> {
    epoch_secs_us(v)
}

impl Parse for Tsv {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if line.first() == Some(&b'#') {
            self.header(line)?;
            return Ok(false);
        }
        if line.is_empty() {
            return Ok(false);
        }
        if self.cols.is_empty() {
            return Err("data line before the #fields header".into());
        }
        let mut rec = ctx.record("zeek", self.kind, 0);
        let mut have_ts = false;
        let mut detail = Map::new();
        let mut n = 0;
        for (i, v) in split_sep(line, &self.sep).enumerate() {
            n = i + 1;
            let Some(&c) = self.cols.get(i) else {
                return Err(format!(
                    "more fields than the {} of #fields",
                    self.cols.len()
                ));
            };
            if c == Col::Other || v == self.unset.as_slice() || v == self.empty.as_slice() {
                continue;
            }
            match c {
                Col::Ts => {
                    rec.ts_us = epoch_secs_us(v)
                        .ok_or_else(|| format!("ts {:?} is not a time", clip_bytes(v)))?;
                    have_ts = true;
                }
                Col::OrigH => rec.src = Some(ip(v, "id.orig_h")?),
                Col::RespH => rec.dst = Some(ip(v, "id.resp_h")?),
                Col::OrigP => rec.sport = Some(crate::port(v, "id.orig_p")?),
                Col::RespP => rec.dport = Some(crate::port(v, "id.resp_p")?),
                Col::Proto => rec.proto = Some(proto_text(v)?),
                Col::OrigBytes => rec.bytes_out = Some(count(v, "orig_bytes")?),
                Col::RespBytes => rec.bytes_in = Some(count(v, "resp_bytes")?),
                Col::Duration => {
                    let d = duration_us(v)
                        .ok_or_else(|| format!("duration {:?} is not a number", clip_bytes(v)))?;
                    rec.end_us = Some(d);
                }
                Col::Node => rec.host = Some(String::from_utf8_lossy(v).into_owned()),
                Col::Uid | Col::Service | Col::ConnState | Col::Query => {
                    let key = match c {
                        Col::Uid => "uid",
                        Col::Service => "service",
                        Col::ConnState => "conn_state",
                        _ => "query",
                    };
                    detail.insert(
                        key.into(),
                        Value::String(String::from_utf8_lossy(v).into_owned()),
                    );
                }
                Col::Other => {}
            }
        }
        if n != self.cols.len() {
            return Err(format!("{n} fields, #fields names {}", self.cols.len()));
        }
        if !have_ts || rec.src.is_none() || rec.dst.is_none() {
            return Err("ts, id.orig_h or id.resp_h unset".into());
        }
        // `end_us` held the duration until ts was known.
        rec.end_us = rec.end_us.map(|d| rec.ts_us.saturating_add(d));
        rec.detail = Value::Object(detail);
        out.push(rec);
        Ok(true)
    }
}

pub(crate) struct Json;

#[derive(Deserialize)]
#[serde(untagged)]
enum Ts<'a> {
    Num(f64),
    Str(#[serde(borrow)] Cow<'a, str>),
}

fn ts_us(t: &Ts) -> Option<i64> {
    match t {
        Ts::Num(f) if f.is_finite() && f.abs() < 1e12 => Some((f * 1e6).round() as i64),
        Ts::Num(_) => None,
        Ts::Str(s) => rfc3339_us(s.as_bytes())
            .filter(|(_, used)| *used == s.len())
            .map(|(t, _)| t),
    }
}

#[derive(Deserialize)]
struct Conn<'a> {
    #[serde(borrow)]
    ts: Option<Ts<'a>>,
    #[serde(borrow)]
    uid: Option<Cow<'a, str>>,
    #[serde(rename = "id.orig_h", borrow)]
    orig_h: Option<Cow<'a, str>>,
    #[serde(rename = "id.orig_p")]
    orig_p: Option<u16>,
    #[serde(rename = "id.resp_h", borrow)]
    resp_h: Option<Cow<'a, str>>,
    #[serde(rename = "id.resp_p")]
    resp_p: Option<u16>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service: Option<Cow<'a, str>>,
    duration: Option<f64>,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    #[serde(borrow)]
    conn_state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    query: Option<Cow<'a, str>>,
    #[serde(rename = "_node_name", borrow)]
    node: Option<Cow<'a, str>>,
    #[serde(rename = "_path", borrow)]
    path: Option<Cow<'a, str>>,
}

impl Parse for Json {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let c: Conn = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
        let ts = c.ts.as_ref().ok_or("no ts")?;
        let ts = ts_us(ts).ok_or("ts is not a time")?;
        let kind = if c.path.as_deref() == Some("dns") || c.query.is_some() {
            "dns"
        } else {
            "flow"
        };
        let mut rec = ctx.record("zeek", kind, ts);
        rec.src = Some(ip(
            c.orig_h.as_deref().ok_or("no id.orig_h")?.as_bytes(),
            "id.orig_h",
        )?);
        rec.dst = Some(ip(
            c.resp_h.as_deref().ok_or("no id.resp_h")?.as_bytes(),
            "id.resp_h",
        )?);
        rec.sport = c.orig_p;
        rec.dport = c.resp_p;
        rec.proto = c
            .proto
            .as_deref()
            .map(|p| proto_text(p.as_bytes()))
            .transpose()?;
        rec.bytes_out = c.orig_bytes;
        rec.bytes_in = c.resp_bytes;
        if let Some(d) = c
            .duration
            .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
        {
            rec.end_us = Some(ts + (d * 1e6).round() as i64);
        }
        if let Some(n) = c.node {
            rec.host = Some(n.into_owned());
        }
        let mut detail = Map::new();
        for (k, v) in [
            ("uid", c.uid),
            ("service", c.service),
            ("conn_state", c.conn_state),
            ("query", c.query),
        ] {
            if let Some(v) = v {
                detail.insert(k.into(), Value::String(v.into_owned()));
            }
        }
        rec.detail = Value::Object(detail);
        out.push(rec);
        Ok(true)
    }
}
