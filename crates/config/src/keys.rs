//! Tenant keys: how they are made and hashed. The config holds only hashes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// SHA-256 of a bearer key, as compared against the config's key hashes.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// `sha256:<64 lowercase hex>`, the form the config file takes.
pub fn format_key_hash(hash: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(hash))
}

/// A new tenant key: `tg_` and 32 random bytes from the OS, base64url without padding.
pub fn new_tenant_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("tg_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Reads `sha256:` and exactly 64 hex digits (either case).
pub(crate) fn parse_key_hash(text: &str) -> Option<[u8; 32]> {
    let digits = text.strip_prefix("sha256:")?;
    let mut hash = [0u8; 32];
    if digits.len() != 64 {
        return None;
    }
    hex::decode_to_slice(digits, &mut hash).ok()?;
    Some(hash)
}

/// SHA-256 of any text, in hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_of_the_key() {
        assert_eq!(
            format_key_hash(&hash_key("abc")),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn formatted_hashes_parse_back_in_either_case() {
        let hash = hash_key("tg_example");
        let text = format_key_hash(&hash);
        assert_eq!(parse_key_hash(&text), Some(hash));
        let upper = format!("sha256:{}", hex::encode_upper(hash));
        assert_eq!(parse_key_hash(&upper), Some(hash));
    }

    #[test]
    fn malformed_hashes_are_refused() {
        let digits = "a".repeat(64);
        assert_eq!(parse_key_hash(&digits), None);
        assert_eq!(parse_key_hash(&format!("sha1:{digits}")), None);
        assert_eq!(parse_key_hash(&format!("sha256:{}", &digits[1..])), None);
        assert_eq!(parse_key_hash(&format!("sha256:{digits}a")), None);
        assert_eq!(parse_key_hash(&format!("sha256:{}g", &digits[1..])), None);
        assert_eq!(parse_key_hash(&format!("SHA256:{digits}")), None);
    }

    #[test]
    fn new_keys_are_distinct_and_well_formed() {
        let a = new_tenant_key();
        let b = new_tenant_key();
        assert_ne!(a, b);
        assert!(a.starts_with("tg_"));
        assert_eq!(a.len(), 3 + 43);
        assert!(a[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
