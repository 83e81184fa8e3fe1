//! Globs used to spell a program or a file without writing its name
//! (`/???/?at /etc/sha*ow`). There is no file system to expand against, so a
//! glob is matched against the programs and files attackers reach for.

const PROGRAM_DIRS: &[&str] = &[
    "/bin/",
    "/usr/bin/",
    "/sbin/",
    "/usr/sbin/",
    "/usr/local/bin/",
];
const PROGRAMS: &[&str] = &[
    "cat", "nc", "ncat", "netcat", "bash", "sh", "dash", "zsh", "ksh", "python", "python3", "perl",
    "ruby", "php", "curl", "wget", "ssh", "scp", "socat", "base64", "xxd", "nmap", "telnet",
    "busybox", "chmod", "chown", "openssl", "xmrig", "sudo", "su", "crontab", "rm", "dd", "tar",
    "nohup", "awk", "gawk", "lua", "node",
];
const SENSITIVE: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/passwd",
    "/etc/sudoers",
    "/etc/crontab",
    "/etc/ld.so.preload",
    "/etc/profile",
    "/root/.ssh/id_rsa",
    "/root/.ssh/authorized_keys",
    "/root/.bash_history",
    "/root/.aws/credentials",
    "/proc/self/environ",
    "/var/log/auth.log",
    "/var/log/syslog",
];

/// `?`, `*` and `[...]` against a literal (no `/` crossing for `*`, as in the shell).
fn matches(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            matches(&pat[1..], s)
                || (s.first().is_some_and(|c| *c != b'/') && matches(pat, &s[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => matches(&pat[1..], &s[1..]),
        (Some(b'['), Some(c)) => match pat.iter().position(|b| *b == b']') {
            Some(end) if end > 1 => {
                let set = &pat[1..end];
                let (neg, set) = if set[0] == b'!' || set[0] == b'^' {
                    (true, &set[1..])
                } else {
                    (false, set)
                };
                (set.contains(c) != neg) && matches(&pat[end + 1..], &s[1..])
            }
            _ => pat[0] == *c && matches(&pat[1..], &s[1..]),
        },
        (Some(p), Some(c)) => p == c && matches(&pat[1..], &s[1..]),
        _ => false,
    }
}

/// The program a glob in command position would run, if it names one we know.
pub fn resolve_program(glob: &str) -> Option<String> {
    if glob.len() > 256 {
        return None;
    }
    for dir in PROGRAM_DIRS {
        for p in PROGRAMS {
            let full = format!("{dir}{p}");
            if matches(glob.as_bytes(), full.as_bytes()) {
                return Some(full);
            }
        }
    }
    None
}

/// The sensitive file a glob argument names, if any.
pub fn resolve_sensitive(glob: &str) -> Option<String> {
    if glob.len() > 256 {
        return None;
    }
    SENSITIVE
        .iter()
        .find(|f| matches(glob.as_bytes(), f.as_bytes()))
        .map(|f| f.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_resolve_to_known_names() {
        assert_eq!(resolve_program("/???/?at").as_deref(), Some("/bin/cat"));
        assert_eq!(
            resolve_program("/usr/bin/n[c]").as_deref(),
            Some("/usr/bin/nc")
        );
        assert_eq!(
            resolve_sensitive("/etc/sha*ow").as_deref(),
            Some("/etc/shadow")
        );
        assert_eq!(
            resolve_sensitive("/e??/pa??wd").as_deref(),
            Some("/etc/passwd")
        );
        assert!(resolve_sensitive("*.py").is_none());
        assert!(resolve_program("./*.sh").is_none());
    }
}
