//! Which host each episode ran on, and which host a network record belongs to (`--hosts FILE`).
//!
//! ```toml
//! [[host]]
//! name = "gpu-node-1"                  # the lane in the timeline; also matched as a record host
//! agents = ["rome-*"]                  # episodes of these agents (globs: * and ?) ran here ...
//! sessions = ["train-17*"]             # ... and episodes with these session keys
//! names = ["gpu-node-1", "i-0abc*", "eni-0a1b2c3d"]   # hosts as the logs name them (syslog host, sensor, instance, ENI)
//! addresses = ["10.88.0.12", "10.88.1.0/24"]           # the sandbox's addresses (record src, or dst)
//! namespaces = ["cordon-ep-*"]                         # network namespaces records name as their host
//! ```

use std::net::IpAddr;

use serde::Deserialize;

/// How a record was tied to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMatch {
    /// The record's `host` is one of the host's names.
    Name,
    /// The record's `host` is one of the host's network namespaces.
    Namespace,
    /// The record's source address is the host's.
    SrcAddress,
    /// The record's destination address is the host's (inbound, or a reply).
    DstAddress,
    /// No mapping: everything is one host.
    Single,
}

impl HostMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            HostMatch::Name => "host name",
            HostMatch::Namespace => "namespace",
            HostMatch::SrcAddress => "source address",
            HostMatch::DstAddress => "destination address",
            HostMatch::Single => "single host",
        }
    }

    /// How much the tie alone is worth.
    pub fn weight(self) -> f64 {
        match self {
            HostMatch::Name | HostMatch::Namespace | HostMatch::SrcAddress => 1.0,
            HostMatch::DstAddress => 0.8,
            HostMatch::Single => 0.8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostToml {
    name: Option<String>,
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    host: Vec<HostToml>,
}

/// One host of the mapping.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub agents: Vec<String>,
    pub sessions: Vec<String>,
    pub names: Vec<String>,
    pub namespaces: Vec<String>,
    pub addresses: Vec<Cidr>,
}

/// An address or a network of the hosts file. IPv4 and IPv4-mapped IPv6
/// are one space here (`10.0.0.5` is `::ffff:10.0.0.5`), as sensors write either.
#[derive(Debug, Clone, Copy)]
pub struct Cidr(cordon_net::Cidr);

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        match cordon_net::Cidr::parse(s) {
            Ok(c) => Ok(Cidr(c.unmapped())),
            Err(cordon_net::CidrError::Address) => {
                Err(format!("{s:?} is not an address or network"))
            }
            Err(cordon_net::CidrError::PrefixLength) => Err(format!("{s:?}: bad prefix length")),
        }
    }

    /// `ip` as a record writes it (an IPv6 zone, `%eth0`, is ignored).
    pub fn contains(&self, ip: &str) -> bool {
        let bare = ip.split_once('%').map_or(ip, |(a, _)| a);
        let Ok(ip) = bare.parse::<IpAddr>() else {
            return false;
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        // An IPv6 network that spans the mapped block (`::/0`) holds IPv4 too.
        self.0.contains(ip)
            || matches!(ip, IpAddr::V4(v4) if self.0.contains(IpAddr::V6(v4.to_ipv6_mapped())))
    }
}

/// `*` any run, `?` any one character; case-sensitive.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The hosts file.
#[derive(Debug, Clone, Default)]
pub struct HostMap {
    pub hosts: Vec<Host>,
}

impl HostMap {
    /// Parse the TOML text; errors name the entry and the line where TOML says.
    pub fn parse(text: &str) -> Result<HostMap, String> {
        let file: FileToml = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut hosts = Vec::new();
        for (i, h) in file.host.into_iter().enumerate() {
            let name = h
                .name
                .clone()
                .or_else(|| h.names.first().cloned())
                .or_else(|| h.addresses.first().cloned())
                .or_else(|| h.namespaces.first().cloned())
                .ok_or_else(|| {
                    format!(
                        "[[host]] #{}: needs a name, names, addresses or namespaces",
                        i + 1
                    )
                })?;
            if h.agents.is_empty() && h.sessions.is_empty() {
                return Err(format!(
                    "[[host]] {name:?}: needs agents or sessions (which episodes ran there)"
                ));
            }
            let addresses = h
                .addresses
                .iter()
                .map(|a| Cidr::parse(a))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("[[host]] {name:?}: {e}"))?;
            let mut names = h.names;
            if let Some(n) = &h.name {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
            hosts.push(Host {
                name,
                agents: h.agents,
                sessions: h.sessions,
                names,
                namespaces: h.namespaces,
                addresses,
            });
        }
        if hosts.is_empty() {
            return Err("no [[host]] entries".into());
        }
        Ok(HostMap { hosts })
    }

    /// The host an episode ran on: the first entry whose agents or sessions match.
    pub fn episode_host(&self, session: &str, agent: Option<&str>) -> Option<usize> {
        self.hosts.iter().position(|h| {
            h.sessions.iter().any(|g| glob(g, session))
                || agent.is_some_and(|a| h.agents.iter().any(|g| glob(g, a)))
        })
    }

    /// The host a record belongs to, and how it was told.
    pub fn record_host(
        &self,
        host: Option<&str>,
        src: Option<&str>,
        dst: Option<&str>,
    ) -> Option<(usize, HostMatch)> {
        if let Some(name) = host {
            for (i, h) in self.hosts.iter().enumerate() {
                if h.names.iter().any(|g| glob(g, name)) {
                    return Some((i, HostMatch::Name));
                }
                if h.namespaces.iter().any(|g| glob(g, name)) {
                    return Some((i, HostMatch::Namespace));
                }
            }
        }
        if let Some(src) = src {
            if let Some(i) = self
                .hosts
                .iter()
                .position(|h| h.addresses.iter().any(|c| c.contains(src)))
            {
                return Some((i, HostMatch::SrcAddress));
            }
        }
        if let Some(dst) = dst {
            if let Some(i) = self
                .hosts
                .iter()
                .position(|h| h.addresses.iter().any(|c| c.contains(dst)))
            {
                return Some((i, HostMatch::DstAddress));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("rome-*", "rome-7"));
        assert!(glob("*", ""));
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("rome-*", "roma-7"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*-ep-*", "cordon-ep-17"));
    }

    #[test]
    fn networks() {
        let c = Cidr::parse("10.88.0.0/16").unwrap();
        assert!(c.contains("10.88.3.4") && !c.contains("10.89.0.1") && !c.contains("junk"));
        assert!(Cidr::parse("10.0.0.5").unwrap().contains("::ffff:10.0.0.5"));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8::1%eth0"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8"));
        assert!(
            Cidr::parse("10.0.0.0/33").is_err()
                && Cidr::parse("ten").is_err()
                && Cidr::parse("1.2.3.4/x").is_err()
        );
    }

    #[test]
    fn hosts_file() {
        let map = HostMap::parse(
            r#"
[[host]]
name = "gpu-1"
agents = ["rome-*"]
names = ["i-0abc*"]
addresses = ["10.88.0.0/24"]
namespaces = ["cordon-ep-*"]

[[host]]
sessions = ["eval-*"]
addresses = ["10.88.1.5"]
"#,
        )
        .unwrap();
        assert_eq!(map.hosts[1].name, "10.88.1.5");
        assert_eq!(map.episode_host("x", Some("rome-2")), Some(0));
        assert_eq!(map.episode_host("eval-3", Some("other")), Some(1));
        assert_eq!(map.episode_host("x", None), None);
        assert_eq!(
            map.record_host(Some("gpu-1"), None, None),
            Some((0, HostMatch::Name))
        );
        assert_eq!(
            map.record_host(Some("i-0abc123"), None, None),
            Some((0, HostMatch::Name))
        );
        assert_eq!(
            map.record_host(Some("cordon-ep-9"), None, None),
            Some((0, HostMatch::Namespace))
        );
        assert_eq!(
            map.record_host(Some("sensor"), Some("10.88.1.5"), None),
            Some((1, HostMatch::SrcAddress))
        );
        assert_eq!(
            map.record_host(None, Some("203.0.113.5"), Some("10.88.0.9")),
            Some((0, HostMatch::DstAddress))
        );
        assert_eq!(
            map.record_host(None, Some("203.0.113.5"), Some("8.8.8.8")),
            None
        );
        for bad in [
            "[[host]]\nagents=[\"a\"]\n",
            "[[host]]\nname=\"x\"\n",
            "[[host]]\nname=\"x\"\nagents=[\"a\"]\naddresses=[\"nope\"]\n",
            "[[host]]\nnmae=\"x\"\n",
            "",
        ] {
            assert!(HostMap::parse(bad).is_err(), "{bad}");
        }
    }
}
