//! End to end: `cordon ingest` on files and stdin, plain and gzip, every format guessed, bad
//! lines reported by number while the stream goes on, records stored and printed.
use std::io::Write;
use std::process::{Command, Output, Stdio};

use cordon_correlate::gen::{generate, Params};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

fn ingest(dir: &std::path::Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .env_remove("CORDON_STORE")
        .current_dir(dir)
        .arg("ingest")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_generated_format_is_guessed_and_read_without_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let g = generate(&Params {
        episodes_per_host: 2,
        ..Params::default()
    });
    let expected = [
        ("syslog", "netfilter"),
        ("kernel.export", "journal-export"),
        ("kernel.json", "journal-json"),
        ("conntrack-gpu-node-1.log", "conntrack"),
        ("conn.log", "zeek"),
        ("conn.json", "zeek-json"),
        ("eve.json", "suricata"),
        ("vpc-v2.log", "vpcflow"),
        ("vpc-v5.log", "vpcflow"),
        ("sandbox.jsonl", "sandbox"),
    ];
    for (name, body, _) in &g.files {
        std::fs::write(tmp.path().join(name), body).unwrap();
        let out = ingest(tmp.path(), &["--jsonl", name], None);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let want = expected.iter().find(|(n, _)| n == name).unwrap().1;
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("{name}: {want}: ")) && err.contains(" 0 bad"),
            "{name}: {err}"
        );
        let n = g.truth.iter().filter(|t| &t.file == name).count();
        let records: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), n, "{name}");
        assert!(
            records.iter().all(|r| r["origin"] == name.as_str()
                && r["ts_us"].as_i64().unwrap() > 1_700_000_000_000_000),
            "{name}"
        );
    }
}

#[test]
fn bad_lines_are_reported_by_number_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let log = "\
2026-03-02T09:00:00.000001+00:00 gpu-node-1 kernel: DROP IN= OUT=eth0 SRC=10.88.1.10 DST=203.0.113.5 LEN=60 PROTO=TCP SPT=40000 DPT=22
2026-03-02T09:00:01.000001+00:00 gpu-node-1 kernel: DROP IN= OUT=eth0 SRC=10.88.1.999 DST=203.0.113.5 LEN=60 PROTO=TCP SPT=40000 DPT=22
garbage
2026-03-02T09:00:02.000001+00:00 gpu-node-1 kernel: ACCEPT IN= OUT=eth0 SRC=10.88.1.10 DST=1.1.1.1 LEN=60 PROTO=UDP SPT=40000 DPT=53
";
    std::fs::write(tmp.path().join("fw.log"), log).unwrap();
    let db = tmp.path().join("c.db").display().to_string();
    let out = ingest(tmp.path(), &["--store", &db, "fw.log"], None);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("fw.log:2: SRC \"10.88.1.999\" is not an IP address"),
        "{err}"
    );
    assert!(err.contains("fw.log:3: no IN= field"), "{err}");
    assert!(
        err.contains("fw.log: netfilter: 4 lines, 2 records, 0 skipped, 2 bad"),
        "{err}"
    );
    assert!(err.contains("stored 2 records in"), "{err}");
    // --quiet: nothing but what was asked.
    let out = ingest(tmp.path(), &["--quiet", "fw.log"], None);
    assert!(out.status.success() && out.stderr.is_empty() && out.stdout.is_empty());
    // Forcing a format that does not fit makes every line bad, and is still no crash.
    let out = ingest(tmp.path(), &["--format", "zeek", "fw.log"], None);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("fw.log:1: data line before the #fields header"));
}

#[test]
fn gzip_and_stdin_and_default_host() {
    let tmp = tempfile::tempdir().unwrap();
    let ct = "[1772442000.100000]\t    [NEW] tcp      6 120 SYN_SENT src=10.88.1.10 dst=203.0.113.5 sport=40000 dport=22 [UNREPLIED] src=203.0.113.5 dst=10.88.1.10 sport=22 dport=40000\n";
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(ct.repeat(3).as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    std::fs::write(tmp.path().join("ct.log.gz"), &gz).unwrap();
    let out = ingest(
        tmp.path(),
        &["--jsonl", "--host", "gpu-node-1", "ct.log.gz"],
        None,
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("ct.log.gz: conntrack (gzip): 3 lines, 3 records"),
        "{err}"
    );
    let r: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        (r["host"].as_str(), r["ts_us"].as_i64(), r["dport"].as_u64()),
        (Some("gpu-node-1"), Some(1_772_442_000_100_000), Some(22))
    );
    // Standard input, gzip too.
    let out = ingest(tmp.path(), &["--jsonl", "-"], Some(&gz));
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn refusals_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ingest(tmp.path(), &["missing.log"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("missing.log"));
    std::fs::write(
        tmp.path().join("prose.txt"),
        "Dear diary,\nnothing happened today.\n",
    )
    .unwrap();
    let out = ingest(tmp.path(), &["prose.txt"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("cannot tell the format"),
        "{}",
        text(&out.stderr)
    );
    let out = ingest(tmp.path(), &["--format", "pcap", "prose.txt"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("unknown format"));
}
