//! Protection against server-side request forgery: webhook targets that
//! resolve to loopback, private, link-local or otherwise non-public addresses
//! are refused unless the configuration allows them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public unicast address a webhook may be sent to.
///
/// Refused: unspecified, loopback, private (RFC 1918), shared address space
/// (100.64/10), link-local (169.254/16, fe80::/10), unique local (fc00::/7),
/// documentation and benchmarking ranges, multicast, broadcast, reserved
/// (240/4), and IPv6 forms embedding such an IPv4 address (mapped,
/// compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96).
    if (s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified())
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    // 6to4 embeds an IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        if !is_public_v4(Ipv4Addr::new(a, b, c, d)) {
            return false;
        }
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
}

/// Resolves `host` and returns its addresses, or the first refused address
/// when `allow_private` is false and any address is not public.
pub(crate) async fn resolve_checked(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveFailure> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| ResolveFailure::Lookup(e.to_string()))?
            .collect()
    };
    if addrs.is_empty() {
        return Err(ResolveFailure::Lookup("no addresses".to_owned()));
    }
    if let Some(bad) = addrs
        .iter()
        .find(|a| !allow_private && !is_public_ip(a.ip()))
    {
        return Err(ResolveFailure::NotPublic(bad.ip()));
    }
    Ok(addrs)
}

/// Why [`resolve_checked`] failed.
#[derive(Debug)]
pub(crate) enum ResolveFailure {
    /// DNS failed.
    Lookup(String),
    /// The name resolves to a non-public address.
    NotPublic(IpAddr),
}

/// A resolver for the HTTP client that drops non-public addresses, so a name
/// that changes its answer between the check and the connection (DNS
/// rebinding) still cannot reach an internal address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver to install, if any.
pub(crate) fn resolver(allow_private: bool) -> Option<Arc<PublicOnlyResolver>> {
    (!allow_private).then(|| Arc::new(PublicOnlyResolver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2001:db8::1",
            "ff02::1",
            "::127.0.0.1",
        ];
        for ip in refused {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip} must be refused");
        }
        let allowed = [
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ];
        for ip in allowed {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[tokio::test]
    async fn resolve_checked_refuses_loopback_names() {
        let err = resolve_checked("127.0.0.1", 80, false).await.unwrap_err();
        assert!(matches!(err, ResolveFailure::NotPublic(_)));
        let err = resolve_checked("[::1]", 80, false).await.unwrap_err();
        assert!(matches!(err, ResolveFailure::NotPublic(_)));
        let ok = resolve_checked("127.0.0.1", 80, true).await.unwrap();
        assert_eq!(ok, vec!["127.0.0.1:80".parse().unwrap()]);
    }
}
