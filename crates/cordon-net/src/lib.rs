//! Network destinations for Cordon.
//!
//! Pure parsing and classification, no I/O: nothing here resolves a name or
//! opens a socket. Three parts:
//!
//! * [`classify_host`] / [`parse_ipv4_loose`]: what a host denotes
//!   (loopback, private, link-local, cloud metadata, unspecified, public),
//!   with IPv4 accepted in every notation the C resolver accepts, since that
//!   is what `curl`, `nc`, `ssh` and bash's `/dev/tcp` hand to `inet_aton`.
//! * [`extract`]: the destinations inside one command argument or code
//!   string. It runs on every argument of every command, so the common
//!   "nothing here" case returns after one byte scan, and there are no
//!   regexes.
//! * [`Egress`]: the allowlist of hosts, globs and CIDRs, with
//!   [`DEFAULT_ALLOW`] covering the registries a coding agent needs.
//!
//! ```
//! use cordon_net::{extract, DestClass, Egress};
//!
//! let d = &extract("curl -s http://0xa9fea9fe/latest/meta-data/", false)[0];
//! assert_eq!((d.host.as_str(), d.class, d.obfuscated_ip), ("169.254.169.254", DestClass::Metadata, true));
//! assert!(!Egress::default().allows(d));
//!
//! assert!(extract("os.path.join", false).is_empty());
//! assert_eq!(extract("attacker.com", true)[0].class, DestClass::Public);
//! ```

#![forbid(unsafe_code)]

mod cidr;
mod classify;
mod egress;
mod extract;

use std::net::IpAddr;

pub use cidr::{Cidr, CidrError};
pub use classify::{classify_host, embedded_ipv4, normalize_host, parse_ipv4_loose};
pub use egress::{Egress, DEFAULT_ALLOW};
pub use extract::extract;

/// What kind of network a destination is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestClass {
    /// 127/8, ::1, `localhost`, `*.localhost`.
    Loopback,
    /// RFC 1918, CGNAT 100.64/10, fc00::/7, and internal-only name suffixes.
    Private,
    /// 169.254/16 and fe80::/10, other than the metadata endpoints.
    LinkLocal,
    /// Cloud instance metadata / credential endpoints.
    Metadata,
    /// 0.0.0.0 (all of 0/8) and `::`: on Linux a connect to these reaches the local host.
    Unspecified,
    /// Everything else, including names we know nothing about.
    Public,
}

impl DestClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DestClass::Loopback => "loopback",
            DestClass::Private => "private",
            DestClass::LinkLocal => "link_local",
            DestClass::Metadata => "metadata",
            DestClass::Unspecified => "unspecified",
            DestClass::Public => "public",
        }
    }
}

impl std::fmt::Display for DestClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One network destination found in an argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// Normalised: lowercase, no brackets, no trailing dot, percent-escapes
    /// and fullwidth forms decoded; an IPv4 address in any notation is
    /// rendered as its canonical dotted quad, an IPv6 one in RFC 5952 form.
    pub host: String,
    /// The port written in the argument, if any (no scheme defaults).
    pub port: Option<u16>,
    /// Lowercase URL scheme (`http`, `stratum+tcp`, `ssh`, ...) when the destination came from a URL.
    pub scheme: Option<String>,
    /// The address the host denotes when it is an IP literal (as written:
    /// an IPv4-mapped IPv6 address stays IPv6; see [`Destination::effective_ip`]).
    pub ip: Option<IpAddr>,
    pub class: DestClass,
    /// The substring of the argument the destination came from.
    pub text: String,
    /// The address was written in a form meant to slip past string matching:
    /// IPv4 in decimal, hex, octal or short form, or IPv4 embedded in IPv6.
    pub obfuscated_ip: bool,
}

impl Destination {
    /// The IP to match CIDRs against: IPv4 embedded in IPv6 (mapped,
    /// NAT64, compatible) is unwrapped, since that is where packets go.
    pub fn effective_ip(&self) -> Option<IpAddr> {
        match self.ip? {
            IpAddr::V6(v6) => Some(embedded_ipv4(&v6).map(IpAddr::V4).unwrap_or(IpAddr::V6(v6))),
            v4 => Some(v4),
        }
    }
}
