//! The shell tokenizer, rewritten for speed, giving brush-parser's grammar
//! the very tokens its own tokenizer would.
//!
//! Why by hand: brush-parser's tokenizer reads the text one `char` at a time
//! through `BufRead` (utf8_chars) and allocates a string per character it
//! tries as an operator; it was half of all parsing time, a fifth of the time
//! of the slowest commands. Its grammar (`parse_tokens`) is kept as it is, so
//! the tree, and every rule that reads it, is unchanged.
//!
//! The contract is exact equality with `brush_parser::uncached_tokenize_str`
//! (text and position of every token, quirks included: a blank after a word
//! inside `$(...)` becomes one space, a token after a comment or a line
//! continuation keeps the start position brush computes). Tests and a fuzz
//! target hold it to that. Input this tokenizer does not take on, here
//! documents (brush keeps state across lines for them) and anything brush
//! would reject, gives `None`, and the caller uses brush's tokenizer.

use std::sync::Arc;

use brush_parser::{SourcePosition, SourceSpan, Token};

/// Why a token ended (what brush calls `TokenEndReason`, the cases it acts on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Input,
    Newline,
    Blank,
    Terminator,
    Other,
    /// `<<` or `<<-` (`true`: leading tabs are removed): a here document's body follows its line.
    HereOperator(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    AnsiC,
    Double,
}

/// Why [`tokenize`] gave no tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declined {
    /// Brush's tokenizer must decide (a here document inside `$(...)`, an
    /// unterminated quote, ...).
    ToBrush,
    /// `$(`, `${` or `$[` nested deeper than [`MAX_DEPTH`]: brush's
    /// tokenizer recurses once per level too, and ten thousand levels
    /// overflow a worker thread's stack, so such text must not reach it.
    TooDeep,
}

/// Deepest nesting of `$(`, `${` and `$[` tokenized (bash scripts rarely
/// pass three; a frame per level, far from any stack's end).
pub const MAX_DEPTH: u32 = 64;

/// Tokens of `text`, or why not.
pub fn tokenize(text: &str) -> Result<Vec<Token>, Declined> {
    let mut lexer = Lexer {
        text,
        at: 0,
        pos: SourcePosition {
            index: 0,
            line: 1,
            column: 1,
        },
        arithmetic: false,
        lag: None,
        here_line: false,
        depth: 0,
        too_deep: false,
    };
    let tokens = lexer.all();
    match tokens {
        Some(t) => Ok(t),
        None if lexer.too_deep => Err(Declined::TooDeep),
        None => Err(Declined::ToBrush),
    }
}

impl Lexer<'_> {
    /// Every token of the text, here documents in brush's order.
    fn all(&mut self) -> Option<Vec<Token>> {
        let mut tokens = Vec::new();
        // Here documents: brush holds back each `<<` and its tag, and the tokens
        // after them to the end of the line, then gives each body (and its end
        // tag) right after its tag.
        let mut pending: Vec<Here> = Vec::new();
        let mut operator: Option<(Token, bool)> = None;
        loop {
            self.here_line = operator.is_some() || !pending.is_empty();
            let (token, end) = self.token(None, false)?;
            let Some(token) = token else {
                if end == End::Input {
                    return (pending.is_empty() && operator.is_none()).then_some(tokens);
                }
                continue;
            };
            // brush reads on past a token it holds back without starting a new
            // one, so a blank that ended it does not move the next one's start.
            let held =
                matches!(end, End::HereOperator(_)) || operator.is_some() || !pending.is_empty();
            if held && end == End::Blank {
                self.lag = Some((*token.location().end).clone());
            }
            if let End::HereOperator(strip_tabs) = end {
                operator = Some((token, strip_tabs));
            } else if let Some((op, strip_tabs)) = operator.take() {
                if matches!(&token, Token::Operator(o, _) if o == "\n") {
                    return None; // no tag
                }
                let tag = format!("{}\n", token.to_str().trim_ascii_start());
                let quoted = tag.contains(['\\', '\'', '"']);
                pending.push(Here {
                    end_tag: if quoted { unquote(&tag) } else { tag },
                    strip_tabs,
                    tokens: vec![op, token],
                });
            } else if let Some(last) = pending.last_mut() {
                let newline = matches!(&token, Token::Operator(o, _) if o == "\n");
                last.tokens.push(token);
                if newline {
                    for here in std::mem::take(&mut pending) {
                        let mut held = here.tokens.into_iter();
                        tokens.extend(held.by_ref().take(2));
                        let (body, end_tag) = self.here_body(&here.end_tag, here.strip_tabs)?;
                        tokens.push(body);
                        tokens.push(end_tag);
                        tokens.extend(held);
                    }
                }
            } else {
                tokens.push(token);
            }
            if end == End::Input {
                return (pending.is_empty() && operator.is_none()).then_some(tokens);
            }
        }
    }
}

/// A here document whose body has not been read yet.
struct Here {
    /// The line that ends the body, quotes removed, with its newline.
    end_tag: String,
    strip_tabs: bool,
    /// The operator and tag, then what followed them on their line.
    tokens: Vec<Token>,
}

/// brush's `unquote_str`: quote characters dropped, a backslash keeps the next one.
fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c != '\'' && c != '"' {
            out.push(c);
        }
    }
    out
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    at: usize,
    /// Position of the next character, counted as brush counts it (characters, not bytes).
    pos: SourcePosition,
    /// Inside `((...))` or `$((...))`, where `<<` is a shift.
    arithmetic: bool,
    /// Where the next token starts, when not where the cursor is (see `tokenize`).
    lag: Option<SourcePosition>,
    /// On a line whose here documents are still to come: brush's here-document
    /// state then reaches into `$(...)` and `${...}`, which is left to brush.
    here_line: bool,
    /// `$(`, `${` and `$[` open around the cursor; past [`MAX_DEPTH`], `too_deep`.
    depth: u32,
    too_deep: bool,
}

/// The token being read.
struct Partial {
    start: SourcePosition,
    text: String,
    operator: bool,
    escaped: bool,
    quote: Quote,
}

impl Partial {
    fn unquoted(&self) -> bool {
        !self.escaped && self.quote == Quote::None
    }
}

/// ASCII bytes that change no tokenizer state inside an unquoted word.
fn is_plain(b: u8) -> bool {
    b.is_ascii()
        && !matches!(
            b,
            b' ' | b'\t'
                | b'\n'
                | b'&'
                | b'('
                | b')'
                | b';'
                | b'|'
                | b'<'
                | b'>'
                | b'\\'
                | b'\''
                | b'"'
                | b'$'
                | b'`'
        )
}

fn is_operator(s: &str) -> bool {
    matches!(
        s,
        "&" | "&&"
            | "("
            | ")"
            | ";"
            | ";;"
            | "\n"
            | "|"
            | "||"
            | "<"
            | ">"
            | ">|"
            | "<<"
            | ">>"
            | "<&"
            | ">&"
            | "<<-"
            | "<>"
            | "<<<"
            | "&>"
            | "&>>"
            | ";;&"
            | ";&"
            | "|&"
    )
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        let b = *self.text.as_bytes().get(self.at)?;
        if b < 0x80 {
            Some(b as char)
        } else {
            self.text[self.at..].chars().next()
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        self.pos.index += 1;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    /// Consumes the longest run of bytes from the cursor that `keep` accepts
    /// (whole characters: `keep` must accept every byte of a multi-byte
    /// character or none, as tests of ASCII bytes do), and returns it.
    fn run(&mut self, keep: impl Fn(u8) -> bool) -> &str {
        let text = self.text;
        let b = text.as_bytes();
        let start = self.at;
        let mut end = start;
        while end < b.len() && keep(b[end]) {
            end += 1;
        }
        let run = &text[start..end];
        for &c in run.as_bytes() {
            // Positions count characters: continuation bytes add nothing.
            if c == b'\n' {
                self.pos.line += 1;
                self.pos.column = 1;
                self.pos.index += 1;
            } else if c & 0xC0 != 0x80 {
                self.pos.column += 1;
                self.pos.index += 1;
            }
        }
        self.at = end;
        run
    }

    fn finish(&self, p: Partial, end: End) -> (Option<Token>, End) {
        if p.text.is_empty() {
            return (None, end);
        }
        let span = SourceSpan {
            start: Arc::new(p.start),
            end: Arc::new(self.pos.clone()),
        };
        let token = if p.operator {
            Token::Operator(p.text, span)
        } else {
            Token::Word(p.text, span)
        };
        (Some(token), end)
    }

    /// The next token, stopping early (unquoted) at `terminator`; inside
    /// `$(...)` blanks at a token's start are kept (`keep_blanks`).
    fn token(
        &mut self,
        terminator: Option<char>,
        keep_blanks: bool,
    ) -> Option<(Option<Token>, End)> {
        let mut p = Partial {
            start: self.lag.take().unwrap_or_else(|| self.pos.clone()),
            text: String::new(),
            operator: false,
            escaped: false,
            quote: Quote::None,
        };
        loop {
            let Some(c) = self.peek() else {
                if p.escaped || p.quote != Quote::None {
                    return None; // unterminated: brush reports the error
                }
                return Some(self.finish(p, End::Input));
            };
            if p.unquoted() && terminator == Some(c) {
                return Some(self.finish(p, End::Terminator));
            }
            // Runs of characters that change no state, taken whole (the
            // character-by-character steps below give the same result).
            if !p.escaped && !p.operator {
                let run = match p.quote {
                    Quote::None if !p.text.is_empty() || terminator == Some('}') => {
                        self.run(|b| is_plain(b) && Some(b as char) != terminator)
                    }
                    Quote::Single => self.run(|b| b != b'\''),
                    Quote::Double => self.run(|b| !matches!(b, b'"' | b'\\' | b'$' | b'`')),
                    _ => "",
                };
                if !run.is_empty() {
                    p.text.push_str(run);
                    continue;
                }
            }
            if p.operator {
                p.text.push(c);
                if p.unquoted() && is_operator(&p.text) {
                    self.bump();
                    continue;
                }
                p.text.pop();
                let mut end = if p.text == "\n" {
                    End::Newline
                } else {
                    End::Other
                };
                if self.arithmetic {
                    if p.text == ")" && c == ')' {
                        self.arithmetic = false;
                    }
                } else if p.text == "<<" || p.text == "<<-" {
                    if terminator.is_some() {
                        return None; // a here document inside `$(...)`: brush's to do
                    }
                    end = End::HereOperator(p.text == "<<-");
                } else if p.text == "(" && c == '(' {
                    self.arithmetic = true;
                }
                return Some(self.finish(p, end));
            }
            let opens_quoting = !p.escaped
                && match p.quote {
                    Quote::None => matches!(c, '\\' | '\'' | '"'),
                    Quote::Double | Quote::AnsiC => c == '\\',
                    Quote::Single => false,
                };
            if opens_quoting {
                self.bump();
                match c {
                    '\\' if self.peek() == Some('\n') => {
                        self.bump(); // a line continuation: neither character is kept
                    }
                    '\\' => {
                        p.escaped = true;
                        p.text.push(c);
                    }
                    '\'' => {
                        p.quote = if p.text.ends_with('$') {
                            Quote::AnsiC
                        } else {
                            Quote::Single
                        };
                        p.text.push(c);
                    }
                    _ => {
                        p.quote = Quote::Double;
                        p.text.push(c);
                    }
                }
                continue;
            }
            let closes = !p.escaped
                && match p.quote {
                    Quote::Single | Quote::AnsiC => c == '\'',
                    Quote::Double => c == '"',
                    Quote::None => false,
                };
            if closes {
                p.quote = Quote::None;
                self.bump();
                p.text.push(c);
                continue;
            }
            if p.escaped {
                p.escaped = false;
                self.bump();
                p.text.push(c);
                continue;
            }
            if (p.quote == Quote::None || p.quote == Quote::Double) && (c == '$' || c == '`') {
                self.bump();
                if c == '`' {
                    p.text.push('`');
                    self.backquoted(&mut p.text)?;
                    continue;
                }
                p.text.push('$');
                match self.peek() {
                    Some('(') => {
                        self.bump();
                        p.text.push('(');
                        let arithmetic = self.peek() == Some('(');
                        if arithmetic {
                            self.bump();
                            p.text.push('(');
                            self.arithmetic = true;
                        }
                        self.nested(&mut p.text, ')', "(", 1 + arithmetic as u32)?;
                        if arithmetic {
                            self.arithmetic = false;
                        }
                    }
                    Some('[') => {
                        self.bump();
                        p.text.push('[');
                        self.arithmetic = true;
                        self.nested(&mut p.text, ']', "[", 1)?;
                        self.arithmetic = false;
                    }
                    Some('{') => {
                        self.bump();
                        p.text.push('{');
                        self.braced(&mut p.text)?;
                    }
                    _ => {}
                }
                continue;
            }
            if c == '(' && p.unquoted() && p.text.ends_with(['@', '!', '?', '+', '*']) {
                // An extended glob, `@(a|b)`: taken whole up to its `)`.
                self.bump();
                p.text.push(c);
                let (mut depth, mut esc) = (1usize, false);
                while depth > 0 {
                    let g = self.bump()?;
                    p.text.push(g);
                    match g {
                        _ if esc => esc = false,
                        '\\' => esc = true,
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
                continue;
            }
            if p.unquoted() && matches!(c, '&' | '(' | ')' | ';' | '\n' | '|' | '<' | '>') {
                if !p.text.is_empty() {
                    return Some(self.finish(p, End::Other));
                }
                p.operator = true;
                self.bump();
                p.text.push(c);
                continue;
            }
            if p.unquoted() && (c == ' ' || c == '\t') {
                if !p.text.is_empty() {
                    let out = self.finish(p, End::Blank);
                    self.bump();
                    return Some(out);
                }
                if keep_blanks {
                    p.text.push(c);
                } else {
                    // brush moves the start past the blank without reading
                    // the cursor (so a start after a comment or a line
                    // continuation lags behind): done the same way here.
                    p.start.index += 1;
                    p.start.column += 1;
                }
                self.bump();
                continue;
            }
            if !p.text.is_empty() || terminator == Some('}') {
                self.bump();
                p.text.push(c);
                continue;
            }
            if c == '#' {
                while self.peek().is_some_and(|x| x != '\n') {
                    self.bump();
                }
                continue;
            }
            self.bump();
            p.text.push(c);
        }
    }

    /// A here document's body, from the start of the line after its tag to
    /// the line that is `end_tag`: the body word, then the end tag as a word
    /// of no width at the end (as brush gives them).
    fn here_body(&mut self, end_tag: &str, strip_tabs: bool) -> Option<(Token, Token)> {
        let start = self.pos.clone();
        let mut body = String::new();
        loop {
            let Some(c) = self.peek() else {
                // The last line may end the body without a newline.
                let tag = end_tag.strip_suffix('\n').unwrap_or(end_tag);
                let rest = body.strip_suffix(tag)?;
                if !(rest.is_empty() || rest.ends_with('\n')) {
                    return None;
                }
                body.truncate(rest.len());
                break;
            };
            let line_start = body.is_empty() || body.ends_with('\n');
            if c != '\n' && !(strip_tabs && line_start) {
                // The rest of the line is body text whatever it holds.
                let line = self.run(|b| b != b'\n');
                body.push_str(line);
                continue;
            }
            self.bump();
            if strip_tabs && c == '\t' && line_start {
                continue;
            }
            body.push(c);
            if c == '\n' {
                if let Some(rest) = body.strip_suffix(end_tag) {
                    if rest.is_empty() || rest.ends_with('\n') {
                        body.truncate(rest.len());
                        break;
                    }
                }
            }
        }
        let end = Arc::new(self.pos.clone());
        let body = Token::Word(
            body,
            SourceSpan {
                start: Arc::new(start),
                end: end.clone(),
            },
        );
        let tag = end_tag.trim_end_matches('\n').to_string();
        let tag = Token::Word(
            tag,
            SourceSpan {
                start: end.clone(),
                end,
            },
        );
        Some((body, tag))
    }

    /// After an opening backquote: everything to the unescaped closing one, as is.
    fn backquoted(&mut self, out: &mut String) -> Option<()> {
        let mut esc = false;
        loop {
            let c = self.bump()?;
            out.push(c);
            if !esc && c == '\\' {
                esc = true;
                continue;
            }
            if !esc && c == '`' {
                return Some(());
            }
            esc = false;
        }
    }

    /// The body of `$(`, `$((` or `$[` up to its close, rebuilt from its
    /// tokens as brush rebuilds it.
    /// Enters one more level of `$(`, `${` or `$[`; `None` past [`MAX_DEPTH`].
    fn descend(&mut self) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.too_deep = true;
            return None;
        }
        Some(())
    }

    fn nested(&mut self, out: &mut String, close: char, open: &str, depth: u32) -> Option<()> {
        if self.here_line {
            return None;
        }
        self.descend()?;
        let done = self.nested_body(out, close, open, depth);
        self.depth -= 1;
        done
    }

    fn nested_body(
        &mut self,
        out: &mut String,
        close: char,
        open: &str,
        mut depth: u32,
    ) -> Option<()> {
        loop {
            let (token, end) = self.token(Some(close), true)?;
            if let Some(t) = token {
                if matches!(&t, Token::Operator(o, _) if o == open) {
                    depth += 1;
                }
                out.push_str(t.to_str());
            }
            match end {
                End::Blank => out.push(' '),
                End::Terminator => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(self.bump()?);
                }
                End::Input | End::HereOperator(_) => return None,
                End::Newline | End::Other => {}
            }
        }
        out.push(self.bump()?);
        Some(())
    }

    /// The body of `${` up to its `}`, rebuilt from its tokens.
    fn braced(&mut self, out: &mut String) -> Option<()> {
        if self.here_line {
            return None;
        }
        self.descend()?;
        let done = self.braced_body(out);
        self.depth -= 1;
        done
    }

    fn braced_body(&mut self, out: &mut String) -> Option<()> {
        loop {
            let (token, end) = self.token(Some('}'), false)?;
            if let Some(t) = token {
                out.push_str(t.to_str());
            }
            match end {
                End::Blank => out.push(' '),
                End::Terminator => {
                    out.push(self.bump()?);
                    return Some(());
                }
                End::Input | End::HereOperator(_) => return None,
                End::Newline | End::Other => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same tokens as brush's tokenizer, or `None` where brush fails or meets a here document.
    pub(crate) fn agrees(text: &str) {
        let ours = tokenize(text).ok();
        let theirs = std::panic::catch_unwind(|| {
            brush_parser::uncached_tokenize_str(text, &Default::default())
        });
        match (ours, theirs) {
            (Some(o), Ok(Ok(t))) => assert_eq!(format!("{o:?}"), format!("{t:?}"), "{text:?}"),
            (Some(o), _) => panic!("brush rejects {text:?}, we gave {o:?}"),
            (None, Ok(Ok(_))) => assert!(
                text.contains("<<"),
                "we declined {text:?}, which brush tokenizes"
            ),
            (None, _) => {}
        }
    }

    #[test]
    fn tokens_are_brushs() {
        for text in [
            "",
            "ls -la",
            "  ls\t-la  ",
            "cd /x && make || echo fail; ls | wc -l &",
            "a\nb\n\nc",
            "echo 'single $x' \"double $x ${y} $(z)\" $'ansi\\'q' $\"loc\"",
            "echo \"a\\\"b\" 'it'\\''s' \\$x \\\\",
            "echo $(echo  a\tb   c) $( ls ) $(a;) $((1 + (2*3))) $[1+2] ${x:-a b}  ${#x} ${x// /_}",
            "echo `id` \"`id -u`\" `echo \\`x\\``",
            "x=1 y=$(cmd) cmd arg >out 2>&1 <in 3<>f >|g &>h &>>i <<<here",
            "f() { echo a; }; (cd x; ls) ; { a; b; }",
            "if true; then echo y; elif false; then :; else echo n; fi",
            "for i in 1 2 3; do echo $i; done; while read l; do :; done < f",
            "case $x in a|b) echo ab;; *) echo other;& esac",
            "ls # a comment\necho after",
            "# only a comment",
            "echo a#b #c",
            "ls \\\n  -la",
            "echo \"line\\\ncont\"",
            "echo @(a|b) !(x) *(y) ?(z) +(w)",
            "cat <(ls) >(wc)",
            "echo $(echo $(echo deep) x)",
            "echo $(case x in x) echo y;; esac)",
            "echo \"$(echo \"in $(echo q)\")\"",
            "ünïcode 'ß' \"✓\" $(é)",
            "a |& b ;;& c",
            "echo ${x} ${x:+${y}} ${ x }",
            "echo $( # c\n ls)",
            "echo $(\tls\t-la)",
            "echo $(\\\nls)",
            "((x++)); echo $((1<<2))",
            "echo 'unterminated",
            "echo \"unterminated",
            "echo $(unterminated",
            "echo `unterminated",
            "echo trailing\\",
            "cat <<EOF\nbody\nEOF",
            "cat <<EOF\nbody\nEOF\n",
            "cat <<-X\n\tbody\n\tX\nls",
            "cat > f.py <<'EOF' && python f.py\nimport os\n  EOF\nEOF\necho done",
            "cat <<A <<\"B\" | tr a b\na\nA\nb $x\nB\nnext",
            "cat <<E\\OF x\nEOF\n",
            "cat <<EOF",
            "cat <<EOF\nunterminated",
            "cat << EOF\n\nEOF",
            "cat <<EOF\n",
            "cat <<\nEOF",
            "(( y = x << 2 )); echo $((1<<3)) $[1<<2]",
            "echo $(cat <<EOF\nin\nEOF\n)",
            "cat <<EOF; ls\nb\nEOF",
            "bash <<-E $(a\nb)\n\tE\n",
            "cat <<E ${x}\nE\n",
        ] {
            agrees(text);
        }
    }
}

/// Every shell command of the JSONL corpora named in `CORDON_TOKEN_CORPUS`
/// (paths separated by `:`), held to brush's tokens and tree; also every text the
/// walker parses of them (words are re-parsed as commands inside `bash -c`,
/// `$(...)`, ...), which `analyze` reaches. Run by hand:
/// `CORDON_TOKEN_CORPUS=$(ls ../shared/corpus/dev/*.jsonl | paste -sd:) cargo test -p cordon-shell corpus -- --ignored`
#[cfg(test)]
#[test]
#[ignore = "needs corpora outside the repository"]
fn corpus_tokens_are_brushs() {
    let paths = std::env::var("CORDON_TOKEN_CORPUS").expect("CORDON_TOKEN_CORPUS");
    let mut n = 0;
    for path in paths.split(':') {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let input = &v["input"];
            for key in ["command", "cmd", "script", "code"] {
                if let Some(cmd) = input.get(key).and_then(|c| c.as_str()) {
                    tests::agrees(cmd);
                    crate::simple::tests::agrees(cmd);
                    for l in cmd.lines() {
                        tests::agrees(l);
                        crate::simple::tests::agrees(l);
                    }
                    n += 1;
                }
            }
        }
    }
    assert!(n > 100, "only {n} commands");
}
