//! Signed file URLs for `local` storage.
//!
//! The gateway serves local outputs at `/v1/files/{task_id}/{index}`; a browser or video
//! player cannot send the tenant's key, so the URL carries `expires` and `sig`, an
//! HMAC-SHA256 under a gateway secret over the tenant, the task, the index and `expires`.
//! Nothing about the file is trusted from the URL but what the signature covers.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Separates these signatures from any other use of the same secret.
const DOMAIN: &[u8] = b"taskgate/v1/files\n";

/// Why a signed file URL is refused: answered `403 forbidden` whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("the file URL has expired")]
    Expired,
    #[error("the file URL's signature is not valid")]
    BadSignature,
}

/// Signs and checks `/v1/files` URLs with the gateway's secret.
#[derive(Clone)]
pub struct FileUrlSigner {
    keyed: HmacSha256,
}

impl fmt::Debug for FileUrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileUrlSigner([redacted])")
    }
}

impl FileUrlSigner {
    /// Any length of secret works; use at least 32 random bytes.
    pub fn new(secret: &[u8]) -> FileUrlSigner {
        let keyed = match HmacSha256::new_from_slice(secret) {
            Ok(keyed) => keyed,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        FileUrlSigner { keyed }
    }

    /// The `sig` value (base64url, no padding) for this file until `expires` (unix seconds).
    pub fn sign(&self, tenant: &str, task_id: &str, index: u32, expires: u64) -> String {
        URL_SAFE_NO_PAD.encode(
            self.mac(tenant, task_id, index, expires)
                .finalize()
                .into_bytes(),
        )
    }

    /// `/v1/files/{task_id}/{index}?expires=..&sig=..`: path and query, for the caller to put
    /// behind its public base URL. `task_id` is a checked id (see [`crate::OutputId`]), so it
    /// needs no escaping.
    pub fn path_and_query(&self, tenant: &str, task_id: &str, index: u32, expires: u64) -> String {
        let sig = self.sign(tenant, task_id, index, expires);
        format!("/v1/files/{task_id}/{index}?expires={expires}&sig={sig}")
    }

    /// Accepts the URL's `expires` and `sig` for this file at `now` (unix seconds): the
    /// signature must match (compared in constant time) and `now` must not be past `expires`.
    pub fn verify(
        &self,
        tenant: &str,
        task_id: &str,
        index: u32,
        expires: u64,
        sig: &str,
        now: u64,
    ) -> Result<(), Forbidden> {
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| Forbidden::BadSignature)?;
        self.mac(tenant, task_id, index, expires)
            .verify_slice(&sig)
            .map_err(|_| Forbidden::BadSignature)?;
        // Checked after the signature, so an expired answer says the URL was genuine.
        if now > expires {
            return Err(Forbidden::Expired);
        }
        Ok(())
    }

    fn mac(&self, tenant: &str, task_id: &str, index: u32, expires: u64) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(DOMAIN);
        // Length-prefixed, so no two (tenant, task) pairs share a message.
        for field in [tenant, task_id] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.update(&index.to_be_bytes());
        mac.update(&expires.to_be_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_590_000;
    const EXPIRES: u64 = NOW + 3600;

    fn signer() -> FileUrlSigner {
        FileUrlSigner::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_signed_url_verifies_until_it_expires() {
        let sig = signer().sign("acme", "task_1", 0, EXPIRES);
        assert_eq!(
            signer().verify("acme", "task_1", 0, EXPIRES, &sig, NOW),
            Ok(())
        );
        assert_eq!(
            signer().verify("acme", "task_1", 0, EXPIRES, &sig, EXPIRES),
            Ok(())
        );
    }

    #[test]
    fn an_expired_url_is_forbidden() {
        let sig = signer().sign("acme", "task_1", 0, EXPIRES);
        assert_eq!(
            signer().verify("acme", "task_1", 0, EXPIRES, &sig, EXPIRES + 1),
            Err(Forbidden::Expired)
        );
    }

    #[test]
    fn changing_any_signed_field_is_forbidden() {
        let sig = signer().sign("acme", "task_1", 0, EXPIRES);
        let bad = Err(Forbidden::BadSignature);
        assert_eq!(
            signer().verify("acme", "task_1", 1, EXPIRES, &sig, NOW),
            bad,
            "index"
        );
        assert_eq!(
            signer().verify("acme", "task_2", 0, EXPIRES, &sig, NOW),
            bad,
            "task"
        );
        assert_eq!(
            signer().verify("other", "task_1", 0, EXPIRES, &sig, NOW),
            bad,
            "tenant"
        );
        assert_eq!(
            signer().verify("acme", "task_1", 0, EXPIRES + 1, &sig, NOW),
            bad,
            "expires"
        );
        // Moving characters between tenant and task id changes the message too.
        let shifted = signer().sign("acm", "etask_1", 0, EXPIRES);
        assert_ne!(shifted, sig);
    }

    #[test]
    fn a_tampered_or_malformed_signature_is_forbidden() {
        let sig = signer().sign("acme", "task_1", 0, EXPIRES);
        let mut tampered = sig.clone().into_bytes();
        tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let bad = Err(Forbidden::BadSignature);
        for sig in [tampered.as_str(), "", "not base64!", &sig[..sig.len() - 2]] {
            assert_eq!(
                signer().verify("acme", "task_1", 0, EXPIRES, sig, NOW),
                bad,
                "{sig:?}"
            );
        }
    }

    #[test]
    fn another_secret_is_forbidden() {
        let sig = FileUrlSigner::new(b"another secret").sign("acme", "task_1", 0, EXPIRES);
        assert_eq!(
            signer().verify("acme", "task_1", 0, EXPIRES, &sig, NOW),
            Err(Forbidden::BadSignature)
        );
    }

    #[test]
    fn path_and_query_carries_expires_and_sig() {
        let url = signer().path_and_query("acme", "task_1", 2, EXPIRES);
        let sig = signer().sign("acme", "task_1", 2, EXPIRES);
        assert_eq!(
            url,
            format!("/v1/files/task_1/2?expires={EXPIRES}&sig={sig}")
        );
        assert!(!format!("{:?}", signer()).contains("0123456789"));
    }
}
