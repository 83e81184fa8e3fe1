//! The sandbox behind `cordon run`.
//!
//! The command runs as the child of PID 1 of new PID, network and mount
//! namespaces ([`child`]). Its network namespace has only loopback, where
//! the supervisor (this process) listens: an HTTP/SOCKS5 egress proxy
//! ([`proxy`]) and a DNS responder ([`dns`]), bound there from a thread
//! that entered the namespace, while their outbound sockets are made in
//! the supervisor's own namespace. A program that ignores the proxy
//! variables has no route. Landlock limits the filesystem, seccomp denies
//! what a coding agent never needs and reports execs and connects
//! ([`seccomp`]), /proc and NVML are sampled ([`monitor`]), and every
//! record goes through one recorder thread that detects and enforces
//! ([`record`], [`detect`]).
//!
//! `run` forks: call it from a process that has started no threads.

pub mod child;
pub mod detect;
pub mod dns;
pub mod features;
pub mod monitor;
pub mod netpolicy;
pub mod proxy;
pub mod record;
pub mod seccomp;

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cordon_core::policy::OnMissing;
use cordon_core::{Mode, Policy};
use serde_json::json;

pub use features::{Feature, Features};
pub use record::{Attribution, Sink, Summary};

pub const HTTP_PORT: u16 = 3128;
pub const SOCKS_PORT: u16 = 1080;
pub const DNS_PORT: u16 = 53;

pub struct Config {
    pub argv: Vec<OsString>,
    pub policy: Policy,
    pub mode: Mode,
    pub workspace: PathBuf,
    pub attribution: Attribution,
    pub jsonl: Option<Box<dyn Write + Send>>,
    pub sink: Option<Box<dyn Sink>>,
    pub verbose: bool,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

pub struct Outcome {
    pub exit: Exit,
    pub summary: Summary,
    pub missing: Vec<Feature>,
}

/// Secrets hidden by default, relative to the home directory.
pub const HIDDEN_IN_HOME: &[&str] = &[
    ".ssh",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".netrc",
    ".docker/config.json",
    ".gnupg",
    ".git-credentials",
    ".config/gh/hosts.yml",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".terraform.d/credentials.tfrc.json",
    ".vault-token",
    ".pgpass",
    ".my.cnf",
];

/// Sockets that hand out root or the network: the container runtime and
/// the system bus.
pub const HIDDEN_SYSTEM: &[&str] = &[
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/run/dbus/system_bus_socket",
    "/run/systemd/private",
];

/// Writable by default besides the workspace and /tmp: package caches.
pub const WRITABLE_IN_HOME: &[&str] = &[".cache", ".cargo/registry", ".cargo/git", ".npm"];

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

fn expand(p: &str, home: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if p == "~" => home.to_path_buf(),
        None => PathBuf::from(p),
    }
}

/// Paths to grant read access to: `/` with the hidden paths carved out
/// (only their ancestors are listed, so this stays a handful of reads).
fn carve(root: &Path, hidden: &[PathBuf], out: &mut Vec<PathBuf>) {
    if hidden.iter().any(|h| h == root) {
        return;
    }
    if !hidden.iter().any(|h| h.starts_with(root)) {
        out.push(root.to_path_buf());
        return;
    }
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        // Symlinks are granted as what they point to, so a link cannot reopen a hidden path.
        carve(&e.path(), hidden, out);
    }
}

fn build_env(extra_no_proxy: &str) -> Vec<(OsString, OsString)> {
    let proxy_vars = [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "ftp_proxy",
        "ssh_auth_sock",
    ];
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !proxy_vars.contains(&k.to_string_lossy().to_ascii_lowercase().as_str()))
        .collect();
    let http = format!("http://127.0.0.1:{HTTP_PORT}");
    let socks = format!("socks5h://127.0.0.1:{SOCKS_PORT}");
    let no_proxy = format!("localhost,127.0.0.1,::1{extra_no_proxy}");
    for (k, v) in [
        ("HTTP_PROXY", &http),
        ("HTTPS_PROXY", &http),
        ("ALL_PROXY", &socks),
        ("NO_PROXY", &no_proxy),
    ] {
        env.push((k.into(), v.into()));
        env.push((k.to_ascii_lowercase().into(), v.into()));
    }
    env.push(("CORDON_SANDBOX".into(), "1".into()));
    env
}

#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

fn pipe() -> std::io::Result<(RawFd, RawFd)> {
    let mut p = [0; 2];
    // SAFETY: p has room for two fds.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((p[0], p[1]))
}

/// Bring up `lo` in the current thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    // SAFETY: a datagram socket for interface ioctls; closed below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    let mut req = IfReq {
        name: [0; 16],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    use std::os::fd::AsRawFd;
    // SAFETY: req is an ifreq-sized buffer with the name set.
    unsafe {
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req as *mut IfReq) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req as *mut IfReq) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

struct Listeners {
    http: std::net::TcpListener,
    socks: std::net::TcpListener,
    dns_udp: Option<std::net::UdpSocket>,
    dns_tcp: Option<std::net::TcpListener>,
    diag: Option<proxy::Diag>,
}

fn bind_all(ports: (u16, u16, u16)) -> std::io::Result<Listeners> {
    let l = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p));
    let http = l(ports.0)?;
    let socks = l(ports.1)?;
    let (dns_udp, dns_tcp) = if ports.2 != 0 {
        (
            Some(std::net::UdpSocket::bind(("127.0.0.1", ports.2))?),
            Some(l(ports.2)?),
        )
    } else {
        (None, None)
    };
    for s in [&http, &socks] {
        s.set_nonblocking(true)?;
    }
    if let Some(s) = &dns_udp {
        s.set_nonblocking(true)?;
    }
    if let Some(s) = &dns_tcp {
        s.set_nonblocking(true)?;
    }
    Ok(Listeners {
        http,
        socks,
        dns_udp,
        dns_tcp,
        diag: None,
    })
}

/// Enter `pid`'s network namespace on a fresh thread, bring up loopback,
/// bind the listeners there. Sockets stay in the namespace they were
/// made in; the thread ends, the supervisor's own namespace is untouched.
fn listeners_in_netns(pid: i32) -> Result<Listeners, String> {
    std::thread::spawn(move || -> Result<Listeners, String> {
        let f = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| format!("netns of the sandbox: {e}"))?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a namespace fd, affecting this thread only.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        loopback_up().map_err(|e| format!("loopback up: {e}"))?;
        let mut l = bind_all((HTTP_PORT, SOCKS_PORT, DNS_PORT))
            .map_err(|e| format!("proxy listeners: {e}"))?;
        l.diag = proxy::Diag::new();
        Ok(l)
    })
    .join()
    .map_err(|_| "netns thread panicked".to_string())?
}

fn read_msg(fd: RawFd) -> Option<(u8, Vec<u8>)> {
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let r = (|| {
        use std::io::Read;
        let mut h = [0u8; 5];
        f.read_exact(&mut h).ok()?;
        let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
        if len > 64 * 1024 {
            return None;
        }
        let mut b = vec![0u8; len];
        f.read_exact(&mut b).ok()?;
        Some((h[0], b))
    })();
    std::mem::forget(f);
    r
}

fn write_byte(fd: RawFd, b: u8) {
    // SAFETY: one byte from a live buffer.
    unsafe { libc::write(fd, [b].as_ptr().cast(), 1) };
}

fn int(b: &[u8]) -> i32 {
    i32::from_le_bytes(b.get(..4).and_then(|s| s.try_into().ok()).unwrap_or([0; 4]))
}

/// Run the command in the sandbox. Errors are setup failures (or a refusal
/// over a missing feature); the command's own failure is in [`Outcome::exit`].
pub fn run(cfg: Config) -> Result<Outcome, String> {
    let Config {
        argv,
        policy,
        mode,
        workspace,
        attribution,
        jsonl,
        sink,
        verbose,
    } = cfg;
    if argv.is_empty() {
        return Err("no command given".into());
    }
    let feats = Features::detect();
    let missing = feats.missing();
    if !missing.is_empty() && policy.sandbox.on_missing == OnMissing::Refuse {
        let names: Vec<&str> = missing.iter().map(|f| f.as_str()).collect();
        let why = if missing.contains(&Feature::Namespaces) && !feats.root {
            " (namespaces need root here)"
        } else {
            ""
        };
        return Err(format!(
            "this kernel or user lacks {}{why}; refusing to run ([sandbox] on_missing = \"refuse\"; \"degrade\" runs with what remains)",
            names.join(", ")
        ));
    }
    let namespaces = feats.namespaces();
    let net = Arc::new(netpolicy::NetPolicy::from_policy(&policy)?);
    let home = home();
    let workspace = std::fs::canonicalize(&workspace)
        .map_err(|e| format!("workspace {}: {e}", workspace.display()))?;

    // Hidden: built-in secrets, the policy's, .env files above the workspace.
    let mut hidden: Vec<PathBuf> = HIDDEN_IN_HOME.iter().map(|p| home.join(p)).collect();
    hidden.extend(HIDDEN_SYSTEM.iter().map(PathBuf::from));
    hidden.extend(policy.sandbox.hidden.iter().map(|p| expand(p, &home)));
    for a in workspace.ancestors().skip(1) {
        hidden.push(a.join(".env"));
    }
    hidden.retain(|p| !p.starts_with(&workspace) && std::fs::symlink_metadata(p).is_ok());
    let hidden_kinds: Vec<(PathBuf, bool)> =
        hidden.iter().map(|p| (p.clone(), p.is_dir())).collect();
    let mut read = Vec::new();
    carve(Path::new("/"), &hidden, &mut read);
    let mut write = vec![
        workspace.clone(),
        PathBuf::from("/tmp"),
        PathBuf::from("/dev"),
    ];
    write.extend(WRITABLE_IN_HOME.iter().map(|p| home.join(p)));
    write.extend(policy.sandbox.writable.iter().map(|p| expand(p, &home)));
    // What lives under /tmp and must stay visible over the private /tmp: the
    // writable paths, and the home directory itself when it is there (CI
    // runners, throwaway users), bound read-only since Landlock lets the
    // whole of /tmp be written; its secrets are already covered, and the
    // covers travel with the bind. Shallower paths first, so deeper binds land on top.
    let in_tmp = |p: &PathBuf| p.starts_with("/tmp") && p.as_path() != Path::new("/tmp");
    let mut keep_in_tmp: Vec<(PathBuf, bool)> = write
        .iter()
        .filter(|p| in_tmp(p))
        .map(|p| (p.clone(), true))
        .collect();
    if in_tmp(&home) && !keep_in_tmp.iter().any(|(p, _)| *p == home) {
        keep_in_tmp.push((home.clone(), false));
    }
    keep_in_tmp.sort_by_key(|(p, _)| p.components().count());

    let resolv = if namespaces {
        let p = std::env::temp_dir().join(format!("cordon-resolv-{}.conf", std::process::id()));
        std::fs::write(&p, "nameserver 127.0.0.1\noptions edns0\n")
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Some(p)
    } else {
        None
    };
    // Without namespaces the proxy listens on the host's loopback, on free ports.
    let pre_bound = if namespaces {
        None
    } else {
        Some(bind_all((0, 0, 0)).map_err(|e| format!("proxy listeners: {e}"))?)
    };
    let mut env = build_env("");
    if let Some(l) = &pre_bound {
        let http = format!(
            "http://127.0.0.1:{}",
            l.http.local_addr().map(|a| a.port()).unwrap_or(0)
        );
        let socks = format!(
            "socks5h://127.0.0.1:{}",
            l.socks.local_addr().map(|a| a.port()).unwrap_or(0)
        );
        for (k, v) in env.iter_mut() {
            let key = k.to_string_lossy().to_ascii_lowercase();
            if key == "http_proxy" || key == "https_proxy" {
                *v = http.clone().into();
            } else if key == "all_proxy" {
                *v = socks.clone().into();
            }
        }
    }
    let plan = child::Plan {
        argv: argv.clone(),
        env,
        namespaces,
        resolv: resolv.clone(),
        hidden: if namespaces { hidden_kinds } else { Vec::new() },
        keep_in_tmp,
        landlock: feats.landlock_abi > 0,
        read,
        write,
        seccomp: if feats.seccomp {
            Some(seccomp::deny_filter()?)
        } else {
            None
        },
        notify_prog: seccomp::notify_filter(feats.user_notif),
        notify: feats.user_notif && feats.seccomp,
    };

    let (up_r, up_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let (down_r, down_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let mut pidfd: i32 = -1;
    let ns_flags = if namespaces {
        (libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWNET) as u64
    } else {
        0
    };
    let args = CloneArgs {
        flags: ns_flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut i32 as u64,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
    };
    // SAFETY: clone3 without a stack behaves like fork; this process has no
    // other threads yet (the caller's contract), so the child may allocate.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return Err(format!("clone3: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: closing the supervisor's ends in the child.
        unsafe {
            libc::close(up_r);
            libc::close(down_w);
        }
        drop(pre_bound);
        child::init(plan, up_w, down_r);
    }
    let pid = pid as i32;
    drop(plan);
    // SAFETY: closing the child's ends here.
    unsafe {
        libc::close(up_w);
        libc::close(down_r);
    }
    let kill_tree = move || {
        // SAFETY: signalling our own child (not reaped before the end of run).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    };
    let fail = |msg: String| -> Result<Outcome, String> {
        kill_tree();
        let mut st = 0;
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        Err(msg)
    };
    let listeners = match pre_bound {
        Some(l) => l,
        None => match listeners_in_netns(pid) {
            Ok(l) => l,
            Err(e) => return fail(e),
        },
    };
    let own_ports: Vec<u16> = [
        Some(&listeners.http),
        Some(&listeners.socks),
        listeners.dns_tcp.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
    .collect();

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string());
    let attribution = Attribution {
        host,
        ..attribution
    };
    let brain = record::Brain {
        mode,
        block_on: policy.block_on.clone(),
        scan: detect::ScanWindow::new(
            Duration::from_secs(policy.sandbox.scan_window_s),
            policy.sandbox.scan_threshold,
        ),
        kill: Box::new(kill_tree),
        verbose,
        jsonl,
        sink,
    };
    let (rec, rec_thread) = record::start(attribution, brain);
    if !missing.is_empty() {
        let mut r = rec.new_record("resource");
        r.detail = json!({"degraded": missing.iter().map(|f| f.as_str()).collect::<Vec<_>>()});
        rec.send(r);
        eprintln!(
            "cordon: running degraded, this kernel or user lacks: {}",
            missing
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("runtime: {e}")),
    };
    let ctx = Arc::new(proxy::Ctx {
        policy: net.clone(),
        rec: rec.clone(),
        mode,
        block_on: policy.block_on.clone(),
        limit: Arc::new(tokio::sync::Semaphore::new(proxy::MAX_CONNECTIONS)),
        init_pid: namespaces.then_some(pid as u32),
        diag: listeners.diag.map(Arc::new),
    });
    {
        let _g = rt.enter();
        let conv = |l: std::net::TcpListener| tokio::net::TcpListener::from_std(l);
        match (conv(listeners.http), conv(listeners.socks)) {
            (Ok(h), Ok(s)) => {
                rt.spawn(proxy::serve(h, ctx.clone(), proxy::Kind::Http));
                rt.spawn(proxy::serve(s, ctx.clone(), proxy::Kind::Socks));
            }
            _ => return fail("proxy listeners".into()),
        }
        let d = Arc::new(dns::Dns {
            policy: net.clone(),
            rec: rec.clone(),
        });
        if let Some(u) = listeners
            .dns_udp
            .and_then(|u| tokio::net::UdpSocket::from_std(u).ok())
        {
            rt.spawn(dns::serve_udp(u, d.clone()));
        }
        if let Some(t) = listeners.dns_tcp.and_then(|t| conv(t).ok()) {
            rt.spawn(dns::serve_tcp(t, d));
        }
    }
    drop(ctx);
    let stop = Arc::new(AtomicBool::new(false));
    let (mon_stop, mon_rx) = std::sync::mpsc::channel::<()>();
    let mon = {
        let m = monitor::Monitor {
            rec: rec.clone(),
            root_pid: pid as u32,
            cpu_threshold: policy.sandbox.cpu_threshold,
            seconds: policy.sandbox.cpu_seconds,
            stop: mon_rx,
            interval: Duration::from_secs(1),
        };
        std::thread::Builder::new()
            .name("cordon-monitor".into())
            .spawn(move || monitor::run(m))
            .ok()
    };
    // SAFETY: pidfd came from clone3.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    write_byte(down_w, b'N');
    let mut status: Option<i32> = None;
    let mut notify_thread = None;
    let mut setup_error = None;
    let mut cmd_pid: Option<i32> = None;
    while let Some((tag, payload)) = read_msg(up_r) {
        match tag {
            child::MSG_FD => {
                use std::os::fd::AsRawFd;
                // SAFETY: pidfd_getfd on our child's seccomp listener.
                let fd = unsafe {
                    libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), int(&payload), 0)
                };
                if fd >= 0 {
                    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
                    let w = seccomp::Watch {
                        rec: rec.clone(),
                        own_ports: own_ports.clone(),
                        stop: stop.clone(),
                    };
                    notify_thread = std::thread::Builder::new()
                        .name("cordon-seccomp".into())
                        .spawn(move || seccomp::notify_loop(fd, w))
                        .ok();
                } else {
                    setup_error = Some(format!("pidfd_getfd: {}", std::io::Error::last_os_error()));
                    kill_tree();
                }
                write_byte(down_w, b'F');
                if let Some(r) = &resolv {
                    let _ = std::fs::remove_file(r);
                }
            }
            child::MSG_PID => {
                // Init's only child, as this namespace sees it.
                cmd_pid = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                    .ok()
                    .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()));
                forward_signals(cmd_pid.unwrap_or(pid));
            }
            child::MSG_STATUS => status = Some(int(&payload)),
            child::MSG_ERR => setup_error = Some(String::from_utf8_lossy(&payload).into_owned()),
            _ => {}
        }
    }
    let _ = cmd_pid;
    let mut init_status = 0;
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, &mut init_status, 0) };
    if let Some(r) = &resolv {
        let _ = std::fs::remove_file(r);
    }
    stop.store(true, Ordering::Relaxed);
    drop(mon_stop);
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Some(t) = notify_thread {
        let _ = t.join();
    }
    if let Some(t) = mon {
        let _ = t.join();
    }
    let st = status.unwrap_or(init_status);
    let exit = if libc::WIFSIGNALED(st) {
        Exit::Signal(libc::WTERMSIG(st))
    } else {
        Exit::Code(libc::WEXITSTATUS(st))
    };
    let mut r = rec.new_record("process");
    r.detail = match exit {
        Exit::Code(c) => {
            json!({"event": "exit", "argv": argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(), "exit_code": c})
        }
        Exit::Signal(s) => {
            json!({"event": "exit", "argv": argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(), "signal": s})
        }
    };
    rec.send(r);
    drop(rec);
    let summary = rec_thread.join().unwrap_or_default();
    // SAFETY: our pipe ends.
    unsafe {
        libc::close(up_r);
        libc::close(down_w);
    }
    if let Some(e) = setup_error {
        if summary.killed_for.is_none() {
            return Err(format!("sandbox setup: {e}"));
        }
    }
    Ok(Outcome {
        exit,
        summary,
        missing,
    })
}

static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// SIGTERM and SIGHUP sent to `cordon run` go to the command; SIGINT and
/// SIGQUIT from the terminal already reach it (same process group), so
/// the supervisor ignores them and lives to record the end.
fn forward_signals(to: i32) {
    FORWARD_TO.store(to, Ordering::Relaxed);
    // SAFETY: installing async-signal-safe handlers / ignoring.
    unsafe {
        libc::signal(libc::SIGTERM, forward as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, forward as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
}
