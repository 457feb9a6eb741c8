//! `@ipMatch`, `@ipMatchFromFile`: the value is an address inside one of the
//! listed addresses or CIDR networks (IPv4 and IPv6).

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

/// A parsed address list.
#[derive(Debug, Clone)]
pub struct IpList {
    nets: Vec<IpNet>,
}

impl IpList {
    /// From a comma- or space-separated list.
    pub fn parse(arg: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in arg.split([',', ' ', '\n', '\t']).map(str::trim) {
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let net = match item.parse::<IpNet>() {
                Ok(n) => n,
                Err(_) => IpNet::from(
                    item.parse::<IpAddr>()
                        .map_err(|_| format!("{item} is not an address or network"))?,
                ),
            };
            nets.push(net);
        }
        if nets.is_empty() {
            return Err("no addresses".into());
        }
        Ok(Self { nets })
    }

    /// From files, one entry per line.
    pub fn from_files(arg: &str, base_dir: &Path) -> Result<Self, String> {
        let mut all = String::new();
        for name in arg.split_ascii_whitespace() {
            let path = base_dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                all.push_str(line);
                all.push('\n');
            }
        }
        Self::parse(&all)
    }

    /// Whether the value (an address as text) is in the list.
    pub fn matches(&self, value: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(value) else {
            return false;
        };
        let Ok(ip) = text.trim().parse::<IpAddr>() else {
            return false;
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn matches_addresses_and_networks() {
        let list = IpList::parse("127.0.0.1,::1, 10.0.0.0/8").unwrap();
        assert!(list.matches(b"127.0.0.1"));
        assert!(list.matches(b"10.2.3.4"));
        assert!(list.matches(b"::1"));
        assert!(!list.matches(b"192.168.1.1"));
        assert!(!list.matches(b"not-an-ip"));
        assert!(IpList::parse("10.0.0.0/33").is_err());
    }
}
