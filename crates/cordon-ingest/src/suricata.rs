//! Suricata `eve.json`: `flow`, `netflow`, `alert` and `dns` events (others are skipped).
//! Times as Suricata writes them: `2024-03-01T10:00:00.123456+0000`.

use std::borrow::Cow;

use cordon_core::NetRecord;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::time::rfc3339_us;
use crate::{ip, proto_text, Ctx, Parse};

pub(crate) struct Eve;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_ip: Option<Cow<'a, str>>,
    src_port: Option<u16>,
    #[serde(borrow)]
    dest_ip: Option<Cow<'a, str>>,
    dest_port: Option<u16>,
    proto: Option<Value>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    in_iface: Option<Cow<'a, str>>,
    flow_id: Option<u64>,
    #[serde(borrow)]
    app_proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alert: Option<Alert<'a>>,
    #[serde(borrow)]
    flow: Option<Flow<'a>>,
    #[serde(borrow)]
    netflow: Option<Flow<'a>>,
    dns: Option<Value>,
}

#[derive(Deserialize)]
struct Alert<'a> {
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    signature_id: Option<u64>,
    #[serde(borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
    severity: Option<u64>,
}

#[derive(Deserialize)]
struct Flow<'a> {
    bytes_toserver: Option<u64>,
    bytes_toclient: Option<u64>,
    bytes: Option<u64>,
    #[serde(borrow)]
    start: Option<Cow<'a, str>>,
    #[serde(borrow)]
    end: Option<Cow<'a, str>>,
    #[serde(borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
}

fn time(s: &str, what: &str) -> Result<i64, String> {
    match rfc3339_us(s.as_bytes()) {
        Some((t, used)) if used == s.len() => Ok(t),
        _ => Err(format!("{what} {:?} is not a time", crate::clip(s))),
    }
}

impl Parse for Eve {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let e: Event = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
        let kind = match e.event_type.as_deref() {
            Some(k @ ("flow" | "netflow" | "alert" | "dns")) => k,
            Some(_) => return Ok(false),
            None => return Err("no event_type".into()),
        };
        let stamp = time(e.timestamp.as_deref().ok_or("no timestamp")?, "timestamp")?;
        let mut rec = ctx.record("suricata", kind, stamp);
        rec.src = Some(ip(
            e.src_ip.as_deref().ok_or("no src_ip")?.as_bytes(),
            "src_ip",
        )?);
        rec.dst = Some(ip(
            e.dest_ip.as_deref().ok_or("no dest_ip")?.as_bytes(),
            "dest_ip",
        )?);
        rec.sport = e.src_port;
        rec.dport = e.dest_port;
        rec.proto = match &e.proto {
            Some(Value::String(p)) => Some(proto_text(p.as_bytes())?),
            Some(Value::Number(n)) => n.as_u64().map(crate::proto_name),
            _ => None,
        };
        if let Some(h) = e.host {
            rec.host = Some(h.into_owned());
        }
        let mut detail = Map::new();
        if let Some(id) = e.flow_id {
            detail.insert("flow_id".into(), id.into());
        }
        for (k, v) in [("app_proto", e.app_proto), ("in_iface", e.in_iface)] {
            if let Some(v) = v {
                detail.insert(k.into(), Value::String(v.into_owned()));
            }
        }
        if let Some(f) = e.flow.as_ref().or(e.netflow.as_ref()) {
            if kind == "flow" || kind == "netflow" {
                if let Some(s) = &f.start {
                    rec.ts_us = time(s, "flow start")?;
                }
                if let Some(end) = &f.end {
                    rec.end_us = Some(time(end, "flow end")?);
                }
                if let Some(state) = &f.state {
                    detail.insert("state".into(), Value::String(state.to_string()));
                }
                rec.action = match f.action.as_deref() {
                    Some("drop" | "reject" | "blocked") => Some("blocked".into()),
                    Some("pass" | "allowed" | "accept") => Some("allowed".into()),
                    _ => None,
                };
            }
            rec.bytes_out = f.bytes_toserver.or(f.bytes);
            rec.bytes_in = f.bytes_toclient;
        }
        if let Some(a) = e.alert {
            rec.action = Some(
                if matches!(a.action.as_deref(), Some("blocked" | "drop")) {
                    "blocked"
                } else {
                    "alert"
                }
                .into(),
            );
            if let Some(id) = a.signature_id {
                detail.insert("signature_id".into(), id.into());
            }
            for (k, v) in [("signature", a.signature), ("category", a.category)] {
                if let Some(v) = v {
                    detail.insert(k.into(), Value::String(v.into_owned()));
                }
            }
            if let Some(s) = a.severity {
                detail.insert("severity".into(), s.into());
            }
        } else if kind == "alert" {
            return Err("alert event without an alert object".into());
        }
        if let Some(dns) = &e.dns {
            // v1/v2: {"type":"query","rrname":..}; v3: {"queries":[{"rrname":..}]}.
            let q = dns.get("rrname").or_else(|| {
                dns.get("queries")
                    .and_then(|q| q.get(0))
                    .and_then(|q| q.get("rrname"))
            });
            if let Some(Value::String(q)) = q {
                detail.insert("query".into(), Value::String(q.clone()));
            }
            let rrtype = dns.get("rrtype").or_else(|| {
                dns.get("queries")
                    .and_then(|q| q.get(0))
                    .and_then(|q| q.get("rrtype"))
            });
            if let Some(Value::String(t)) = rrtype {
                detail.insert("rrtype".into(), Value::String(t.clone()));
            }
            if let Some(Value::String(t)) = dns.get("type") {
                detail.insert("dns_type".into(), Value::String(t.clone()));
            }
        }
        rec.detail = Value::Object(detail);
        out.push(rec);
        Ok(true)
    }
}
