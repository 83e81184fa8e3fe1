//! Who may be reached through the proxy, and what a name resolves to.
//! Classification and the allowlist are cordon-net's; this adds ports,
//! the static hosts map and the rule that internal addresses stay internal
//! even behind a public-looking name (DNS rebinding, `*.nip.io`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use cordon_core::Policy;
use cordon_net::{classify_host, normalize_host, DestClass, Egress};

/// Why a destination was refused; `code` is stable, for records and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

impl Refusal {
    fn new(code: &'static str, reason: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NetPolicy {
    /// Names, globs, IPs and CIDRs allowed (defaults + [egress] + [sandbox]).
    egress: Egress,
    /// Only the IP/CIDR allow entries: what lets an internal address through.
    explicit_addrs: Egress,
    /// Everything except the deny entries.
    not_denied: Egress,
    ports: Vec<u16>,
    hosts: HashMap<String, Vec<IpAddr>>,
    resolve_timeout: Duration,
}

fn is_addr_entry(e: &str) -> bool {
    let e = e.trim();
    e.contains('/')
        || e.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
}

impl NetPolicy {
    pub fn from_policy(p: &Policy) -> Result<NetPolicy, String> {
        let allow: Vec<String> = p
            .egress
            .allow
            .iter()
            .chain(&p.sandbox.allow)
            .cloned()
            .collect();
        let deny: Vec<String> = p
            .egress
            .deny
            .iter()
            .chain(&p.sandbox.deny)
            .cloned()
            .collect();
        let addrs: Vec<String> = allow.iter().filter(|e| is_addr_entry(e)).cloned().collect();
        let everything = vec!["0.0.0.0/0".to_string(), "::/0".to_string()];
        let hosts = p
            .sandbox
            .hosts
            .iter()
            .filter_map(|(name, a)| Some((normalize_host(name)?, a.addrs())))
            .collect();
        Ok(NetPolicy {
            egress: Egress::new(&allow, &deny, !p.egress.replace_defaults)?,
            explicit_addrs: Egress::new(&addrs, &deny, false)?,
            not_denied: Egress::new(&everything, &deny, false)?,
            ports: p.sandbox.ports.clone(),
            hosts,
            resolve_timeout: Duration::from_secs(5),
        })
    }

    /// The checks that need no resolution: port, name or literal address.
    /// Returns the normalised host and, for an IP literal, its address.
    pub fn precheck(&self, host: &str, port: u16) -> Result<(String, Option<IpAddr>), Refusal> {
        let Some(norm) = normalize_host(host) else {
            return Err(Refusal::new("bad_host", format!("{host:?} is not a host")));
        };
        let (class, ip, _) = classify_host(&norm);
        if class == DestClass::Metadata {
            return Err(Refusal::new("metadata", "cloud metadata endpoint"));
        }
        match ip {
            Some(ip) => self.check_addr(ip, true)?,
            None if !self.egress.allows_host(&norm) => {
                return Err(Refusal::new(
                    "not_allowed",
                    format!("{norm} is not in the egress allowlist"),
                ));
            }
            None => {}
        }
        // The destination first, then the port: "internal" says more than "port".
        if !self.ports.contains(&port) {
            return Err(Refusal::new(
                "port",
                format!("port {port} is not an allowed port"),
            ));
        }
        Ok((ip.map(|i| i.to_string()).unwrap_or(norm), ip))
    }

    /// An address the connection would go to. `literal`: the client named the
    /// address itself, so it must be allowed by an IP/CIDR entry; a resolved
    /// address of an allowed name only has to be public and not denied.
    pub fn check_addr(&self, ip: IpAddr, literal: bool) -> Result<(), Refusal> {
        let s = ip.to_string();
        let (class, _, _) = classify_host(&s);
        if class == DestClass::Metadata {
            return Err(Refusal::new(
                "metadata",
                format!("{s} is a cloud metadata endpoint"),
            ));
        }
        if !self.not_denied.allows_host(&s) {
            return Err(Refusal::new("denied", format!("{s} is denied by policy")));
        }
        if class != DestClass::Public {
            if !self.explicit_addrs.allows_host(&s) {
                return Err(Refusal::new(
                    "internal",
                    format!("{s} is a {class} address"),
                ));
            }
            return Ok(());
        }
        if literal && !self.egress.allows_host(&s) {
            return Err(Refusal::new(
                "not_allowed",
                format!("{s} is not in the egress allowlist"),
            ));
        }
        Ok(())
    }

    /// The static answer for a name, if the policy has one.
    pub fn static_addrs(&self, name: &str) -> Option<&[IpAddr]> {
        self.hosts.get(name).map(|v| v.as_slice())
    }

    /// Addresses for an allowed name: the static map, else the system
    /// resolver (in the supervisor's network), bounded in time. Every
    /// address is checked; refused ones are dropped, and when none is left
    /// the refusal of the first is returned.
    pub async fn resolve(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let addrs: Vec<IpAddr> = match self.static_addrs(name) {
            Some(a) => a.to_vec(),
            None => {
                let q = format!("{name}:{port}");
                match tokio::time::timeout(self.resolve_timeout, tokio::net::lookup_host(q)).await {
                    Ok(Ok(it)) => it.map(|sa| sa.ip()).collect(),
                    Ok(Err(e)) => {
                        return Err(Refusal::new(
                            "resolve",
                            format!("{name} does not resolve: {e}"),
                        ))
                    }
                    Err(_) => {
                        return Err(Refusal::new(
                            "resolve",
                            format!("resolving {name} timed out"),
                        ))
                    }
                }
            }
        };
        let mut first_refusal = None;
        let mut ok = Vec::new();
        for ip in addrs {
            match self.check_addr(ip, false) {
                Ok(()) => ok.push(SocketAddr::new(ip, port)),
                Err(r) => {
                    first_refusal.get_or_insert(Refusal::new(
                        r.code,
                        format!("{name} resolves to {}", r.reason),
                    ));
                }
            }
        }
        if ok.is_empty() {
            return Err(
                first_refusal.unwrap_or(Refusal::new("resolve", format!("{name} has no address")))
            );
        }
        Ok(ok)
    }

    /// DNS: may this name be answered at all (its addresses are checked after)?
    pub fn name_allowed(&self, name: &str) -> Result<String, Refusal> {
        let Some(norm) = normalize_host(name) else {
            return Err(Refusal::new("bad_host", format!("{name:?} is not a host")));
        };
        let (class, _, _) = classify_host(&norm);
        if class == DestClass::Metadata {
            return Err(Refusal::new("metadata", "cloud metadata name"));
        }
        if !self.egress.allows_host(&norm) {
            return Err(Refusal::new(
                "not_allowed",
                format!("{norm} is not in the egress allowlist"),
            ));
        }
        Ok(norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(src: &str) -> NetPolicy {
        NetPolicy::from_policy(&Policy::from_toml(src).unwrap()).unwrap()
    }

    #[test]
    fn defaults_allow_registries_and_refuse_the_rest() {
        let p = pol("");
        assert!(p.precheck("pypi.org", 443).is_ok());
        assert_eq!(p.precheck("pypi.org", 3333).unwrap_err().code, "port");
        assert_eq!(
            p.precheck("pool.minexmr.com", 443).unwrap_err().code,
            "not_allowed"
        );
        assert_eq!(
            p.precheck("169.254.169.254", 80).unwrap_err().code,
            "metadata"
        );
        assert_eq!(p.precheck("0xa9fea9fe", 80).unwrap_err().code, "metadata");
        assert_eq!(p.precheck("10.0.0.1", 443).unwrap_err().code, "internal");
        assert_eq!(p.precheck("127.0.0.1", 443).unwrap_err().code, "internal");
        assert_eq!(p.precheck("100.64.0.1", 443).unwrap_err().code, "internal");
        assert_eq!(
            p.precheck("203.0.113.5", 443).unwrap_err().code,
            "not_allowed"
        );
        // An allowed name that resolves inside is refused.
        assert_eq!(
            p.check_addr("192.168.1.1".parse().unwrap(), false)
                .unwrap_err()
                .code,
            "internal"
        );
        assert!(p.check_addr("140.82.112.3".parse().unwrap(), false).is_ok());
    }

    #[test]
    fn explicit_cidrs_let_internal_addresses_through_and_deny_wins() {
        let p = pol("[sandbox]\nallow = [\"10.231.0.0/16\", \"fake.test\"]\ndeny = [\"10.231.9.0/24\"]\nports = [8000]\n[sandbox.hosts]\n\"fake.test\" = \"10.231.1.2\"\n\"evil.test\" = \"10.0.0.1\"\n");
        assert!(p.precheck("10.231.1.2", 8000).is_ok());
        assert_eq!(p.precheck("10.231.9.1", 8000).unwrap_err().code, "denied");
        assert!(p.check_addr("10.231.1.2".parse().unwrap(), false).is_ok());
        assert_eq!(
            p.check_addr("10.0.0.1".parse().unwrap(), false)
                .unwrap_err()
                .code,
            "internal"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(p.resolve("fake.test", 8000)).unwrap(),
            vec!["10.231.1.2:8000".parse().unwrap()]
        );
        assert!(p.name_allowed("fake.test").is_ok());
        assert_eq!(p.name_allowed("evil.test").unwrap_err().code, "not_allowed");
    }
}
