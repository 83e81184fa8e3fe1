//! Evaluating compiled rules against what a call would do.

use std::cell::OnceCell;

use cordon_net::{DestClass, Destination, Egress};
use cordon_shell::{Analysis, Command, RedirectOp, SignalKind, Stdin};

use crate::rules::{Compiled, Keywords, LazyRegex, Names, Rule, RuleSet, Scope};

/// One rule hit: which rule, and the byte span of its evidence in the input.
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: usize,
    pub span: (usize, usize),
}

/// Programs whose bare positional arguments are hosts.
const HOST_POSITIONAL: &[&str] = &[
    "nc",
    "ncat",
    "netcat",
    "telnet",
    "ssh",
    "autossh",
    "ping",
    "ping6",
    "nmap",
    "masscan",
    "hping3",
    "traceroute",
    "sshuttle",
    "plink",
    "mosh",
    "ftp",
    "tftp",
    "ztcp",
    "sftp",
    "rustscan",
    "zmap",
    "fping",
    "socat",
];

pub struct ShellView<'a> {
    pub analysis: &'a Analysis,
    pub egress: &'a Egress,
    keywords: Option<&'a Keywords>,
    keyword_filter: Option<&'a LazyRegex>,
    /// One entry per command, in one allocation (a view is made per check).
    per: Vec<PerCommand>,
}

/// What rules ask of one command, each worked out on first use.
struct PerCommand {
    dests: OnceCell<Vec<Destination>>,
    argline: OnceCell<String>,
    /// Which command-rule keywords occur in its arguments or code.
    found: OnceCell<Vec<bool>>,
    /// The single-letter flags it sets (see [`short_flags`]).
    short: OnceCell<ByteSet>,
    /// Its other flags, as bits (see [`flag_signature`]).
    flag_sig: OnceCell<u64>,
    /// Its [`Features`].
    features: u32,
}

impl<'a> ShellView<'a> {
    pub fn new(analysis: &'a Analysis, egress: &'a Egress, rules: &'a RuleSet) -> ShellView<'a> {
        ShellView {
            analysis,
            egress,
            keywords: rules.cmd_keywords.as_ref(),
            keyword_filter: rules.cmd_keyword_filter.as_ref(),
            per: analysis
                .commands
                .iter()
                .map(|c| PerCommand {
                    dests: OnceCell::new(),
                    argline: OnceCell::new(),
                    found: OnceCell::new(),
                    short: OnceCell::new(),
                    flag_sig: OnceCell::new(),
                    features: Features::of(c),
                })
                .collect(),
        }
    }

    /// [`has_flag`] for command `i`. Flag rules are asked of every command
    /// (miner flags are tried on all of them), so single-letter flags are
    /// answered from a set built once per command instead of a walk of its
    /// arguments per flag.
    fn has_flag(&self, i: usize, flag: &str) -> bool {
        let args = self.analysis.commands[i].args();
        match flag.as_bytes() {
            [b'-', f] if *f != b'-' => self.per[i].short.get_or_init(|| short_flags(args)).has(*f),
            _ => has_flag(args, flag),
        }
    }

    fn argline(&self, i: usize) -> &str {
        self.per[i]
            .argline
            .get_or_init(|| self.analysis.commands[i].args().join(" "))
    }

    fn has_keyword(&self, i: usize, ids: &[usize]) -> bool {
        let Some(ac) = self.keywords else { return true };
        let found = self.per[i].found.get_or_init(|| {
            // Empty: no keyword at all (most commands), known without the automaton.
            let mut seen = Vec::new();
            let c = &self.analysis.commands[i];
            let mut scan = |hay: &str| {
                if self.keyword_filter.is_none_or(|f| f.is_match(hay)) {
                    seen.resize(ac.len(), false);
                    ac.each(hay, |k| seen[k] = true);
                }
            };
            scan(self.argline(i));
            // `python -c CODE`: the code is an argument, so the argument line
            // held every keyword it has.
            if let Some(code) = c.code.as_ref().map(|x| x.text.as_str()) {
                if !c.args().iter().any(|a| a == code) {
                    scan(code);
                }
            }
            seen
        });
        ids.iter().any(|&k| found.get(k) == Some(&true))
    }

    fn destinations(&self, i: usize) -> &[Destination] {
        self.per[i].dests.get_or_init(|| {
            let c = &self.analysis.commands[i];
            let positional = HOST_POSITIONAL.contains(&c.name.as_str());
            let mut out = Vec::new();
            let mut skip_next = false;
            // `python -c CODE`: the code is scanned below; scanning the same
            // text again as an argument finds nothing new (only `any` is asked).
            let code = c.code.as_ref().map(|x| x.text.as_str());
            for a in c.args() {
                if !positional && Some(a.as_str()) == code {
                    continue;
                }
                if skip_next {
                    skip_next = false;
                    out.extend(cordon_net::extract(a, false));
                    continue;
                }
                // `-p 4444`, `-e /bin/sh`: option values are not hosts.
                if a.starts_with('-') {
                    skip_next = a.len() == 2 && positional;
                    out.extend(cordon_net::extract(a, false));
                    continue;
                }
                out.extend(cordon_net::extract(a, positional));
            }
            for r in &c.redirects {
                out.extend(cordon_net::extract(&r.target, false));
            }
            if let Some(code) = &c.code {
                out.extend(cordon_net::extract(&code.text, false));
            }
            out
        })
    }
}

pub fn dest_matches(wanted: &[String], dests: &[Destination], egress: &Egress) -> bool {
    dests.iter().any(|d| {
        wanted.iter().any(|w| match w.as_str() {
            "not_allowed" => {
                matches!(
                    d.class,
                    DestClass::Public
                        | DestClass::Private
                        | DestClass::Metadata
                        | DestClass::LinkLocal
                ) && !egress.allows(d)
            }
            "remote" => !matches!(d.class, DestClass::Loopback | DestClass::Unspecified),
            "obfuscated_ip" => d.obfuscated_ip,
            other => d.class.as_str() == other,
        })
    })
}

/// `-R`, `-R8080:h:22`, `-NfR`, `--long`, `--long=value`.
pub fn has_flag(args: &[String], flag: &str) -> bool {
    let fb = flag.as_bytes();
    for a in args {
        if a == "--" {
            break;
        }
        if a == flag {
            return true;
        }
        if flag.starts_with("--") {
            if a.len() > flag.len() && a.starts_with(flag) && a.as_bytes()[flag.len()] == b'=' {
                return true;
            }
        } else if fb.len() == 2 && fb[0] == b'-' {
            let ab = a.as_bytes();
            if ab.len() > 2 && ab[0] == b'-' && ab[1] != b'-' {
                if ab[1] == fb[1] {
                    return true;
                }
                if ab[1..].iter().all(|b| b.is_ascii_alphabetic()) && ab[1..].contains(&fb[1]) {
                    return true;
                }
            }
        }
    }
    false
}

/// Facts about a command that rule conditions require, as bits: a rule
/// whose `needs` holds a bit the command lacks cannot match it. Each bit is
/// implied by a check `cmd_matches` makes anyway, so this only skips work.
pub struct Features;

impl Features {
    const CODE: u32 = 1;
    const REDIRECT: u32 = 1 << 1;
    const ASSIGN: u32 = 1 << 2;
    const PRIVILEGED: u32 = 1 << 3;
    const UNPRIVILEGED: u32 = 1 << 4;
    const INTERACTIVE: u32 = 1 << 5;
    const NOT_INTERACTIVE: u32 = 1 << 6;
    const RUNS_STDIN: u32 = 1 << 7;
    const NOT_RUNS_STDIN: u32 = 1 << 8;
    const ARGS: u32 = 1 << 9;
    const STDIN_FILE: u32 = 1 << 10;
    const STDIN_PIPE: u32 = 1 << 11;
    const NAME_TRICKS: u32 = 1 << 12;
    const NO_NAME_TRICKS: u32 = 1 << 13;

    /// The facts that hold one way or the other (privileged, interactive
    /// shell, runs its stdin, a name built with tricks), as (yes, no) bits.
    const TWO_SIDED: [(u32, u32); 4] = [
        (Self::PRIVILEGED, Self::UNPRIVILEGED),
        (Self::INTERACTIVE, Self::NOT_INTERACTIVE),
        (Self::RUNS_STDIN, Self::NOT_RUNS_STDIN),
        (Self::NAME_TRICKS, Self::NO_NAME_TRICKS),
    ];

    fn two_sided(values: [Option<bool>; 4]) -> u32 {
        Self::TWO_SIDED
            .iter()
            .zip(values)
            .map(|(&(yes, no), v)| match v {
                Some(true) => yes,
                Some(false) => no,
                None => 0,
            })
            .fold(0, |a, b| a | b)
    }

    pub fn of(c: &Command) -> u32 {
        let name_tricks = c.name_built && !c.tricks.is_empty();
        let mut f = Self::two_sided(
            [c.privileged, c.interactive_shell, c.runs_stdin, name_tricks].map(Some),
        );
        let has = |cond: bool, bit: u32| if cond { bit } else { 0 };
        f |= has(c.code.is_some(), Self::CODE)
            | has(!c.redirects.is_empty(), Self::REDIRECT)
            | has(!c.assignments.is_empty(), Self::ASSIGN)
            | has(!c.args().is_empty(), Self::ARGS);
        f |= match c.stdin {
            Stdin::File(_) => Self::STDIN_FILE,
            Stdin::Pipe(_) => Self::STDIN_PIPE,
            _ => 0,
        };
        f
    }

    pub fn needed_by(w: &Compiled) -> u32 {
        let mut n = Self::two_sided([
            w.privileged,
            w.interactive_shell,
            w.runs_stdin,
            w.name_built,
        ]);
        if w.code.is_some() || !w.code_all.is_empty() || w.lang.is_some() {
            n |= Self::CODE;
        }
        if w.redirect.is_some() || w.redirect_write.is_some() {
            n |= Self::REDIRECT;
        }
        if w.assign.is_some() {
            n |= Self::ASSIGN;
        }
        if w.flags.is_some() || w.option.is_some() || w.args.is_some() {
            n |= Self::ARGS;
        }
        if w.stdin_file.is_some() {
            n |= Self::STDIN_FILE;
        }
        if w.stdin_from.is_some() {
            n |= Self::STDIN_PIPE;
        }
        n
    }
}

/// A set of bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }
    fn has(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] >> (b & 63) & 1 == 1
    }
}

/// The letters `X` for which `has_flag(args, "-X")` holds: `-X` itself, the
/// first letter of `-Xvalue`, and every letter of an all-letter cluster `-abX`.
pub fn short_flags(args: &[String]) -> ByteSet {
    let mut set = ByteSet::default();
    for a in args {
        let ab = a.as_bytes();
        if a == "--" {
            break;
        }
        if ab.len() < 2 || ab[0] != b'-' || (ab.len() > 2 && ab[1] == b'-') {
            continue;
        }
        set.insert(ab[1]);
        if ab[1..].iter().all(|b| b.is_ascii_alphabetic()) {
            ab[1..].iter().for_each(|&b| set.insert(b));
        }
    }
    set
}

/// What [`has_flag`] compares a flag other than `-X` with: an argument whole,
/// or a `--name=value`'s `--name` (a flag with `=` matches an argument equal
/// to it, whose key is the same).
fn flag_key(s: &str) -> &str {
    match s.find('=') {
        Some(eq) if s.starts_with("--") => &s[..eq],
        _ => s,
    }
}

/// One of 64 bits for a key (FNV-1a): equal keys, equal bits.
fn key_bit(key: &str) -> u64 {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    1 << (h >> 58)
}

/// The bit of a rule's flag, 0 for `-X` and for what does not start with `-`
/// (those are always walked; see [`flag_signature`]).
pub fn flag_bit(flag: &str) -> u64 {
    match flag.as_bytes() {
        [b'-', f] if *f != b'-' => 0,
        // The signature holds only arguments that start with `-`.
        [b'-', ..] => key_bit(flag_key(flag)),
        _ => 0,
    }
}

/// The bits of a command's argument keys (up to `--`): where [`has_flag`]
/// holds for a flag other than `-X`, the argument it found has the flag's key,
/// so the flag's bit is set. A clear bit answers without walking the arguments.
pub fn flag_signature(args: &[String]) -> u64 {
    args.iter()
        .take_while(|a| *a != "--")
        .filter(|a| a.starts_with('-'))
        .fold(0, |sig, a| sig | key_bit(flag_key(a)))
}

/// Values of an option: `-o V`, `-oV`, `--opt V`, `--opt=V`.
pub fn option_values<'s>(args: &'s [String], flags: &[String]) -> Vec<&'s str> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        for f in flags {
            if a == f {
                if let Some(v) = args.get(i + 1) {
                    out.push(v.as_str());
                }
            } else if f.starts_with("--") {
                if let Some(v) = a.strip_prefix(f.as_str()).and_then(|r| r.strip_prefix('=')) {
                    out.push(v);
                }
            } else if f.len() == 2
                && a.len() > 2
                && a.starts_with(f.as_str())
                && !a.starts_with("--")
            {
                out.push(&a[2..]);
            }
        }
    }
    out
}

fn names_hit(names: &Names, c: Option<&Command>) -> bool {
    c.map(|c| names.contains(&c.name)).unwrap_or(false)
}

impl ShellView<'_> {
    /// Whether condition `w` holds for command `i`.
    #[inline]
    fn cmd_matches(&self, w: &Compiled, i: usize) -> bool {
        w.needs & !self.per[i].features == 0 && self.cmd_matches_all(w, i, false)
    }

    /// `name_known`: the rule was found under this command's name (`by_name`
    /// holds only exact names), so its name condition holds already.
    fn cmd_matches_all(&self, w: &Compiled, i: usize, name_known: bool) -> bool {
        let c = &self.analysis.commands[i];
        if let Some(n) = w.command.as_ref().filter(|_| !name_known) {
            if !n.contains(&c.name) {
                return false;
            }
        }
        if !w.keyword_ids.is_empty() && !self.has_keyword(i, &w.keyword_ids) {
            return false;
        }
        if let Some(p) = w.privileged {
            if c.privileged != p {
                return false;
            }
        }
        if let Some(s) = w.interactive_shell {
            if c.interactive_shell != s {
                return false;
            }
        }
        if let Some(b) = w.runs_stdin {
            if c.runs_stdin != b {
                return false;
            }
        }
        if let Some(re) = &w.stdin_file {
            match &c.stdin {
                Stdin::File(f) if re.is_match(f) => {}
                _ => return false,
            }
        }
        if let Some(b) = w.name_built {
            if (c.name_built && !c.tricks.is_empty()) != b {
                return false;
            }
        }
        let args = c.args();
        if let Some(flags) = &w.flags {
            // A flag whose bit the command's signature lacks is not there
            // (miner flags are asked of every command: most walks end here).
            let sig = *self.per[i].flag_sig.get_or_init(|| flag_signature(args));
            if !flags
                .iter()
                .zip(&w.flag_bits)
                .any(|(f, &bit)| (bit == 0 || sig & bit != 0) && self.has_flag(i, f))
            {
                return false;
            }
        }
        if let Some((flags, re)) = w.option.as_deref() {
            if !option_values(args, flags).iter().any(|v| re.is_match(v)) {
                return false;
            }
        }
        if let Some(re) = &w.args {
            if !args.iter().any(|a| re.is_match(a)) {
                return false;
            }
        }
        if let Some(re) = &w.not_args {
            if args.iter().any(|a| re.is_match(a)) {
                return false;
            }
        }
        if let Some(re) = &w.argline {
            if !re.is_match(self.argline(i)) {
                return false;
            }
        }
        if let Some(re) = &w.not_argline {
            if re.is_match(self.argline(i)) {
                return false;
            }
        }
        if let Some(n) = &w.stdin_from {
            let from = match &c.stdin {
                Stdin::Pipe(j) => self.analysis.commands.get(*j),
                _ => None,
            };
            if !names_hit(n, from) {
                return false;
            }
        }
        if let Some(n) = &w.pipeline_has {
            if !self
                .analysis
                .commands
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && o.pipeline == c.pipeline && n.contains(&o.name))
            {
                return false;
            }
        }
        if let Some(n) = &w.script_has {
            if !self
                .analysis
                .commands
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && n.contains(&o.name))
            {
                return false;
            }
        }
        if w.code.is_some() || !w.code_all.is_empty() || w.lang.is_some() {
            let Some(code) = &c.code else { return false };
            if let Some(langs) = &w.lang {
                if !langs.iter().any(|l| l == code.lang) {
                    return false;
                }
            }
            if let Some(re) = &w.code {
                if !re.is_match(&code.text) {
                    return false;
                }
            }
            if !w.code_all.iter().all(|re| re.is_match(&code.text)) {
                return false;
            }
        }
        if let Some(re) = &w.redirect {
            if !c.redirects.iter().any(|r| re.is_match(&r.target)) {
                return false;
            }
        }
        if let Some(re) = &w.redirect_write {
            // Where stdout (or stdout and stderr) goes; `2>/dev/null` is not a write of interest.
            if !c.redirects.iter().any(|r| {
                matches!(
                    r.op,
                    RedirectOp::Write | RedirectOp::Append | RedirectOp::Dup
                ) && r.fd.unwrap_or(1) == 1
                    && re.is_match(&r.target)
            }) {
                return false;
            }
        }
        if let Some(re) = &w.assign {
            if !c
                .assignments
                .iter()
                .any(|(k, v)| re.is_match(&format!("{k}={v}")))
            {
                return false;
            }
        }
        if let Some(want) = &w.dest {
            if !dest_matches(want, self.destinations(i), self.egress) {
                return false;
            }
        }
        true
    }

    /// Command-scope rules over every command, in order.
    pub fn command_hits(&self, rules: &RuleSet, out: &mut Vec<Hit>) {
        let cmds = &self.analysis.commands;
        for i in 0..cmds.len() {
            let c = &cmds[i];
            let named = rules
                .by_name
                .get(c.name.as_str())
                .map(|v| v.as_slice())
                .unwrap_or(&[]);
            let features = self.per[i].features;
            let named = named.iter().map(|c| (c, true));
            for (cand, by_name) in named.chain(rules.generic.iter().map(|c| (c, false))) {
                let r = cand.rule;
                if cand.needs & !features != 0 || out.iter().any(|h| h.rule == r) {
                    continue;
                }
                let rule = &rules.rules[r];
                if !self.cmd_matches_all(&rule.when, i, by_name) {
                    continue;
                }
                match &rule.then {
                    None => out.push(Hit {
                        rule: r,
                        span: c.span,
                    }),
                    Some(then) => {
                        if let Some(j) = (i + 1..cmds.len()).find(|&j| self.cmd_matches(then, j)) {
                            let s = (c.span.0.min(cmds[j].span.0), c.span.1.max(cmds[j].span.1));
                            out.push(Hit { rule: r, span: s });
                        }
                    }
                }
            }
        }
    }

    /// Signal-scope rules: decoded payloads, parse failures, evasion tricks.
    pub fn signal_hits(&self, rules: &RuleSet, out: &mut Vec<Hit>) {
        let Some(idx) = rules.by_scope.get(&Scope::Signal) else {
            return;
        };
        for &r in idx {
            let Some(wanted) = &rules.rules[r].when.signal else {
                continue;
            };
            let mut span = None;
            for s in &self.analysis.signals {
                let name = match s.kind {
                    SignalKind::DecodedPayload(_) => "decoded_payload",
                    SignalKind::ParseFailed => "parse_failed",
                    SignalKind::TooDeep => "too_deep",
                    SignalKind::Truncated => "truncated",
                };
                if wanted.iter().any(|w| w == name) {
                    span = Some(s.span);
                    break;
                }
            }
            if span.is_none() && wanted.iter().any(|w| w == "name_tricks") {
                span = self
                    .analysis
                    .commands
                    .iter()
                    .find(|c| c.name_built && !c.tricks.is_empty() && !c.name.is_empty())
                    .map(|c| c.span);
            }
            if let Some(s) = span {
                out.push(Hit { rule: r, span: s });
            }
        }
    }
}

/// Text-scope rules over one text (the input, or a decoded payload reported at `span`).
pub fn text_hits(
    rules: &RuleSet,
    text: &str,
    report_span: Option<(usize, usize)>,
    out: &mut Vec<Hit>,
) {
    let mut candidates: Vec<usize> = rules.text_unfiltered.clone();
    if let Some((ac, kw_rules)) = rules.text_keywords.as_ref().filter(|_| {
        rules
            .text_keyword_filter
            .as_ref()
            .is_none_or(|f| f.is_match(text))
    }) {
        ac.each(text, |k| {
            for &r in &kw_rules[k] {
                if !candidates.contains(&r) {
                    candidates.push(r);
                }
            }
        });
    }
    for r in candidates {
        if out.iter().any(|h| h.rule == r) {
            continue;
        }
        let rule: &Rule = &rules.rules[r];
        let span = match &rule.when.text {
            Some(re) => match re.find(text) {
                Some(m) => m,
                None => continue,
            },
            None => (0, text.len()),
        };
        out.push(Hit {
            rule: r,
            span: report_span.unwrap_or(span),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_flag_set_answers_as_has_flag_does() {
        let lists: &[&[&str]] = &[
            &["-R", "8080:h:22"],
            &["-NfR2222:x", "h"],
            &["-la", "--", "-x"],
            &["--long", "-o", "v"],
            &["-", "--x=1", "-9", "-a1b"],
            &["-é", "-Xé", "x-y"],
            &["--", "-R"],
        ];
        for args in lists {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let set = short_flags(&args);
            for b in 0u8..128 {
                let flag = format!("-{}", b as char);
                if b == b'-' {
                    continue;
                }
                assert_eq!(set.has(b), has_flag(&args, &flag), "{args:?} {flag:?}");
            }
        }
    }

    /// Wherever `has_flag` holds, the flag's bit is in the signature (or the
    /// flag has no bit): the signature only ever turns away flags that are absent.
    #[test]
    fn the_flag_signature_keeps_every_flag_has_flag_finds() {
        let pieces = [
            "--donate-level",
            "--coin=monero",
            "--algo=rx/0",
            "--algo=rx/0=x",
            "-wal",
            "-u",
            "--user=a=b",
            "plain",
            "--",
            "--=",
            "-",
            "-ab",
            "--rig-id",
            "x=y",
            "--coin",
        ];
        let mut state: u32 = 7;
        let mut next = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as usize
        };
        let mut held = 0;
        for _ in 0..5_000 {
            let args: Vec<String> = (0..next() % 6)
                .map(|_| pieces[next() % pieces.len()].to_string())
                .collect();
            let sig = flag_signature(&args);
            for flag in pieces {
                if has_flag(&args, flag) {
                    held += 1;
                    let bit = flag_bit(flag);
                    assert!(bit == 0 || sig & bit != 0, "{args:?} {flag:?}");
                }
            }
        }
        assert!(held > 1_000, "{held}");
    }
}
