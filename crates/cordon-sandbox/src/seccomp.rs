//! The seccomp side: a deny filter (seccompiler) for what a coding agent
//! never needs, and a second, hand-built filter that hands execve,
//! execveat and connect to the supervisor (SECCOMP_RET_USER_NOTIF).
//!
//! Why user notification: it sees every exec and every direct connect of
//! the whole tree, whatever the process does (no ptrace stops on other
//! syscalls, no missed short-lived processes as with the proc connector,
//! which also only reports pids, not argv). The cost is one round trip to
//! the supervisor per exec/connect, about what a context switch costs;
//! `cargo build` makes a few hundred execs. seccompiler has no
//! USER_NOTIF action and cannot return the listener fd, hence the ten
//! hand-written BPF instructions. Filters stack: the strictest result wins.
//!
//! Nothing here trusts what it reads from the target's memory: argv and
//! sockaddrs are only recorded, and the one decision made (refusing a
//! non-loopback connect) is a refusal, which a racing thread cannot turn
//! into an allow; the network namespace is the boundary either way.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op,
    SeccompCondition as Cond, SeccompFilter, SeccompRule,
};
use serde_json::json;

use crate::record::Recorder;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

const NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80, // CLONE_NEWTIME
];

/// Syscalls refused with EPERM whatever their arguments.
fn denied() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_setns,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_acct,
        libc::SYS_syslog,
        libc::SYS_userfaultfd,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
        libc::SYS_fsconfig,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        // io_uring runs connect and friends where seccomp cannot see them.
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_quotactl,
        libc::SYS_vhangup,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        // The UTS namespace is the host's.
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([libc::SYS_iopl, libc::SYS_ioperm, libc::SYS_uselib]);
    v
}

/// The deny filter, compiled before the fork (the child only installs it).
pub fn deny_filter() -> Result<BpfProgram, String> {
    let err = |e: seccompiler::BackendError| format!("seccomp filter: {e}");
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        denied().into_iter().map(|n| (n, Vec::new())).collect();
    // New namespaces: unshare(flags), clone(flags, ...) with any CLONE_NEW* bit.
    let ns_rules = |arg: u8| -> Result<Vec<SeccompRule>, String> {
        NS_FLAGS
            .iter()
            .map(|&f| {
                SeccompRule::new(vec![
                    Cond::new(arg, Len::Qword, Op::MaskedEq(f), f).map_err(err)?
                ])
                .map_err(err)
            })
            .collect()
    };
    rules.insert(libc::SYS_unshare, ns_rules(0)?);
    rules.insert(libc::SYS_clone, ns_rules(0)?);
    // Packet sockets, and raw IP sockets (netlink's SOCK_RAW stays: glibc uses it).
    let mut sock = vec![SeccompRule::new(vec![Cond::new(
        0,
        Len::Dword,
        Op::Eq,
        libc::AF_PACKET as u64,
    )
    .map_err(err)?])
    .map_err(err)?];
    for fam in [libc::AF_INET, libc::AF_INET6] {
        sock.push(
            SeccompRule::new(vec![
                Cond::new(0, Len::Dword, Op::Eq, fam as u64).map_err(err)?,
                Cond::new(1, Len::Dword, Op::MaskedEq(0xf), libc::SOCK_RAW as u64).map_err(err)?,
            ])
            .map_err(err)?,
        );
    }
    rules.insert(libc::SYS_socket, sock);
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("seccomp: {e:?}"))?;
    let f = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(err)?;
    f.try_into().map_err(err)
}

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
/// Do not turn on speculation mitigations (SSBD, STIBP) for the filtered
/// tree, as a seccomp filter otherwise may on some kernels: they slow a
/// compiler measurably, and side channels are not what this sandbox is for.
const FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;

/// Install a compiled filter (seccompiler's `apply_filter` passes no flags).
pub fn install(prog: &BpfProgram) -> Result<(), String> {
    let mut f: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: f.len() as u16,
        filter: f.as_mut_ptr(),
    };
    // SAFETY: fprog points at a live BPF program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1 as libc::c_ulong,
            FLAG_SPEC_ALLOW,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(format!(
            "seccomp filter: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The notify filter: execve, execveat, connect to the supervisor;
/// clone3 gets ENOSYS (its flags live in memory a filter cannot read, and
/// libc falls back to clone, whose flags the deny filter checks); other
/// architectures and the x32 ABI are killed. Without user notification
/// (`notify = false`) the three calls are simply allowed.
pub fn notify_filter(notify: bool) -> Vec<libc::sock_filter> {
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: 0x15,
        jt,
        jf,
        k,
    };
    let watched = [
        libc::SYS_execve as u32,
        libc::SYS_execveat as u32,
        libc::SYS_connect as u32,
    ];
    let mut p = vec![
        stmt(0x20, 4), // A = arch
    ];
    // Layout: [arch] [jeq arch] [nr] [jge x32]? [jeq w]x3 [jeq clone3] ALLOW NOTIF ENOSYS KILL
    let x32 = cfg!(target_arch = "x86_64");
    let n_checks = 3 + 1; // watched + clone3
    let after_arch = 1 + usize::from(x32) + n_checks; // instructions between jeq-arch and ALLOW
    let allow = 3 + usize::from(x32) + n_checks; // index of ALLOW
    let (notif, enosys, kill) = (allow + 1, allow + 2, allow + 3);
    p.push(jeq(AUDIT_ARCH, 0, (kill - 2) as u8));
    p.push(stmt(0x20, 0)); // A = nr
    if x32 {
        p.push(libc::sock_filter {
            code: 0x35,
            jt: (kill - 4) as u8,
            jf: 0,
            k: 0x4000_0000,
        });
    }
    for (i, nr) in watched.iter().enumerate() {
        let at = p.len();
        p.push(jeq(*nr, (notif - at - 1) as u8, 0));
        let _ = i;
    }
    let at = p.len();
    p.push(jeq(libc::SYS_clone3 as u32, (enosys - at - 1) as u8, 0));
    debug_assert_eq!(p.len(), allow);
    let _ = after_arch;
    p.push(stmt(0x06, RET_ALLOW));
    p.push(stmt(0x06, if notify { RET_USER_NOTIF } else { RET_ALLOW }));
    p.push(stmt(0x06, RET_ERRNO | libc::ENOSYS as u32));
    p.push(stmt(0x06, RET_KILL_PROCESS));
    p
}

/// Install the notify filter; returns the listener fd (or -1 without notification).
/// Runs in the sandbox's init after no_new_privs is set.
pub fn install_notify(prog: &mut [libc::sock_filter], notify: bool) -> Result<i32, String> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    let flags = FLAG_SPEC_ALLOW | if notify { FLAG_NEW_LISTENER } else { 0 };
    // SAFETY: fprog points at a live, correctly sized BPF program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1 as libc::c_ulong,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(format!(
            "seccomp notify filter: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(if notify { r as i32 } else { -1 })
}

#[repr(C)]
#[derive(Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const IOCTL_RECV: libc::c_ulong = 0xc050_2100;
const IOCTL_SEND: libc::c_ulong = 0xc018_2101;
const FLAG_CONTINUE: u32 = 1;

/// What the notify loop needs to know.
pub struct Watch {
    pub rec: Recorder,
    /// Loopback ports served by Cordon (proxy, DNS): connects to them are the proxy's to record.
    pub own_ports: Vec<u16>,
    pub stop: Arc<AtomicBool>,
}

/// Answer notifications until every process under the filter is gone or
/// `stop` is set. Always answers: a target is never left waiting on us
/// longer than one /proc read.
pub fn notify_loop(fd: OwnedFd, w: Watch) {
    let raw = fd.as_raw_fd();
    loop {
        if w.stop.load(Ordering::Relaxed) {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: raw,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 200) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if n == 0 {
            continue;
        }
        if pfd.revents & libc::POLLIN == 0 {
            if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                break;
            }
            continue;
        }
        let mut req = Notif::default();
        // SAFETY: req is a zeroed seccomp_notif of the kernel's size.
        if unsafe { libc::ioctl(raw, IOCTL_RECV, &mut req as *mut Notif) } < 0 {
            continue; // ENOENT: the target died before we read it
        }
        let (val, error, flags) = handle(&req, &w);
        let mut resp = NotifResp {
            id: req.id,
            val,
            error,
            flags,
        };
        // SAFETY: resp is a seccomp_notif_resp; ENOENT (target gone) is fine.
        unsafe { libc::ioctl(raw, IOCTL_SEND, &mut resp as *mut NotifResp) };
    }
}

/// (val, -errno, flags) for the response.
fn handle(req: &Notif, w: &Watch) -> (i64, i32, u32) {
    let cont = (0, 0, FLAG_CONTINUE);
    let nr = req.data.nr as i64;
    let pid = req.pid;
    let Ok(mem) = File::open(format!("/proc/{pid}/mem")) else {
        return cont;
    };
    if nr == libc::SYS_connect {
        return on_connect(req, &mem, w).unwrap_or(cont);
    }
    let (path_ptr, argv_ptr, dirfd) = if nr == libc::SYS_execveat {
        (
            req.data.args[1],
            req.data.args[2],
            Some(req.data.args[0] as i32),
        )
    } else {
        (req.data.args[0], req.data.args[1], None)
    };
    let path = read_cstr(&mem, path_ptr, 4096).unwrap_or_default();
    let resolved = resolve_exe(pid, &path, dirfd);
    // execvp tries each PATH entry: only record the one that exists.
    let Some(exe) = resolved else { return cont };
    let mut argv = Vec::new();
    let mut total = 0;
    let mut ptrs = [0u8; 8 * 64];
    let mut base = argv_ptr;
    'outer: for _ in 0..4 {
        if base == 0 || mem.read_at(&mut ptrs, base).is_err() {
            break;
        }
        for c in ptrs.chunks_exact(8) {
            let p = u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
            if p == 0 || total > 32 * 1024 {
                break 'outer;
            }
            let a = read_cstr(&mem, p, 4096).unwrap_or_default();
            total += a.len();
            argv.push(a);
        }
        base += ptrs.len() as u64;
    }
    let (ppid, nspid) = status_ids(pid);
    let mut r = w.rec.new_record("process");
    r.detail = json!({"event": "exec", "pid": pid, "ns_pid": nspid, "ppid": ppid, "exe": exe, "argv": argv});
    w.rec.send(r);
    cont
}

fn on_connect(req: &Notif, mem: &File, w: &Watch) -> Option<(i64, i32, u32)> {
    let cont = (0, 0, FLAG_CONTINUE);
    let len = (req.data.args[2] as usize).min(128);
    if len < 2 {
        return Some(cont);
    }
    let mut sa = vec![0u8; len];
    mem.read_at(&mut sa, req.data.args[1]).ok()?;
    let fam = u16::from_ne_bytes([sa[0], sa[1]]) as i32;
    let (ip, port) = match fam {
        libc::AF_INET if len >= 8 => (
            IpAddr::V4(Ipv4Addr::new(sa[4], sa[5], sa[6], sa[7])),
            u16::from_be_bytes([sa[2], sa[3]]),
        ),
        libc::AF_INET6 if len >= 24 => {
            let b: [u8; 16] = sa[8..24].try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(b)),
                u16::from_be_bytes([sa[2], sa[3]]),
            )
        }
        _ => return Some(cont),
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let local = ip.is_loopback() || ip.is_unspecified();
    if local && w.own_ports.contains(&port) {
        return Some(cont);
    }
    let pid = req.pid;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut r = w.rec.new_record("connect");
    r.proto = Some(sock_proto(pid, req.data.args[0]).into());
    r.dst = Some(ip.to_string());
    r.dport = Some(port);
    let mut d = json!({"via": "direct", "pid": pid, "exe": exe});
    let resp = if local {
        r.action = Some("allowed".into());
        d["reason"] = json!("the sandbox's own loopback");
        cont
    } else {
        r.action = Some("blocked".into());
        d["reason"] = json!("no route: the sandbox's only way out is Cordon's proxy");
        d["code"] = json!("direct");
        (0, -libc::ENETUNREACH, 0)
    };
    r.detail = d;
    w.rec.send(r);
    Some(resp)
}

/// tcp or udp, from the socket's inode in the target's fd table and /proc/net.
fn sock_proto(pid: u32, fd: u64) -> &'static str {
    let Ok(link) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
        return "tcp";
    };
    let link = link.display().to_string();
    let Some(inode) = link
        .strip_prefix("socket:[")
        .and_then(|s| s.strip_suffix(']'))
    else {
        return "tcp";
    };
    for (file, name) in [("udp", "udp"), ("udp6", "udp")] {
        if let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) {
            if t.lines()
                .skip(1)
                .any(|l| l.split_whitespace().nth(9) == Some(inode))
            {
                return name;
            }
        }
    }
    "tcp"
}

fn read_cstr(mem: &File, addr: u64, max: usize) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let mut at = addr;
    while out.len() < max {
        // A read can stop at a page end: take what came.
        let n = mem.read_at(&mut buf, at).ok()?;
        if n == 0 {
            break;
        }
        if let Some(z) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..z]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The file an exec would run, as the target sees it, if it exists.
fn resolve_exe(pid: u32, path: &str, dirfd: Option<i32>) -> Option<String> {
    let root = format!("/proc/{pid}/root");
    if path.is_empty() {
        let fd = dirfd?;
        return std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .ok()
            .map(|p| p.display().to_string());
    }
    let full = if path.starts_with('/') {
        path.to_string()
    } else {
        let base = match dirfd {
            Some(fd) if fd != libc::AT_FDCWD => {
                std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?
            }
            _ => std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?,
        };
        format!("{}/{path}", base.display())
    };
    std::fs::metadata(format!("{root}{full}"))
        .ok()
        .filter(|m| m.is_file())?;
    Some(full)
}

/// (ppid as the supervisor sees it, pid inside the sandbox).
fn status_ids(pid: u32) -> (Option<u32>, Option<u32>) {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let mut ppid = None;
    let mut nspid = None;
    for l in s.lines() {
        if let Some(v) = l.strip_prefix("PPid:") {
            ppid = v.trim().parse().ok();
        } else if let Some(v) = l.strip_prefix("NSpid:") {
            nspid = v.split_whitespace().last().and_then(|x| x.parse().ok());
        }
    }
    (ppid, nspid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_filter_jumps_land_on_returns() {
        for notify in [true, false] {
            let p = notify_filter(notify);
            for (i, ins) in p.iter().enumerate() {
                if ins.code == 0x15 || ins.code == 0x35 {
                    for off in [ins.jt, ins.jf] {
                        let to = i + 1 + off as usize;
                        assert!(to < p.len(), "jump out of the program at {i}");
                        if off != 0 {
                            assert_eq!(p[to].code, 0x06, "jump at {i} lands on a return");
                        }
                    }
                }
            }
            assert_eq!(p.last().unwrap().k, RET_KILL_PROCESS);
        }
    }

    #[test]
    fn deny_filter_compiles() {
        assert!(deny_filter().unwrap().len() > 40);
    }
}
