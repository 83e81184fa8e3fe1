//! AWS VPC Flow Logs: the default format (version 2, 14 space-separated fields), or any version and
//! custom field list when the file starts with the header line of field names S3 delivery writes
//! (`version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status`).
//! `NODATA` and `SKIPDATA` records are skipped.

use cordon_core::NetRecord;
use serde_json::{Map, Value};

use crate::time::num;
use crate::{clip_bytes, count, ip, port, Ctx, Parse};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Version,
    Account,
    Interface,
    Src,
    Dst,
    Sport,
    Dport,
    Protocol,
    Bytes,
    Start,
    End,
    Action,
    Status,
    Instance,
    Vpc,
    Direction,
    PktSrc,
    PktDst,
    TcpFlags,
    Other,
}

fn col(name: &[u8]) -> Col {
    match name {
        b"version" => Col::Version,
        b"account-id" => Col::Account,
        b"interface-id" => Col::Interface,
        b"srcaddr" => Col::Src,
        b"dstaddr" => Col::Dst,
        b"srcport" => Col::Sport,
        b"dstport" => Col::Dport,
        b"protocol" => Col::Protocol,
        b"bytes" => Col::Bytes,
        b"start" => Col::Start,
        b"end" => Col::End,
        b"action" => Col::Action,
        b"log-status" => Col::Status,
        b"instance-id" => Col::Instance,
        b"vpc-id" => Col::Vpc,
        b"flow-direction" => Col::Direction,
        b"pkt-srcaddr" => Col::PktSrc,
        b"pkt-dstaddr" => Col::PktDst,
        b"tcp-flags" => Col::TcpFlags,
        _ => Col::Other,
    }
}

const V2: [Col; 14] = [
    Col::Version,
    Col::Account,
    Col::Interface,
    Col::Src,
    Col::Dst,
    Col::Sport,
    Col::Dport,
    Col::Protocol,
    Col::Other, // packets
    Col::Bytes,
    Col::Start,
    Col::End,
    Col::Action,
    Col::Status,
];

#[derive(Default)]
pub(crate) struct Vpc {
    cols: Option<Vec<Col>>,
}

impl Parse for Vpc {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        if line.starts_with(b"version ")
            || line.starts_with(b"account-id ")
            || line.starts_with(b"interface-id ")
        {
            let cols: Vec<Col> = line
                .split(|c| *c == b' ')
                .filter(|t| !t.is_empty())
                .map(col)
                .collect();
            for need in [Col::Src, Col::Dst, Col::Start] {
                if !cols.contains(&need) {
                    return Err("header line lacks srcaddr, dstaddr or start".into());
                }
            }
            self.cols = Some(cols);
            return Ok(false);
        }
        let cols: &[Col] = self.cols.as_deref().unwrap_or(&V2);
        let mut rec = ctx.record("vpcflow", "flow", 0);
        let (mut start, mut end, mut instance, mut eni) = (None, None, None, None);
        let mut detail = Map::new();
        let mut n = 0;
        for (i, v) in line
            .split(|c| *c == b' ')
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            n = i + 1;
            let Some(&c) = cols.get(i) else {
                return Err(format!("more than the {} fields expected", cols.len()));
            };
            if v == b"-" {
                continue;
            }
            match c {
                Col::Version => {
                    if !matches!(num(v), Some(2..=8)) {
                        return Err(format!(
                            "version {:?} is not a flow log version",
                            clip_bytes(v)
                        ));
                    }
                }
                Col::Src => rec.src = Some(ip(v, "srcaddr")?),
                Col::Dst => rec.dst = Some(ip(v, "dstaddr")?),
                Col::Sport => rec.sport = Some(port(v, "srcport")?),
                Col::Dport => rec.dport = Some(port(v, "dstport")?),
                Col::Protocol => rec.proto = Some(crate::proto_name(count(v, "protocol")?)),
                Col::Bytes => rec.bytes_out = Some(count(v, "bytes")?),
                Col::Start => start = Some(count(v, "start")?),
                Col::End => end = Some(count(v, "end")?),
                Col::Action => {
                    rec.action = Some(
                        match v {
                            b"ACCEPT" => "allowed",
                            b"REJECT" => "blocked",
                            _ => {
                                return Err(format!(
                                    "action {:?} is neither ACCEPT nor REJECT",
                                    clip_bytes(v)
                                ))
                            }
                        }
                        .into(),
                    )
                }
                Col::Status => match v {
                    b"OK" => {}
                    b"NODATA" | b"SKIPDATA" => return Ok(false),
                    _ => {
                        return Err(format!(
                            "log-status {:?} is not OK, NODATA or SKIPDATA",
                            clip_bytes(v)
                        ))
                    }
                },
                Col::Instance => instance = Some(String::from_utf8_lossy(v).into_owned()),
                Col::Interface => eni = Some(String::from_utf8_lossy(v).into_owned()),
                Col::Account
                | Col::Vpc
                | Col::Direction
                | Col::PktSrc
                | Col::PktDst
                | Col::TcpFlags => {
                    let key = match c {
                        Col::Account => "account",
                        Col::Vpc => "vpc",
                        Col::Direction => "flow_direction",
                        Col::PktSrc => "pkt_srcaddr",
                        Col::PktDst => "pkt_dstaddr",
                        _ => "tcp_flags",
                    };
                    detail.insert(
                        key.into(),
                        Value::String(String::from_utf8_lossy(v).into_owned()),
                    );
                }
                Col::Other => {}
            }
        }
        if n < cols.len() {
            return Err(format!("{n} fields, {} expected", cols.len()));
        }
        let start = start.ok_or("no start time")?;
        if start > 1 << 40 {
            return Err("start is not a Unix time".into());
        }
        rec.ts_us = start as i64 * 1_000_000;
        rec.end_us = end.filter(|e| *e <= 1 << 40).map(|e| e as i64 * 1_000_000);
        if rec.src.is_none() || rec.dst.is_none() {
            return Err("srcaddr or dstaddr unset in an OK record".into());
        }
        if let Some(e) = &eni {
            detail.insert("eni".into(), Value::String(e.clone()));
        }
        // The instance the ENI belongs to names the host best; else the ENI.
        if let Some(h) = instance.or(eni) {
            rec.host = Some(h);
        }
        rec.detail = Value::Object(detail);
        out.push(rec);
        Ok(true)
    }
}
