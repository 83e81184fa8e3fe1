//! Per-format tests on sample lines in the shape each project documents, every bad-line path,
//! gzip and the format guess.

use std::io::Write;

use super::*;

/// 2024-03-05T00:00:00Z: the reference for BSD syslog years.
const NOW: i64 = 1_709_596_800_000_000;

fn opts() -> Options {
    Options {
        default_host: Some("sensor-1".into()),
        now_us: NOW,
        max_line: MAX_LINE,
        arrival_time: false,
    }
}

/// Parse `text` in `format` (or guessed): the records, and (line, message) of each bad line.
fn parse(text: &str, format: Option<Format>) -> (Vec<NetRecord>, Vec<(u64, String)>, Format) {
    parse_bytes(text.as_bytes().to_vec(), format)
}

fn parse_bytes(
    bytes: Vec<u8>,
    format: Option<Format>,
) -> (Vec<NetRecord>, Vec<(u64, String)>, Format) {
    let mut r =
        Reader::new(std::io::Cursor::new(bytes), "t.log", format, opts()).expect("readable");
    let f = r.format();
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    while let Some(line) = r.next(&mut out).unwrap() {
        if let Outcome::Bad(m) = line.outcome {
            bad.push((line.no, m));
        }
    }
    (out, bad, f)
}

fn one(text: &str, format: Format) -> NetRecord {
    let (recs, bad, _) = parse(text, Some(format));
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(recs.len(), 1, "{recs:?}");
    recs.into_iter().next().unwrap()
}

fn rejects(text: &str, format: Format) -> String {
    let (recs, bad, _) = parse(text, Some(format));
    assert!(recs.is_empty(), "{recs:?}");
    assert_eq!(bad.len(), 1, "{text}: {bad:?}");
    bad[0].1.clone()
}

fn us(s: &str) -> i64 {
    time::rfc3339_us(s.as_bytes()).unwrap().0
}

// ---- netfilter ---------------------------------------------------------------------------------

/// The kernel's nf_log format (net/netfilter/nf_log_syslog.c): prefix, IN= OUT= MAC= SRC= DST= LEN=
/// TOS= PREC= TTL= ID= [DF] PROTO= SPT= DPT= WINDOW= RES= flags URGP=.
const NF_RFC3339: &str = "2024-03-01T10:00:00.123456+00:00 gpu-node-1 kernel: [ 8812.345678] CORDON-DROP: IN= OUT=eth0 SRC=10.88.0.12 DST=203.0.113.5 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT=43210 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 ";

#[test]
fn netfilter_syslog_rfc3339() {
    let r = one(NF_RFC3339, Format::Netfilter);
    assert_eq!(r.source, "iptables");
    assert_eq!(r.kind, "packet");
    assert_eq!(r.ts_us, us("2024-03-01T10:00:00.123456Z"));
    assert_eq!(r.host.as_deref(), Some("gpu-node-1"));
    assert_eq!(
        (r.src.as_deref(), r.dst.as_deref()),
        (Some("10.88.0.12"), Some("203.0.113.5"))
    );
    assert_eq!(
        (r.sport, r.dport, r.proto.as_deref()),
        (Some(43210), Some(22), Some("tcp"))
    );
    assert_eq!(r.action.as_deref(), Some("blocked"));
    assert_eq!(r.detail["prefix"], "CORDON-DROP:");
    assert_eq!(r.detail["out"], "eth0");
    assert_eq!(r.detail["len"], 60);
    assert_eq!((r.origin.as_deref(), r.line), (Some("t.log"), Some(1)));
}

#[test]
fn netfilter_bsd_syslog_ufw_and_icmp_and_ipv6() {
    let ufw = "Mar  1 10:00:00 web-2 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.7 DST=10.0.0.5 LEN=40 TOS=0x00 PREC=0x00 TTL=244 ID=54321 PROTO=TCP SPT=51234 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0";
    let r = one(ufw, Format::Netfilter);
    assert_eq!(r.ts_us, us("2024-03-01T10:00:00Z"));
    assert_eq!(r.host.as_deref(), Some("web-2"));
    assert_eq!(r.action.as_deref(), Some("blocked"));
    assert_eq!(r.detail["prefix"], "[UFW BLOCK]");
    let icmp = "Mar  1 10:00:01 web-2 kernel: nft accept: IN=eth0 OUT= SRC=10.0.0.9 DST=10.0.0.5 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1";
    let r = one(icmp, Format::Netfilter);
    assert_eq!(
        (
            r.source.as_str(),
            r.proto.as_deref(),
            r.dport,
            r.action.as_deref()
        ),
        ("nftables", Some("icmp"), None, Some("allowed"))
    );
    let v6 = "2024-03-01T10:00:02Z h6 kernel: LOG-OUT IN= OUT=eth0 SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0000:0000:0000:0000:0000:0002 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=53 LEN=40";
    let r = one(v6, Format::Netfilter);
    assert_eq!(
        (r.proto.as_deref(), r.dport, r.action.as_deref()),
        (Some("udp"), Some(53), None)
    );
    assert_eq!(r.detail["len"], 80);
    // RFC 5424 header with a priority.
    let r5424 = "<4>1 2024-03-01T10:00:03.5Z gpu-node-1 kernel - - - DROP IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=1 PROTO=TCP SPT=1 DPT=2";
    let r = one(r5424, Format::Netfilter);
    assert_eq!(
        (r.ts_us, r.host.as_deref()),
        (us("2024-03-01T10:00:03.5Z"), Some("gpu-node-1"))
    );
    assert_eq!(r.detail["prefix"], "DROP");
}

#[test]
fn netfilter_bad_lines() {
    assert!(rejects(
        "Mar  1 10:00:00 h kernel: audit: something else",
        Format::Netfilter
    )
    .contains("no IN="));
    assert!(rejects(
        "yesterday h kernel: X IN=eth0 SRC=1.2.3.4 DST=1.2.3.5",
        Format::Netfilter
    )
    .contains("no syslog time"));
    assert!(rejects(
        "2024-03-01T10:00:00Z h kernel: X IN=eth0 OUT= SRC=1.2.3.999 DST=1.2.3.5",
        Format::Netfilter
    )
    .contains("SRC"));
    assert!(rejects("2024-03-01T10:00:00Z h kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=1.2.3.5 PROTO=TCP SPT=99999 DPT=1", Format::Netfilter).contains("SPT"));
    assert!(rejects(
        "2024-03-01T10:00:00Z h kernel: X IN=eth0 OUT= DST=1.2.3.5",
        Format::Netfilter
    )
    .contains("SRC= and DST="));
    assert!(rejects(
        "2024-03-01T10:00:00Z h kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=1.2.3.5 PROTO=T!P",
        Format::Netfilter
    )
    .contains("protocol"));
    assert!(rejects("2024-03-01T10:00:00Z", Format::Netfilter).contains("no IN="));
    assert!(rejects(
        "<999999>2024 IN= SRC=1.1.1.1 DST=1.1.1.1",
        Format::Netfilter
    )
    .contains("priority"));
}

#[test]
fn journald_export_with_a_binary_field() {
    let mut e = Vec::new();
    e.extend_from_slice(b"__CURSOR=s=abc;i=1\n__REALTIME_TIMESTAMP=1709287200123456\n__MONOTONIC_TIMESTAMP=8812345678\n_TRANSPORT=kernel\n_HOSTNAME=gpu-node-1\nSYSLOG_IDENTIFIER=kernel\n");
    e.extend_from_slice(b"MESSAGE=CORDON-DROP: IN= OUT=eth0 SRC=10.88.0.12 DST=203.0.113.5 LEN=60 PROTO=TCP SPT=43210 DPT=22 SYN URGP=0\n");
    // A binary field whose data holds a line end (and whose length byte is itself \n = 10).
    e.extend_from_slice(b"_SOME_BLOB\n");
    e.extend_from_slice(&10u64.to_le_bytes());
    e.extend_from_slice(b"ab\ncd\nefgh\n");
    e.extend_from_slice(b"\n");
    // A second entry that is not netfilter: skipped; a third without the closing blank line.
    e.extend_from_slice(b"__REALTIME_TIMESTAMP=1709287201000000\n_HOSTNAME=gpu-node-1\nMESSAGE=usb 1-1: new device\n\n");
    e.extend_from_slice(b"__REALTIME_TIMESTAMP=1709287202000000\n_HOSTNAME=gpu-node-2\nMESSAGE=ACCEPT IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=53");
    let (recs, bad, f) = parse_bytes(e, None);
    assert_eq!(f, Format::JournalExport);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(recs.len(), 2);
    assert_eq!(
        (recs[0].ts_us, recs[0].host.as_deref(), recs[0].line),
        (1_709_287_200_123_456, Some("gpu-node-1"), Some(1))
    );
    assert_eq!(recs[0].dport, Some(22));
    assert_eq!(
        (
            recs[1].host.as_deref(),
            recs[1].action.as_deref(),
            recs[1].line
        ),
        (Some("gpu-node-2"), Some("allowed"), Some(18))
    );
}

#[test]
fn journald_export_bad_entries() {
    let (recs, bad, _) = parse(
        "__REALTIME_TIMESTAMP=soon\nMESSAGE=X IN= SRC=1.1.1.1 DST=1.1.1.2\n\n",
        Some(Format::JournalExport),
    );
    assert!(
        recs.is_empty() && bad.len() == 1 && bad[0].1.contains("__REALTIME_TIMESTAMP"),
        "{bad:?}"
    );
    let (_, bad, _) = parse(
        "_HOSTNAME=h\nMESSAGE=X IN= SRC=1.1.1.1 DST=1.1.1.2\n\n",
        Some(Format::JournalExport),
    );
    assert!(bad[0].1.contains("no __REALTIME_TIMESTAMP"), "{bad:?}");
    let (_, bad, _) = parse("lower case junk\n\n", Some(Format::JournalExport));
    assert!(bad[0].1.contains("KEY=value"), "{bad:?}");
    let mut e = b"__REALTIME_TIMESTAMP=1\nBLOB\n".to_vec();
    e.extend_from_slice(&(u64::MAX).to_le_bytes());
    e.extend_from_slice(b"\n\n");
    let (_, bad, _) = parse_bytes(e, Some(Format::JournalExport));
    assert!(bad[0].1.contains("too large"), "{bad:?}");
    let (_, bad, _) = parse_bytes(
        b"__REALTIME_TIMESTAMP=1\nBLOB\n\x05\x00".to_vec(),
        Some(Format::JournalExport),
    );
    assert!(bad[0].1.contains("inside a binary field"), "{bad:?}");
}

#[test]
fn journald_json() {
    let line = r#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1709287200123456","_HOSTNAME":"gpu-node-1","_TRANSPORT":"kernel","MESSAGE":"CORDON-DROP: IN= OUT=eth0 SRC=10.88.0.12 DST=203.0.113.5 LEN=60 PROTO=TCP SPT=43210 DPT=3333"}"#;
    let (recs, bad, f) = parse(line, None);
    assert_eq!((f, bad.len(), recs.len()), (Format::JournalJson, 0, 1));
    assert_eq!(
        (recs[0].dport, recs[0].host.as_deref()),
        (Some(3333), Some("gpu-node-1"))
    );
    // MESSAGE as bytes (journald's form for non-UTF-8 text).
    let bytes: Vec<String> = b"DROP IN= SRC=1.1.1.1 DST=1.1.1.2"
        .iter()
        .map(u8::to_string)
        .collect();
    let line = format!(
        r#"{{"__REALTIME_TIMESTAMP":"1","MESSAGE":[{}]}}"#,
        bytes.join(",")
    );
    assert_eq!(
        one(&line, Format::JournalJson).action.as_deref(),
        Some("blocked")
    );
    assert_eq!(
        parse(
            r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":"systemd started"}"#,
            Some(Format::JournalJson)
        )
        .0
        .len(),
        0
    );
    assert!(rejects("{not json", Format::JournalJson).contains("invalid JSON"));
    assert!(rejects(
        r#"{"MESSAGE":"X IN= SRC=1.1.1.1 DST=1.1.1.2"}"#,
        Format::JournalJson
    )
    .contains("__REALTIME_TIMESTAMP"));
    assert!(rejects(
        r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":7}"#,
        Format::JournalJson
    )
    .contains("MESSAGE"));
    assert!(rejects(
        r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":[300]}"#,
        Format::JournalJson
    )
    .contains("bytes"));
}

// ---- conntrack ---------------------------------------------------------------------------------

#[test]
fn conntrack_events_with_timestamps_and_accounting() {
    // conntrack(8) -E -o timestamp; [NEW], [UPDATE], and [DESTROY] with accounting and delta-time.
    let text = "\
[1709287200.123456]	    [NEW] tcp      6 120 SYN_SENT src=10.88.0.12 dst=203.0.113.5 sport=43210 dport=22 [UNREPLIED] src=203.0.113.5 dst=192.0.2.1 sport=22 dport=43210
[1709287200.223456]	 [UPDATE] tcp      6 60 SYN_RECV src=10.88.0.12 dst=203.0.113.5 sport=43210 dport=22 src=203.0.113.5 dst=192.0.2.1 sport=22 dport=43210
[1709287230.500000]	[DESTROY] tcp      6 src=10.88.0.12 dst=203.0.113.5 sport=43210 dport=22 packets=12 bytes=1800 src=203.0.113.5 dst=192.0.2.1 sport=22 dport=43210 packets=10 bytes=4200 [ASSURED] mark=0 delta-time=30 use=1
    [NEW] udp      17 30 src=10.88.0.12 dst=1.1.1.1 sport=5353 dport=53 [UNREPLIED] src=1.1.1.1 dst=10.88.0.12 sport=53 dport=5353
ipv4     2 icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7 mark=0 use=1
2024-03-01T10:00:05Z [NEW] tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.3 sport=1 dport=443 [UNREPLIED] src=10.0.0.3 dst=10.0.0.1 sport=443 dport=1
";
    let mut o = opts();
    o.arrival_time = true;
    let mut r = Reader::new(
        std::io::Cursor::new(text.as_bytes().to_vec()),
        "ct",
        None,
        o,
    )
    .unwrap();
    assert_eq!(r.format(), Format::Conntrack);
    let mut recs = Vec::new();
    while let Some(l) = r.next(&mut recs).unwrap() {
        assert!(
            !matches!(l.outcome, Outcome::Bad(_)),
            "{}: {:?}",
            l.no,
            l.outcome
        );
    }
    assert_eq!(recs.len(), 6);
    let new = &recs[0];
    assert_eq!(
        (new.ts_us, new.proto.as_deref(), new.sport, new.dport),
        (1_709_287_200_123_456, Some("tcp"), Some(43210), Some(22))
    );
    assert_eq!(
        (new.detail["event"].as_str(), new.detail["state"].as_str()),
        (Some("new"), Some("SYN_SENT"))
    );
    assert_eq!(
        new.detail["reply_src"],
        serde_json::Value::Null,
        "reply from the destination is not NAT"
    );
    assert_eq!(new.host.as_deref(), Some("sensor-1"));
    let destroy = &recs[2];
    assert_eq!(
        (destroy.bytes_out, destroy.bytes_in),
        (Some(1800), Some(4200))
    );
    assert_eq!(
        (destroy.ts_us, destroy.end_us),
        (1_709_287_200_500_000, Some(1_709_287_230_500_000))
    );
    assert_eq!(recs[3].detail["ts_from"], "arrival");
    assert_eq!(
        (recs[3].proto.as_deref(), recs[4].proto.as_deref()),
        (Some("udp"), Some("icmp"))
    );
    assert_eq!(recs[5].ts_us, us("2024-03-01T10:00:05Z"));
}

#[test]
fn conntrack_bad_lines() {
    assert!(rejects(
        "[NEW] tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2",
        Format::Conntrack
    )
    .contains("no time"));
    assert!(
        rejects("[1.0] [NEW] tcp 6 src=10.0.0.1", Format::Conntrack).contains("needs a protocol")
    );
    assert!(rejects("[1.0] [NEW] tcp 6 src=10.0.0.1 dst=nope", Format::Conntrack).contains("dst"));
    assert!(rejects(
        "[1.0] [NEW] tcp 6 src=10.0.0.1 dst=10.0.0.2 sport=70000",
        Format::Conntrack
    )
    .contains("sport"));
    assert!(rejects("[1.0] [NEW tcp 6", Format::Conntrack).contains("unclosed"));
    assert!(rejects(
        "[1.0] [NEW] tcp 6 x$y src=10.0.0.1 dst=10.0.0.2",
        Format::Conntrack
    )
    .contains("unexpected"));
    assert!(rejects(
        "[1.0] [NEW] tcp 6 src=10.0.0.1 dst=10.0.0.2 bytes=lots",
        Format::Conntrack
    )
    .contains("bytes"));
}

// ---- zeek --------------------------------------------------------------------------------------

/// The header and a record in the shape of the Zeek documentation's conn.log example.
const ZEEK_TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2024-03-01-10-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1709287200.123456\tCHhAvVGS1DHFjwGM9\t10.88.0.12\t43210\t203.0.113.5\t22\ttcp\tssh\t3.500000\t1024\t2048\tSF\tT\tF\t0\tShADadFf\t10\t1500\t8\t2600\t-
1709287201.000000\tC4J4Th3PJpwUYZZ6gc\t10.88.0.12\t5353\t1.1.1.1\t53\tudp\tdns\t-\t-\t-\tS0\tT\tF\t0\tD\t1\t73\t0\t0\t-
#close\t2024-03-01-11-00-00
";

#[test]
fn zeek_tsv() {
    let (recs, bad, f) = parse(ZEEK_TSV, None);
    assert_eq!(
        (f, bad.len(), recs.len()),
        (Format::ZeekTsv, 0, 2),
        "{bad:?}"
    );
    let r = &recs[0];
    assert_eq!(
        (r.source.as_str(), r.kind.as_str(), r.ts_us),
        ("zeek", "flow", 1_709_287_200_123_456)
    );
    assert_eq!(r.end_us, Some(1_709_287_203_623_456));
    assert_eq!(
        (r.bytes_out, r.bytes_in, r.dport, r.proto.as_deref()),
        (Some(1024), Some(2048), Some(22), Some("tcp"))
    );
    assert_eq!(
        (
            r.detail["uid"].as_str(),
            r.detail["service"].as_str(),
            r.detail["conn_state"].as_str()
        ),
        (Some("CHhAvVGS1DHFjwGM9"), Some("ssh"), Some("SF"))
    );
    assert_eq!(
        (recs[1].end_us, recs[1].bytes_out, recs[1].line),
        (None, None, Some(10))
    );
    // Another separator, and dns.log.
    let comma = "#separator ,\n#path,dns\n#fields,ts,id.orig_h,id.orig_p,id.resp_h,id.resp_p,query\n1709287200.5,10.0.0.1,3,10.0.0.53,53,pool.minexmr.com\n";
    let r = one(comma, Format::ZeekTsv);
    assert_eq!(
        (r.kind.as_str(), r.detail["query"].as_str()),
        ("dns", Some("pool.minexmr.com"))
    );
}

#[test]
fn zeek_tsv_bad_lines() {
    let head = "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\n";
    for (line, want) in [
        ("1.0\t10.0.0.1\t1\t10.0.0.2", "4 fields"),
        ("1.0\t10.0.0.1\t1\t10.0.0.2\t2\textra", "more fields"),
        ("soon\t10.0.0.1\t1\t10.0.0.2\t2", "ts"),
        ("1.0\t10.0.0.x\t1\t10.0.0.2\t2", "id.orig_h"),
        ("1.0\t10.0.0.1\t1\t10.0.0.2\t-1", "id.resp_p"),
        ("-\t10.0.0.1\t1\t10.0.0.2\t2", "unset"),
    ] {
        let (recs, bad, _) = parse(&format!("{head}{line}\n"), Some(Format::ZeekTsv));
        assert!(
            recs.is_empty() && bad.len() == 1 && bad[0].1.contains(want),
            "{line}: {bad:?}"
        );
        assert_eq!(bad[0].0, 2);
    }
    assert!(rejects("1.0\t10.0.0.1\n", Format::ZeekTsv).contains("before the #fields"));
    assert!(rejects("#fields\tuid\tproto\n", Format::ZeekTsv).contains("lacks"));
    assert!(rejects("#separator \\xZZ\n", Format::ZeekTsv).contains("escape"));
}

#[test]
fn zeek_json() {
    let line = r#"{"ts":1709287200.123456,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"10.88.0.12","id.orig_p":43210,"id.resp_h":"203.0.113.5","id.resp_p":22,"proto":"tcp","service":"ssh","duration":3.5,"orig_bytes":1024,"resp_bytes":2048,"conn_state":"SF","missed_bytes":0,"history":"ShADadFf","orig_pkts":10,"orig_ip_bytes":1500,"resp_pkts":8,"resp_ip_bytes":2600}"#;
    let (recs, bad, f) = parse(line, None);
    assert_eq!((f, bad.len()), (Format::ZeekJson, 0));
    assert_eq!(
        (recs[0].ts_us, recs[0].end_us, recs[0].bytes_in),
        (
            1_709_287_200_123_456,
            Some(1_709_287_203_623_456),
            Some(2048)
        )
    );
    let iso = r#"{"ts":"2024-03-01T10:00:00.123456Z","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","_node_name":"zeek-worker-1"}"#;
    let r = one(iso, Format::ZeekJson);
    assert_eq!(
        (r.ts_us, r.host.as_deref()),
        (1_709_287_200_123_456, Some("zeek-worker-1"))
    );
    assert!(rejects(
        r#"{"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2"}"#,
        Format::ZeekJson
    )
    .contains("no ts"));
    assert!(rejects(
        r#"{"ts":"noon","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2"}"#,
        Format::ZeekJson
    )
    .contains("not a time"));
    assert!(
        rejects(r#"{"ts":1.0,"id.resp_h":"10.0.0.2"}"#, Format::ZeekJson).contains("id.orig_h")
    );
    assert!(rejects(
        r#"{"ts":1.0,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","id.resp_p":70000}"#,
        Format::ZeekJson
    )
    .contains("invalid JSON"));
    assert!(rejects("[1,2]", Format::ZeekJson).contains("invalid JSON"));
}

// ---- suricata ----------------------------------------------------------------------------------

#[test]
fn suricata_alert_flow_netflow_dns() {
    // The alert example of Suricata's "Eve JSON Format" page.
    let alert = r#"{"timestamp":"2017-04-07T22:24:37.251547+0100","flow_id":586497171462735,"pcap_cnt":53381,"event_type":"alert","src_ip":"192.168.2.14","src_port":50096,"dest_ip":"209.53.113.5","dest_port":80,"proto":"TCP","metadata":{"flowbits":["http.dottedquadhost"]},"tx_id":4,"alert":{"action":"allowed","gid":1,"signature_id":2018358,"rev":10,"signature":"ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1","category":"Potentially Bad Traffic","severity":2},"app_proto":"http"}"#;
    let (recs, bad, f) = parse(alert, None);
    assert_eq!((f, bad.len(), recs.len()), (Format::Suricata, 0, 1));
    let r = &recs[0];
    assert_eq!(
        (r.kind.as_str(), r.action.as_deref(), r.ts_us),
        ("alert", Some("alert"), us("2017-04-07T21:24:37.251547Z"))
    );
    assert_eq!(
        (
            r.detail["signature_id"].as_u64(),
            r.detail["app_proto"].as_str()
        ),
        (Some(2018358), Some("http"))
    );
    let flow = r#"{"timestamp":"2024-03-01T10:00:34.000000+0000","flow_id":1,"in_iface":"eth0","event_type":"flow","src_ip":"10.88.0.12","src_port":43210,"dest_ip":"203.0.113.5","dest_port":22,"proto":"TCP","app_proto":"ssh","flow":{"pkts_toserver":10,"pkts_toclient":8,"bytes_toserver":1500,"bytes_toclient":2600,"start":"2024-03-01T10:00:00.123456+0000","end":"2024-03-01T10:00:03.623456+0000","age":3,"state":"closed","reason":"timeout","alerted":false},"host":"ids-1"}"#;
    let r = one(flow, Format::Suricata);
    assert_eq!(
        (r.ts_us, r.end_us),
        (1_709_287_200_123_456, Some(1_709_287_203_623_456))
    );
    assert_eq!(
        (r.bytes_out, r.bytes_in, r.host.as_deref()),
        (Some(1500), Some(2600), Some("ids-1"))
    );
    let netflow = r#"{"timestamp":"2024-03-01T10:00:34.000000+0000","event_type":"netflow","src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":2,"proto":17,"netflow":{"pkts":3,"bytes":300,"start":"2024-03-01T10:00:00.000000+0000","end":"2024-03-01T10:00:01.000000+0000","age":1}}"#;
    let r = one(netflow, Format::Suricata);
    assert_eq!(
        (r.proto.as_deref(), r.bytes_out, r.ts_us),
        (Some("udp"), Some(300), us("2024-03-01T10:00:00Z"))
    );
    let dns2 = r#"{"timestamp":"2024-03-01T10:00:00.5+0000","event_type":"dns","src_ip":"10.0.0.1","src_port":5353,"dest_ip":"10.0.0.53","dest_port":53,"proto":"UDP","dns":{"type":"query","id":16000,"rrname":"pool.minexmr.com","rrtype":"A","tx_id":0}}"#;
    assert_eq!(
        one(dns2, Format::Suricata).detail["query"],
        "pool.minexmr.com"
    );
    let dns3 = r#"{"timestamp":"2024-03-01T10:00:00.5+0000","event_type":"dns","src_ip":"10.0.0.1","dest_ip":"10.0.0.53","proto":"UDP","dns":{"version":3,"type":"request","queries":[{"rrname":"x.example","rrtype":"TXT"}]}}"#;
    let r = one(dns3, Format::Suricata);
    assert_eq!(
        (r.detail["query"].as_str(), r.detail["rrtype"].as_str()),
        (Some("x.example"), Some("TXT"))
    );
    let blocked = r#"{"timestamp":"2024-03-01T10:00:00Z","event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","alert":{"action":"blocked","signature_id":1}}"#;
    assert_eq!(
        one(blocked, Format::Suricata).action.as_deref(),
        Some("blocked")
    );
    // Other event types are skipped, not errors.
    let (recs, bad, _) = parse(
        r#"{"timestamp":"2024-03-01T10:00:00Z","event_type":"stats","stats":{}}"#,
        Some(Format::Suricata),
    );
    assert!(recs.is_empty() && bad.is_empty());
}

#[test]
fn suricata_bad_lines() {
    assert!(
        rejects(r#"{"timestamp":"2024-03-01T10:00:00Z"}"#, Format::Suricata).contains("event_type")
    );
    assert!(rejects(
        r#"{"event_type":"flow","src_ip":"1.1.1.1","dest_ip":"1.1.1.2"}"#,
        Format::Suricata
    )
    .contains("no timestamp"));
    assert!(rejects(
        r#"{"timestamp":"03/01/2024","event_type":"flow","src_ip":"1.1.1.1","dest_ip":"1.1.1.2"}"#,
        Format::Suricata
    )
    .contains("not a time"));
    assert!(rejects(
        r#"{"timestamp":"2024-03-01T10:00:00Z","event_type":"flow","dest_ip":"1.1.1.2"}"#,
        Format::Suricata
    )
    .contains("src_ip"));
    assert!(rejects(r#"{"timestamp":"2024-03-01T10:00:00Z","event_type":"alert","src_ip":"1.1.1.1","dest_ip":"1.1.1.2"}"#, Format::Suricata).contains("alert object"));
    assert!(rejects(r#"{"timestamp":"2024-03-01T10:00:00Z","event_type":"flow","src_ip":"1.1.1.1","dest_ip":"1.1.1.2","flow":{"start":"x"}}"#, Format::Suricata).contains("flow start"));
    assert!(rejects(r#"{"timestamp":"2024-03-01T10:00:00Z","event_type":"flow","src_ip":"1.1.1.1","dest_ip":"1.1.1.2","proto":"T P"}"#, Format::Suricata).contains("protocol"));
}

// ---- vpc flow logs -----------------------------------------------------------------------------

#[test]
fn vpc_flow_v2_default_and_v5_with_header() {
    // The default-format examples of the AWS documentation ("Flow log record examples").
    let v2 = "\
2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA
";
    let (recs, bad, f) = parse(v2, None);
    assert_eq!((f, bad.len(), recs.len()), (Format::VpcFlow, 0, 2));
    let r = &recs[0];
    assert_eq!(
        (r.ts_us, r.end_us, r.proto.as_deref()),
        (
            1_418_530_010_000_000,
            Some(1_418_530_070_000_000),
            Some("tcp")
        )
    );
    assert_eq!(
        (r.host.as_deref(), r.bytes_out, r.action.as_deref()),
        (Some("eni-1235b8ca123456789"), Some(4249), Some("allowed"))
    );
    assert_eq!(recs[1].action.as_deref(), Some("blocked"));
    let v5 = "\
version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path
5 vpc-0a1b2c3d subnet-1a2b3c4d i-0123456789abcdef0 eni-0a1b2c3d4e5f60718 123456789010 IPv4 10.88.0.12 203.0.113.5 43210 22 10.88.0.12 203.0.113.5 6 1500 10 1709287200 1709287260 REJECT 2 OK egress 8
";
    let (recs, bad, f) = parse(v5, None);
    assert_eq!(
        (f, bad.len(), recs.len()),
        (Format::VpcFlow, 0, 1),
        "{bad:?}"
    );
    let r = &recs[0];
    assert_eq!(
        (r.host.as_deref(), r.action.as_deref(), r.dport),
        (Some("i-0123456789abcdef0"), Some("blocked"), Some(22))
    );
    assert_eq!(
        (
            r.detail["flow_direction"].as_str(),
            r.detail["eni"].as_str()
        ),
        (Some("egress"), Some("eni-0a1b2c3d4e5f60718"))
    );
}

#[test]
fn vpc_bad_lines() {
    let ok = "2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
    for (line, want) in [
        (ok.replace(" OK", ""), "13 fields"),
        (format!("{ok} extra"), "more than"),
        (ok.replace("ACCEPT", "MAYBE"), "action"),
        (ok.replace(" OK", " FINE"), "log-status"),
        (ok.replace("172.31.16.139", "172.31.16"), "srcaddr"),
        (ok.replace("1418530010", "soon"), "start"),
        (ok.replace("2 1234", "1 1234"), "version"),
    ] {
        let (recs, bad, _) = parse(&line, Some(Format::VpcFlow));
        assert!(
            recs.is_empty() && bad.len() == 1 && bad[0].1.contains(want),
            "{line}: {bad:?}"
        );
    }
    assert!(rejects("version account-id\n", Format::VpcFlow).contains("header"));
}

// ---- sandbox, detection, gzip, limits ----------------------------------------------------------

#[test]
fn sandbox_records_keep_their_session_and_call() {
    let line = r#"{"source":"sandbox","kind":"connect","ts_us":1709287200123456,"dst":"203.0.113.5","dport":22,"action":"blocked","session":"ep-1","call_id":"c7"}"#;
    let (recs, bad, f) = parse(line, None);
    assert_eq!((f, bad.len()), (Format::Sandbox, 0));
    let r = &recs[0];
    assert_eq!(
        (
            r.session.as_deref(),
            r.call_id.as_deref(),
            r.host.as_deref()
        ),
        (Some("ep-1"), Some("c7"), Some("sensor-1"))
    );
    assert!(
        rejects(r#"{"source":"sandbox","kind":"connect"}"#, Format::Sandbox)
            .contains("not a NetRecord")
    );
    assert!(rejects(r#"{"source":"","kind":"x","ts_us":1}"#, Format::Sandbox).contains("empty"));
    assert!(rejects(
        r#"{"source":"s","kind":"x","ts_us":1,"action":"maybe"}"#,
        Format::Sandbox
    )
    .contains("action"));
}

#[test]
fn gzip_is_recognised_by_its_magic_bytes() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(ZEEK_TSV.as_bytes()).unwrap();
    let mut bytes = gz.finish().unwrap();
    // A second gzip member (logrotate, S3 concatenation) is read too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"1709287300.0\tCx\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t-\t-\t-\tS0\tT\tF\t0\tS\t1\t60\t0\t0\t-\n").unwrap();
    bytes.extend(gz.finish().unwrap());
    let r = Reader::new(
        std::io::Cursor::new(bytes.clone()),
        "conn.log.gz",
        None,
        opts(),
    )
    .unwrap();
    assert!(r.gzip());
    let (recs, bad, f) = parse_bytes(bytes, None);
    assert_eq!((f, bad.len(), recs.len()), (Format::ZeekTsv, 0, 3));
    // A truncated gzip stream is an I/O error, not a panic.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(ZEEK_TSV.repeat(50).as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let cut = bytes[..bytes.len() / 2].to_vec();
    let mut r = Reader::new(
        std::io::Cursor::new(cut),
        "cut.gz",
        Some(Format::ZeekTsv),
        opts(),
    )
    .unwrap();
    let mut out = Vec::new();
    let err = loop {
        match r.next(&mut out) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a truncated stream must fail"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn detection_covers_every_format_and_refuses_noise() {
    let cases: [(&str, Format); 9] = [
        (NF_RFC3339, Format::Netfilter),
        ("__CURSOR=s=1\n__REALTIME_TIMESTAMP=1\n", Format::JournalExport),
        (r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":"x"}"#, Format::JournalJson),
        ("[1.0]\t[NEW] tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2", Format::Conntrack),
        (ZEEK_TSV, Format::ZeekTsv),
        (r#"{"ts":1.0,"id.orig_h":"10.0.0.1"}"#, Format::ZeekJson),
        (r#"{"timestamp":"2024-03-01T10:00:00Z","event_type":"flow"}"#, Format::Suricata),
        ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", Format::VpcFlow),
        (r#"{"source":"sandbox","kind":"connect","ts_us":1}"#, Format::Sandbox),
    ];
    for (text, want) in cases {
        let lines: Vec<&[u8]> = text.lines().map(str::as_bytes).collect();
        assert_eq!(detect(&lines), Some(want), "{text}");
        assert_eq!(Format::from_name(want.name()), Some(want));
    }
    let err = Reader::new(
        std::io::Cursor::new(b"hello world\nnothing here\n".to_vec()),
        "x.txt",
        None,
        opts(),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("x.txt: cannot tell the format"),
        "{err}"
    );
    // Empty input is no error.
    assert_eq!(parse("", None).0.len(), 0);
}

#[test]
fn long_lines_are_reported_and_the_stream_goes_on() {
    let mut text = String::from("#fields\tts\tid.orig_h\tid.resp_h\n");
    text.push_str(&"x".repeat(MAX_LINE + 10));
    text.push('\n');
    text.push_str("1.5\t10.0.0.1\t10.0.0.2\r\n");
    let (recs, bad, _) = parse(&text, Some(Format::ZeekTsv));
    assert_eq!(
        bad,
        vec![(2, format!("line longer than {MAX_LINE} bytes, skipped"))]
    );
    assert_eq!(
        (recs.len(), recs[0].line, recs[0].dst.as_deref()),
        (1, Some(3), Some("10.0.0.2"))
    );
}

#[test]
fn hostile_bytes_never_panic() {
    // Every format, fed prefixes and byte flips of its own sample lines plus junk.
    let samples = [
        NF_RFC3339,
        ZEEK_TSV,
        "[1.0] [NEW] tcp 6 120 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 bytes=3",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for format in Format::ALL {
        for s in samples {
            for cut in 0..s.len().min(300) {
                let mut b = s.as_bytes()[..cut].to_vec();
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if !b.is_empty() {
                    let i = (seed as usize) % b.len();
                    b[i] = (seed >> 32) as u8;
                }
                let _ = parse_bytes(b, Some(format));
            }
        }
    }
}
