//! What the kernel offers. Each probe is a file read or one syscall, so
//! probing costs microseconds on every `cordon run`.

use std::fmt;

/// The features the sandbox is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Creating network, mount and PID namespaces (root, or user namespaces).
    Namespaces,
    Landlock,
    Seccomp,
    /// `SECCOMP_RET_USER_NOTIF`: how execs and direct connects are seen.
    SeccompUserNotif,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Namespaces => "namespaces (network, mount, pid)",
            Feature::Landlock => "landlock",
            Feature::Seccomp => "seccomp filter",
            Feature::SeccompUserNotif => "seccomp user notification",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Features {
    pub root: bool,
    pub user_ns: bool,
    pub net_ns: bool,
    pub mnt_ns: bool,
    pub pid_ns: bool,
    /// Landlock ABI version, 0 when unavailable.
    pub landlock_abi: i32,
    pub seccomp: bool,
    pub user_notif: bool,
}

const SYS_LANDLOCK_CREATE_RULESET: libc::c_long = 444;
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

impl Features {
    pub fn detect() -> Features {
        let exists = |p: &str| std::path::Path::new(p).exists();
        let root = unsafe { libc::geteuid() } == 0;
        let user_ns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0);
        // SAFETY: with a null attr and size 0 this syscall only returns the ABI version.
        let abi = unsafe {
            libc::syscall(
                SYS_LANDLOCK_CREATE_RULESET,
                std::ptr::null::<u8>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
        let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
        let actions =
            std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
        Features {
            root,
            user_ns,
            net_ns: exists("/proc/self/ns/net"),
            mnt_ns: exists("/proc/self/ns/mnt"),
            pid_ns: exists("/proc/self/ns/pid"),
            landlock_abi: if abi > 0 { abi as i32 } else { 0 },
            seccomp: seccomp && actions.contains("errno"),
            user_notif: seccomp && actions.split_whitespace().any(|a| a == "user_notif"),
        }
    }

    /// Namespaces need root here: an unprivileged user namespace would also
    /// need uid maps and leaves the proxy's setns without rights, so it is
    /// not attempted.
    pub fn namespaces(&self) -> bool {
        self.root && self.net_ns && self.mnt_ns && self.pid_ns
    }

    /// What is missing, in the order it matters.
    pub fn missing(&self) -> Vec<Feature> {
        let mut m = Vec::new();
        if !self.namespaces() {
            m.push(Feature::Namespaces);
        }
        if self.landlock_abi == 0 {
            m.push(Feature::Landlock);
        }
        if !self.seccomp {
            m.push(Feature::Seccomp);
        }
        if !self.user_notif {
            m.push(Feature::SeccompUserNotif);
        }
        m
    }
}
