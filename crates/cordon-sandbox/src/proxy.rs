//! Cordon's egress proxy: HTTP (CONNECT, and absolute-URI requests
//! forwarded), SOCKS5 (CONNECT), on loopback inside the sandbox's network
//! namespace, connecting out from the supervisor's. Everything from the
//! client is hostile: heads are bounded (16 KiB), every wait has a
//! timeout, connections are capped, and malformed input ends the
//! connection, never the proxy.
//!
//! Written by hand rather than with a proxy crate because the decision
//! (policy, resolution, internal-address checks) has to sit between the
//! request and the upstream connect, and the first bytes of each direction
//! have to be looked at before they are forwarded; `httparse` does the
//! HTTP parsing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_core::{Mode, Severity};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::detect::{self, SNIFF_BYTES};
use crate::netpolicy::{NetPolicy, Refusal};
use crate::record::{now_us, Recorder};

const MAX_HEAD: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A relayed connection with no traffic either way for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a refused non-web connection is held open to read what the
/// client says first (a miner's subscribe, an SSH client's banner).
const PEEK_TIMEOUT: Duration = Duration::from_secs(3);
pub const MAX_CONNECTIONS: usize = 1024;

pub struct Ctx {
    pub policy: Arc<NetPolicy>,
    pub rec: Recorder,
    pub mode: Mode,
    pub block_on: Vec<Severity>,
    pub limit: Arc<Semaphore>,
    /// The sandbox's init (host pid): proxied connections are traced back to their process.
    pub init_pid: Option<u32>,
    /// Finds that process's socket (made in the sandbox's namespace).
    pub diag: Option<Arc<Diag>>,
}

impl Ctx {
    fn blocks(&self, s: Severity) -> bool {
        self.mode == Mode::Block && self.block_on.contains(&s)
    }
}

/// Ports where a refusal is answered plainly (403 / SOCKS "not allowed"):
/// web clients show that message, and TLS tells nothing more anyway.
fn web_port(p: u16) -> bool {
    matches!(p, 80 | 443 | 8080 | 8443)
}

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Http,
    Socks,
}

pub async fn serve(listener: TcpListener, ctx: Arc<Ctx>, kind: Kind) {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = ctx.limit.clone().try_acquire_owned() else {
            drop(sock);
            continue;
        };
        let ctx = ctx.clone();
        // Which process connected, looked up while the request is read.
        let server_port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
        let who = ctx.init_pid.map(|init| {
            let diag = ctx.diag.clone();
            tokio::task::spawn_blocking(move || {
                client_process(init, peer.port(), diag.as_deref().map(|d| (d, server_port)))
            })
        });
        tokio::spawn(async move {
            let _ = sock.set_nodelay(true);
            unpaced(&sock);
            match kind {
                Kind::Http => http(sock, peer, &ctx, who).await,
                Kind::Socks => socks(sock, peer, &ctx, who).await,
            }
            drop(permit);
        });
    }
}

/// The client's end is loopback: no congestion to control. With BBR (a
/// common default) and no fq qdisc, the kernel paces each burst with an
/// hrtimer; in a profile of a download that pacing was ~5% of the relay's
/// CPU. Reno, always built in, does not pace. The upstream socket keeps the
/// system's choice: that one crosses a network.
fn unpaced(sock: &TcpStream) {
    use std::os::fd::AsRawFd;
    let cc = b"reno";
    // SAFETY: setsockopt on a socket we own, with a live buffer and its length.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            cc.as_ptr().cast(),
            cc.len() as libc::socklen_t,
        )
    };
}

type Who = Option<tokio::task::JoinHandle<Option<(u32, String)>>>;

async fn who(w: Who) -> Option<(u32, String)> {
    timeout(Duration::from_millis(500), w?).await.ok()?.ok()?
}

/// The process in the sandbox that owns the loopback socket with local
/// port `port` (connected to our listener on `server_port`): its inode,
/// then the fd tables of the tree. (pid as the supervisor sees it, command line.)
pub fn client_process(init: u32, port: u16, diag: Option<(&Diag, u16)>) -> Option<(u32, String)> {
    let inode = diag
        .and_then(|(d, server_port)| d.inode(port, server_port))
        .or_else(|| proc_net_inode(init, port))?;
    let inode = format!("socket:[{inode}]");
    // Bounded: a tree holding huge fd tables must not cost the supervisor more than this.
    let mut budget = 20_000usize;
    for pid in crate::monitor::tree(init).into_iter().rev().take(1024) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            budget = budget.checked_sub(1)?;
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == inode.as_str()) {
                return Some((pid, crate::monitor::cmdline(pid)));
            }
        }
    }
    None
}

/// The inode from the sandbox's /proc/net/tcp. Slow: the kernel walks its
/// whole established-connection hash (shared by all namespaces), ~4 ms with
/// 256k buckets, so this is only the fallback when sock_diag is unavailable.
fn proc_net_inode(init: u32, port: u16) -> Option<u64> {
    for f in ["tcp", "tcp6"] {
        let Ok(t) = std::fs::read_to_string(format!("/proc/{init}/net/{f}")) else {
            continue;
        };
        for l in t.lines().skip(1) {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let local_port = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                if let Some(i) = cols
                    .get(9)
                    .and_then(|i| i.parse::<u64>().ok())
                    .filter(|i| *i != 0)
                {
                    return Some(i);
                }
            }
        }
    }
    None
}

/// A NETLINK_SOCK_DIAG socket in the sandbox's network namespace: finds the
/// client's socket by its exact address pair, a hash lookup in the kernel,
/// where /proc/net/tcp costs the proxy ~4 ms of CPU and of latency before
/// every upstream connect (time to first byte 6 ms instead of 1 ms).
pub struct Diag {
    fd: std::sync::Mutex<std::os::fd::OwnedFd>,
    seq: std::sync::atomic::AtomicU32,
}

impl Diag {
    /// Made in the calling thread's network namespace, which it keeps.
    pub fn new() -> Option<Diag> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2); the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd was just created and is ours.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // A lost answer must not hold a blocking-pool thread.
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: setsockopt with a live timeval and its size.
        unsafe {
            use std::os::fd::AsRawFd;
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        Some(Diag {
            fd: std::sync::Mutex::new(fd),
            seq: std::sync::atomic::AtomicU32::new(1),
        })
    }

    /// Inode of the TCP socket 127.0.0.1:`local` -> 127.0.0.1:`remote`.
    fn inode(&self, local: u16, remote: u16) -> Option<u64> {
        use std::os::fd::AsRawFd;
        const SOCK_DIAG_BY_FAMILY: u16 = 20;
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // nlmsghdr (16) + inet_diag_req_v2 (56).
        let mut req = [0u8; 72];
        req[0..4].copy_from_slice(&72u32.to_ne_bytes());
        req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
        req[8..12].copy_from_slice(&seq.to_ne_bytes());
        req[16] = libc::AF_INET as u8;
        req[17] = libc::IPPROTO_TCP as u8;
        // All states.
        req[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
        // inet_diag_sockid: the socket's own end first, then its peer; no cookie.
        req[24..26].copy_from_slice(&local.to_be_bytes());
        req[26..28].copy_from_slice(&remote.to_be_bytes());
        req[28..32].copy_from_slice(&[127, 0, 0, 1]);
        req[44..48].copy_from_slice(&[127, 0, 0, 1]);
        req[64..72].copy_from_slice(&[0xff; 8]);
        let fd = self.fd.lock().ok()?;
        // SAFETY: send/recv on our netlink socket with live buffers.
        if unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) }
            != req.len() as isize
        {
            return None;
        }
        let mut buf = [0u8; 1024];
        loop {
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 16 {
                return None;
            }
            let h = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
            if h(8) != seq {
                continue; // the late answer to an earlier, timed-out question
            }
            let kind = u16::from_ne_bytes([buf[4], buf[5]]);
            // inet_diag_msg.idiag_inode is at offset 68 of the message body.
            return (kind == SOCK_DIAG_BY_FAMILY && n >= 16 + 72)
                .then(|| h(16 + 68) as u64)
                .filter(|i| *i != 0);
        }
    }
}

/// One connection attempt, filled in as it goes and sent once at the end.
struct Attempt {
    start_us: i64,
    via: &'static str,
    host: String,
    port: u16,
    dst: Option<IpAddr>,
    peer_port: u16,
    refusal: Option<Refusal>,
    error: Option<String>,
    protocol: Option<&'static str>,
    bytes_out: u64,
    bytes_in: u64,
    extra: Value,
    who: Option<(u32, String)>,
}

impl Attempt {
    fn new(via: &'static str, host: &str, port: u16, peer: SocketAddr) -> Attempt {
        Attempt {
            start_us: now_us(),
            via,
            host: host.to_string(),
            port,
            dst: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok(),
            peer_port: peer.port(),
            refusal: None,
            error: None,
            protocol: None,
            bytes_out: 0,
            bytes_in: 0,
            extra: Value::Null,
            who: None,
        }
    }

    fn send(self, rec: &Recorder) {
        let mut r = rec.new_record("connect");
        r.ts_us = self.start_us;
        r.end_us = Some(now_us());
        r.proto = Some("tcp".into());
        r.dst = Some(
            self.dst
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| self.host.clone()),
        );
        r.dport = Some(self.port);
        r.src = Some("127.0.0.1".into());
        r.sport = Some(self.peer_port);
        let allowed = self.refusal.is_none() && self.error.is_none();
        r.action = Some(
            if self.refusal.is_some() {
                "blocked"
            } else {
                "allowed"
            }
            .into(),
        );
        if allowed || self.bytes_out + self.bytes_in > 0 {
            r.bytes_out = Some(self.bytes_out);
            r.bytes_in = Some(self.bytes_in);
        }
        let mut d = json!({"via": self.via, "host": self.host});
        if let Some(f) = &self.refusal {
            d["reason"] = json!(f.reason);
            d["code"] = json!(f.code);
        }
        if let Some(e) = &self.error {
            d["error"] = json!(e);
        }
        if let Some(p) = self.protocol {
            d["protocol"] = json!(p);
        }
        if let Some((pid, cmd)) = &self.who {
            d["pid"] = json!(pid);
            d["cmd"] = json!(truncate(cmd, 512));
        }
        if let Value::Object(extra) = self.extra {
            for (k, v) in extra {
                d[k] = v;
            }
        }
        r.detail = d;
        rec.send(r);
    }

    fn dest(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

async fn decide(ctx: &Ctx, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let (norm, ip) = ctx.policy.precheck(host, port)?;
    match ip {
        Some(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        None => ctx.policy.resolve(&norm, port).await,
    }
}

/// The policy's decision and, when allowed, the upstream connection. Run
/// alongside the lookup of the client's process so that lookup adds no
/// latency before the first byte.
async fn route(
    ctx: &Ctx,
    host: &str,
    port: u16,
) -> Result<Result<(TcpStream, SocketAddr), String>, Refusal> {
    let addrs = decide(ctx, host, port).await?;
    Ok(connect_any(&addrs).await)
}

async fn connect_any(addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), String> {
    let mut last = String::from("no address");
    for a in addrs.iter().take(8) {
        match timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok((s, *a));
            }
            Ok(Err(e)) => last = format!("{a}: {e}"),
            Err(_) => last = format!("{a}: connect timed out"),
        }
    }
    Err(last)
}

/// Read until the end of an HTTP head; `None` on timeout, EOF, or a head over MAX_HEAD.
async fn read_head(sock: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let deadline = Instant::now() + HEAD_TIMEOUT;
    loop {
        let mut chunk = [0u8; 4096];
        let left = deadline.checked_duration_since(Instant::now())?;
        let n = timeout(left, sock.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(buf);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

/// `host:port` / `[v6]:port` / `host` (with a default port).
fn split_authority(a: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    if let Some(rest) = a.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port?,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((a.to_string(), default_port?)),
    }
}

async fn respond(sock: &mut TcpStream, status: &str, reason: &str) {
    let body = format!("cordon: {reason}\n");
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\nX-Cordon-Reason: {}\r\n\r\n{body}",
        body.len(),
        reason.replace(['\r', '\n'], " ")
    );
    let _ = timeout(Duration::from_secs(5), sock.write_all(msg.as_bytes())).await;
}

async fn http(mut sock: TcpStream, peer: SocketAddr, ctx: &Ctx, w: Who) {
    let Some(head) = read_head(&mut sock).await else {
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(&head) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => {
            respond(&mut sock, "400 Bad Request", "malformed request").await;
            return;
        }
    };
    let method = req.method.unwrap_or("").to_string();
    let target = req.path.unwrap_or("").to_string();
    let leftover = head[head_len..].to_vec();
    if method.eq_ignore_ascii_case("CONNECT") {
        let Some((host, port)) = split_authority(&target, None) else {
            respond(&mut sock, "400 Bad Request", "CONNECT needs host:port").await;
            return;
        };
        let mut att = Attempt::new("http-connect", &host, port, peer);
        let (w, route) = tokio::join!(who(w), route(ctx, &host, port));
        att.who = w;
        match route {
            Err(refusal) => {
                if web_port(port) {
                    respond(&mut sock, "403 Forbidden", &refusal.reason).await;
                    att.refusal = Some(refusal);
                } else {
                    let ok = timeout(
                        Duration::from_secs(5),
                        sock.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n"),
                    )
                    .await;
                    att.refusal = Some(refusal);
                    if matches!(ok, Ok(Ok(()))) {
                        peek(sock, leftover, &mut att, ctx).await;
                    }
                }
                att.send(&ctx.rec);
            }
            Ok(connected) => match connected {
                Err(e) => {
                    respond(&mut sock, "502 Bad Gateway", &e).await;
                    att.error = Some(e);
                    att.send(&ctx.rec);
                }
                Ok((up, addr)) => {
                    att.dst = Some(addr.ip());
                    if timeout(
                        Duration::from_secs(5),
                        sock.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n"),
                    )
                    .await
                    .is_ok()
                    {
                        relay(sock, up, leftover, &mut att, ctx).await;
                    }
                    att.send(&ctx.rec);
                }
            },
        }
        return;
    }
    // Absolute-URI request: forward it, one request per connection.
    let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("HTTP://"))
    else {
        respond(
            &mut sock,
            "400 Bad Request",
            "only http:// absolute URIs and CONNECT are proxied",
        )
        .await;
        return;
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let Some((host, port)) = split_authority(authority, Some(80)) else {
        respond(&mut sock, "400 Bad Request", "bad host in URL").await;
        return;
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let mut att = Attempt::new("http", &host, port, peer);
    let (w, route) = tokio::join!(who(w), route(ctx, &host, port));
    att.who = w;
    att.extra = json!({"method": method, "url": truncate(&target, 512)});
    match route {
        Err(refusal) => {
            respond(&mut sock, "403 Forbidden", &refusal.reason).await;
            att.refusal = Some(refusal);
            att.send(&ctx.rec);
        }
        Ok(connected) => match connected {
            Err(e) => {
                respond(&mut sock, "502 Bad Gateway", &e).await;
                att.error = Some(e);
                att.send(&ctx.rec);
            }
            Ok((up, addr)) => {
                att.dst = Some(addr.ip());
                let version = if req.version == Some(0) {
                    "HTTP/1.0"
                } else {
                    "HTTP/1.1"
                };
                let mut out = format!("{method} {path} {version}\r\n").into_bytes();
                for h in req.headers.iter() {
                    let n = h.name.to_ascii_lowercase();
                    if n.starts_with("proxy-") || n == "connection" || n == "keep-alive" {
                        continue;
                    }
                    out.extend_from_slice(h.name.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(h.value);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"Connection: close\r\n\r\n");
                out.extend_from_slice(&leftover);
                relay(sock, up, out, &mut att, ctx).await;
                att.send(&ctx.rec);
            }
        },
    }
}

fn truncate(s: &str, n: usize) -> String {
    s[..cordon_core::floor_char_boundary(s, n)].to_string()
}

async fn read_exact_t(sock: &mut TcpStream, buf: &mut [u8]) -> Option<()> {
    timeout(HEAD_TIMEOUT, sock.read_exact(buf))
        .await
        .ok()?
        .ok()?;
    Some(())
}

async fn socks(mut sock: TcpStream, peer: SocketAddr, ctx: &Ctx, w: Who) {
    let mut hdr = [0u8; 2];
    let Some(()) = read_exact_t(&mut sock, &mut hdr).await else {
        return;
    };
    if hdr[0] != 5 {
        return; // SOCKS4 and anything else: not spoken here.
    }
    let mut methods = vec![0u8; hdr[1] as usize];
    let Some(()) = read_exact_t(&mut sock, &mut methods).await else {
        return;
    };
    if !methods.contains(&0) {
        let _ = sock.write_all(&[5, 0xff]).await;
        return;
    }
    if sock.write_all(&[5, 0]).await.is_err() {
        return;
    }
    let mut req = [0u8; 4];
    let Some(()) = read_exact_t(&mut sock, &mut req).await else {
        return;
    };
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            let Some(()) = read_exact_t(&mut sock, &mut a).await else {
                return;
            };
            IpAddr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            let Some(()) = read_exact_t(&mut sock, &mut a).await else {
                return;
            };
            IpAddr::from(a).to_string()
        }
        3 => {
            let mut l = [0u8; 1];
            let Some(()) = read_exact_t(&mut sock, &mut l).await else {
                return;
            };
            let mut name = vec![0u8; l[0] as usize];
            let Some(()) = read_exact_t(&mut sock, &mut name).await else {
                return;
            };
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => {
            let _ = sock.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            return;
        }
    };
    let mut p = [0u8; 2];
    let Some(()) = read_exact_t(&mut sock, &mut p).await else {
        return;
    };
    let port = u16::from_be_bytes(p);
    let mut att = Attempt::new("socks5", &host, port, peer);
    if req[1] != 1 {
        att.who = who(w).await;
        // BIND and UDP ASSOCIATE: refused (and recorded), "command not supported".
        let _ = sock.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await;
        att.refusal = Some(Refusal {
            code: "socks_command",
            reason: format!("SOCKS command {} is not supported", req[1]),
        });
        att.send(&ctx.rec);
        return;
    }
    const OK: [u8; 10] = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    let (w, route) = tokio::join!(who(w), route(ctx, &host, port));
    att.who = w;
    match route {
        Err(refusal) => {
            if web_port(port) {
                let _ = sock.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                att.refusal = Some(refusal);
            } else {
                att.refusal = Some(refusal);
                if sock.write_all(&OK).await.is_ok() {
                    peek(sock, Vec::new(), &mut att, ctx).await;
                }
            }
            att.send(&ctx.rec);
        }
        Ok(connected) => match connected {
            Err(e) => {
                let _ = sock.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                att.error = Some(e);
                att.send(&ctx.rec);
            }
            Ok((up, addr)) => {
                att.dst = Some(addr.ip());
                if sock.write_all(&OK).await.is_ok() {
                    relay(sock, up, Vec::new(), &mut att, ctx).await;
                }
                att.send(&ctx.rec);
            }
        },
    }
}

/// A refused connection on a non-web port: read what the client says
/// first, say whether it is a known protocol, and close. Nothing reaches
/// the destination.
async fn peek(mut sock: TcpStream, mut first: Vec<u8>, att: &mut Attempt, ctx: &Ctx) {
    if first.is_empty() {
        let mut buf = vec![0u8; SNIFF_BYTES];
        if let Ok(Ok(n)) = timeout(PEEK_TIMEOUT, sock.read(&mut buf)).await {
            first.extend_from_slice(&buf[..n]);
        }
    }
    att.bytes_out = first.len() as u64;
    att.extra = json!({"peeked": true});
    if let Some(p) = detect::sniff_client(&first) {
        att.protocol = Some(p);
        report_protocol(ctx, att, p, false, &first);
    }
}

fn report_protocol(ctx: &Ctx, att: &Attempt, proto: &str, allowed: bool, first: &[u8]) -> bool {
    if let Some(f) = detect::protocol_finding(proto, &att.dest(), allowed, first) {
        let blocks = ctx.blocks(f.severity);
        let dst = att
            .dst
            .map(|i| i.to_string())
            .unwrap_or_else(|| att.host.clone());
        let mut loc = json!({"dst": dst, "dport": att.port, "via": att.via});
        if let Some((pid, cmd)) = &att.who {
            loc["pid"] = json!(pid);
            loc["cmd"] = json!(truncate(cmd, 512));
        }
        ctx.rec.finding(f, loc);
        return blocks;
    }
    false
}

/// Copy both ways until both sides are done, counting bytes and looking
/// at the first bytes of each direction. A protocol finding that blocks
/// cuts the connection before its first bytes are forwarded. After the
/// first chunk each way, bytes move with [`copy_all`] (see there, and
/// docs/sandbox.md for the figures).
async fn relay(client: TcpStream, up: TcpStream, first_out: Vec<u8>, att: &mut Attempt, ctx: &Ctx) {
    let mut first_out = first_out;
    if first_out.is_empty() {
        // Wait briefly for the client to speak first; if it does not (server-first protocols), go on.
        let mut buf = vec![0u8; SNIFF_BYTES];
        if let Ok(r) = timeout(Duration::from_millis(300), read_some(&client, &mut buf)).await {
            match r {
                Some(0) | None => return,
                Some(n) => first_out.extend_from_slice(&buf[..n]),
            }
        }
    }
    let mut out_sniffed = false;
    if !first_out.is_empty() {
        out_sniffed = true;
        if let Some(p) = detect::sniff_client(&first_out) {
            att.protocol = Some(p);
            if report_protocol(ctx, att, p, true, &first_out) {
                att.extra = json!({"cut": true});
                return;
            }
        }
        if write_all(&up, &first_out).await.is_none() {
            return;
        }
        att.bytes_out += first_out.len() as u64;
    }
    let proto = std::sync::Mutex::new(att.protocol);
    let att_ro: &Attempt = att;
    let up_dir = async {
        let mut n_total = 0u64;
        if !out_sniffed {
            let mut buf = vec![0u8; SNIFF_BYTES];
            match timeout(IDLE_TIMEOUT, read_some(&client, &mut buf)).await {
                Ok(Some(n)) if n > 0 => {
                    if let Some(p) = detect::sniff_client(&buf[..n]) {
                        if let Ok(mut g) = proto.lock() {
                            *g = Some(p);
                        }
                        if report_protocol(ctx, att_ro, p, true, &buf[..n]) {
                            shutdown_both(&client, &up);
                            return 0;
                        }
                    }
                    if write_all(&up, &buf[..n]).await.is_none() {
                        shutdown_both(&client, &up);
                        return 0;
                    }
                    n_total += n as u64;
                }
                _ => {
                    shutdown_write(&up);
                    return 0;
                }
            }
        }
        n_total += copy_all(&client, &up).await;
        shutdown_write(&up);
        n_total
    };
    let down_dir = async {
        let mut buf = vec![0u8; SNIFF_BYTES];
        let n = match timeout(IDLE_TIMEOUT, read_some(&up, &mut buf)).await {
            Ok(Some(n)) if n > 0 => n,
            _ => {
                shutdown_write(&client);
                return 0;
            }
        };
        if let Some(p) = detect::sniff_server(&buf[..n]) {
            if let Ok(mut g) = proto.lock() {
                g.get_or_insert(p);
            }
        }
        if write_all(&client, &buf[..n]).await.is_none() {
            shutdown_both(&client, &up);
            return n as u64;
        }
        let total = n as u64 + copy_all(&up, &client).await;
        shutdown_write(&client);
        total
    };
    let (o, i) = tokio::join!(up_dir, down_dir);
    att.bytes_out += o;
    att.bytes_in += i;
    att.protocol = proto.into_inner().unwrap_or(None);
}

async fn read_some(s: &TcpStream, buf: &mut [u8]) -> Option<usize> {
    loop {
        s.readable().await.ok()?;
        match s.try_read(buf) {
            Ok(n) => return Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
}

async fn write_all(s: &TcpStream, mut buf: &[u8]) -> Option<()> {
    while !buf.is_empty() {
        timeout(IDLE_TIMEOUT, s.writable()).await.ok()?.ok()?;
        match s.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
    Some(())
}

fn shutdown_write(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown on a socket we own; errors (already closed) are irrelevant.
    unsafe { libc::shutdown(s.as_raw_fd(), libc::SHUT_WR) };
}

fn shutdown_both(a: &TcpStream, b: &TcpStream) {
    use std::os::fd::AsRawFd;
    // SAFETY: as above.
    unsafe {
        libc::shutdown(a.as_raw_fd(), libc::SHUT_RDWR);
        libc::shutdown(b.as_raw_fd(), libc::SHUT_RDWR);
    }
}

/// The copy buffer starts at COPY_MIN and becomes COPY_MAX the first time
/// a read fills it: idle and interactive connections keep 16 KiB a
/// direction, a bulk transfer gets 256 KiB at once (growing step by step
/// through 32..128 KiB cost a tenth of the throughput: the size that
/// matters is the one used while the data flows, see [`copy_all`]).
const COPY_MIN: usize = 16 * 1024;
const COPY_MAX: usize = 256 * 1024;

/// Copy from one socket to the other until EOF, an error, or IDLE_TIMEOUT
/// without traffic; returns the bytes read from `from`.
///
/// Through a buffer, not splice(2): splice moved the sender's pages on to
/// the client, so they were freed on the client's CPU and the server's
/// CPU had to write into cold fresh pages, while the client read data
/// that was in no cache near it. A buffer that stays in L2 costs one copy
/// here and leaves the kernel's page recycling alone. On a 2-core VM, in
/// the setup of scripts/bench_sandbox.sh (1 GB, 6 interleaved rounds):
/// splice 78% of the direct throughput, copy through 64 KiB 75%, 128 KiB
/// 93%, 256 KiB 98%, 1 MiB 99%; the server needed 525 ms of CPU per GB
/// behind splice, 420 behind the 256 KiB copy, 429 with no proxy at all.
async fn copy_all(from: &TcpStream, to: &TcpStream) -> u64 {
    let mut buf = vec![0u8; COPY_MIN];
    let mut total = 0u64;
    loop {
        let n = match timeout(IDLE_TIMEOUT, read_some(from, &mut buf)).await {
            Ok(Some(n)) if n > 0 => n,
            _ => return total,
        };
        total += n as u64;
        if write_all(to, &buf[..n]).await.is_none() {
            return total;
        }
        if n == buf.len() && buf.len() < COPY_MAX {
            buf = vec![0u8; COPY_MAX];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_split_with_and_without_ports() {
        assert_eq!(
            split_authority("example.com:443", None),
            Some(("example.com".into(), 443))
        );
        assert_eq!(
            split_authority("[::1]:8080", None),
            Some(("::1".into(), 8080))
        );
        assert_eq!(
            split_authority("example.com", Some(80)),
            Some(("example.com".into(), 80))
        );
        assert_eq!(split_authority("example.com", None), None);
        assert_eq!(split_authority("example.com:99999", None), None);
        assert_eq!(split_authority("[::1", None), None);
        assert_eq!(split_authority("::1:80", None), None);
    }
}
