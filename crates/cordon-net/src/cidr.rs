//! Addresses and networks as policies and host maps write them: one parser
//! and one membership test for the egress allowlist, the policy check and
//! `cordon correlate`'s hosts file.

use std::net::IpAddr;

/// `ADDR/LEN`, or a bare `ADDR` (the full-length network); the address may
/// be in brackets (`[::1]/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    len: u8,
}

/// What is wrong with a network entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrError {
    /// The part before `/` (or the whole entry) is not an IP address.
    Address,
    /// The prefix length is not a number, or longer than the address.
    PrefixLength,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| CidrError::Address)?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or(CidrError::PrefixLength)?,
            None => max,
        };
        Ok(Cidr { net, len })
    }

    /// Whether `ip` is in the network; an address of the other family never is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (ip, self.net) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(a) & mask == u32::from(n) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(n) & mask
            }
            _ => false,
        }
    }

    /// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4
    /// network it covers (`10.0.0.0/8`); any other network as it is.
    pub fn unmapped(self) -> Cidr {
        match self.net {
            IpAddr::V6(v6) if self.len >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Cidr {
                    net: IpAddr::V4(v4),
                    len: self.len - 96,
                },
                None => self,
            },
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_and_bare_addresses() {
        let c = Cidr::parse("10.88.0.0/16").unwrap();
        assert!(c.contains(ip("10.88.3.4")) && !c.contains(ip("10.89.0.1")));
        assert!(
            !c.contains(ip("::ffff:10.88.3.4")),
            "families are not mixed"
        );
        assert!(Cidr::parse("10.0.0.5").unwrap().contains(ip("10.0.0.5")));
        assert!(!Cidr::parse("10.0.0.5").unwrap().contains(ip("10.0.0.6")));
        assert!(Cidr::parse("[2001:db8::]/32")
            .unwrap()
            .contains(ip("2001:db8:1::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        assert_eq!(
            Cidr::parse("::ffff:10.0.0.0/104").unwrap().unmapped(),
            Cidr::parse("10.0.0.0/8").unwrap()
        );
        assert_eq!(
            Cidr::parse("2001:db8::/32").unwrap().unmapped(),
            Cidr::parse("2001:db8::/32").unwrap()
        );
    }

    #[test]
    fn refusals_say_which_part_is_wrong() {
        assert_eq!(Cidr::parse("10.0.0.0/33"), Err(CidrError::PrefixLength));
        assert_eq!(Cidr::parse("::/129"), Err(CidrError::PrefixLength));
        assert_eq!(Cidr::parse("10.0.0.0/x"), Err(CidrError::PrefixLength));
        assert_eq!(Cidr::parse("ten/8"), Err(CidrError::Address));
        assert_eq!(Cidr::parse("ten"), Err(CidrError::Address));
    }
}
