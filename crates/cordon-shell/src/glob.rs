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
///
/// Dynamic programming over (pattern position, text position): a plain
/// recursive matcher backtracks exponentially on a hostile run of stars
/// (`/***...***x`), and this runs on every glob an agent sends.
fn matches(pat: &[u8], s: &[u8]) -> bool {
    // The literal text before the first and after the last special character
    // must start and end the name: most globs (`*.py`) fail here at once.
    let special = |b: &u8| matches!(b, b'*' | b'?' | b'[' | b']');
    let head = pat.iter().position(special).unwrap_or(pat.len());
    let tail = pat
        .iter()
        .rposition(special)
        .map_or(0, |p| pat.len() - p - 1);
    if !s.starts_with(&pat[..head]) || !s.ends_with(&pat[pat.len() - tail..]) {
        return false;
    }
    // Every candidate name is short; the table lives on the stack.
    const MAX: usize = 64;
    if s.len() >= MAX {
        return false;
    }
    // reach[j]: the pattern so far matches s[..j].
    let mut reach = [false; MAX];
    reach[0] = true;
    let mut next = [false; MAX];
    let (reach, next) = (&mut reach[..=s.len()], &mut next[..=s.len()]);
    let mut i = 0;
    while i < pat.len() {
        next.iter_mut().for_each(|b| *b = false);
        let mut step = 1;
        match pat[i] {
            b'*' => {
                for j in 0..=s.len() {
                    // Zero characters, or one more non-slash character after a match.
                    next[j] = reach[j] || (j > 0 && next[j - 1] && s[j - 1] != b'/');
                }
            }
            b'?' => {
                for j in 1..=s.len() {
                    next[j] = reach[j - 1] && s[j - 1] != b'/';
                }
            }
            b'[' if pat[i..]
                .iter()
                .position(|b| *b == b']')
                .is_some_and(|e| e > 1) =>
            {
                let end = i + pat[i..].iter().position(|b| *b == b']').unwrap_or(0);
                let set = &pat[i + 1..end];
                let (neg, set) = if set[0] == b'!' || set[0] == b'^' {
                    (true, &set[1..])
                } else {
                    (false, set)
                };
                for j in 1..=s.len() {
                    next[j] = reach[j - 1] && (set.contains(&s[j - 1]) != neg);
                }
                step = end + 1 - i;
            }
            c => {
                for j in 1..=s.len() {
                    next[j] = reach[j - 1] && s[j - 1] == c;
                }
            }
        }
        reach.copy_from_slice(next);
        if !reach.iter().any(|b| *b) {
            return false;
        }
        i += step;
    }
    reach[s.len()]
}

/// Every program path a glob in command position could name, built once.
fn program_paths() -> &'static [String] {
    static PATHS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PATHS.get_or_init(|| {
        PROGRAM_DIRS
            .iter()
            .flat_map(|d| PROGRAMS.iter().map(move |p| format!("{d}{p}")))
            .collect()
    })
}

/// The program a glob in command position would run, if it names one we know.
pub fn resolve_program(glob: &str) -> Option<String> {
    // Every candidate is an absolute path: a glob that cannot start with `/` names none
    // (this also keeps `[ ... ]`, the test command, off the table).
    if glob.len() > 256 || !glob.starts_with(['/', '*', '?']) {
        return None;
    }
    program_paths()
        .iter()
        .find(|full| matches(glob.as_bytes(), full.as_bytes()))
        .cloned()
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
        assert!(resolve_program("[").is_none());
        assert_eq!(
            resolve_program("/*/*/ba?h").as_deref(),
            Some("/usr/bin/bash")
        );
        assert_eq!(resolve_program("/b*/[!x]at").as_deref(), Some("/bin/cat"));
        assert!(resolve_program("/b*n/c*t/").is_none());
    }

    #[test]
    fn star_runs_are_not_exponential() {
        // A recursive matcher takes minutes here; the table is linear in each.
        let hostile = format!("/{}x", "*".repeat(250));
        assert!(resolve_program(&hostile).is_none());
        assert!(resolve_sensitive(&format!("/etc/{}z", "*".repeat(240))).is_none());
        assert!(matches(b"/e*c/s*w", b"/etc/shadow"));
        assert!(!matches(b"/e*w", b"/etc/shadow"));
    }
}
