//! The shapes a secret takes on its way out: verbatim, base64 (either alphabet, padded or not, and at any offset
//! inside a larger encoded blob), hex, percent-encoding.
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::scan::hex_lower;

/// Base64 cores shorter than this are left out: they would turn up by chance.
const MIN_CORE: usize = 8;

/// `tagged_forms` without the tags.
pub fn forms(secret: &str) -> Vec<String> {
    tagged_forms(secret).into_iter().map(|(_, f)| f).collect()
}

/// Every form of `secret` worth searching for, each once, tagged `"verbatim"`, `"base64"`, `"hex"` or `"url"`.
///
/// Base64 of a larger blob that contains the secret at byte offset `k` contains a core that depends only on the
/// secret and on `k mod 3`; the three cores (per alphabet) are included, so a secret embedded anywhere in an
/// encoded file or request body is found by plain substring search. Empty secret: no forms.
pub fn tagged_forms(secret: &str) -> Vec<(&'static str, String)> {
    if secret.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(&'static str, String)> = Vec::new();
    // Percent-encoding leaves a secret of unreserved characters as it was: such forms are dropped as repeats.
    let mut add = |tag, form: String| {
        if !out.iter().any(|(_, f)| *f == form) {
            out.push((tag, form));
        }
    };
    let bytes = secret.as_bytes();
    add("verbatim", secret.to_owned());
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        add("base64", engine.encode(bytes));
    }
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for align in 0..3 {
            let core = base64_core(engine, bytes, align);
            if core.len() >= MIN_CORE {
                add("base64", core);
            }
        }
    }
    let hex = hex_lower(bytes);
    add("hex", hex.to_ascii_uppercase());
    add("hex", hex);
    add("url", percent_encode(bytes, true));
    add("url", percent_encode(bytes, false));
    // Every byte escaped: legal in a URL, and a cheap way past a verbatim match.
    add("url", bytes.iter().map(|b| format!("%{b:02X}")).collect());
    add("url", bytes.iter().map(|b| format!("%{b:02x}")).collect());
    out
}

/// The characters of base64(`align` unknown bytes ++ `bytes` ++ unknown bytes) fixed by `bytes` alone: those whose
/// six bits all come from `bytes`.
fn base64_core(engine: &impl Engine, bytes: &[u8], align: usize) -> String {
    let mut padded = vec![0u8; align];
    padded.extend_from_slice(bytes);
    let encoded = engine.encode(&padded);
    let start = (8 * align).div_ceil(6);
    let end = 8 * (align + bytes.len()) / 6;
    encoded.get(start..end).unwrap_or("").to_owned()
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(bytes: &[u8], upper: bool) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(b as char);
        } else if upper {
            s.push_str(&format!("%{b:02X}"));
        } else {
            s.push_str(&format!("%{b:02x}"));
        }
    }
    s
}
