//! The egress allowlist.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::classify::{analyze_host, embedded_ipv4, has_suffix, normalize_host};
use crate::{Cidr, CidrError, DestClass, Destination};

/// Public package registries and code hosts a coding agent needs.
///
/// `raw.githubusercontent.com` and `gist.githubusercontent.com` are
/// deliberately absent: they serve arbitrary user content, the usual place a
/// fetched second stage lives.
pub const DEFAULT_ALLOW: &[&str] = &[
    "pypi.org",
    "upload.pypi.org",
    "test.pypi.org",
    "uploads.github.com",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "crates.io",
    "static.crates.io",
    "index.crates.io",
    "proxy.golang.org",
    "sum.golang.org",
    "rubygems.org",
    "repo.maven.apache.org",
    "repo1.maven.org",
    "conda.anaconda.org",
    "repo.anaconda.com",
    "deb.debian.org",
    "security.debian.org",
    "archive.ubuntu.com",
    "security.ubuntu.com",
    "dl-cdn.alpinelinux.org",
    "github.com",
    "*.github.com",
    "api.github.com",
    "codeload.github.com",
    "objects.githubusercontent.com",
    "gitlab.com",
    "bitbucket.org",
    "huggingface.co",
    "*.hf.co",
    "registry-1.docker.io",
    "docker.io",
    "ghcr.io",
    "quay.io",
    "pkg.go.dev",
    "nuget.org",
    "api.nuget.org",
    "packagist.org",
];

/// One side (allow or deny) of the list.
#[derive(Debug, Clone, Default)]
struct Matcher {
    /// Exact host names.
    hosts: HashSet<String>,
    /// `*.x` globs, stored as `x`: they match strict subdomains of `x` only.
    suffixes: Vec<String>,
    /// Addresses and networks; a bare IP is a full-length prefix.
    nets: Vec<Cidr>,
}

impl Matcher {
    fn add(&mut self, entry: &str) -> Result<(), String> {
        let bad = |why: &str| format!("egress entry {entry:?}: {why}");
        let e = entry.trim();
        if e.is_empty() {
            return Err(bad("empty"));
        }
        match Cidr::parse(e) {
            Ok(net) => {
                self.nets.push(net);
                return Ok(());
            }
            Err(CidrError::Address) if e.contains('/') => {
                return Err(bad("CIDR address is not an IP"))
            }
            Err(CidrError::PrefixLength) => return Err(bad("bad CIDR prefix length")),
            Err(CidrError::Address) => {} // a name or a glob
        }
        if let Some(base) = e.strip_prefix("*.") {
            let base = normalize_host(base)
                .filter(|h| is_name(h))
                .ok_or_else(|| bad("glob must be *.DOMAIN"))?;
            self.suffixes.push(base);
            return Ok(());
        }
        let host = normalize_host(e)
            .filter(|h| is_name(h))
            .ok_or_else(|| bad("not a host name, *.domain glob, IP or CIDR"))?;
        self.hosts.insert(host);
        Ok(())
    }

    /// Name entries match names (an IP-echo name like `10.0.0.1.nip.io` is
    /// both a name and an address); IP entries match addresses.
    fn matches(&self, host: &str, ip: Option<IpAddr>) -> bool {
        if ip.is_some_and(|ip| self.nets.iter().any(|net| net.contains(ip))) {
            return true;
        }
        let is_literal = ip.is_some() && host.parse::<IpAddr>().is_ok();
        !is_literal
            && (self.hosts.contains(host)
                || self
                    .suffixes
                    .iter()
                    .any(|s| host.len() > s.len() && has_suffix(host, s)))
    }
}

/// A name entry: no IPv6 colons, no leftover wildcards.
fn is_name(h: &str) -> bool {
    !h.contains(':') && !h.contains('*')
}

/// IPv4 carried in IPv6 matches IPv4 entries: `::ffff:10.0.0.1` is 10.0.0.1.
fn unwrap_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_ipv4(&v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Egress allowlist: exact hosts, `*.domain` globs (strict subdomains:
/// `*.github.com` does not match `github.com`), IPs and CIDRs.
///
/// Host entries match destinations written as names and IP/CIDR entries
/// match destinations written as addresses (in any notation); nothing is
/// resolved, so a name is never matched against a CIDR. The list says
/// nothing special about loopback or private destinations: callers that
/// only police traffic leaving the machine check [`Destination::class`]
/// first.
#[derive(Debug, Clone)]
pub struct Egress {
    allow: Matcher,
    deny: Matcher,
}

impl Default for Egress {
    /// [`DEFAULT_ALLOW`] and nothing else.
    fn default() -> Self {
        Egress::new(&[], &[], true).expect("DEFAULT_ALLOW entries are valid")
    }
}

impl Egress {
    /// `defaults`: include [`DEFAULT_ALLOW`]. Errors name the bad entry.
    pub fn new(allow: &[String], deny: &[String], defaults: bool) -> Result<Egress, String> {
        let mut e = Egress {
            allow: Matcher::default(),
            deny: Matcher::default(),
        };
        if defaults {
            for d in DEFAULT_ALLOW {
                e.allow.add(d)?;
            }
        }
        for a in allow {
            e.allow.add(a)?;
        }
        for d in deny {
            e.deny.add(d)?;
        }
        Ok(e)
    }

    /// Deny wins over allow; metadata-class destinations are never allowed,
    /// whatever the list says (they hand out cloud credentials).
    pub fn allows(&self, d: &Destination) -> bool {
        self.check(&d.host, d.ip, d.class)
    }

    /// [`Egress::allows`] for a host in any notation (name, IP, `[v6]`).
    pub fn allows_host(&self, host: &str) -> bool {
        match analyze_host(host) {
            Some(h) => self.check(&h.host, h.ip, h.class),
            None => false,
        }
    }

    fn check(&self, host: &str, ip: Option<IpAddr>, class: DestClass) -> bool {
        if class == DestClass::Metadata {
            return false;
        }
        let ip = ip.map(unwrap_ip);
        !self.deny.matches(host, ip) && self.allow.matches(host, ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn defaults() {
        let e = Egress::new(&[], &[], true).unwrap();
        for h in [
            "pypi.org",
            "PyPI.org.",
            "files.pythonhosted.org",
            "github.com",
            "api.github.com",
            "uploads.github.com",
            "cdn-lfs.hf.co",
            "crates.io",
        ] {
            assert!(e.allows_host(h), "{h}");
        }
        for h in [
            "raw.githubusercontent.com",
            "gist.githubusercontent.com",
            "evil.com",
            "hf.co",
            "pypi.org.evil.com",
            "evilgithub.com",
            "10.0.0.1",
            "localhost",
        ] {
            assert!(!e.allows_host(h), "{h}");
        }
        assert!(Egress::default().allows_host("registry.npmjs.org"));
        let none = Egress::new(&[], &[], false).unwrap();
        assert!(!none.allows_host("pypi.org"));
    }

    #[test]
    fn globs_match_strict_subdomains() {
        let e = Egress::new(&s(&["*.githubusercontent.com"]), &[], false).unwrap();
        assert!(e.allows_host("raw.githubusercontent.com"));
        assert!(e.allows_host("a.b.githubusercontent.com"));
        assert!(!e.allows_host("githubusercontent.com"));
        assert!(!e.allows_host("evilgithubusercontent.com"));
    }

    #[test]
    fn ips_and_cidrs() {
        let e = Egress::new(
            &s(&["10.0.0.0/8", "fd00::/8", "192.168.1.5", "[2001:db8::1]"]),
            &[],
            false,
        )
        .unwrap();
        assert!(e.allows_host("10.1.2.3"));
        assert!(e.allows_host("0xa010203")); // 10.1.2.3 in hex
        assert!(e.allows_host("::ffff:10.1.2.3"));
        assert!(e.allows_host("fd12::1"));
        assert!(e.allows_host("192.168.1.5"));
        assert!(e.allows_host("[2001:db8::1]"));
        assert!(!e.allows_host("192.168.1.6"));
        assert!(!e.allows_host("11.0.0.1"));
        assert!(!e.allows_host("fe80::1"));
        let all = Egress::new(&s(&["0.0.0.0/0", "::/0"]), &[], false).unwrap();
        assert!(all.allows_host("8.8.8.8"));
        assert!(all.allows_host("2001:4860::1"));
    }

    #[test]
    fn deny_wins() {
        let e = Egress::new(
            &s(&["*.example.com", "10.0.0.0/8"]),
            &s(&["bad.example.com", "10.66.0.0/16"]),
            false,
        )
        .unwrap();
        assert!(e.allows_host("good.example.com"));
        assert!(!e.allows_host("bad.example.com"));
        assert!(e.allows_host("10.1.1.1"));
        assert!(!e.allows_host("10.66.1.1"));
        let d = Egress::new(&[], &s(&["*.github.com"]), true).unwrap();
        assert!(!d.allows_host("api.github.com"));
        assert!(d.allows_host("github.com"));
    }

    #[test]
    fn metadata_never_allowed() {
        let e = Egress::new(
            &s(&[
                "169.254.0.0/16",
                "0.0.0.0/0",
                "metadata.google.internal",
                "*.internal",
                "fd00:ec2::/32",
                "*.nip.io",
            ]),
            &[],
            true,
        )
        .unwrap();
        for h in [
            "169.254.169.254",
            "0xa9fea9fe",
            "metadata.google.internal",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "169.254.169.254.nip.io",
        ] {
            assert!(!e.allows_host(h), "{h}");
        }
        assert!(e.allows_host("169.254.1.1"));
        for d in extract("curl http://2852039166/latest/meta-data/", false) {
            assert!(!e.allows(&d));
        }
    }

    #[test]
    fn allows_destinations_from_extract() {
        let e = Egress::default();
        let v = extract(
            "pip download https://files.pythonhosted.org/x.whl http://evil.example.com/y",
            false,
        );
        let verdicts: Vec<_> = v.iter().map(|d| (d.host.as_str(), e.allows(d))).collect();
        assert_eq!(
            verdicts,
            [
                ("files.pythonhosted.org", true),
                ("evil.example.com", false)
            ]
        );
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "",
            "*",
            "*.",
            "foo*.com",
            "10.0.0.0/33",
            "10.0.0.0/x",
            "not an ip/8",
            "a b",
            "http://pypi.org",
            "fd00::/129",
        ] {
            let err = Egress::new(&s(&[bad]), &[], false).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(Egress::new(&[], &s(&[bad]), false).is_err());
        }
    }
}
