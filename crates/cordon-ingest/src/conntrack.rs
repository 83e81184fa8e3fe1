//! `conntrack -E` events (also `-L` listings):
//! `[1709287200.123456]        [NEW] tcp      6 120 SYN_SENT src=10.0.0.5 dst=203.0.113.5 sport=43210 dport=22 [UNREPLIED] src=203.0.113.5 dst=10.0.0.5 sport=22 dport=43210`
//! with `-o timestamp` (the bracketed time), `-o extended` (`ipv4     2` first), accounting
//! (`packets=` `bytes=` per direction) and `delta-time=` on `[DESTROY]` when timestamping is on.
//! Without a time on the line, the time it was read is used (live `conntrack -E | cordon ingest -`).

use cordon_core::NetRecord;
use serde_json::{Map, Value};

use crate::time::{epoch_secs_us, num, rfc3339_us};
use crate::{clip_bytes, count, ip, port, proto_text, Ctx, Parse};

pub(crate) struct Conntrack;

impl Parse for Conntrack {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        let mut rest = trim_start(line);
        if rest.is_empty() {
            return Ok(false);
        }
        // The time: `[1709287200.123456]` (-o timestamp) or an RFC 3339 stamp a logger put first.
        let mut ts = None;
        if rest.first() == Some(&b'[') {
            if let Some(close) = memchr::memchr(b']', rest) {
                if let Some(t) = epoch_secs_us(&rest[1..close]) {
                    ts = Some(t);
                    rest = trim_start(&rest[close + 1..]);
                }
            }
        } else if let Some((t, used)) = rfc3339_us(rest) {
            ts = Some(t);
            rest = trim_start(&rest[used..]);
        }
        let (ts, from_arrival) = match ts {
            Some(t) => (t, false),
            None if ctx.opts.arrival_time => (crate::now_us(), true),
            None => return Err("no time on the line (run conntrack -E -o timestamp)".into()),
        };
        let mut event: Option<&[u8]> = None;
        if rest.first() == Some(&b'[') {
            let close = memchr::memchr(b']', rest).ok_or("unclosed [ in the event type")?;
            event = Some(&rest[1..close]);
            rest = &rest[close + 1..];
        }
        let mut rec = ctx.record("conntrack", "flow", ts);
        rec.action = Some("allowed".into());
        let mut state: Option<&[u8]> = None;
        let mut delta: Option<u64> = None;
        // Direction 0 is the original tuple, 1 the reply.
        let mut dir = 0usize;
        let mut seen_src = false;
        let (mut bytes, mut reply_src) = ([None, None], None::<String>);
        let mut in_bracket = false;
        let mut positional = 0;
        for tok in rest.split(|c| *c == b' ' || *c == b'\t') {
            if tok.is_empty() {
                continue;
            }
            if in_bracket {
                in_bracket = !tok.ends_with(b"]");
                continue;
            }
            if tok[0] == b'[' {
                in_bracket = !tok.ends_with(b"]");
                continue;
            }
            let Some(eq) = memchr::memchr(b'=', tok) else {
                // Positional: [ipv4 2] proto protonum [timeout] [STATE]
                if tok == b"ipv4" || tok == b"ipv6" {
                    continue;
                }
                if rec.proto.is_none() && tok[0].is_ascii_lowercase() {
                    rec.proto = Some(proto_text(tok)?);
                } else if tok[0].is_ascii_uppercase() && state.is_none() {
                    state = Some(tok);
                } else if num(tok).is_none() {
                    return Err(format!("unexpected {:?}", clip_bytes(tok)));
                }
                positional += 1;
                if positional > 8 {
                    return Err("too many fields before src=".into());
                }
                continue;
            };
            let (k, v) = (&tok[..eq], &tok[eq + 1..]);
            match k {
                b"src" => {
                    if seen_src {
                        dir = 1;
                    }
                    seen_src = true;
                    if dir == 0 {
                        rec.src = Some(ip(v, "src")?);
                    } else {
                        reply_src = Some(ip(v, "src")?);
                    }
                }
                b"dst" if dir == 0 => rec.dst = Some(ip(v, "dst")?),
                b"dst" => {
                    ip(v, "dst")?;
                }
                b"sport" if dir == 0 => rec.sport = Some(port(v, "sport")?),
                b"dport" if dir == 0 => rec.dport = Some(port(v, "dport")?),
                b"sport" | b"dport" => {
                    port(v, "port")?;
                }
                b"bytes" => bytes[dir] = Some(count(v, "bytes")?),
                b"delta-time" => delta = Some(count(v, "delta-time")?),
                _ => {}
            }
        }
        if rec.proto.is_none() || rec.src.is_none() || rec.dst.is_none() {
            return Err("not a conntrack event: needs a protocol, src= and dst=".into());
        }
        rec.bytes_out = bytes[0];
        rec.bytes_in = bytes[1];
        let event = event.map(|e| String::from_utf8_lossy(e).to_ascii_lowercase());
        if event.as_deref() == Some("destroy") {
            if let Some(d) = delta {
                rec.end_us = Some(ts);
                rec.ts_us = ts - (d.min(1 << 32) as i64) * 1_000_000;
            }
        }
        let mut detail = Map::new();
        if let Some(e) = event {
            detail.insert("event".into(), Value::String(e));
        }
        if let Some(s) = state {
            detail.insert(
                "state".into(),
                Value::String(String::from_utf8_lossy(s).into_owned()),
            );
        }
        if let Some(r) = reply_src {
            if Some(&r) != rec.dst.as_ref() {
                detail.insert("reply_src".into(), Value::String(r)); // NAT: the reply comes from elsewhere
            }
        }
        if from_arrival {
            detail.insert("ts_from".into(), Value::String("arrival".into()));
        }
        rec.detail = Value::Object(detail);
        out.push(rec);
        Ok(true)
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}
