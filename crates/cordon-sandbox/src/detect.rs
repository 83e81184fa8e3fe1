//! Judging what the sandboxed tree does: protocols recognised from the
//! first bytes of a connection, scans, and the findings they raise. Pure
//! functions over bytes and counters, so each is unit-tested on its own.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use cordon_core::{Finding, Severity};

/// How many bytes of each direction are looked at.
pub const SNIFF_BYTES: usize = 4096;

/// What the client's first bytes are, when they say.
pub fn sniff_client(b: &[u8]) -> Option<&'static str> {
    if b.is_empty() {
        return None;
    }
    if b.starts_with(b"SSH-") {
        return Some("ssh");
    }
    if is_stratum(b) {
        return Some("stratum");
    }
    if b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 {
        return Some("tls");
    }
    if b.len() >= 3 && b[0] == 0x05 && (1..=3).contains(&b[1]) {
        return Some("socks5");
    }
    if b.starts_with(b"CONNECT ") {
        return Some("http-connect");
    }
    const METHODS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
    ];
    if METHODS.iter().any(|m| b.starts_with(m)) {
        return Some("http");
    }
    None
}

/// What the server's first bytes are (SSH servers speak first).
pub fn sniff_server(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"SSH-") {
        return Some("ssh");
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Stratum (Bitcoin-style `mining.*` JSON-RPC, and the Monero `login`
/// variant XMRig speaks). Compact: JSON-RPC whose method is a mining one.
pub fn is_stratum(b: &[u8]) -> bool {
    let b = &b[..b.len().min(SNIFF_BYTES)];
    let json = b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
    if !json || !find(b, b"\"method\"") {
        return false;
    }
    const MINING: &[&[u8]] = &[
        b"mining.subscribe",
        b"mining.authorize",
        b"mining.submit",
        b"mining.extranonce",
        b"eth_submitLogin",
        b"eth_submitWork",
    ];
    MINING.iter().any(|m| find(b, m))
        || (find(b, b"\"login\"") && (find(b, b"\"agent\"") || find(b, b"\"pass\"")))
}

/// Printable evidence from raw bytes: at most `max` characters, control bytes escaped.
pub fn printable(b: &[u8], max: usize) -> String {
    let mut s = String::new();
    for &c in b.iter().take(max) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn finding(
    kind: &str,
    severity: Severity,
    confidence: f64,
    rule: &str,
    attack: &[&str],
    evidence: String,
    message: String,
) -> Finding {
    Finding {
        kind: kind.into(),
        severity,
        confidence,
        rule: rule.into(),
        attack: attack.iter().map(|a| a.to_string()).collect(),
        span: [0, evidence.len()],
        evidence,
        message,
        related: Vec::new(),
    }
}

/// A protocol seen on a connection (through the proxy) that is a finding by itself.
pub fn protocol_finding(proto: &str, dest: &str, allowed: bool, first: &[u8]) -> Option<Finding> {
    let ev = format!("{dest}: {}", printable(first, 160));
    match proto {
        "stratum" => Some(finding(
            "CRYPTO_MINING",
            Severity::Critical,
            0.97,
            "sandbox.stratum",
            &["T1496"],
            ev,
            format!("the stratum mining protocol toward {dest}, whatever the process is called"),
        )),
        // SSH or a nested proxy toward a host the policy does not allow (git
        // over SSH to an allowed code host is ordinary).
        "ssh" | "socks5" | "http-connect" if !allowed => Some(finding(
            "REVERSE_TUNNEL",
            Severity::Critical,
            0.9,
            "sandbox.tunnel-protocol",
            &["T1572", "T1090"],
            ev,
            format!("a {proto} tunnel toward {dest}, which the policy does not allow"),
        )),
        _ => None,
    }
}

/// A connect(2) that ignored the proxy: the sandbox has no route, so it
/// failed, but who tried says what it was.
pub fn direct_connect_finding(exe: &str, argv: &[String], dest: &str) -> Finding {
    let name = exe.rsplit('/').next().unwrap_or(exe);
    let cmd = argv.join(" ");
    let ev = format!("{cmd} -> {dest}");
    const SHELLS: &[&str] = &[
        "bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish",
    ];
    const TUNNELS: &[&str] = &[
        "ssh",
        "autossh",
        "dbclient",
        "plink",
        "sshpass",
        "chisel",
        "ngrok",
        "frpc",
        "socat",
        "nc",
        "ncat",
        "netcat",
        "nc.openbsd",
        "nc.traditional",
    ];
    if SHELLS.contains(&name) {
        finding(
            "REVERSE_SHELL",
            Severity::Critical,
            0.9,
            "sandbox.shell-direct-connect",
            &["T1059.004", "T1071"],
            ev,
            format!("a shell ({name}) opened a TCP connection to {dest} itself (/dev/tcp): the mark of a reverse shell"),
        )
    } else if TUNNELS.contains(&name) {
        finding(
            "REVERSE_TUNNEL",
            Severity::Critical,
            0.85,
            "sandbox.tunnel-direct-connect",
            &["T1572", "T1021.004"],
            ev,
            format!("{name} tried to reach {dest} around the proxy"),
        )
    } else {
        finding(
            "PROXY_BYPASS",
            Severity::Medium,
            0.7,
            "sandbox.direct-connect",
            &["T1090"],
            ev,
            format!(
                "{name} tried to reach {dest} around the proxy (refused: the sandbox has no route)"
            ),
        )
    }
}

pub fn scan_finding(distinct: usize, window: Duration, sample: &[String]) -> Finding {
    finding(
        "NETWORK_RECON",
        Severity::High,
        0.85,
        "sandbox.scan",
        &["T1046"],
        sample.join(" "),
        format!(
            "{distinct} distinct destinations tried within {}s: a scan",
            window.as_secs()
        ),
    )
}

pub fn cpu_finding(cores: f64, ncpu: usize, secs: u64, top: &str) -> Finding {
    finding(
        "RESOURCE_HIJACKING",
        Severity::Medium,
        0.6,
        "sandbox.cpu-saturation",
        &["T1496"],
        top.to_string(),
        format!("the command's processes kept {cores:.1} of {ncpu} cores busy for {secs}s"),
    )
}

pub fn gpu_finding(evidence: String, util: u32, secs: u64) -> Finding {
    finding(
        "RESOURCE_HIJACKING",
        Severity::Medium,
        0.6,
        "sandbox.gpu-use",
        &["T1496"],
        evidence,
        format!("the command's processes kept a GPU {util}% busy for {secs}s"),
    )
}

/// Distinct (destination, port) pairs within a sliding window; fires once.
#[derive(Debug)]
pub struct ScanWindow {
    window: Duration,
    threshold: usize,
    seen: VecDeque<(Instant, String)>,
    fired: bool,
}

impl ScanWindow {
    pub fn new(window: Duration, threshold: usize) -> ScanWindow {
        ScanWindow {
            window,
            threshold,
            seen: VecDeque::new(),
            fired: false,
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Count one attempt; `Some(distinct, sample)` the first time the window holds a scan.
    pub fn add(&mut self, now: Instant, dest: String) -> Option<(usize, Vec<String>)> {
        while self
            .seen
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > self.window)
        {
            self.seen.pop_front();
        }
        // Bounded: a flood of attempts cannot grow this past a few thousand.
        if self.seen.len() >= 4096 {
            self.seen.pop_front();
        }
        self.seen.push_back((now, dest));
        if self.fired {
            return None;
        }
        let distinct: HashSet<&str> = self.seen.iter().map(|(_, d)| d.as_str()).collect();
        if distinct.len() >= self.threshold {
            self.fired = true;
            let mut sample: Vec<String> = distinct.into_iter().map(String::from).collect();
            sample.sort();
            sample.truncate(16);
            return Some((self.seen.len(), sample));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratum_is_recognised_in_its_usual_forms() {
        assert!(is_stratum(
            br#"{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5"]}"#
        ));
        assert!(is_stratum(
            br#"{"id":2,"method":"mining.authorize","params":["wallet.w1","x"]}"#
        ));
        assert!(is_stratum(br#"{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"44Af","pass":"x","agent":"XMRig/6.21"}}"#));
        assert!(!is_stratum(
            br#"{"method":"textDocument/didOpen","params":{}}"#
        ));
        assert!(!is_stratum(b"GET /mining.subscribe HTTP/1.1\r\n"));
        assert_eq!(
            sniff_client(br#"{"id":1,"method":"mining.subscribe","params":[]}"#),
            Some("stratum")
        );
    }

    #[test]
    fn protocols_from_first_bytes() {
        assert_eq!(sniff_client(b"SSH-2.0-OpenSSH_9.2p1\r\n"), Some("ssh"));
        assert_eq!(sniff_client(&[0x16, 0x03, 0x01, 0x02, 0x00]), Some("tls"));
        assert_eq!(sniff_client(b"GET / HTTP/1.1\r\n"), Some("http"));
        assert_eq!(sniff_client(&[5, 1, 0]), Some("socks5"));
        assert_eq!(sniff_client(b""), None);
        assert_eq!(sniff_server(b"SSH-2.0-OpenSSH_9.2\r\n"), Some("ssh"));
        assert!(protocol_finding("ssh", "10.0.0.1:22", false, b"SSH-2.0-x").is_some());
        assert!(protocol_finding("ssh", "github.com:22", true, b"SSH-2.0-x").is_none());
        assert_eq!(
            protocol_finding("stratum", "pool:443", true, b"{}")
                .unwrap()
                .kind,
            "CRYPTO_MINING"
        );
        assert!(protocol_finding("tls", "x:443", false, b"").is_none());
    }

    #[test]
    fn direct_connects_are_named_by_who_made_them() {
        let a = |s: &str| vec![s.to_string()];
        assert_eq!(
            direct_connect_finding("/usr/bin/bash", &a("bash"), "10.0.0.1:4444").kind,
            "REVERSE_SHELL"
        );
        assert_eq!(
            direct_connect_finding("/usr/bin/ssh", &a("ssh"), "10.0.0.1:22").kind,
            "REVERSE_TUNNEL"
        );
        assert_eq!(
            direct_connect_finding("/usr/bin/python3.11", &a("python3"), "10.0.0.1:80").kind,
            "PROXY_BYPASS"
        );
    }

    #[test]
    fn scan_window_fires_once_on_distinct_destinations() {
        let mut w = ScanWindow::new(Duration::from_secs(10), 5);
        let t = Instant::now();
        for _ in 0..20 {
            assert!(
                w.add(t, "10.0.0.1:80".into()).is_none(),
                "repeats are not a scan"
            );
        }
        let mut fired = 0;
        for p in 0..10 {
            if w.add(t, format!("10.0.0.1:{p}")).is_some() {
                fired += 1;
            }
        }
        assert_eq!(fired, 1);
        // Spread out in time, the same count is not a scan.
        let mut w = ScanWindow::new(Duration::from_secs(1), 5);
        for p in 0..10u64 {
            assert!(w
                .add(t + Duration::from_secs(p * 2), format!("h:{p}"))
                .is_none());
        }
    }

    #[test]
    fn printable_escapes_control_bytes() {
        assert_eq!(printable(b"a\r\n\x00b", 10), "a\\r\\n\\x00b");
        assert_eq!(printable(b"abcdef", 3), "abc");
    }
}
