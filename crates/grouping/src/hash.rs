//! The grouping key: SHA-256 over the contributing values.

use sha2::{Digest, Sha256};

use crate::component::Component;
use crate::config::ConfigId;

/// The number of hex characters of a key (128 bits of the SHA-256 digest).
pub const KEY_LEN: usize = 32;

/// Feeds (component name, value) pairs into SHA-256, each length-prefixed, so
/// that `["ab", "c"]` and `["a", "bc"]` (or a value moving from `type` to
/// `value`) never hash alike.
pub(crate) struct KeyHasher {
    inner: Sha256,
}

impl KeyHasher {
    /// A hasher for keys of `config`, started with its version tag (see
    /// [`ConfigId::key_tag`]: the configurations released before versioning
    /// share `periscope-grouping/1`, every later one has its own).
    pub(crate) fn new(config: ConfigId) -> Self {
        let mut inner = Sha256::new();
        inner.update(config.key_tag());
        Self { inner }
    }

    /// Adds one named value: a one-byte tag for the common component names
    /// (else the length-prefixed name), then the length-prefixed value.
    pub(crate) fn add(&mut self, name: &str, value: &str) {
        let tag: u8 = match name {
            "function" => 1,
            "module" => 2,
            "filename" => 3,
            "context-line" => 4,
            "type" => 5,
            "value" => 6,
            "message" => 7,
            "fingerprint" => 8,
            "fallback" => 9,
            _ => 0,
        };
        if tag == 0 {
            self.inner.update([0]);
            self.inner.update((name.len() as u64).to_le_bytes());
            self.inner.update(name.as_bytes());
        } else {
            self.inner.update([tag]);
        }
        self.inner.update((value.len() as u64).to_le_bytes());
        self.inner.update(value.as_bytes());
    }

    /// Adds every contributing value of a component tree.
    pub(crate) fn add_component(&mut self, component: &Component) {
        component.visit_contributing(&mut |name, value| self.add(name, value));
    }

    /// The key: the first [`KEY_LEN`] hex characters of the digest.
    pub(crate) fn finish(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = self.inner.finalize();
        let mut out = String::with_capacity(KEY_LEN);
        for b in digest.iter().take(KEY_LEN / 2) {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> String {
        key_in(ConfigId::Periscope2026_11, pairs)
    }

    fn key_in(config: ConfigId, pairs: &[(&str, &str)]) -> String {
        let mut h = KeyHasher::new(config);
        for (n, v) in pairs {
            h.add(n, v);
        }
        h.finish()
    }

    #[test]
    fn unambiguous_and_stable() {
        let k = key(&[("value", "ab"), ("value", "c")]);
        assert_eq!(k.len(), KEY_LEN);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(k, key(&[("value", "ab"), ("value", "c")]));
        assert_ne!(k, key(&[("value", "a"), ("value", "bc")]));
        assert_ne!(key(&[("type", "x")]), key(&[("value", "x")]));
        assert_ne!(key(&[("other", "x")]), key(&[("value", "x")]));
        assert_ne!(key(&[("other", "x")]), key(&[("another", "x")]));
    }

    /// Each common component name has its own one-byte tag, and the tags are
    /// part of every frozen key: these literals must never change.
    #[test]
    fn component_tags_are_pinned() {
        let keys: Vec<String> = [
            "function",
            "module",
            "filename",
            "context-line",
            "type",
            "value",
            "message",
            "fingerprint",
            "fallback",
            "other",
        ]
        .iter()
        .map(|name| key(&[(name, "x")]))
        .collect();
        assert_eq!(
            keys,
            [
                "8ac660374aec3897ee99f4450cd172c8",
                "99f3475bc115b9a24016701421951327",
                "d2b32e0bda5c165144c67d80af4e17b4",
                "0034156c2858bdea3f483cc9cb6e93e4",
                "f4030f4351f263a80a82d4d8d3890ed3",
                "d67101004dac4cf0eb4c5cd33d1cf4d9",
                "4057d6ba1da1b54a3ef78d338e4a1717",
                "1129f1ee20ab2a2f01d8f74d1c611372",
                "88ef4e4b9f52b0585b483db61938ec7a",
                "af926651bcc3a756dc8c9ca643be8df3",
            ]
        );
    }

    #[test]
    fn only_new_configurations_tag_their_keys() {
        let pairs = &[("message", "x")];
        assert_eq!(
            key_in(ConfigId::TypeAndValue2026_11, pairs),
            key_in(ConfigId::Periscope2026_11, pairs)
        );
        assert_ne!(
            key_in(ConfigId::Periscope2026_12, pairs),
            key_in(ConfigId::Periscope2026_11, pairs)
        );
    }
}
