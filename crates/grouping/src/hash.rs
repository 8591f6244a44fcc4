//! The grouping key: SHA-256 over the contributing values.

use sha2::{Digest, Sha256};

use crate::component::Component;

/// The number of hex characters of a key (128 bits of the SHA-256 digest).
pub const KEY_LEN: usize = 32;

/// Feeds (component name, value) pairs into SHA-256, each length-prefixed, so
/// that `["ab", "c"]` and `["a", "bc"]` (or a value moving from `type` to
/// `value`) never hash alike.
#[derive(Default)]
pub(crate) struct KeyHasher {
    inner: Sha256,
}

impl KeyHasher {
    pub(crate) fn new() -> Self {
        let mut inner = Sha256::new();
        // A version tag: a future incompatible change of the rules bumps it.
        inner.update(b"periscope-grouping/1\0");
        Self { inner }
    }

    /// Adds one named value.
    pub(crate) fn add(&mut self, name: &str, value: &str) {
        self.inner.update((name.len() as u64).to_le_bytes());
        self.inner.update(name.as_bytes());
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
        let mut h = KeyHasher::new();
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
    }
}
