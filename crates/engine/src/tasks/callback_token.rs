//! The unguessable path a provider calls back on: an HMAC of the task's identity under the
//! provider's own key, so it needs no storage and cannot be forged without that key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use taskgate_core::Secret;

/// The token for `tenant`'s task `task_id` at a provider whose key is `key`.
pub fn token(key: &Secret, tenant: &str, task_id: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()) else {
        return String::new();
    };
    mac.update(b"taskgate-callback\0");
    mac.update(tenant.as_bytes());
    mac.update(b"\0");
    mac.update(task_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the token, compared in constant time.
pub fn matches(key: &Secret, tenant: &str, task_id: &str, presented: &str) -> bool {
    let expected = token(key, tenant, task_id);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// The callback URL under the gateway's public address.
pub fn url(public_url: &url::Url, key: &Secret, tenant: &str, task_id: &str) -> String {
    format!(
        "{}/callbacks/{tenant}/{task_id}/{}",
        public_url.as_str().trim_end_matches('/'),
        token(key, tenant, task_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_bound_to_the_task() {
        let key = Secret::new("provider-key");
        let t = token(&key, "acme", "task_1");
        assert_eq!(t.len(), 64);
        assert!(matches(&key, "acme", "task_1", &t));
        assert!(!matches(&key, "acme", "task_2", &t));
        assert!(!matches(&key, "beta", "task_1", &t));
        assert!(!matches(&Secret::new("other"), "acme", "task_1", &t));
    }
}
