//! Cordon's DNS responder on 127.0.0.1:53 inside the sandbox: names the
//! policy allows are answered (static `hosts` map, else the system
//! resolver in the supervisor's network), with internal addresses dropped
//! unless allowed by an IP/CIDR entry; every other name gets NXDOMAIN.
//! Every query is recorded. Messages are parsed and built with
//! hickory-proto; a message it cannot parse gets FORMERR or nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::netpolicy::NetPolicy;
use crate::record::Recorder;

const TTL: u32 = 30;

pub struct Dns {
    pub policy: Arc<NetPolicy>,
    pub rec: Recorder,
}

pub async fn serve_udp(sock: UdpSocket, dns: Arc<Dns>) {
    let sock = Arc::new(sock);
    let limit = Arc::new(Semaphore::new(256));
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        // Over the limit, queries are dropped: the client retries.
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            continue;
        };
        let q = buf[..n].to_vec();
        let (sock, dns) = (sock.clone(), dns.clone());
        tokio::spawn(async move {
            if let Some(resp) = dns.answer(&q, "udp", peer).await {
                let _ = sock.send_to(&resp, peer).await;
            }
            drop(permit);
        });
    }
}

pub async fn serve_tcp(l: TcpListener, dns: Arc<Dns>) {
    let limit = Arc::new(Semaphore::new(64));
    loop {
        let Ok((mut s, peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            continue;
        };
        let dns = dns.clone();
        tokio::spawn(async move {
            for _ in 0..64 {
                let mut len = [0u8; 2];
                if !matches!(
                    timeout(Duration::from_secs(10), s.read_exact(&mut len)).await,
                    Ok(Ok(_))
                ) {
                    break;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if !matches!(
                    timeout(Duration::from_secs(10), s.read_exact(&mut q)).await,
                    Ok(Ok(_))
                ) {
                    break;
                }
                let Some(resp) = dns.answer(&q, "tcp", peer).await else {
                    break;
                };
                let mut out = (resp.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&resp);
                if s.write_all(&out).await.is_err() {
                    break;
                }
            }
            drop(permit);
        });
    }
}

fn error_reply(q: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let mut m = Message::new();
    m.set_id(u16::from_be_bytes([q[0], q[1]]));
    m.set_message_type(MessageType::Response);
    m.set_response_code(code);
    m.to_vec().ok()
}

impl Dns {
    /// The response to one query message; `None` when there is nothing to answer.
    pub async fn answer(&self, q: &[u8], proto: &str, peer: SocketAddr) -> Option<Vec<u8>> {
        let Ok(req) = Message::from_vec(q) else {
            return error_reply(q, ResponseCode::FormErr);
        };
        if req.message_type() != MessageType::Query {
            return None;
        }
        if req.op_code() != OpCode::Query || req.queries().len() != 1 {
            return error_reply(q, ResponseCode::NotImp);
        }
        let query = req.queries()[0].clone();
        let name = query
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let qtype = query.query_type();
        let mut resp = Message::new();
        resp.set_id(req.id());
        resp.set_message_type(MessageType::Response);
        resp.set_op_code(OpCode::Query);
        resp.set_recursion_desired(req.recursion_desired());
        resp.set_recursion_available(true);
        resp.add_query(query.clone());

        let mut r = self.rec.new_record("dns");
        r.proto = Some(proto.into());
        r.dst = Some("127.0.0.1".into());
        r.dport = Some(53);
        r.src = Some(peer.ip().to_string());
        r.sport = Some(peer.port());
        let mut detail = json!({"query": name, "qtype": qtype.to_string()});
        let outcome: Result<Vec<IpAddr>, (String, &str)> = match self.policy.name_allowed(&name) {
            Err(f) => Err((f.reason, f.code)),
            Ok(norm) => {
                if matches!(qtype, RecordType::A | RecordType::AAAA) {
                    self.lookup(&norm, qtype).await
                } else {
                    Ok(Vec::new())
                }
            }
        };
        match outcome {
            Ok(addrs) => {
                for ip in &addrs {
                    let rdata = match ip {
                        IpAddr::V4(v4) => RData::A(A(*v4)),
                        IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                    };
                    resp.add_answer(Record::from_rdata(query.name().clone(), TTL, rdata));
                }
                resp.set_response_code(ResponseCode::NoError);
                r.action = Some("allowed".into());
                detail["answers"] = json!(addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>());
                detail["rcode"] = json!("NOERROR");
            }
            Err((reason, code)) => {
                resp.set_response_code(ResponseCode::NXDomain);
                r.action = Some("blocked".into());
                detail["reason"] = json!(reason);
                detail["code"] = json!(code);
                detail["rcode"] = json!("NXDOMAIN");
            }
        }
        r.detail = detail;
        self.rec.send(r);
        resp.to_vec().ok()
    }

    async fn lookup(
        &self,
        name: &str,
        qtype: RecordType,
    ) -> Result<Vec<IpAddr>, (String, &'static str)> {
        let want_v4 = qtype == RecordType::A;
        let all: Vec<IpAddr> = match self.policy.static_addrs(name) {
            Some(a) => a.to_vec(),
            None => match timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((name, 0u16)),
            )
            .await
            {
                Ok(Ok(it)) => it.map(|sa| sa.ip()).collect(),
                Ok(Err(_)) => return Err((format!("{name} does not resolve"), "resolve")),
                Err(_) => return Err((format!("resolving {name} timed out"), "resolve")),
            },
        };
        let mut ok = Vec::new();
        let mut refused = None;
        for ip in all {
            match self.policy.check_addr(ip, false) {
                Ok(()) => ok.push(ip),
                Err(f) => {
                    refused.get_or_insert((format!("{name} resolves to {}", f.reason), f.code));
                }
            }
        }
        if ok.is_empty() {
            if let Some(r) = refused {
                return Err(r);
            }
        }
        ok.retain(|ip| ip.is_ipv4() == want_v4);
        ok.dedup();
        Ok(ok)
    }
}
