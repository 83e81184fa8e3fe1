//! Heredoc bodies taken out before parsing.
//!
//! Most bytes an agent sends are heredoc bodies (83% on the dev corpora:
//! `cat > fix.py <<'EOF' ... EOF`), and the parser's tokenizer costs ~30 ns a
//! character. The bodies are cut out and each replaced by a one-line marker;
//! the walker swaps the real body back in when it meets the marker. The
//! scanner is conservative (it gives up on nesting it does not follow) and the
//! walker checks that the parser saw exactly the heredocs the scanner cut,
//! re-parsing the original text otherwise, so a disagreement can cost time
//! but never hide text from analysis.

pub const MARKER_PREFIX: &str = "__cordon_heredoc_";

pub struct Split {
    /// The text with every body replaced by its marker line.
    pub text: String,
    pub bodies: Vec<String>,
    /// (byte offset in `text` where the marker line starts, bytes removed there)
    /// in order, to map positions back to the original.
    pub shifts: Vec<(usize, isize)>,
}

impl Split {
    /// Byte offset in the original text for a byte offset in `text`.
    pub fn original_offset(&self, pos: usize) -> usize {
        let mut delta: isize = 0;
        for &(at, removed) in &self.shifts {
            if pos > at {
                delta += removed;
            } else {
                break;
            }
        }
        (pos as isize + delta).max(0) as usize
    }
}

struct Pending {
    delim: String,
    strip_tabs: bool,
}

/// Cut heredoc bodies out of `text`. `None` when there are none or the
/// scanner is not sure (nested substitutions, unterminated bodies).
pub fn split(text: &str) -> Option<Split> {
    if !text.contains("<<") {
        return None;
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() / 4);
    let mut bodies = Vec::new();
    let mut shifts = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut i = 0;
    let mut copied = 0;
    let mut depth = 0usize;
    let mut word_start = true;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                i += 2;
                word_start = false;
                continue;
            }
            b'\'' => {
                i = text[i + 1..].find('\'').map(|p| i + 2 + p)?;
                word_start = false;
                continue;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return None;
                }
                i = j + 1;
                word_start = false;
                continue;
            }
            b'#' if word_start => {
                // A comment runs to the end of the line.
                i = text[i..].find('\n').map(|p| i + p).unwrap_or(b.len());
                continue;
            }
            b'(' | b'{' | b'`' => {
                depth += 1;
            }
            b')' | b'}' => depth = depth.saturating_sub(1),
            b'<' if b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') => {
                if depth > 0 {
                    return None; // heredocs inside substitutions: leave to the parser
                }
                let mut j = i + 2;
                let strip_tabs = b.get(j) == Some(&b'-');
                if strip_tabs {
                    j += 1;
                }
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                let (delim, end) = delimiter(text, j)?;
                pending.push(Pending { delim, strip_tabs });
                i = end;
                word_start = false;
                continue;
            }
            b'\n' if !pending.is_empty() => {
                // Bodies follow this line, one per pending heredoc, in order.
                let mut pos = i + 1;
                out.push_str(&text[copied..pos]);
                for p in pending.drain(..) {
                    let body_start = pos;
                    let (body_end, line_end) = body_end(text, body_start, &p)?;
                    pos = line_end;
                    let marker = format!("{MARKER_PREFIX}{}\n", bodies.len());
                    let removed = (body_end - body_start) as isize - marker.len() as isize;
                    shifts.push((out.len(), removed));
                    out.push_str(&marker);
                    out.push_str(&p.delim);
                    bodies.push(text[body_start..body_end].to_string());
                    if pos < b.len() {
                        out.push('\n');
                        pos += 1;
                    }
                }
                copied = pos;
                i = pos;
                word_start = true;
                continue;
            }
            _ => {}
        }
        word_start = matches!(c, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')');
        i += 1;
    }
    if !pending.is_empty() || bodies.is_empty() {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(Split {
        text: out,
        bodies,
        shifts,
    })
}

/// Where the body starting at `body_start` ends: the start and end of the
/// first line that is the delimiter (tabs stripped for `<<-`). `None`:
/// unterminated, which the parser reports.
///
/// Bodies are half the bytes agents send (files written with `cat <<EOF`),
/// so the usual case, `<<`, searches for a newline and the delimiter
/// together (SIMD) instead of cutting every line out and comparing it.
fn body_end(text: &str, body_start: usize, p: &Pending) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    // The delimiter line is whole: followed by a newline or the end.
    let whole = |line_start: usize| {
        let end = line_start + p.delim.len();
        (b.get(end).is_none_or(|&c| c == b'\n')).then_some((line_start, end))
    };
    if body_start > b.len() {
        return None;
    }
    if !p.strip_tabs {
        if b[body_start..].starts_with(p.delim.as_bytes()) {
            if let Some(found) = whole(body_start) {
                return Some(found);
            }
        }
        let needle = format!("\n{}", p.delim);
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let mut from = body_start;
        while let Some(k) = finder.find(&b[from..]) {
            if let Some(found) = whole(from + k + 1) {
                return Some(found);
            }
            from += k + 1;
        }
        return None;
    }
    let mut line_start = body_start;
    loop {
        let line_end = memchr::memchr(b'\n', &b[line_start..])
            .map(|q| line_start + q)
            .unwrap_or(b.len());
        if text[line_start..line_end].trim_start_matches('\t') == p.delim {
            return Some((line_start, line_end));
        }
        if line_end >= b.len() {
            return None;
        }
        line_start = line_end + 1;
    }
}

/// The delimiter word at `j`: `EOF`, `'EOF'`, `"EOF"`, `\EOF`, `E"O"F`.
fn delimiter(text: &str, mut j: usize) -> Option<(String, usize)> {
    let b = text.as_bytes();
    let mut delim = String::new();
    while j < b.len() {
        match b[j] {
            b'\'' | b'"' => {
                let q = b[j] as char;
                let close = text[j + 1..].find(q)? + j + 1;
                delim.push_str(&text[j + 1..close]);
                j = close + 1;
            }
            b'\\' => {
                j += 1;
            }
            c if c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'_' | b'-' | b'.' | b'!' | b'@' | b'%' | b'+' | b'/' | b':' | b','
                ) =>
            {
                delim.push(c as char);
                j += 1;
            }
            _ => break,
        }
    }
    (!delim.is_empty()).then_some((delim, j))
}

/// The body a marker stands for.
pub fn marker_index(doc: &str) -> Option<usize> {
    doc.trim_end_matches('\n')
        .strip_prefix(MARKER_PREFIX)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_and_offsets_map_back() {
        let src = "cat > a.py <<'EOF'\nprint(1)\nx = 2\nEOF\npython a.py";
        let s = split(src).unwrap();
        assert_eq!(s.bodies, vec!["print(1)\nx = 2\n"]);
        assert!(
            s.text
                .starts_with("cat > a.py <<'EOF'\n__cordon_heredoc_0\nEOF\npython a.py"),
            "{:?}",
            s.text
        );
        let p = s.text.find("python").unwrap();
        assert_eq!(&src[s.original_offset(p)..], "python a.py");
    }

    #[test]
    fn scanner_gives_up_where_unsure() {
        assert!(split("echo '<<EOF'").is_none());
        assert!(split("x=$((1<<2))").is_none());
        assert!(split("cat <<EOF\nno end").is_none());
        assert!(split("echo $(cat <<EOF\nhi\nEOF\n)").is_none());
        assert!(split("cat <<< word").is_none());
        assert!(split("# cat <<EOF\nls").is_none());
    }

    #[test]
    fn several_heredocs_and_tab_stripping() {
        let s = split("a <<X; b <<-Y\n1\nX\n\t2\n\tY\nc").unwrap();
        assert_eq!(s.bodies, vec!["1\n", "\t2\n"]);
        assert!(s.text.ends_with("\nc"));
        assert_eq!(marker_index("__cordon_heredoc_1\n"), Some(1));
    }

    /// A body ends at the first line that is the delimiter and nothing else.
    #[test]
    fn a_body_ends_at_the_first_whole_delimiter_line() {
        let bodies = |t: &str| split(t).map(|s| s.bodies);
        let one = |b: &str| Some(vec![b.to_string()]);
        assert_eq!(bodies("cat <<EOF\nEOF\nls"), one(""));
        assert_eq!(
            bodies("cat <<EOF\nEOFX\nxEOF\n EOF\nEOF"),
            one("EOFX\nxEOF\n EOF\n")
        );
        assert_eq!(bodies("cat <<EOF\na\nEOF\r\nEOF\n"), one("a\nEOF\r\n"));
        assert_eq!(bodies("cat <<EOF\na EOF\nb\nEOF"), one("a EOF\nb\n"));
        assert_eq!(bodies("cat <<EOF\nEOFEOF\n"), None);
        assert_eq!(bodies("cat <<EOF\n"), None);
        assert_eq!(bodies("cat <<EOF"), None);
        assert_eq!(
            bodies("a <<X <<Y\n1\nX\nX\n2\nY\n"),
            Some(vec!["1\n".into(), "X\n2\n".into()])
        );
        assert_eq!(bodies("cat <<-E\n\t\tx\n\t\tE\n"), one("\t\tx\n"));
    }
}
