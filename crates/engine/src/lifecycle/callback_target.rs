//! Where a webhook may be sent: the address policy for `callback_url`, applied at create to
//! literal addresses (and `localhost`) and at delivery to every address actually connected
//! to (see `webhook_http`).
//!
//! Always refused: the gateway's own listeners, link-local and cloud metadata addresses,
//! unspecified addresses, multicast and broadcast, in every spelling that reaches them
//! (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`).
//! With `webhooks.deny_private_networks`, also private and other non-public ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Why an address may not receive webhooks. The text is safe for clients and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it is one of the gateway's own listeners")]
    OwnListener,
    #[error("it is a link-local or cloud metadata address")]
    LinkLocal,
    #[error("it is an unspecified address")]
    Unspecified,
    #[error("it is a multicast or broadcast address")]
    Multicast,
    #[error("it is a private or non-public address (webhooks.deny_private_networks)")]
    NonPublic,
}

impl Refusal {
    /// A low-cardinality word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::OwnListener => "own_listener",
            Refusal::LinkLocal => "link_local",
            Refusal::Unspecified => "unspecified",
            Refusal::Multicast => "multicast",
            Refusal::NonPublic => "non_public",
        }
    }
}

/// The policy for one check: the gateway's bound listeners and the private-range switch.
#[derive(Debug, Clone, Copy)]
pub struct TargetPolicy<'a> {
    listeners: &'a [SocketAddr],
    deny_private: bool,
}

/// Metadata services outside 169.254.0.0/16 and fe80::/10 (AWS's IPv6 IMDS, Alibaba's,
/// Azure's wire server): refused like link-local, whatever `deny_private_networks` says.
const METADATA_V4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

impl<'a> TargetPolicy<'a> {
    /// `listeners` are the addresses the gateway actually bound (port 0 resolved).
    pub fn new(listeners: &'a [SocketAddr], deny_private: bool) -> TargetPolicy<'a> {
        TargetPolicy {
            listeners,
            deny_private,
        }
    }

    /// Whether a connection to `ip`:`port` may carry a webhook.
    pub fn check(&self, ip: IpAddr, port: u16) -> Result<(), Refusal> {
        let ip = canonical(ip);
        match range(ip) {
            Range::Unspecified => return Err(Refusal::Unspecified),
            Range::Multicast => return Err(Refusal::Multicast),
            Range::LinkLocal => return Err(Refusal::LinkLocal),
            Range::NonPublic | Range::Public => {}
        }
        if self.is_own_listener(ip, port) {
            return Err(Refusal::OwnListener);
        }
        if self.deny_private && range(ip) == Range::NonPublic {
            return Err(Refusal::NonPublic);
        }
        Ok(())
    }

    /// The check of a URL before any DNS: its literal address, or both loopback addresses
    /// for `localhost`. Other names pass here; their addresses are checked when resolved.
    /// The url crate has already normalized the host as the HTTP client will read it
    /// (`2852039166`, `0xA9FEA9FE` and `0251.254.169.254` are all 169.254.169.254).
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        let port = url.port_or_known_default().unwrap_or(0);
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check(ip.into(), port),
            Some(Host::Ipv6(ip)) => self.check(ip.into(), port),
            Some(Host::Domain(name)) if is_localhost(name) => {
                self.check(Ipv4Addr::LOCALHOST.into(), port)?;
                self.check(Ipv6Addr::LOCALHOST.into(), port)
            }
            Some(Host::Domain(_)) | None => Ok(()),
        }
    }

    fn is_own_listener(&self, ip: IpAddr, port: u16) -> bool {
        self.listeners.iter().any(|listener| {
            listener.port() == port
                && (canonical(listener.ip()) == ip
                    || (listener.ip().is_unspecified() && is_local(ip)))
        })
    }
}

/// `localhost` and its subdomains name loopback (RFC 6761), with or without a final dot.
fn is_localhost(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether `ip` is an address of this machine, so a listener bound on 0.0.0.0 or `::`
/// answers there. Asking the kernel to bind it answers exactly that, for the interfaces
/// as they are now (they change at runtime), without a list to keep fresh; loopback is
/// always local. Where non-local binds are allowed (`ip_nonlocal_bind`) every address
/// looks local, which refuses more, never less.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// An IPv6 address that carries an IPv4 one is judged as that IPv4 address: the mapped
/// form reaches it through a dual-stack socket, the NAT64 prefix through a translator, and
/// the deprecated compatible form is refused or allowed with it rather than guessed at.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    // `::` and `::1` are IPv6's own unspecified and loopback, not IPv4-compatible.
    let compatible = s[..6] == [0; 6] && u32::from(low) > 1;
    (nat64 || compatible).then_some(low)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    Unspecified,
    Multicast,
    LinkLocal,
    NonPublic,
    Public,
}

fn range(ip: IpAddr) -> Range {
    match ip {
        IpAddr::V4(v4) => range_v4(v4),
        IpAddr::V6(v6) => range_v6(v6),
    }
}

fn range_v4(ip: Ipv4Addr) -> Range {
    if ip.octets()[0] == 0 {
        // 0.0.0.0/8, "this network": Linux connects 0.0.0.0 to the local host.
        Range::Unspecified
    } else if ip.is_multicast() || ip.is_broadcast() {
        Range::Multicast
    } else if ip.is_link_local() || METADATA_V4.contains(&ip) {
        Range::LinkLocal
    } else if non_public_v4(ip) {
        Range::NonPublic
    } else {
        Range::Public
    }
}

/// Private (10/8, 172.16/12, 192.168/16), loopback (127/8), shared address space
/// (100.64/10), IETF protocol assignments (192.0.0/24), documentation, benchmarking
/// (198.18/15) and reserved (240/4).
fn non_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || ip.is_documentation()
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240
}

fn range_v6(ip: Ipv6Addr) -> Range {
    if ip.is_unspecified() {
        Range::Unspecified
    } else if ip.is_multicast() {
        Range::Multicast
    } else if (ip.segments()[0] & 0xffc0) == 0xfe80 || METADATA_V6.contains(&ip) {
        Range::LinkLocal
    } else if non_public_v6(ip) {
        Range::NonPublic
    } else {
        Range::Public
    }
}

/// Loopback (::1), unique local (fc00::/7), site-local (fec0::/10, deprecated),
/// documentation (2001:db8::/32), discard-only (100::/64) and local-use NAT64
/// (64:ff9b:1::/48).
fn non_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[..4] == [0x100, 0, 0, 0]
        || s[..3] == [0x64, 0xff9b, 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "127.0.0.1:8080";
    const ADMIN: &str = "127.0.0.1:9090";

    fn listeners() -> Vec<SocketAddr> {
        vec![TENANT.parse().unwrap(), ADMIN.parse().unwrap()]
    }

    fn verdict(addr: &str, deny_private: bool) -> Verdict {
        let listeners = listeners();
        let policy = TargetPolicy::new(&listeners, deny_private);
        let addr: SocketAddr = addr.parse().unwrap();
        policy.check(addr.ip(), addr.port())
    }

    type Verdict = Result<(), Refusal>;

    /// (address, by default, with deny_private_networks)
    const TABLE: &[(&str, Verdict, Verdict)] = {
        use Refusal::*;
        &[
            ("93.184.215.14:443", Ok(()), Ok(())),
            ("[2606:4700::1111]:443", Ok(()), Ok(())),
            ("169.254.169.254:80", Err(LinkLocal), Err(LinkLocal)),
            ("169.254.0.1:8080", Err(LinkLocal), Err(LinkLocal)),
            (
                "[::ffff:169.254.169.254]:80",
                Err(LinkLocal),
                Err(LinkLocal),
            ),
            ("[::169.254.169.254]:80", Err(LinkLocal), Err(LinkLocal)),
            ("[64:ff9b::a9fe:a9fe]:80", Err(LinkLocal), Err(LinkLocal)),
            ("[fe80::1]:80", Err(LinkLocal), Err(LinkLocal)),
            ("[febf:ffff::1]:80", Err(LinkLocal), Err(LinkLocal)),
            ("[fd00:ec2::254]:80", Err(LinkLocal), Err(LinkLocal)),
            ("100.100.100.200:80", Err(LinkLocal), Err(LinkLocal)),
            ("168.63.129.16:80", Err(LinkLocal), Err(LinkLocal)),
            ("0.0.0.0:9", Err(Unspecified), Err(Unspecified)),
            ("0.1.2.3:80", Err(Unspecified), Err(Unspecified)),
            ("[::]:80", Err(Unspecified), Err(Unspecified)),
            ("[::ffff:0.0.0.0]:80", Err(Unspecified), Err(Unspecified)),
            ("224.0.0.1:80", Err(Multicast), Err(Multicast)),
            ("239.255.255.250:1900", Err(Multicast), Err(Multicast)),
            ("255.255.255.255:80", Err(Multicast), Err(Multicast)),
            ("[ff02::1]:80", Err(Multicast), Err(Multicast)),
            ("[::ffff:224.0.0.1]:80", Err(Multicast), Err(Multicast)),
            // The gateway's own listeners, in each spelling that reaches them.
            ("127.0.0.1:9090", Err(OwnListener), Err(OwnListener)),
            ("127.0.0.1:8080", Err(OwnListener), Err(OwnListener)),
            (
                "[::ffff:127.0.0.1]:9090",
                Err(OwnListener),
                Err(OwnListener),
            ),
            // Loopback elsewhere is a private address: allowed unless denied.
            ("127.0.0.1:9091", Ok(()), Err(NonPublic)),
            ("127.0.0.2:9090", Ok(()), Err(NonPublic)),
            ("[::1]:9090", Ok(()), Err(NonPublic)),
            ("10.1.2.3:80", Ok(()), Err(NonPublic)),
            ("172.16.0.1:80", Ok(()), Err(NonPublic)),
            ("172.31.255.255:80", Ok(()), Err(NonPublic)),
            ("172.32.0.1:80", Ok(()), Ok(())),
            ("192.168.1.1:80", Ok(()), Err(NonPublic)),
            ("100.64.0.1:80", Ok(()), Err(NonPublic)),
            ("100.128.0.1:80", Ok(()), Ok(())),
            ("192.0.0.8:80", Ok(()), Err(NonPublic)),
            ("192.0.2.1:80", Ok(()), Err(NonPublic)),
            ("198.18.0.1:80", Ok(()), Err(NonPublic)),
            ("240.0.0.1:80", Ok(()), Err(NonPublic)),
            ("[fc00::1]:80", Ok(()), Err(NonPublic)),
            ("[fd12:3456::1]:80", Ok(()), Err(NonPublic)),
            ("[fec0::1]:80", Ok(()), Err(NonPublic)),
            ("[2001:db8::1]:80", Ok(()), Err(NonPublic)),
            ("[::ffff:10.0.0.1]:80", Ok(()), Err(NonPublic)),
            ("[64:ff9b::10.0.0.1]:80", Ok(()), Err(NonPublic)),
            ("[64:ff9b::93.184.215.14]:80", Ok(()), Ok(())),
            ("[64:ff9b:1::1]:80", Ok(()), Err(NonPublic)),
        ]
    };

    #[test]
    fn address_table() {
        for (addr, by_default, denying_private) in TABLE {
            assert_eq!(verdict(addr, false), *by_default, "{addr} by default");
            assert_eq!(
                verdict(addr, true),
                *denying_private,
                "{addr} with deny_private_networks"
            );
        }
    }

    #[test]
    fn a_wildcard_listener_is_every_local_address_on_its_port() {
        let listeners: Vec<SocketAddr> = vec!["0.0.0.0:7000".parse().unwrap()];
        let policy = TargetPolicy::new(&listeners, false);
        for ip in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(
                policy.check(ip.parse().unwrap(), 7000),
                Err(Refusal::OwnListener),
                "{ip}"
            );
        }
        assert_eq!(policy.check("127.0.0.1".parse().unwrap(), 7001), Ok(()));
        // TEST-NET-2 is never assigned to a host, so it is not local.
        assert_eq!(policy.check("198.51.100.7".parse().unwrap(), 7000), Ok(()));
    }

    fn url_verdict(text: &str) -> Verdict {
        let listeners = listeners();
        let url = Url::parse(text).unwrap();
        TargetPolicy::new(&listeners, false).check_url(&url)
    }

    #[test]
    fn urls_are_judged_by_the_address_the_client_will_use() {
        use Refusal::*;
        let table: &[(&str, Verdict)] = &[
            (
                "http://169.254.169.254/latest/meta-data/iam",
                Err(LinkLocal),
            ),
            ("http://[::ffff:169.254.169.254]/x", Err(LinkLocal)),
            ("http://0.0.0.0:9/x", Err(Unspecified)),
            ("http://127.0.0.1:9090/admin", Err(OwnListener)),
            ("http://2852039166/", Err(LinkLocal)),
            ("http://0xA9FEA9FE/", Err(LinkLocal)),
            ("http://0251.0376.0251.0376/", Err(LinkLocal)),
            ("http://169.254.43518/", Err(LinkLocal)),
            ("http://0/", Err(Unspecified)),
            ("http://[::]/", Err(Unspecified)),
            ("http://localhost:9090/x", Err(OwnListener)),
            ("http://LocalHost.:8080/x", Err(OwnListener)),
            ("http://hooks.localhost:9090/x", Err(OwnListener)),
            ("http://localhost:9091/x", Ok(())),
            // The default port is the one checked.
            ("http://127.0.0.1/x", Ok(())),
            ("https://hooks.example.com:9090/x", Ok(())),
            ("http://notlocalhost:9090/x", Ok(())),
        ];
        for (url, expected) in table {
            assert_eq!(url_verdict(url), *expected, "{url}");
        }
    }

    #[test]
    fn zone_ids_do_not_parse_so_they_cannot_slip_through() {
        assert!(Url::parse("http://[fe80::1%25eth0]/x").is_err());
        assert!(Url::parse("http://[fe80::1%eth0]/x").is_err());
    }
}
