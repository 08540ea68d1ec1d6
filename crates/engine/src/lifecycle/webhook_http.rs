//! The HTTP clients webhooks go out on. They follow no redirects and use no proxy (through
//! a proxy the address connected to would be the proxy's, and the check below would hold
//! nothing), and they resolve names through [`GuardedResolver`], which drops every address
//! the callback policy refuses. The check is thus made on the addresses the connection is
//! opened to, at the moment it is opened: a name that answered a harmless address before and
//! answers 127.0.0.1 now (DNS rebinding) is refused now. URLs with a literal address are not
//! resolved at all, so the sender checks those itself before sending.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::callback_target::{Refusal, TargetPolicy};
use crate::runtime::Runtime;

/// Resolves names with the system resolver (getaddrinfo, off the async threads).
#[derive(Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Every address a name resolved to was refused; carried as the connect error's cause so
/// the sender can tell a refusal (final) from a failure (retried).
#[derive(Debug, thiserror::Error)]
#[error("callback address refused: {0}")]
pub struct RefusedTarget(pub Refusal);

impl RefusedTarget {
    /// The refusal somewhere in `error`'s chain of causes, if it is one.
    pub fn find(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if let Some(refused) = e.downcast_ref::<RefusedTarget>() {
                return Some(refused.0);
            }
            cause = e.source();
        }
        None
    }
}

/// What the resolvers need to apply the policy: the bound listeners and the live config
/// (`webhooks.deny_private_networks` follows reloads).
#[derive(Clone)]
struct PolicySource {
    listeners: Arc<[SocketAddr]>,
    runtime: Arc<ArcSwap<Runtime>>,
}

impl PolicySource {
    fn deny_private(&self) -> bool {
        self.runtime.load().config.webhooks.deny_private_networks
    }
}

/// A resolver that keeps only the addresses the policy allows for connections to `port`.
///
/// A resolver is not told the port, yet whether an address is one of the gateway's own
/// listeners depends on it; so each client serves one port (see [`WebhookHttp`]). Port 0
/// stands for every port no listener is bound on (a bound listener never has port 0).
struct GuardedResolver {
    inner: Arc<dyn Resolve>,
    port: u16,
    policy: PolicySource,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.inner.resolve(name);
        let port = self.port;
        let source = self.policy.clone();
        Box::pin(async move {
            let found = lookup.await?;
            let policy = TargetPolicy::new(&source.listeners, source.deny_private());
            let (kept, refusal) = keep_allowed(&policy, port, found);
            match (kept.is_empty(), refusal) {
                (true, Some(refusal)) => Err(Box::new(RefusedTarget(refusal)) as _),
                _ => Ok(Box::new(kept.into_iter()) as Addrs),
            }
        })
    }
}

/// The allowed addresses, with port 0 so the URL's port is the one connected to (a
/// resolver's non-zero port would otherwise win over a URL without one), and the last
/// refusal seen.
fn keep_allowed(
    policy: &TargetPolicy<'_>,
    port: u16,
    found: Addrs,
) -> (Vec<SocketAddr>, Option<Refusal>) {
    let mut refusal = None;
    let kept = found
        .filter(|addr| match policy.check(addr.ip(), port) {
            Ok(()) => true,
            Err(r) => {
                refusal = Some(r);
                false
            }
        })
        .map(|addr| SocketAddr::new(addr.ip(), 0))
        .collect();
    (kept, refusal)
}

/// The webhook clients: one per port a gateway listener is bound on, and one for every
/// other port. Each pools its own connections.
pub struct WebhookHttp {
    policy: PolicySource,
    general: reqwest::Client,
    on_listener_ports: Vec<(u16, reqwest::Client)>,
}

impl WebhookHttp {
    /// `listeners`: the addresses actually bound. `resolver`: where names are looked up
    /// ([`SystemResolver`] in production; tests give their own).
    pub fn new(
        listeners: &[SocketAddr],
        runtime: Arc<ArcSwap<Runtime>>,
        resolver: Arc<dyn Resolve>,
    ) -> reqwest::Result<WebhookHttp> {
        let policy = PolicySource {
            listeners: listeners.into(),
            runtime,
        };
        let client = |port: u16| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("taskgate-webhooks/", env!("CARGO_PKG_VERSION")))
                .dns_resolver(Arc::new(GuardedResolver {
                    inner: resolver.clone(),
                    port,
                    policy: policy.clone(),
                }))
                .build()
        };
        let mut ports: Vec<u16> = listeners.iter().map(SocketAddr::port).collect();
        ports.sort_unstable();
        ports.dedup();
        let on_listener_ports = ports
            .into_iter()
            .map(|port| client(port).map(|c| (port, c)))
            .collect::<reqwest::Result<_>>()?;
        Ok(WebhookHttp {
            general: client(0)?,
            on_listener_ports,
            policy,
        })
    }

    /// The client for a URL whose port (explicit or the scheme's) is `port`.
    pub fn for_port(&self, port: u16) -> &reqwest::Client {
        self.on_listener_ports
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(&self.general, |(_, client)| client)
    }

    /// The addresses the gateway's listeners are bound on.
    pub fn listeners(&self) -> &[SocketAddr] {
        &self.policy.listeners
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Addrs {
        let parsed: Vec<SocketAddr> = list.iter().map(|a| a.parse().unwrap()).collect();
        Box::new(parsed.into_iter())
    }

    #[test]
    fn refused_addresses_are_dropped_and_allowed_ones_lose_their_port() {
        let listeners: Vec<SocketAddr> = vec!["127.0.0.1:9090".parse().unwrap()];
        let policy = TargetPolicy::new(&listeners, false);
        let (kept, refusal) = keep_allowed(
            &policy,
            9090,
            addrs(&[
                "169.254.169.254:0",
                "127.0.0.1:0",
                "10.0.0.7:443",
                "[::1]:0",
            ]),
        );
        let expected: Vec<SocketAddr> =
            vec!["10.0.0.7:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        assert_eq!(kept, expected);
        assert_eq!(refusal, Some(Refusal::OwnListener));
        let (kept, refusal) = keep_allowed(&policy, 0, addrs(&["127.0.0.1:0"]));
        assert_eq!(kept.len(), 1, "port 0 is no listener's");
        assert_eq!(refusal, None);
    }

    #[test]
    fn a_refusal_is_found_through_the_chain_of_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] RefusedTarget);
        let error = Outer(RefusedTarget(Refusal::LinkLocal));
        assert_eq!(RefusedTarget::find(&error), Some(Refusal::LinkLocal));
        assert_eq!(RefusedTarget::find(&std::fmt::Error), None);
    }
}
