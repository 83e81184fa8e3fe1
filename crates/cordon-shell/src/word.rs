//! Evaluating one shell word the way bash expands it, with a record of the
//! tricks used on the way.
//!
//! Written here rather than taken from brush-parser's word parser because
//! Cordon needs an *evaluator*, not a parser: it substitutes variables the
//! same command assigned, asks the walker for the static output of command
//! substitutions, splits unquoted expansions into fields, and notes every
//! evasion trick (empty quotes inside a name, `\s`, `$'\x73'`, `${IFS}`,
//! substrings) as a signal. It also keeps the hot path free of the parser's
//! global word cache.

use crate::decode;
use crate::lex;

pub(crate) trait Env {
    /// A variable's value; `None` when unknown (or past the expansion budget).
    fn var(&mut self, name: &str) -> Option<String>;
    /// Analyse a command substitution's body; return its output when it is static.
    fn substitute(&mut self, body: &str) -> Option<String>;
}

#[derive(Debug, Default)]
pub(crate) struct Evaluated {
    pub fields: Vec<String>,
    /// Tricks seen (names of the technique), in order.
    pub tricks: Vec<&'static str>,
    /// Some part could not be known statically.
    pub dynamic: bool,
    /// Anything other than plain text (quotes, escapes, expansions) was used.
    pub non_literal: bool,
}

struct Builder {
    fields: Vec<String>,
    cur: String,
    has_cur: bool,
}

impl Builder {
    fn push_quoted(&mut self, s: &str) {
        self.cur.push_str(s);
        self.has_cur = true;
    }
    /// Unquoted expansion results undergo field splitting.
    fn push_split(&mut self, s: &str) {
        for (i, part) in s.split([' ', '\t', '\n']).enumerate() {
            if i > 0 {
                self.end_field();
            }
            if !part.is_empty() {
                self.cur.push_str(part);
                self.has_cur = true;
            }
        }
    }
    fn end_field(&mut self) {
        if self.has_cur {
            self.fields.push(std::mem::take(&mut self.cur));
            self.has_cur = false;
        }
    }
}

/// `i` moved forward to a char boundary of `raw`, and no further than its end:
/// scanners skip "the byte after a backslash", which may sit inside a
/// multi-byte character or past the end of hostile input.
fn ceil(raw: &str, i: usize) -> usize {
    let mut i = i.min(raw.len());
    while !raw.is_char_boundary(i) {
        i += 1;
    }
    i
}

pub(crate) fn eval(raw: &str, env: &mut dyn Env) -> Evaluated {
    let mut out = Evaluated::default();
    // Fast path: most words are plain text.
    if !raw
        .bytes()
        .any(|b| matches!(b, b'\'' | b'"' | b'\\' | b'$' | b'`'))
    {
        out.fields.push(raw.to_string());
        return out;
    }
    out.non_literal = true;
    let mut b = Builder {
        fields: Vec::new(),
        cur: String::new(),
        has_cur: false,
    };
    let s = raw.as_bytes();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' => {
                if i + 1 < s.len() {
                    let ch = raw[i + 1..].chars().next().unwrap_or('\\');
                    if ch.is_ascii_alphanumeric() {
                        out.tricks.push("backslash inside a word");
                    }
                    if ch != '\n' {
                        let mut buf = [0u8; 4];
                        b.push_quoted(ch.encode_utf8(&mut buf));
                    }
                    i += 1 + ch.len_utf8();
                } else {
                    i += 1;
                }
            }
            b'\'' => {
                let end = raw[i + 1..]
                    .find('\'')
                    .map(|p| i + 1 + p)
                    .unwrap_or(s.len());
                if end == i + 1 {
                    out.tricks.push("empty quotes");
                }
                b.push_quoted(&raw[i + 1..end]);
                i = end + 1;
            }
            b'"' => {
                let (end, text) = double_quoted(raw, i + 1, env, &mut out);
                if end == i + 2 {
                    out.tricks.push("empty quotes");
                }
                b.push_quoted(&text);
                i = end;
            }
            b'$' if s.get(i + 1) == Some(&b'\'') => {
                let mut j = i + 2;
                while j < s.len() && s[j] != b'\'' {
                    if s[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                let j = ceil(raw, j);
                let body = &raw[ceil(raw, i + 2).min(j)..j];
                if body.contains("\\x")
                    || body.contains("\\u")
                    || body
                        .bytes()
                        .zip(body.bytes().skip(1))
                        .any(|(a, c)| a == b'\\' && c.is_ascii_digit())
                {
                    out.tricks.push("ANSI-C escapes");
                }
                b.push_quoted(&decode::ansi_c(body));
                i = j + 1;
            }
            b'$' | b'`' => {
                let (end, value, quoted_like) = expansion(raw, i, env, &mut out);
                let end = ceil(raw, end).max(i + 1);
                match value {
                    Some(v) if quoted_like => b.push_quoted(&v),
                    Some(v) => b.push_split(&v),
                    None => {
                        out.dynamic = true;
                        b.push_quoted(&raw[i..end]);
                    }
                }
                i = end;
            }
            _ => {
                // A run of bytes that change nothing, taken whole (it ends on an
                // ASCII byte, so on a character boundary).
                let end = s[i..]
                    .iter()
                    .position(|&c| matches!(c, b'\\' | b'\'' | b'"' | b'$' | b'`'))
                    .map_or(s.len(), |p| i + p);
                b.push_quoted(&raw[i..end]);
                i = end;
            }
        }
    }
    b.end_field();
    out.fields = b.fields;
    out
}

/// Body of a double-quoted string starting at `start`; returns the index past the closing quote.
fn double_quoted(
    raw: &str,
    start: usize,
    env: &mut dyn Env,
    out: &mut Evaluated,
) -> (usize, String) {
    let s = raw.as_bytes();
    let mut text = String::new();
    let mut i = start;
    while i < s.len() && s[i] != b'"' {
        match s[i] {
            b'\\' if i + 1 < s.len() && matches!(s[i + 1], b'$' | b'`' | b'"' | b'\\' | b'\n') => {
                if s[i + 1] != b'\n' {
                    text.push(s[i + 1] as char);
                }
                i += 2;
            }
            b'$' | b'`' => {
                let (end, value, _) = expansion(raw, i, env, out);
                let end = ceil(raw, end).max(i + 1);
                match value {
                    Some(v) => text.push_str(&v),
                    None => {
                        out.dynamic = true;
                        text.push_str(&raw[i..end]);
                    }
                }
                i = end;
            }
            b'\\' => {
                text.push('\\');
                i += 1;
            }
            _ => {
                // A run of bytes that change nothing, taken whole.
                let end = s[i..]
                    .iter()
                    .position(|&c| matches!(c, b'"' | b'\\' | b'$' | b'`'))
                    .map_or(s.len(), |p| i + p);
                text.push_str(&raw[i..end]);
                i = end;
            }
        }
    }
    (i + 1, text)
}

/// One `$...` or backquoted expansion at `i`: (end index, value if known, value is a literal not to split).
fn expansion(
    raw: &str,
    i: usize,
    env: &mut dyn Env,
    out: &mut Evaluated,
) -> (usize, Option<String>, bool) {
    let s = raw.as_bytes();
    if s[i] == b'`' {
        let mut j = i + 1;
        while j < s.len() && s[j] != b'`' {
            if s[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        let j = ceil(raw, j);
        let body = raw[ceil(raw, i + 1).min(j)..j].replace("\\`", "`");
        return (j + 1, env.substitute(&body), false);
    }
    match s.get(i + 1) {
        Some(b'(') if s.get(i + 2) == Some(&b'(') => {
            let end = lex::close_paren(s, i + 2)
                .and_then(|e| (s.get(e) == Some(&b')')).then_some(e + 1))
                .unwrap_or(s.len());
            (end, None, true)
        }
        Some(b'(') => {
            let end = ceil(raw, lex::close_paren(s, i + 2).unwrap_or(s.len()));
            let body = &raw[i + 2..ceil(raw, end.saturating_sub(1)).max(i + 2)];
            (end, env.substitute(body), false)
        }
        Some(b'{') => {
            let end = ceil(raw, lex::close_brace(s, i + 2).unwrap_or(s.len()));
            let body = &raw[i + 2..ceil(raw, end.saturating_sub(1)).max(i + 2)];
            (end, braced(body, env, out), false)
        }
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
            let mut j = i + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                j += 1;
            }
            let name = &raw[i + 1..j];
            if name == "IFS" {
                out.tricks.push("${IFS} as a separator");
                return (j, Some(" ".into()), false);
            }
            (j, env.var(name), false)
        }
        // An agent's command runs with no positional parameters: `$@`, `$*`, `$1` are empty,
        // which is how `c$@url` spells `curl`.
        Some(c) if c.is_ascii_digit() && *c != b'0' || matches!(c, b'@' | b'*') => {
            out.tricks.push("empty positional expansion");
            (i + 2, Some(String::new()), true)
        }
        Some(c) if matches!(c, b'0' | b'#' | b'?' | b'$' | b'!' | b'-') => (i + 2, None, false),
        _ => (i + 1, Some("$".into()), true),
    }
}

/// `${...}` forms: plain, defaults, length, substrings, IFS.
fn braced(body: &str, env: &mut dyn Env, out: &mut Evaluated) -> Option<String> {
    if body == "IFS" {
        out.tricks.push("${IFS} as a separator");
        return Some(" ".into());
    }
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, rest) = body.split_at(name_end);
    if name.is_empty() {
        if let Some(n) = body.strip_prefix('!') {
            out.tricks.push("indirect variable");
            let target = env.var(n)?;
            return env.var(&target);
        }
        return None;
    }
    let value = env.var(name);
    if rest.is_empty() {
        return value;
    }
    if let Some(def) = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-')) {
        return value.or_else(|| Some(def.to_string()));
    }
    if let Some(spec) = rest.strip_prefix(':') {
        // ${x:off:len}: slicing a string to build a command name is an evasion trick.
        let mut parts = spec.splitn(2, ':');
        let off: usize = parts.next()?.trim().parse().ok()?;
        out.tricks.push("substring expansion");
        let v = value?;
        let chars: Vec<char> = v.chars().collect();
        let len: usize = parts
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(chars.len());
        return Some(chars.iter().skip(off).take(len).collect());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Env for Vars {
        fn var(&mut self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
        fn substitute(&mut self, body: &str) -> Option<String> {
            body.strip_prefix("echo ").map(|s| s.to_string())
        }
    }

    fn ev(raw: &str) -> Evaluated {
        eval(
            raw,
            &mut Vars(HashMap::from([("x", "xmr"), ("h", "ssh -R")])),
        )
    }

    #[test]
    fn quote_removal_and_tricks() {
        assert_eq!(ev("s''sh").fields, vec!["ssh"]);
        assert!(ev("s''sh").tricks.contains(&"empty quotes"));
        assert_eq!(ev(r"\ssh").fields, vec!["ssh"]);
        assert_eq!(ev(r"$'\x73sh'").fields, vec!["ssh"]);
        assert_eq!(ev("\"a b\"c").fields, vec!["a bc"]);
        assert_eq!(ev("${x}ig").fields, vec!["xmrig"]);
        assert_eq!(ev("$x'ig'").fields, vec!["xmrig"]);
        assert_eq!(ev("$h").fields, vec!["ssh", "-R"]);
        assert_eq!(ev("\"$h\"").fields, vec!["ssh -R"]);
        assert_eq!(
            ev("cat${IFS}/etc/passwd").fields,
            vec!["cat", "/etc/passwd"]
        );
        assert_eq!(ev("$(echo nc)").fields, vec!["nc"]);
        assert_eq!(ev("`echo nc`").fields, vec!["nc"]);
        assert_eq!(ev("${x:0:2}").fields, vec!["xm"]);
        assert_eq!(ev("$unknown").fields, vec!["$unknown"]);
        assert!(ev("$unknown").dynamic);
        assert_eq!(ev("plain").fields, vec!["plain"]);
        assert_eq!(ev("c$@url").fields, vec!["curl"]);
        assert_eq!(ev("s$1h").fields, vec!["sh"]);
    }

    #[test]
    fn runs_keep_multibyte_text_and_lone_backslashes() {
        // Plain runs are copied whole: they must end on the next special
        // byte, and keep characters of any width and backslashes that escape
        // nothing inside double quotes.
        assert_eq!(ev("é${x}ü'ß'").fields, vec!["éxmrüß"]);
        assert_eq!(ev(r#""a\qé$x\$x\"b""#).fields, vec![r#"a\qéxmr$x"b"#]);
        assert_eq!(ev("\"ünterminated").fields, vec!["ünterminated"]);
        assert_eq!(ev("日本\\語").fields, vec!["日本語"]);
    }
}
