//! Small scanners the parser does not provide: matching a `$(`'s close paren
//! inside a word, bounding nesting before a recursive parser sees it, and a
//! tolerant splitter for lines the parser rejects.

/// Index just past the `)` closing a `$(` whose body starts at `start`.
pub fn close_paren(s: &[u8], start: usize) -> Option<usize> {
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
            b'(' => depth += 1,
            b')' => {
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

/// Index just past the `}` closing a `${` whose body starts at `start`.
pub fn close_brace(s: &[u8], start: usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = start;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
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

/// Deepest nesting of `(`, `{` and backquotes: a cheap bound checked before
/// the recursive-descent parser is given hostile input.
pub fn max_nesting(s: &str) -> usize {
    let (mut depth, mut max, mut backq) = (0usize, 0usize, false);
    for b in s.bytes() {
        match b {
            b'(' | b'{' => {
                depth += 1;
                max = max.max(depth + backq as usize);
            }
            b')' | b'}' => depth = depth.saturating_sub(1),
            b'`' => backq = !backq,
            _ => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanners() {
        assert_eq!(close_paren(b"echo (a) ')' x) rest", 0), Some(15));
        assert_eq!(max_nesting("$($($(x)))"), 3);
        let parts = tolerant_split("sudo ssh user@h 'cat /f\" ; nc -e sh");
        assert_eq!(parts[0].0, vec!["sudo", "ssh", "user@h", "cat /f\" ; nc -e sh"]);
        let parts = tolerant_split("a b; c 'd e'");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].0, vec!["c", "d e"]);
    }
}
