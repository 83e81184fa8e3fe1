//! Host normalisation and classification.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::DestClass;

/// Cloud metadata / credential endpoints (IPv4).
const METADATA_V4: &[Ipv4Addr] = &[
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OCI, OpenStack, DigitalOcean, ...
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task credentials
    Ipv4Addr::new(169, 254, 170, 23),  // AWS EKS Pod Identity agent
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure WireServer
];

/// Cloud metadata endpoints (IPv6).
const METADATA_V6: &[Ipv6Addr] = &[
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS IMDS over IPv6
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),  // AWS EKS Pod Identity agent
    Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254),  // GCE metadata server on IPv6 VMs
];

/// Names that resolve to a metadata endpoint. `metadata` alone works on GCE
/// through the `google.internal` search domain; `instance-data` on EC2.
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
];

/// Name suffixes that only resolve inside a private network.
const PRIVATE_SUFFIXES: &[&str] = &["local", "internal", "lan", "corp", "home.arpa"];

/// Public DNS names that resolve to 127.0.0.1 (used to dodge `localhost` checks).
const LOOPBACK_NAMES: &[&str] = &["localtest.me", "lvh.me", "vcap.me"];

/// Wildcard DNS services that answer with the IP spelled in the name
/// (`169.254.169.254.nip.io`, `app-10-0-0-1.sslip.io`, `7f000001.nip.io`):
/// the classic way to point an allowlisted-looking name at an internal IP.
const IP_ECHO_SUFFIXES: &[&str] = &["nip.io", "sslip.io", "xip.io", "traefik.me"];

/// A host, normalised and classified.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostInfo {
    pub host: String,
    pub class: DestClass,
    pub ip: Option<IpAddr>,
    pub obfuscated: bool,
}

/// Classify one host (name or IP in any notation). Text that is not a
/// plausible host at all classifies as `(Public, None, false)`.
pub fn classify_host(host: &str) -> (DestClass, Option<IpAddr>, bool) {
    match analyze_host(host) {
        Some(h) => (h.class, h.ip, h.obfuscated),
        None => (DestClass::Public, None, false),
    }
}

/// Normalise and classify; `None` when `raw` is not a plausible host
/// (template text like `<host>` or `$HOST`, empty, bad escapes).
pub(crate) fn analyze_host(raw: &str) -> Option<HostInfo> {
    let h = normalize(raw)?;
    // `%31%32%37.0.0.1` and fullwidth digits are as deliberate as `0x7f.1`.
    let encoded = !raw.is_ascii() || (raw.contains('%') && !raw.contains(':'));
    if h.contains(':') {
        let v6: Ipv6Addr = h.parse().ok()?;
        let (class, obfuscated) = classify_v6(&v6);
        return Some(HostInfo {
            host: v6.to_string(),
            class,
            ip: Some(IpAddr::V6(v6)),
            obfuscated,
        });
    }
    if let Some(v4) = parse_ipv4_loose(&h) {
        let obfuscated = encoded || !is_canonical_ipv4(&h);
        return Some(HostInfo {
            host: fmt_v4(v4),
            class: classify_v4(v4),
            ip: Some(IpAddr::V4(v4)),
            obfuscated,
        });
    }
    let (class, ip) = classify_name(&h);
    Some(HostInfo {
        host: h.into_owned(),
        class,
        obfuscated: ip.is_some(),
        ip,
    })
}

/// Normalise a host as a resolver or URL parser would see it: brackets and
/// IPv6 zone dropped, `%XX` escapes and fullwidth/ideographic forms decoded
/// (WHATWG URL parsers map `１２７。０。０。１` to `127.0.0.1`), lowercase,
/// trailing dots removed. `None` when the result is not host-shaped.
pub fn normalize_host(raw: &str) -> Option<String> {
    normalize(raw).map(Cow::into_owned)
}

/// [`normalize_host`] without copying hosts that are already normal, the
/// usual case on the hot path.
fn normalize(raw: &str) -> Option<Cow<'_, str>> {
    let b = raw.as_bytes();
    let plain = !b.is_empty()
        && b.len() <= 253
        && b.iter()
            .all(|&c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'))
        && b[0] != b'.'
        && b[b.len() - 1] != b'.'
        && b.iter().any(u8::is_ascii_alphanumeric);
    if plain {
        return Some(Cow::Borrowed(raw));
    }
    let raw = raw.trim();
    let (raw, bracketed) = match raw.strip_prefix('[') {
        Some(inner) => (inner.strip_suffix(']')?, true),
        None => (raw, false),
    };
    let mut h = if bracketed || raw.contains(':') {
        // IPv6: drop the zone (`fe80::1%eth0`, `%25eth0` in URLs).
        raw.split('%').next().unwrap_or("").to_string()
    } else if raw.contains('%') {
        percent_decode(raw)?
    } else {
        raw.to_string()
    };
    if !h.is_ascii() {
        h = h.chars().map(fold_fullwidth).collect();
    }
    if h.bytes().any(|b| b.is_ascii_uppercase()) || !h.is_ascii() {
        h = h.to_lowercase();
    }
    while h.ends_with('.') {
        h.pop();
    }
    if bracketed && !h.contains(':') {
        return None; // `[host]`, `[10.0.0.1]`: placeholders, not URL syntax
    }
    let mut alnum = false;
    for c in h.chars() {
        match c {
            'a'..='z' | '0'..='9' => alnum = true,
            '-' | '_' | '.' | ':' => {}
            c if !c.is_ascii() && !c.is_whitespace() && !c.is_control() => alnum = true,
            _ => return None,
        }
    }
    if !(alnum || h.contains(':')) || h.starts_with('.') || h.len() > 253 {
        return None;
    }
    Some(Cow::Owned(h))
}

fn fold_fullwidth(c: char) -> char {
    match c {
        '\u{3002}' | '\u{ff61}' => '.',
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        _ => c,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `inet_aton` semantics, which is what the C resolver (and so `curl`, `nc`,
/// `ssh`, `ping`, bash `/dev/tcp`) applies to a host before DNS: one to four
/// dot-separated numbers, each decimal, `0x` hex or `0` octal; the last one
/// fills the remaining bytes. `127.1` is 127.0.0.1, `2130706433` and
/// `0x7f000001` are too, `0177.0.0.1` is octal.
pub fn parse_ipv4_loose(s: &str) -> Option<Ipv4Addr> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let mut parts = [0u64; 4];
    let mut n = 0;
    // Byte-wise split: `str::split` costs more than the parse on inputs this short.
    for part in s.as_bytes().split(|&c| c == b'.') {
        if n == 4 {
            return None;
        }
        parts[n] = parse_inet_number(part)?;
        n += 1;
    }
    let (head, last) = (&parts[..n - 1], parts[n - 1]);
    if head.iter().any(|&p| p > 0xff) || last >= 1u64 << (8 * (5 - n)) {
        return None;
    }
    let mut v: u32 = 0;
    for (i, &p) in head.iter().enumerate() {
        v |= (p as u32) << (24 - 8 * i);
    }
    Some(Ipv4Addr::from(v | last as u32))
}

/// One `inet_aton` component. `0x` alone is 0, as in glibc and WHATWG.
fn parse_inet_number(b: &[u8]) -> Option<u64> {
    let (digits, radix) = match b {
        [b'0', b'x' | b'X', rest @ ..] => {
            if rest.is_empty() {
                return Some(0);
            }
            (rest, 16)
        }
        [b'0', rest @ ..] if !rest.is_empty() => (rest, 8),
        _ => (b, 10),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)?;
        v = v * radix as u64 + d as u64;
    }
    (v <= u32::MAX as u64).then_some(v)
}

/// `Ipv4Addr`'s `Display` goes through the padding-aware formatter, which
/// is several times slower than this on the hot path.
pub(crate) fn fmt_v4(ip: Ipv4Addr) -> String {
    let mut out = String::with_capacity(15);
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if o >= 100 {
            out.push((b'0' + o / 100) as char);
        }
        if o >= 10 {
            out.push((b'0' + o / 10 % 10) as char);
        }
        out.push((b'0' + o % 10) as char);
    }
    out
}

/// Four decimal octets without leading zeros: the only form that is not obfuscated.
pub(crate) fn is_canonical_ipv4(s: &str) -> bool {
    let mut n = 0;
    for part in s.as_bytes().split(|&c| c == b'.') {
        n += 1;
        let ok = match part {
            [b'0'] => true,
            [b'1'..=b'9', rest @ ..] if rest.len() <= 2 && rest.iter().all(u8::is_ascii_digit) => {
                part.iter().fold(0u32, |v, &c| v * 10 + (c - b'0') as u32) <= 255
            }
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    n == 4
}

/// Exactly four dot-separated components, each an octet in any `inet_aton`
/// radix. This is the shape accepted in free text, where a lone number or
/// `1.2.3` is far more often a count or a version than an address.
/// Returns the address and whether it is written canonically.
pub(crate) fn parse_ipv4_dotted4(s: &str) -> Option<(Ipv4Addr, bool)> {
    if s.bytes().filter(|&b| b == b'.').count() != 3 {
        return None;
    }
    let ip = parse_ipv4_loose(s)?;
    // The loose parser already bounds every part of a 4-part address to 0..=255.
    Some((ip, is_canonical_ipv4(s)))
}

pub(crate) fn classify_v4(ip: Ipv4Addr) -> DestClass {
    if METADATA_V4.contains(&ip) {
        return DestClass::Metadata;
    }
    let [a, b, ..] = ip.octets();
    match (a, b) {
        (127, _) => DestClass::Loopback,
        // All of 0/8, not just 0.0.0.0: Linux routes connects to 0.x to the local host.
        (0, _) => DestClass::Unspecified,
        (10, _) | (192, 168) => DestClass::Private,
        (172, b) if (16..32).contains(&b) => DestClass::Private,
        (100, b) if (64..128).contains(&b) => DestClass::Private,
        (169, 254) => DestClass::LinkLocal,
        _ => DestClass::Public,
    }
}

/// Returns the class and whether the address is IPv4 dressed as IPv6.
pub(crate) fn classify_v6(ip: &Ipv6Addr) -> (DestClass, bool) {
    if let Some(v4) = embedded_ipv4(ip) {
        return (classify_v4(v4), true);
    }
    if METADATA_V6.contains(ip) {
        return (DestClass::Metadata, false);
    }
    if ip.is_loopback() {
        return (DestClass::Loopback, false);
    }
    if ip.is_unspecified() {
        return (DestClass::Unspecified, false);
    }
    let s0 = ip.segments()[0];
    let class = if s0 & 0xfe00 == 0xfc00 || s0 & 0xffc0 == 0xfec0 {
        DestClass::Private // unique local fc00::/7, deprecated site-local fec0::/10
    } else if s0 & 0xffc0 == 0xfe80 {
        DestClass::LinkLocal
    } else {
        DestClass::Public
    };
    (class, false)
}

/// The IPv4 address an IPv6 address carries traffic to: IPv4-mapped
/// (`::ffff:a.b.c.d`), NAT64 well-known prefix (`64:ff9b::/96`) and the
/// deprecated IPv4-compatible form (`::a.b.c.d`, not `::` or `::1`).
pub fn embedded_ipv4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[..6] == [0; 6] && u32::from(tail) > 1 {
        return Some(tail);
    }
    None
}

/// Classify a DNS name (already normalised). Returns the IP the name is
/// known to denote without a lookup (IP-echo services), if any.
fn classify_name(h: &str) -> (DestClass, Option<IpAddr>) {
    if METADATA_NAMES.contains(&h) {
        return (DestClass::Metadata, None);
    }
    if has_suffix(h, "localhost") || LOOPBACK_NAMES.iter().any(|s| has_suffix(h, s)) {
        return (DestClass::Loopback, None);
    }
    for suffix in IP_ECHO_SUFFIXES {
        if h.len() > suffix.len() && has_suffix(h, suffix) {
            if let Some(ip) = echoed_ip(&h[..h.len() - suffix.len() - 1]) {
                return (classify_v4(ip), Some(IpAddr::V4(ip)));
            }
        }
    }
    if PRIVATE_SUFFIXES.iter().any(|s| has_suffix(h, s)) {
        return (DestClass::Private, None);
    }
    (DestClass::Public, None)
}

/// `h` is `suffix` or a subdomain of it.
pub(crate) fn has_suffix(h: &str, suffix: &str) -> bool {
    h.ends_with(suffix)
        && (h.len() == suffix.len() || h.as_bytes()[h.len() - suffix.len() - 1] == b'.')
}

/// The IP spelled in the labels before an IP-echo suffix:
/// `a.10.0.0.1`, `a-10-0-0-1`, `0a000001`.
fn echoed_ip(prefix: &str) -> Option<Ipv4Addr> {
    let labels: Vec<&str> = prefix.rsplit('.').take(4).collect();
    if labels.len() == 4
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()))
    {
        let dotted = format!("{}.{}.{}.{}", labels[3], labels[2], labels[1], labels[0]);
        return dotted.parse().ok();
    }
    let last = labels.first()?;
    let dashes: Vec<&str> = last.rsplit('-').take(4).collect();
    if dashes.len() == 4 {
        let dotted = format!("{}.{}.{}.{}", dashes[3], dashes[2], dashes[1], dashes[0]);
        if let Ok(ip) = dotted.parse() {
            return Some(ip);
        }
    }
    let hex = last.rsplit('-').next()?;
    if hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u32::from_str_radix(hex, 16).ok().map(Ipv4Addr::from);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use DestClass::*;

    fn v4(s: &str) -> Option<Ipv4Addr> {
        parse_ipv4_loose(s)
    }

    #[test]
    fn loose_ipv4_every_notation() {
        let lo = Some(Ipv4Addr::new(127, 0, 0, 1));
        for s in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F000001",
            "017700000001",
            "0177.0.0.1",
            "0177.0.0.01",
            "0x7f.0.0.1",
            "0x7f.0x0.0x0.0x1",
            "127.1",
            "127.0.1",
            "0x7f.1",
            "127.0x000001",
            "0177.1",
        ] {
            assert_eq!(v4(s), lo, "{s}");
        }
        assert_eq!(v4("0xa9fea9fe"), Some(Ipv4Addr::new(169, 254, 169, 254)));
        assert_eq!(v4("2852039166"), Some(Ipv4Addr::new(169, 254, 169, 254)));
        assert_eq!(v4("169.254.43518"), Some(Ipv4Addr::new(169, 254, 169, 254)));
        assert_eq!(v4("169.16689662"), Some(Ipv4Addr::new(169, 254, 169, 254)));
        assert_eq!(v4("0"), Some(Ipv4Addr::new(0, 0, 0, 0)));
        assert_eq!(v4("0x"), Some(Ipv4Addr::new(0, 0, 0, 0)));
        assert_eq!(v4("1.2.3"), Some(Ipv4Addr::new(1, 2, 0, 3)));
        assert_eq!(v4("4294967295"), Some(Ipv4Addr::new(255, 255, 255, 255)));
    }

    #[test]
    fn loose_ipv4_rejects() {
        for s in [
            "",
            ".",
            "1.",
            ".1",
            "1..2",
            "1.2.3.4.5",
            "256.0.0.1",
            "1.2.3.256",
            "1.256.65536",
            "1.16777216",
            "4294967296",
            "08",
            "0189.0.0.1",
            "0xg",
            "-1",
            "+1",
            "1 .2.3.4",
            "a.b.c.d",
            "example.com",
            "1e3",
            "0x1ffffffff",
            "99999999999999999999999",
        ] {
            assert_eq!(v4(s), None, "{s:?}");
        }
    }

    #[test]
    fn dotted_quad_formatting() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.100.255.9",
            "255.255.255.255",
            "99.100.101.0",
        ] {
            assert_eq!(fmt_v4(ip.parse().unwrap()), ip);
        }
    }

    #[test]
    fn canonical_form() {
        assert!(is_canonical_ipv4("127.0.0.1"));
        assert!(is_canonical_ipv4("0.0.0.0"));
        assert!(is_canonical_ipv4("255.255.255.255"));
        assert!(!is_canonical_ipv4("127.0.0.01"));
        assert!(!is_canonical_ipv4("127.1"));
        assert!(!is_canonical_ipv4("0x7f.0.0.1"));
        assert!(!is_canonical_ipv4("2130706433"));
    }

    #[test]
    fn classes_of_ipv4() {
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.255.1.2", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("172.15.0.1", Public),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("100.127.255.255", Private),
            ("100.128.0.1", Public),
            ("169.254.1.1", LinkLocal),
            ("169.254.169.254", Metadata),
            ("169.254.170.2", Metadata),
            ("100.100.100.200", Metadata),
            ("168.63.129.16", Metadata),
            ("0.0.0.0", Unspecified),
            ("0", Unspecified),
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
        ];
        for (h, want) in cases {
            assert_eq!(classify_host(h).0, want, "{h}");
        }
    }

    #[test]
    fn obfuscated_ipv4_classifies_by_address() {
        for h in [
            "0xa9fea9fe",
            "2852039166",
            "0251.0376.0251.0376",
            "169.254.43518",
            "0xA9.0xFE.0xA9.0xFE",
        ] {
            let (c, ip, obf) = classify_host(h);
            assert_eq!(c, Metadata, "{h}");
            assert_eq!(ip, Some(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))));
            assert!(obf, "{h}");
        }
        let (c, _, obf) = classify_host("127.1");
        assert_eq!((c, obf), (Loopback, true));
        let (c, _, obf) = classify_host("169.254.169.254");
        assert_eq!((c, obf), (Metadata, false));
    }

    #[test]
    fn classes_of_ipv6() {
        let cases = [
            ("::1", Loopback),
            ("[::1]", Loopback),
            ("::", Unspecified),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fe80::1", LinkLocal),
            ("[fe80::1%eth0]", LinkLocal),
            ("fd00:ec2::254", Metadata),
            ("[FD00:EC2::254]", Metadata),
            ("2001:4860:4860::8888", Public),
            ("::ffff:169.254.169.254", Metadata),
            ("::ffff:a9fe:a9fe", Metadata),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("64:ff9b::a9fe:a9fe", Metadata),
            ("::127.0.0.1", Loopback),
        ];
        for (h, want) in cases {
            assert_eq!(classify_host(h).0, want, "{h}");
        }
        assert!(classify_host("::ffff:169.254.169.254").2);
        assert!(!classify_host("::1").2);
    }

    #[test]
    fn classes_of_names() {
        let cases = [
            ("localhost", Loopback),
            ("LOCALHOST.", Loopback),
            ("foo.localhost", Loopback),
            ("app.lvh.me", Loopback),
            ("metadata.google.internal", Metadata),
            ("metadata.google.internal.", Metadata),
            ("Metadata.Google.Internal", Metadata),
            ("metadata.goog", Metadata),
            ("db.internal", Private),
            ("printer.local", Private),
            ("nas.lan", Private),
            ("git.corp", Private),
            ("router.home.arpa", Private),
            ("example.com", Public),
            ("attacker.com", Public),
            ("localhost.attacker.com", Public),
            ("notlocal", Public),
            ("internal.example.com", Public),
            ("myserver", Public),
        ];
        for (h, want) in cases {
            assert_eq!(classify_host(h).0, want, "{h}");
        }
    }

    #[test]
    fn ip_echo_names() {
        for h in [
            "169.254.169.254.nip.io",
            "x.169.254.169.254.sslip.io",
            "a-169-254-169-254.nip.io",
            "a9fea9fe.nip.io",
        ] {
            let (c, ip, obf) = classify_host(h);
            assert_eq!(c, Metadata, "{h}");
            assert_eq!(ip, Some(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))));
            assert!(obf);
        }
        assert_eq!(classify_host("10.0.0.1.nip.io").0, Private);
        assert_eq!(classify_host("nip.io").0, Public);
        assert_eq!(classify_host("www.nip.io").0, Public);
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize_host("Example.COM.").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            normalize_host("%31%32%37.0.0.1").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            normalize_host("１２７。０。０。１").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(normalize_host("[::1]").as_deref(), Some("::1"));
        assert_eq!(
            normalize_host("[fe80::1%25eth0]").as_deref(),
            Some("fe80::1")
        );
        assert_eq!(normalize_host("例子.测试").as_deref(), Some("例子.测试"));
        for bad in [
            "",
            ".",
            "[host]",
            "<host>",
            "$HOST",
            "${HOST}",
            "a b",
            "%zz",
            "*.example.com",
            "[10.0.0.1]",
        ] {
            assert_eq!(normalize_host(bad), None, "{bad:?}");
        }
        // Classification sees through the encodings.
        assert_eq!(classify_host("%31%36%39.254.169.254").0, Metadata);
        assert_eq!(classify_host("１６９。２５４。１６９。２５４").0, Metadata);
        assert_eq!(classify_host("<host>"), (Public, None, false));
    }

    #[test]
    fn as_str_names() {
        let all = [Loopback, Private, LinkLocal, Metadata, Unspecified, Public];
        let names: Vec<_> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "loopback",
                "private",
                "link_local",
                "metadata",
                "unspecified",
                "public"
            ]
        );
    }
}
