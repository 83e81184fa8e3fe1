//! Small scanners the parser does not provide: matching a `$(`'s close paren
//! inside a word, bounding nesting before a recursive parser sees it, and a
//! tolerant splitter for lines the parser rejects.

/// Index just past the `)` closing a `$(` whose body starts at `start`.
pub fn close_paren(s: &[u8], start: usize) -> Option<usize> {
    close(s, start, b'(', b')')
}

/// Index just past the `}` closing a `${` whose body starts at `start`.
pub fn close_brace(s: &[u8], start: usize) -> Option<usize> {
    close(s, start, b'{', b'}')
}

/// The matching `close` for an `open` already consumed, skipping quoted text and escapes.
fn close(s: &[u8], start: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = start;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 1,
            b'\'' => {
                i += 1;
                while i < s.len() && s[i] != b'\'' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Deepest nesting of `(` and backquotes outside single quotes: a cheap bound checked before the parser sees hostile input. The
/// parser backtracks exponentially on unclosed `(` (40 ms at 20 levels,
/// doubling per level), so deep nesting goes to the line fallback instead.
pub fn max_nesting(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut depth, mut max, mut backq) = (0usize, 0usize, false);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'\'' => {
                while i + 1 < b.len() && b[i + 1] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                // Inside double quotes only `$(` nests; other parens are text.
                let mut opened = 0usize;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    match b[i] {
                        b'\\' => i += 1,
                        b'$' if b.get(i + 1) == Some(&b'(') => {
                            depth += 1;
                            opened += 1;
                            max = max.max(depth + backq as usize);
                            i += 1;
                        }
                        b')' if opened > 0 => {
                            depth = depth.saturating_sub(1);
                            opened -= 1;
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                max = max.max(depth + backq as usize);
            }
            b')' => depth = depth.saturating_sub(1),
            b'`' => backq = !backq,
            _ => {}
        }
        i += 1;
    }
    max
}

/// Split a line the parser rejected into words, honouring quotes where they
/// close and treating control operators as separators. Each returned group is
/// one command's words with its byte span in `line`.
pub fn tolerant_split(line: &str) -> Vec<(Vec<String>, (usize, usize))> {
    let b = line.as_bytes();
    let mut cmds = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut start = None::<usize>;
    let mut i = 0;
    let flush_word = |cur: &mut String, words: &mut Vec<String>, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(cur));
            *in_word = false;
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' => flush_word(&mut cur, &mut words, &mut in_word),
            b';' | b'|' | b'&' | b'(' | b')' => {
                flush_word(&mut cur, &mut words, &mut in_word);
                if !words.is_empty() {
                    cmds.push((std::mem::take(&mut words), (start.unwrap_or(0), i)));
                }
                start = None;
            }
            b'\'' | b'"' => {
                start.get_or_insert(i);
                in_word = true;
                let close = line[i + 1..].find(c as char).map(|p| i + 1 + p);
                match close {
                    Some(e) => {
                        cur.push_str(&line[i + 1..e]);
                        i = e;
                    }
                    None => {
                        cur.push_str(&line[i + 1..]);
                        i = b.len();
                    }
                }
            }
            b'\\' if i + 1 < b.len() => {
                start.get_or_insert(i);
                in_word = true;
                i += 1;
                let ch = line[i..].chars().next().unwrap_or(' ');
                cur.push(ch);
                i += ch.len_utf8() - 1;
            }
            _ => {
                start.get_or_insert(i);
                in_word = true;
                let ch = line[i..].chars().next().unwrap_or(' ');
                cur.push(ch);
                i += ch.len_utf8() - 1;
            }
        }
        i += 1;
    }
    flush_word(&mut cur, &mut words, &mut in_word);
    if !words.is_empty() {
        cmds.push((words, (start.unwrap_or(0), b.len())));
    }
    cmds
}

/// False for texts that brush-parser 0.4 cannot survive, found by fuzzing:
/// a redirection fd number above `i32::MAX` (`2147483648>x`: an `unwrap` in
/// its grammar panics; fixed upstream in brush PR #1271, unreleased) and a
/// heredoc whose delimiter is empty, starts with a control character or holds
/// an expansion (`<<\r\t`, `<<E$(\t`: its tokenizer loops forever allocating;
/// brush PR #1270, open). Such texts go to the line-by-line fallback.
pub fn parser_safe(text: &str) -> bool {
    let b = text.as_bytes();
    // Only `<` and `>` can make a text unsafe: find them with memchr's SIMD
    // search instead of visiting every byte.
    for i in memchr::memchr2_iter(b'<', b'>', b) {
        let c = b[i];
        // Ten digits or more right before it: an fd number that may overflow.
        if i >= 10 && b[i - 10..i].iter().all(u8::is_ascii_digit) {
            return false;
        }
        if c == b'<'
            && b.get(i + 1) == Some(&b'<')
            && b.get(i + 2) != Some(&b'<')
            && (i == 0 || b[i - 1] != b'<')
        {
            let mut j = i + 2;
            if b.get(j) == Some(&b'-') {
                j += 1;
            }
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            match b.get(j) {
                None => return false,
                Some(&c) if c < 0x20 || c == 0x7f || b"$`;|&<>()".contains(&c) => return false,
                _ => {}
            }
            let mut letters = 0;
            while j < b.len()
                && !matches!(
                    b[j],
                    b' ' | b'\t' | b'\n' | b';' | b'|' | b'&' | b'<' | b'>' | b'(' | b')'
                )
            {
                if b[j] < 0x20 || b[j] == 0x7f || b[j] == b'$' || b[j] == b'`' {
                    return false;
                }
                if !matches!(b[j], b'\'' | b'"' | b'\\') {
                    letters += 1;
                }
                j += 1;
            }
            if letters == 0 {
                return false; // an empty delimiter (`<<''`)
            }
        }
    }
    true
}

/// Whether every here document in `text` (`<<TAG`, `<<-TAG`, anywhere,
/// inside `$(...)` too) has a later line that ends it. brush-parser 0.4's
/// tokenizer loops forever allocating (24 GB, found by fuzzing) on some
/// unterminated here documents inside `$(...)`; texts where this fails never
/// reach it. Over-strict on purpose: `$((1<<2))` looks like a here document
/// whose tag is `2`, which costs such a text the line fallback, nothing more.
pub fn heredocs_terminated(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(p) = text[i..].find('<') {
        // A run of `<` is read as the tokenizer reads operators, longest
        // first: `<<<` (here strings) while three remain, then `<<` (a here
        // document) or `<`. So `<<<<<` holds a here document.
        let at = i + p;
        let run = b[at..].iter().take_while(|&&c| c == b'<').count();
        i = at + run;
        if run % 3 != 2 {
            continue;
        }
        let strip_tabs = b.get(i) == Some(&b'-');
        let mut j = i + strip_tabs as usize;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        let mut tag = String::new();
        while j < b.len() && !b" \t\n;|&<>()".contains(&b[j]) {
            if !matches!(b[j], b'\'' | b'"' | b'\\') {
                tag.push(b[j] as char);
            }
            j += 1;
        }
        let Some(nl) = text[j..].find('\n').map(|q| j + q + 1) else {
            return false;
        };
        let ends = text[nl..].lines().any(|l| {
            let l = if strip_tabs {
                l.trim_start_matches('\t')
            } else {
                l
            };
            l.as_bytes() == tag.as_bytes()
        });
        if !ends {
            return false;
        }
    }
    true
}

/// A command of a plain list (see [`plain_list`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PlainCommand {
    pub words: Vec<String>,
    /// (fd, operator, target): `>`, `>>`, `<`, `>&` (target is the fd), `&>`, `&>>`.
    pub redirects: Vec<(Option<i32>, &'static str, String)>,
    /// Byte span in the text.
    pub span: (usize, usize),
}

/// Pipelines (`a | b`) joined by `&&`, `||`, `;` or newlines, made of plain
/// commands: words of ordinary characters, '...' and "..." without `$`,
/// backquote, backslash or `!`, and simple redirections. `None` for anything
/// else, which goes to the parser.
///
/// Why by hand: the parser costs ~2.5 µs even for `ls -la` and ~30 ns a
/// character; two thirds of the commands agents send are this plain, and for
/// them bash's rules reduce to splitting words, removing quotes and reading
/// operators. Equivalence with the parser is tested.
pub fn plain_list(text: &str) -> Option<Vec<Vec<PlainCommand>>> {
    const RESERVED: &[&str] = &[
        "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
        "function", "select", "time", "coproc", "!", "[[", "]]", "{", "}", "in",
    ];
    let b = text.as_bytes();
    if b.len() > 4096 {
        return None;
    }
    let mut pipelines: Vec<Vec<PlainCommand>> = Vec::new();
    let mut pipeline: Vec<PlainCommand> = Vec::new();
    let mut cmd = PlainCommand {
        words: Vec::new(),
        redirects: Vec::new(),
        span: (0, 0),
    };
    let mut cmd_start: Option<usize> = None;
    let mut last_end = 0;
    let mut i = 0;
    // Ends the current command; `false` when it is empty (a syntax error or an operator in a bad place).
    let finish = |cmd: &mut PlainCommand,
                  cmd_start: &mut Option<usize>,
                  last_end: usize|
     -> Option<PlainCommand> {
        let start = cmd_start.take()?;
        if cmd.words.is_empty() {
            return None;
        }
        let first = cmd.words[0].as_str();
        if RESERVED.contains(&first) {
            return None;
        }
        let mut done = std::mem::replace(
            cmd,
            PlainCommand {
                words: Vec::new(),
                redirects: Vec::new(),
                span: (0, 0),
            },
        );
        done.span = (start, last_end);
        Some(done)
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' => i += 1,
            b'&' if b.get(i + 1) == Some(&b'&') => {
                pipeline.push(finish(&mut cmd, &mut cmd_start, last_end)?);
                pipelines.push(std::mem::take(&mut pipeline));
                i += 2;
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                pipeline.push(finish(&mut cmd, &mut cmd_start, last_end)?);
                pipelines.push(std::mem::take(&mut pipeline));
                i += 2;
            }
            b'|' if b.get(i + 1) != Some(&b'&') => {
                pipeline.push(finish(&mut cmd, &mut cmd_start, last_end)?);
                i += 1;
            }
            b';' | b'\n' => {
                if cmd_start.is_some() {
                    pipeline.push(finish(&mut cmd, &mut cmd_start, last_end)?);
                }
                if !pipeline.is_empty() {
                    pipelines.push(std::mem::take(&mut pipeline));
                } else if c == b';' {
                    return None; // `;` with nothing before it
                }
                if c == b';' && b.get(i + 1) == Some(&b';') {
                    return None;
                }
                i += 1;
            }
            b'>' | b'<' | b'&' | b'0'..=b'9' => {
                // A redirection, or (digits) the start of a word.
                let mut j = i;
                let mut fd = None;
                if c.is_ascii_digit() {
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j >= b.len() || (b[j] != b'>' && b[j] != b'<') || j - i > 2 {
                        let (w, end) = plain_word(text, i)?;
                        cmd_start.get_or_insert(i);
                        if cmd.words.is_empty() && w.contains('=') {
                            return None;
                        }
                        cmd.words.push(w);
                        last_end = end;
                        i = end;
                        continue;
                    }
                    fd = text[i..j].parse::<i32>().ok();
                }
                let rest = &text[j..];
                let (op, len): (&'static str, usize) = if rest.starts_with("&>>") {
                    ("&>>", 3)
                } else if rest.starts_with("&>") {
                    ("&>", 2)
                } else if rest.starts_with(">>") {
                    (">>", 2)
                } else if rest.starts_with(">&") {
                    (">&", 2)
                } else if rest.starts_with('>')
                    && !rest.starts_with(">|")
                    && !rest.starts_with(">(")
                {
                    (">", 1)
                } else if rest.starts_with('<')
                    && !rest.starts_with("<<")
                    && !rest.starts_with("<&")
                    && !rest.starts_with("<(")
                    && !rest.starts_with("<>")
                {
                    ("<", 1)
                } else {
                    return None; // `&` alone (background), `<<`, `<(`, ...
                };
                cmd_start.get_or_insert(i);
                j += len;
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                let (target, end) = plain_word(text, j)?;
                if op == ">&" && !target.bytes().all(|d| d.is_ascii_digit()) {
                    return None; // `>&file` and `>&-`: leave to the parser
                }
                cmd.redirects.push((fd, op, target));
                last_end = end;
                i = end;
            }
            _ => {
                let (w, end) = plain_word(text, i)?;
                let quoted = text[i..end].contains(['\'', '"']);
                if cmd.words.is_empty() && (quoted || w.contains('=') || w.is_empty()) {
                    return None; // assignments and quoted program names: the parser's evaluator tracks them
                }
                cmd_start.get_or_insert(i);
                cmd.words.push(w);
                last_end = end;
                i = end;
            }
        }
    }
    if cmd_start.is_some() {
        pipeline.push(finish(&mut cmd, &mut cmd_start, last_end)?);
    } else if !pipeline.is_empty() {
        return None; // ends with `|`
    }
    if !pipeline.is_empty() {
        pipelines.push(pipeline);
    }
    if text.trim_end().ends_with("&&") || text.trim_end().ends_with("||") {
        return None;
    }
    (!pipelines.is_empty()).then_some(pipelines)
}

/// Bytes a plain word is made of outside quotes (UTF-8 beyond ASCII included).
fn is_plain_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_' | b'.' | b'/' | b'=' | b':' | b',' | b'@' | b'%' | b'+' | b'^'
        )
        || c >= 0x80
}

/// One plain word at `i`: returns its value (quotes removed) and end.
fn plain_word(text: &str, mut i: usize) -> Option<(String, usize)> {
    let b = text.as_bytes();
    let mut word = String::new();
    let start = i;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let end = text[i + 1..].find('\'')? + i + 1;
                word.push_str(&text[i + 1..end]);
                i = end + 1;
            }
            b'"' => {
                let end = text[i + 1..].find('"')? + i + 1;
                let inner = &text[i + 1..end];
                if inner
                    .bytes()
                    .any(|c| matches!(c, b'$' | b'`' | b'\\' | b'!'))
                {
                    return None;
                }
                word.push_str(inner);
                i = end + 1;
            }
            c if is_plain_byte(c) => {
                // The whole run at once; it ends at an ASCII byte or the end
                // of the text, so on a character boundary.
                let run = i + b[i..]
                    .iter()
                    .position(|&c| !is_plain_byte(c))
                    .unwrap_or(b.len() - i);
                word.push_str(&text[i..run]);
                i = run;
            }
            b' ' | b'\t' | b'\n' | b';' | b'|' | b'&' | b'>' | b'<' => break,
            _ => return None,
        }
    }
    (i > start).then_some((word, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parser_safe` as it was first written, visiting every byte: the
    /// reference the memchr version must agree with.
    fn parser_safe_bytewise(text: &str) -> bool {
        let b = text.as_bytes();
        let mut digits = 0;
        for (i, &c) in b.iter().enumerate() {
            if c.is_ascii_digit() {
                digits += 1;
                continue;
            }
            if digits >= 10 && (c == b'>' || c == b'<') {
                return false;
            }
            digits = 0;
            if c == b'<'
                && b.get(i + 1) == Some(&b'<')
                && b.get(i + 2) != Some(&b'<')
                && (i == 0 || b[i - 1] != b'<')
            {
                let mut j = i + 2;
                if b.get(j) == Some(&b'-') {
                    j += 1;
                }
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                match b.get(j) {
                    None => return false,
                    Some(&c) if c < 0x20 || c == 0x7f || b"$`;|&<>()".contains(&c) => return false,
                    _ => {}
                }
                let mut letters = 0;
                while j < b.len()
                    && !matches!(
                        b[j],
                        b' ' | b'\t' | b'\n' | b';' | b'|' | b'&' | b'<' | b'>' | b'(' | b')'
                    )
                {
                    if b[j] < 0x20 || b[j] == 0x7f || b[j] == b'$' || b[j] == b'`' {
                        return false;
                    }
                    if !matches!(b[j], b'\'' | b'"' | b'\\') {
                        letters += 1;
                    }
                    j += 1;
                }
                if letters == 0 {
                    return false;
                }
            }
        }
        true
    }

    #[test]
    fn parser_safe_agrees_with_the_bytewise_scan() {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "<<",
            "<<-",
            "<<<",
            "1",
            "2147483648",
            "123456789",
            "0",
            " ",
            "\t",
            "EOF",
            "''",
            "\"",
            "$",
            "`",
            "(",
            ";",
            "\n",
            "\r",
            "é",
            "x",
            "-",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut safe, mut unsafe_) = (0, 0);
        for _ in 0..50_000 {
            let len = 1 + next() % 10;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let want = parser_safe_bytewise(&text);
            assert_eq!(parser_safe(&text), want, "{text:?}");
            if want {
                safe += 1;
            } else {
                unsafe_ += 1;
            }
        }
        // Both answers come up often enough to compare something.
        assert!(safe > 5_000 && unsafe_ > 5_000, "{safe} {unsafe_}");
    }

    #[test]
    fn plain_lists_accept_only_what_needs_no_evaluation() {
        let l = plain_list(
            "cd /x && python -c 'import x; print(1)' \"a b\" 2>&1 | tail -5 > out.txt; ls",
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[1][0].words,
            vec!["python", "-c", "import x; print(1)", "a b"]
        );
        assert_eq!(l[1][0].redirects, vec![(Some(2), ">&", "1".to_string())]);
        assert_eq!(l[1][1].redirects, vec![(None, ">", "out.txt".to_string())]);
        for bad in [
            "echo $HOME",
            "echo \"$x\"",
            "X=1 cmd",
            "cat <<EOF",
            "if true; then x; fi",
            "ls *",
            "echo `id`",
            "s''sh",
            "echo 'open",
            "echo \\x",
            "ls ~",
            "# c",
            "f()",
            "{ x; }",
            "a &",
            "a |",
            "&& a",
            "a ;; b",
            "cat <(ls)",
            "ls >&file",
            "a && ",
            "diff <(a) b",
        ] {
            assert!(plain_list(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn inputs_that_break_the_parser_are_kept_from_it() {
        for bad in [
            "2147483648>x",
            "echo $x 99999999999>/dev/null",
            "<<\r\t",
            "cat <<\r ",
            "cat <<\x0c\t",
            "cat <<-\r\t",
            "<<E$[\t\t",
            "cat <<E$(\t\t",
            "cat <<",
            "bash <<-''&\"\"x",
            "cat <<\"\"",
        ] {
            assert!(!parser_safe(bad), "{bad:?}");
        }
        for good in [
            "cat <<EOF\nx\nEOF",
            "cat <<'EOF'\nx\nEOF",
            "cat <<- \"END\"\nx\nEND",
            "cat <<\\EOF\nx\nEOF",
            "echo 2>&1",
            "x=$((1<<2))",
            "cat <<< word",
            "ls 123456789>x",
        ] {
            assert!(parser_safe(good), "{good:?}");
        }
    }

    #[test]
    fn unterminated_heredocs_are_found() {
        for ok in [
            "ls",
            "cat <<EOF\nx\nEOF",
            "x=$(cat <<'E'\nbody\nE\n)",
            "cat <<-\"T\" | sh\n\tbody\n\tT\n",
            "cat <<< word",
            "cat <<A <<B\na\nA\nb\nB",
            "cat <<<<<< x",
            "cat <<<< x",
        ] {
            assert!(heredocs_terminated(ok), "{ok:?}");
        }
        for bad in [
            "cat <<EOF",
            "cat <<EOF\nbody",
            "x=$(cat <<E\nbody\nF\n)",
            "bash <<-EOF2\n\techo\n\tEOF1\n",
            "cat <<A <<B\na\nA\n",
            "echo $((1<<2))",
            "echo a<<<<<b",
        ] {
            assert!(!heredocs_terminated(bad), "{bad:?}");
        }
    }

    #[test]
    fn scanners() {
        assert_eq!(close_paren(b"echo (a) ')' x) rest", 0), Some(15));
        assert_eq!(max_nesting("$($($(x)))"), 3);
        assert_eq!(max_nesting("python -c 'print(((((1)))))'"), 0);
        assert_eq!(max_nesting("((((("), 5);
        assert_eq!(
            max_nesting("python -c \"f(g(h(i(j(k(l(m(n(o(p(q(r(1)))))))))))))\""),
            0
        );
        assert_eq!(max_nesting("echo \"$(a $(b))\""), 2);
        let parts = tolerant_split("sudo ssh user@h 'cat /f\" ; nc -e sh");
        assert_eq!(
            parts[0].0,
            vec!["sudo", "ssh", "user@h", "cat /f\" ; nc -e sh"]
        );
        let parts = tolerant_split("a b; c 'd e'");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].0, vec!["c", "d e"]);
    }
}
