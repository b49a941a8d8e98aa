//! The client's address, and allowlist entries (addresses and CIDRs).

use std::net::IpAddr;

use ipnet::IpNet;

/// The address a request comes from. `X-Forwarded-For` counts only when the peer is a
/// trusted proxy; then the right-most address that is not itself a trusted proxy wins.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let hops: Vec<IpAddr> = header
        .split(',')
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .map(canonical)
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or_else(|| hops.first())
        .copied()
        .unwrap_or(peer)
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses an allowlist entry: an address (a single host) or a CIDR block.
pub fn parse_allow_entry(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .map(|net| net.trunc())
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("1.2.3.4, 10.0.0.7"), &trusted),
            ip("1.2.3.4")
        );
        // A client cannot spoof by prepending: the right-most untrusted hop counts.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("9.9.9.9, 1.2.3.4"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage"), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.1.1.1"), None, &trusted),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn allow_entries() {
        assert_eq!(
            parse_allow_entry("10.1.2.3"),
            Some("10.1.2.3/32".parse().unwrap())
        );
        assert_eq!(
            parse_allow_entry("10.1.2.3/8"),
            Some("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(parse_allow_entry("::1"), Some("::1/128".parse().unwrap()));
        assert_eq!(parse_allow_entry("10.0.0.300"), None);
        assert_eq!(parse_allow_entry("example.com"), None);
    }
}
