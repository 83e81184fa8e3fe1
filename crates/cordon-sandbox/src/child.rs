//! The sandbox's init: PID 1 of the new PID namespace, in the new network
//! and mount namespaces. It waits for the supervisor to have its proxy
//! listening inside the network namespace, builds the filesystem view,
//! locks itself down (Landlock, capabilities, seccomp), hands the seccomp
//! listener to the supervisor, then starts the command and reaps until
//! the command exits. When init exits the kernel kills everything left in
//! the namespace, so the whole tree ends with the command.
//!
//! Runs right after clone3 in a process that was single-threaded, so
//! allocating is safe; it never returns.

use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, ABI,
};

/// Everything init needs, prepared by the supervisor before the clone.
pub struct Plan {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub namespaces: bool,
    /// File with `nameserver 127.0.0.1`, bind-mounted on /etc/resolv.conf.
    pub resolv: Option<PathBuf>,
    /// Existing secret paths to cover (is_dir).
    pub hidden: Vec<(PathBuf, bool)>,
    /// Paths under /tmp that must stay visible over the private /tmp, and whether writable.
    pub keep_in_tmp: Vec<(PathBuf, bool)>,
    pub landlock: bool,
    /// Read + execute.
    pub read: Vec<PathBuf>,
    /// Everything.
    pub write: Vec<PathBuf>,
    pub seccomp: Option<seccompiler::BpfProgram>,
    pub notify_prog: Vec<libc::sock_filter>,
    pub notify: bool,
}

/// Messages up the pipe: tag byte, then payload.
pub const MSG_ERR: u8 = b'E';
pub const MSG_FD: u8 = b'F';
pub const MSG_PID: u8 = b'P';
pub const MSG_STATUS: u8 = b'S';

fn write_all(fd: RawFd, mut b: &[u8]) {
    while !b.is_empty() {
        // SAFETY: writing from a live slice.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        b = &b[n as usize..];
    }
}

pub fn send(fd: RawFd, tag: u8, payload: &[u8]) {
    let mut m = vec![tag];
    m.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    m.extend_from_slice(payload);
    write_all(fd, &m);
}

fn read_byte(fd: RawFd) -> Option<u8> {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading into a live 1-byte buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        if n == 1 {
            return Some(b[0]);
        }
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return None;
    }
}

fn errno(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

fn cstr(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{}: NUL in path", p.display()))
}

fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), String> {
    let src = src.map(cstr).transpose()?;
    let t = cstr(target)?;
    let fs = fstype.map(|f| CString::new(f).unwrap_or_default());
    let d = data.map(|f| CString::new(f).unwrap_or_default());
    let p = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: all pointers are NUL-terminated strings or null.
    let r = unsafe { libc::mount(p(&src), t.as_ptr(), p(&fs), flags, p(&d).cast()) };
    if r != 0 {
        return Err(errno(&format!("mount {}", target.display())));
    }
    Ok(())
}

/// Entry point after clone3 (in the child). Never returns.
pub fn init(plan: Plan, up: RawFd, down: RawFd) -> ! {
    // SAFETY: plain prctl; the supervisor's death ends the sandbox.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    match setup(&plan, up, down) {
        Err(e) => {
            send(up, MSG_ERR, e.as_bytes());
            // SAFETY: leaving without running the parent's atexit handlers.
            unsafe { libc::_exit(126) }
        }
        Ok(child) => reap(child, up),
    }
}

fn setup(plan: &Plan, up: RawFd, down: RawFd) -> Result<u32, String> {
    if read_byte(down) != Some(b'N') {
        return Err("the supervisor went away".into());
    }
    if plan.namespaces {
        filesystem(plan)?;
    }
    if plan.landlock {
        landlock(plan)?;
    }
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(errno("no_new_privs"));
    }
    if plan.namespaces {
        drop_caps();
    }
    if let Some(f) = &plan.seccomp {
        crate::seccomp::install(f)?;
        let mut prog = plan.notify_prog.clone();
        let fd = crate::seccomp::install_notify(&mut prog, plan.notify)?;
        if fd >= 0 {
            send(up, MSG_FD, &fd.to_le_bytes());
            if read_byte(down) != Some(b'F') {
                return Err("the supervisor did not take the seccomp listener".into());
            }
            // SAFETY: our copy; the supervisor holds its own.
            unsafe { libc::close(fd) };
        }
    }
    // A bare name is looked up here with stat, not by trying execve in each
    // PATH directory: every execve attempt is a round trip to the supervisor.
    let program = lookup(
        &plan.argv[0],
        plan.env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_os_str()),
    );
    let mut cmd = std::process::Command::new(&program);
    cmd.args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)));
    cmd.arg0(&plan.argv[0]);
    match cmd.spawn() {
        Ok(c) => {
            let pid = c.id();
            send(up, MSG_PID, &pid.to_le_bytes());
            std::mem::forget(c);
            Ok(pid)
        }
        Err(e) => {
            let code: i32 = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!("cordon: {}: {e}", plan.argv[0].to_string_lossy());
            // Reported as the command's exit status, as a shell would.
            send(up, MSG_STATUS, &((code & 0xff) << 8).to_le_bytes());
            // SAFETY: leaving without atexit handlers.
            unsafe { libc::_exit(code) }
        }
    }
}

fn lookup(name: &std::ffi::OsStr, path: Option<&std::ffi::OsStr>) -> OsString {
    use std::os::unix::fs::PermissionsExt;
    if name.as_bytes().contains(&b'/') {
        return name.to_os_string();
    }
    for dir in
        std::env::split_paths(path.unwrap_or(std::ffi::OsStr::new("/usr/local/bin:/usr/bin:/bin")))
    {
        let p = dir.join(name);
        if std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0) {
            return p.into_os_string();
        }
    }
    name.to_os_string()
}

fn filesystem(plan: &Plan) -> Result<(), String> {
    let root = Path::new("/");
    mount(None, root, None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    // A /proc of this PID namespace: the command sees only its own tree.
    mount(
        Some(Path::new("proc")),
        Path::new("/proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )?;
    if let Some(r) = &plan.resolv {
        let target = Path::new("/etc/resolv.conf");
        if target.exists() {
            mount(Some(r), target, None, libc::MS_BIND, None)?;
        }
    }
    for (p, is_dir) in &plan.hidden {
        let r = if *is_dir {
            mount(
                Some(Path::new("tmpfs")),
                p,
                Some("tmpfs"),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                Some("size=4k,mode=0"),
            )
        } else {
            mount(Some(Path::new("/dev/null")), p, None, libc::MS_BIND, None)
        };
        r?;
    }
    // Private /tmp, with the workspace (and other kept paths) put back.
    let kept: Vec<(RawFd, &PathBuf, bool)> = plan
        .keep_in_tmp
        .iter()
        .filter_map(|(p, writable)| {
            let c = cstr(p).ok()?;
            // SAFETY: NUL-terminated path.
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            (fd >= 0).then_some((fd, p, *writable))
        })
        .collect();
    mount(
        Some(Path::new("tmpfs")),
        Path::new("/tmp"),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=1777"),
    )?;
    for (fd, p, writable) in kept {
        let _ = std::fs::create_dir_all(p);
        mount(
            Some(Path::new(&format!("/proc/self/fd/{fd}"))),
            p,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )?;
        if !writable {
            mount(
                None,
                p,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                None,
            )?;
        }
        // SAFETY: our O_PATH fd.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

fn landlock(plan: &Plan) -> Result<(), String> {
    let abi = ABI::V5;
    let err = |e: landlock::RulesetError| format!("landlock: {e}");
    let mut rs = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .create()
        .map_err(err)?;
    for (paths, access) in [
        (&plan.read, AccessFs::from_read(abi)),
        (&plan.write, AccessFs::from_all(abi)),
    ] {
        for p in paths {
            let Ok(fd) = PathFd::new(p) else { continue };
            let is_dir = std::fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false);
            let a = if is_dir {
                access
            } else {
                access & AccessFs::from_file(abi)
            };
            rs = rs.add_rule(PathBeneath::new(fd, a)).map_err(err)?;
        }
    }
    rs.restrict_self().map_err(err)?;
    Ok(())
}

/// Root inside the sandbox keeps what installing packages needs (chown,
/// file ownership, setuid to drop privileges) and loses what reaches the
/// kernel or other namespaces.
fn drop_caps() {
    const DROP: &[u32] = &[
        21, // SYS_ADMIN
        12, // NET_ADMIN
        13, // NET_RAW
        19, // SYS_PTRACE
        16, // SYS_MODULE
        17, // SYS_RAWIO
        22, // SYS_BOOT
        25, // SYS_TIME
        24, // SYS_RESOURCE
        27, // MKNOD
        9,  // LINUX_IMMUTABLE
        29, 30, 37, // AUDIT_WRITE, AUDIT_CONTROL, AUDIT_READ
        32, 33, // MAC_OVERRIDE, MAC_ADMIN
        34, // SYSLOG
        35, 36, // WAKE_ALARM, BLOCK_SUSPEND
        38, 39, 40, // PERFMON, BPF, CHECKPOINT_RESTORE
        8,  // SETPCAP (last: the drops above need it)
    ];
    #[repr(C)]
    struct Hdr {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        eff: u32,
        perm: u32,
        inh: u32,
    }
    // SAFETY: prctl and capget/capset with correctly sized v3 structures.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        for &c in DROP {
            libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0);
        }
        let mut h = Hdr {
            version: 0x2008_0522,
            pid: 0,
        };
        let mut d = [Data::default(); 2];
        if libc::syscall(libc::SYS_capget, &mut h as *mut Hdr, d.as_mut_ptr()) == 0 {
            for &c in DROP {
                let (i, bit) = ((c / 32) as usize, 1u32 << (c % 32));
                d[i].eff &= !bit;
                d[i].perm &= !bit;
                d[i].inh &= !bit;
            }
            libc::syscall(libc::SYS_capset, &mut h as *mut Hdr, d.as_ptr());
        }
    }
}

/// Reap everything; when the command exits, report its status and exit,
/// which ends the namespace.
fn reap(child: u32, up: RawFd) -> ! {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // SAFETY: leaving.
            unsafe { libc::_exit(125) }
        }
        if pid as u32 == child {
            send(up, MSG_STATUS, &status.to_le_bytes());
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            // SAFETY: leaving.
            unsafe { libc::_exit(code) }
        }
    }
}
