//! Gateway API keys: clients send them as `Authorization: Bearer <key>` (what AWS SDKs do when
//! `AWS_BEARER_TOKEN_BEDROCK` is set) or `x-api-key`. Only SHA-256 hashes are stored, and lookups
//! compare against every entry in constant time, so neither the stored hashes nor response timing
//! reveal a key.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Principal;

/// Recognisable in logs and secret scanners without revealing anything.
pub const KEY_PREFIX: &str = "bgk_";

/// A new random key (256 bits from the OS generator).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{KEY_PREFIX}{}", hex(&bytes)))
}

/// Hex SHA-256 of a key, as stored in the configuration.
pub fn hash_hex(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a stored hash; `None` unless it is 64 hex digits.
pub fn parse_hash(hex_digest: &str) -> Option<[u8; 32]> {
    if hex_digest.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex_digest.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[derive(Debug, Default)]
pub struct ApiKeys {
    entries: Vec<([u8; 32], Arc<Principal>)>,
}

impl ApiKeys {
    pub fn insert(&mut self, hash: [u8; 32], principal: Arc<Principal>) {
        self.entries.push((hash, principal));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal whose key hashes to the presented key's hash. Every entry is compared, each in
    /// constant time, whatever matches.
    pub fn lookup(&self, presented: &str) -> Option<Arc<Principal>> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (hash, principal) in &self.entries {
            if constant_time_eq(hash, &digest) {
                found = Some(principal.clone());
            }
        }
        found
    }
}

/// Byte comparison whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: &str) -> Arc<Principal> {
        Arc::new(Principal::new(
            name,
            &format!("arn:aws:iam::123456789012:role/{name}"),
            crate::policy::Identity::Unrestricted,
        ))
    }

    #[test]
    fn generated_keys_are_distinct_and_verify_by_hash() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 64);
        let mut keys = ApiKeys::default();
        keys.insert(parse_hash(&hash_hex(&a)).unwrap(), principal("app-a"));
        keys.insert(parse_hash(&hash_hex(&b)).unwrap(), principal("app-b"));
        assert_eq!(keys.lookup(&a).unwrap().name(), "app-a");
        assert_eq!(keys.lookup(&b).unwrap().name(), "app-b");
        assert!(keys.lookup("bgk_wrong").is_none());
        assert!(keys.lookup("").is_none());
    }

    #[test]
    fn hashes_must_be_64_hex_digits() {
        assert!(parse_hash(&"ab".repeat(32)).is_some());
        assert!(parse_hash(&"ab".repeat(31)).is_none());
        assert!(parse_hash(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
