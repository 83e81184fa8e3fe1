//! Lines per second per format: the parser alone, over generated lines held in memory.
use cordon_ingest::{Format, Options, Reader};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn lines(format: &str, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    cordon_correlate_free_bulk(format, n, &mut out);
    out
}

/// The same line shapes as `gen_netlogs --bulk` (cordon-correlate), without depending on it.
fn cordon_correlate_free_bulk(format: &str, n: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    if format == "zeek" {
        out.extend_from_slice(b"#separator \\x09\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n");
    }
    for i in 0..n {
        let (a, b, c) = (i % 251, (i / 251) % 253, 1 + i % 199);
        let ts = 1_772_442_000 + i / 1000;
        let _ = match format {
            "zeek" => writeln!(out, "{ts}.{:06}\tC{i:017x}\t10.{a}.{b}.{c}\t{}\t203.0.{b}.{c}\t443\ttcp\tssl\t0.512000\t900\t12000\tSF\tT\tF\t0\tShADadFf\t8\t900\t9\t12000\t-", i % 1_000_000, 1024 + i % 60000),
            "netfilter" => writeln!(out, "2026-03-02T09:00:{:02}.{:06}+00:00 gpu-node-1 kernel: [ 8812.345678] CORDON-DROP: IN= OUT=eth0 SRC=10.{a}.{b}.{c} DST=203.0.{b}.{c} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT={} DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0", i % 60, i % 1_000_000, 1024 + i % 60000),
            "conntrack" => writeln!(out, "[{ts}.{:06}]\t    [NEW] tcp      6 120 SYN_SENT src=10.{a}.{b}.{c} dst=203.0.{b}.{c} sport={} dport=22 [UNREPLIED] src=203.0.{b}.{c} dst=10.{a}.{b}.{c} sport=22 dport={}", i % 1_000_000, 1024 + i % 60000, 1024 + i % 60000),
            "vpcflow" => writeln!(out, "2 123456789012 eni-0a1b2c3d4e5f60001 10.{a}.{b}.{c} 203.0.{b}.{c} {} 443 6 5 4249 {ts} {} ACCEPT OK", 1024 + i % 60000, ts + 30),
            "suricata" => writeln!(out, r#"{{"timestamp":"2026-03-02T09:00:30.000000+0000","flow_id":{i},"in_iface":"ens5","event_type":"flow","src_ip":"10.{a}.{b}.{c}","src_port":{},"dest_ip":"203.0.{b}.{c}","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{{"pkts_toserver":6,"pkts_toclient":5,"bytes_toserver":900,"bytes_toclient":12000,"start":"2026-03-02T09:00:00.{:06}+0000","end":"2026-03-02T09:00:01.000000+0000","age":1,"state":"closed","reason":"timeout","alerted":false}}}}"#, 1024 + i % 60000, i % 1_000_000),
            "zeek-json" => writeln!(out, r#"{{"ts":{ts}.{:06},"uid":"C{i:017x}","id.orig_h":"10.{a}.{b}.{c}","id.orig_p":{},"id.resp_h":"203.0.{b}.{c}","id.resp_p":443,"proto":"tcp","service":"ssl","duration":0.5,"orig_bytes":900,"resp_bytes":12000,"conn_state":"SF"}}"#, i % 1_000_000, 1024 + i % 60000),
            _ => unreachable!(),
        };
    }
}

fn bench(c: &mut Criterion) {
    const N: u64 = 20_000;
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    for (name, format) in [
        ("zeek", Format::ZeekTsv),
        ("netfilter", Format::Netfilter),
        ("conntrack", Format::Conntrack),
        ("vpcflow", Format::VpcFlow),
        ("suricata", Format::Suricata),
        ("zeek-json", Format::ZeekJson),
    ] {
        let data = lines(name, N);
        g.bench_function(name, |b| {
            b.iter(|| {
                let opts = Options {
                    default_host: Some("sensor".into()),
                    ..Options::default()
                };
                let mut r = Reader::new(
                    std::io::Cursor::new(data.clone()),
                    "bench",
                    Some(format),
                    opts,
                )
                .unwrap();
                let mut out = Vec::with_capacity(8192);
                let mut n = 0;
                while r.next(&mut out).unwrap().is_some() {
                    if out.len() >= 8192 {
                        n += out.len();
                        out.clear();
                    }
                }
                n + out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
