//! `allowed_callback_hosts`: host names, IP addresses, or `*.domain` wildcards.

use std::net::Ipv6Addr;

use crate::problems::{self, Problems};

/// The list, lowercased; every bad entry is a problem at its index.
pub(crate) fn callback_hosts(
    raw: &[String],
    path: &str,
    problems: &mut Problems,
) -> Option<Vec<String>> {
    let before = problems.len();
    let hosts: Vec<String> = raw.iter().map(|h| h.to_ascii_lowercase()).collect();
    for (i, host) in hosts.iter().enumerate() {
        if !is_host_pattern(host) {
            problems.add(
                &problems::index(path, i),
                format!("'{host}' is not a host name, IP address or *.domain wildcard (no scheme, port or path)"),
            );
        }
    }
    (problems.len() == before).then_some(hosts)
}

fn is_host_pattern(text: &str) -> bool {
    if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    let name = text.strip_prefix("*.").unwrap_or(text);
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_label)
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_ips_and_wildcards() {
        for ok in [
            "hooks.example.com",
            "*.example.com",
            "localhost",
            "10.0.0.1",
            "[::1]",
        ] {
            assert!(is_host_pattern(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_urls_ports_and_odd_wildcards() {
        for bad in [
            "",
            "https://x.com",
            "x.com:443",
            "x.com/hook",
            "*",
            "*.",
            "a.*.com",
            "**.x.com",
            "-x.com",
            "x..com",
            "[zz]",
        ] {
            assert!(!is_host_pattern(bad), "{bad}");
        }
    }
}
