//! brush-parser's tree for token streams of simple commands, built directly.
//!
//! Why by hand: brush's grammar is a PEG that re-parses every word as a
//! possible assignment with a second PEG and backtracks across alternatives;
//! after the tokenizer it was the largest part of parsing. Most texts agents
//! send are lists of simple commands (words, assignments, redirections,
//! pipes, `&&`, `||`, `;`, `&`, newlines), whose grammar is a few lines.
//! For those this gives the very tree `brush_parser::parse_tokens` gives
//! (tests and a fuzz target compare them); anything else (compound
//! commands, functions, reserved words where a command starts, `time`,
//! `|&`, parentheses, array assignments, syntax errors) gives `None` and goes
//! to brush's grammar.

use brush_parser::ast::{
    AndOr, AndOrList, Assignment, AssignmentName, AssignmentValue, Command, CommandPrefix,
    CommandPrefixOrSuffixItem as Item, CommandSuffix, CompoundList, CompoundListItem,
    IoFileRedirectKind, IoFileRedirectTarget, IoHereDocument, IoRedirect, Pipeline, Program,
    SeparatorOperator, SimpleCommand, Word,
};
use brush_parser::Token;

/// The program brush's grammar would make of `tokens`, or `None`.
pub fn parse(tokens: &[Token]) -> Option<Program> {
    let mut p = Parser { tokens, at: 0 };
    p.newlines();
    let mut complete_commands = Vec::new();
    while p.at < tokens.len() {
        let mut items = Vec::new();
        loop {
            let and_or = p.and_or()?;
            let sep = match p.operator() {
                Some(";") => SeparatorOperator::Sequence,
                Some("&") => SeparatorOperator::Async,
                _ => {
                    items.push(CompoundListItem(and_or, SeparatorOperator::Sequence));
                    break;
                }
            };
            p.at += 1;
            items.push(CompoundListItem(and_or, sep));
            if p.at == tokens.len() || p.operator() == Some("\n") {
                break;
            }
        }
        complete_commands.push(CompoundList(items));
        if p.at < tokens.len() && p.operator() != Some("\n") {
            return None;
        }
        p.newlines();
    }
    Some(Program { complete_commands })
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
}

/// Words brush reserves where a command starts (with its bash extensions),
/// and `time`, which starts a timed pipeline there.
fn reserved(w: &str) -> bool {
    matches!(
        w,
        "!" | "{"
            | "}"
            | "case"
            | "do"
            | "done"
            | "elif"
            | "else"
            | "esac"
            | "fi"
            | "for"
            | "if"
            | "in"
            | "then"
            | "until"
            | "while"
            | "[["
            | "]]"
            | "function"
            | "select"
            | "coproc"
            | "time"
    )
}

/// `NAME=value` or `NAME+=value` as brush reads an assignment word: the
/// name, whether it appends, and the value. `NAME[...]=` is not taken on
/// (`None` with `true`: leave the whole text to brush).
fn assignment(w: &str) -> Result<Option<(&str, bool, &str)>, ()> {
    let b = w.as_bytes();
    if !b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return Ok(None);
    }
    let n = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        .unwrap_or(b.len());
    match &b[n..] {
        [b'=', ..] => Ok(Some((&w[..n], false, &w[n + 1..]))),
        [b'+', b'=', ..] => Ok(Some((&w[..n], true, &w[n + 2..]))),
        [b'[', ..] => Err(()),
        _ => Ok(None),
    }
}

impl<'a> Parser<'a> {
    fn operator(&self) -> Option<&'a str> {
        match self.tokens.get(self.at)? {
            Token::Operator(o, _) => Some(o.as_str()),
            Token::Word(..) => None,
        }
    }

    fn word(&self, i: usize) -> Option<&'a Token> {
        self.tokens.get(i).filter(|t| matches!(t, Token::Word(..)))
    }

    fn newlines(&mut self) {
        while self.operator() == Some("\n") {
            self.at += 1;
        }
    }

    fn and_or(&mut self) -> Option<AndOrList> {
        let first = self.pipeline()?;
        let mut additional = Vec::new();
        loop {
            let op: fn(Pipeline) -> AndOr = match self.operator() {
                Some("&&") => AndOr::And,
                Some("||") => AndOr::Or,
                _ => break,
            };
            self.at += 1;
            self.newlines();
            additional.push(op(self.pipeline()?));
        }
        Some(AndOrList { first, additional })
    }

    fn pipeline(&mut self) -> Option<Pipeline> {
        let mut seq = vec![Command::Simple(self.simple()?)];
        while self.operator() == Some("|") {
            self.at += 1;
            self.newlines();
            seq.push(Command::Simple(self.simple()?));
        }
        Some(Pipeline {
            timed: None,
            bang: false,
            seq,
        })
    }

    /// An assignment word at the cursor, taken.
    fn assignment_item(&mut self) -> Option<Result<Item, ()>> {
        let t = self.word(self.at)?;
        let Token::Word(w, loc) = t else { return None };
        match assignment(w) {
            Err(()) => Some(Err(())),
            Ok(None) => None,
            Ok(Some((name, append, value))) => {
                self.at += 1;
                let a = Assignment {
                    name: AssignmentName::VariableName(name.to_string()),
                    value: AssignmentValue::Scalar(Word::from(value.to_string())),
                    append,
                    loc: loc.clone(),
                };
                Some(Ok(Item::AssignmentWord(a, Word::from(t))))
            }
        }
    }

    fn simple(&mut self) -> Option<SimpleCommand> {
        let prefix = self.items(false)?;
        let name = match self.word(self.at) {
            Some(t) if !reserved(t.to_str()) => t,
            // Assignments and redirections alone: `X=1`, `>f`.
            None if !prefix.is_empty() => {
                return Some(SimpleCommand {
                    prefix: Some(CommandPrefix(prefix)),
                    word_or_name: None,
                    suffix: None,
                })
            }
            // A reserved word, or an operator, where a command starts:
            // brush's grammar is the judge of what that is.
            _ => return None,
        };
        self.at += 1;
        let suffix = self.items(true)?;
        Some(SimpleCommand {
            prefix: (!prefix.is_empty()).then_some(CommandPrefix(prefix)),
            word_or_name: Some(Word::from(name)),
            suffix: (!suffix.is_empty()).then_some(CommandSuffix(suffix)),
        })
    }

    /// Redirections and assignment words, and (after the program name,
    /// `words`) other words, up to the first token that is none of these.
    fn items(&mut self, words: bool) -> Option<Vec<Item>> {
        let mut items = Vec::new();
        loop {
            if let Some(r) = self.redirect()? {
                items.push(Item::IoRedirect(r));
                continue;
            }
            match self.assignment_item() {
                Some(Ok(item)) => {
                    items.push(item);
                    continue;
                }
                Some(Err(())) => return None,
                None => {}
            }
            match self.word(self.at) {
                Some(t) if words => {
                    items.push(Item::Word(Word::from(t)));
                    self.at += 1;
                }
                _ => return Some(items),
            }
        }
    }

    /// A redirection at the cursor: `Some(None)` when there is none, `None`
    /// for one this does not take on (process substitution, a missing target).
    fn redirect(&mut self) -> Option<Option<IoRedirect>> {
        let mut i = self.at;
        // An fd number: digits right before (no blank) an operator starting with `<` or `>`.
        let mut fd = None;
        if let (Some(Token::Word(w, wl)), Some(Token::Operator(o, ol))) =
            (self.tokens.get(i), self.tokens.get(i + 1))
        {
            if w.bytes().all(|c| c.is_ascii_digit())
                && o.starts_with(['<', '>'])
                && wl.end.index == ol.start.index
            {
                fd = Some(w.parse().ok()?);
                i += 1;
            }
        }
        let Some(Token::Operator(op, _)) = self.tokens.get(i) else {
            return Some(None);
        };
        let target = |j: usize| self.word(j);
        let file = |kind| (kind, false);
        let (kind, dup) = match op.as_str() {
            "<" => file(IoFileRedirectKind::Read),
            ">" => file(IoFileRedirectKind::Write),
            ">>" => file(IoFileRedirectKind::Append),
            "<>" => file(IoFileRedirectKind::ReadAndWrite),
            ">|" => file(IoFileRedirectKind::Clobber),
            "<&" => (IoFileRedirectKind::DuplicateInput, true),
            ">&" => (IoFileRedirectKind::DuplicateOutput, true),
            "&>" | "&>>" if fd.is_none() => {
                let w = Word::from(target(i + 1)?);
                self.at = i + 2;
                return Some(Some(IoRedirect::OutputAndError(w, op == "&>>")));
            }
            "<<<" => {
                let w = Word::from(target(i + 1)?);
                self.at = i + 2;
                return Some(Some(IoRedirect::HereString(fd, w)));
            }
            "<<" | "<<-" => {
                let tag = target(i + 1)?;
                let doc = self.tokens.get(i + 2)?;
                target(i + 3)?;
                self.at = i + 4;
                let doc = IoHereDocument {
                    remove_tabs: op == "<<-",
                    requires_expansion: !tag.to_str().contains(['\'', '"', '\\']),
                    here_end: Word::from(tag),
                    doc: Word::from(doc),
                };
                return Some(Some(IoRedirect::HereDocument(fd, doc)));
            }
            _ if fd.is_some() => return None,
            _ => return Some(None),
        };
        // `<(...)` and `>(...)` are process substitutions: brush's.
        let w = Word::from(target(i + 1)?);
        self.at = i + 2;
        let target = if dup {
            IoFileRedirectTarget::Duplicate(w)
        } else {
            IoFileRedirectTarget::Filename(w)
        };
        Some(Some(IoRedirect::File(fd, kind, target)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Where this builds a tree, brush's grammar builds the same one.
    pub(crate) fn agrees(text: &str) {
        let Ok(tokens) = crate::tokens::tokenize(text) else {
            return;
        };
        let Some(ours) = parse(&tokens) else { return };
        let opts = brush_parser::ParserOptions::default();
        match brush_parser::parse_tokens(&tokens, &opts) {
            Ok(theirs) => assert_eq!(format!("{ours:?}"), format!("{theirs:?}"), "{text:?}"),
            Err(e) => panic!("brush rejects {text:?} ({e}); we built {ours:?}"),
        }
    }

    #[test]
    fn trees_are_brushs() {
        for text in [
            "",
            "\n\n",
            "ls -la",
            "cd /x && make || echo fail; ls | wc -l &",
            "a\nb\n\nc\n",
            "a;\nb &\nc",
            "a &&\n b ||\n\n c |\n d",
            "X=1 Y+=2 cmd a=b --k=v",
            "X=1",
            "X=1 >out",
            "x[1]=a cmd",
            ">out 2>&1 cmd <in 3<>f >|g &>h &>>i 5<<<here 0<&3",
            "echo 2 >x 2>y 22>z",
            "cat <<EOF\nbody $x\nEOF\n",
            "cat <<'E' >f && python f\nx\nE\nls",
            "cat <<-E | tr a b\n\tx\n\tE",
            "if true; then a; fi",
            "a | b |& c",
            "f() { a; }",
            "(a)",
            "time ls",
            "! ls",
            "a ;; b",
            "a; ;",
            "| a",
            "a |",
            "a &&",
            "echo >",
            "2>",
            "cat <(ls)",
            "echo if then fi",
            "X=1 if",
            "a=(1 2)",
            "{ a; }",
            "echo $(a; b) \"$(c)\" `d`",
        ] {
            agrees(text);
        }
    }
}

/// How deeply compound commands nest in `tokens` (`{`, `(`, `if`, loops,
/// `case`, counted where a command starts), a bound taken before brush's
/// grammar sees them: it recurses a few frames per level (a thousand nested
/// `{`, 3 KB of text, overflowed a worker thread's stack) and backtracks
/// exponentially on nested `case`.
pub fn compound_depth(tokens: &[Token]) -> Nesting {
    let (mut depth, mut max) = (0usize, 0usize);
    // `case` apart: each pattern's `)` would cancel it in `depth`.
    let (mut cases, mut max_cases) = (0usize, 0usize);
    // At the start of a command: after an operator or a word that begins a list.
    let mut at_start = true;
    for t in tokens {
        match t {
            Token::Operator(o, _) => {
                match o.as_str() {
                    "(" => depth += 1,
                    ")" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                at_start = true;
            }
            Token::Word(w, _) => {
                let w = w.as_str();
                if at_start {
                    match w {
                        "{" | "if" | "while" | "until" | "for" | "select" => depth += 1,
                        "}" | "fi" | "done" => depth = depth.saturating_sub(1),
                        "case" => cases += 1,
                        "esac" => cases = cases.saturating_sub(1),
                        _ => {}
                    }
                }
                at_start = matches!(
                    w,
                    "{" | "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "!" | "time"
                );
            }
        }
        max = max.max(depth + cases);
        max_cases = max_cases.max(cases);
    }
    Nesting {
        depth: max,
        cases: max_cases,
    }
}

/// What [`compound_depth`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nesting {
    /// Deepest nesting of compound commands of any kind.
    pub depth: usize,
    /// Deepest nesting of `case` alone: brush's grammar backtracks
    /// exponentially on nested `case` (20 levels, 300 bytes, took 1.4 s;
    /// 24 did not finish in 10 s).
    pub cases: usize,
}

/// A bound on the same on raw text, for what brush must tokenize itself:
/// every compound keyword, `(`, `{` and `$[` counts as opening, nothing as
/// closing, so it can only over-count.
pub fn text_depth_bound(text: &str) -> usize {
    let b = text.as_bytes();
    let mut n = 0;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' | b'{' => n += 1,
            b'[' if i > 0 && b[i - 1] == b'$' => n += 1,
            _ if i == 0 || !b[i - 1].is_ascii_alphanumeric() => {
                for k in ["if", "while", "until", "for", "select", "case"] {
                    if b[i..].starts_with(k.as_bytes())
                        && b.get(i + k.len())
                            .is_none_or(|c| !c.is_ascii_alphanumeric())
                    {
                        n += 1;
                    }
                }
            }
            _ => {}
        }
    }
    n
}

/// Whole-word `case` in raw text, nested or not: the bound on `case`
/// nesting for what brush must tokenize itself (over-counts, never under).
pub fn case_words(text: &str) -> usize {
    let b = text.as_bytes();
    let word = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    text.match_indices("case")
        .filter(|(i, _)| !word(i.checked_sub(1).and_then(|j| b.get(j))) && !word(b.get(i + 4)))
        .count()
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn compound_nesting_is_measured_where_commands_start() {
        let depth = |t: &str| compound_depth(&crate::tokens::tokenize(t).unwrap()).depth;
        let cases = |t: &str| compound_depth(&crate::tokens::tokenize(t).unwrap()).cases;
        assert_eq!(cases("case x in x) case y in y) a;; esac;; esac"), 2);
        assert_eq!(
            cases("case x in a) b;; c) d;; esac; case y in y) z;; esac"),
            1
        );
        assert_eq!(depth("if a; then case x in x) b;; esac; fi"), 2);
        assert_eq!(depth("ls; echo if fi done"), 0);
        assert_eq!(depth("if a; then { b; }; fi"), 2);
        assert_eq!(depth("while a; do if b; then (c); fi; done"), 3);
        assert_eq!(depth("{ echo fi; { echo fi; { x; }; }; }"), 3);
        assert_eq!(depth("f() { a; }; g() { b; }"), 1);
        assert!(text_depth_bound("cat <<E ${a:-${b}}\nE") >= 2);
        assert_eq!(text_depth_bound("ls -la iffy"), 0);
        assert_eq!(case_words("case x in x) case_y;; esac; lowercase; case"), 2);
    }
}
