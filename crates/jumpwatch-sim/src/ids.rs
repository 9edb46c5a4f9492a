//! Deterministic identifiers: JumpCloud-style object ids, Directory Insights event ids, and the
//! seed mixing every random stream of the simulator starts from.

use chrono::{DateTime, Utc};

/// Mixes values into a 64-bit seed (SplitMix64 finalizer over each part), so that every random
/// stream of the simulator has its own seed derived from the user's seed and a label.
#[must_use]
pub(crate) fn mix(parts: &[u64]) -> u64 {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for part in parts {
        state ^= part.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(state << 6);
        state = splitmix(state);
    }
    state
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of text (FNV-1a), for seeds derived from names and request keys.
#[must_use]
pub(crate) fn hash_str(text: &str) -> u64 {
    hash_bytes(text.as_bytes())
}

/// A stable 64-bit hash of bytes (FNV-1a).
#[must_use]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A random stream for one purpose, derived from a seed and a label.
#[must_use]
pub(crate) fn rng(seed: u64, label: &str) -> fastrand::Rng {
    fastrand::Rng::with_seed(mix(&[seed, hash_str(label)]))
}

/// Makes 24-hex-digit object ids like JumpCloud's (MongoDB ObjectIds): four bytes of creation time
/// in seconds, then five random bytes, then a three-byte counter. Ids made later sort later, and
/// ids made from the same seed are the same.
#[derive(Debug, Clone)]
pub(crate) struct ObjectIds {
    rng: fastrand::Rng,
    counter: u32,
}

impl ObjectIds {
    /// A generator for one seed.
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(mix(&[seed, 0x0b1e_c71d]));
        let counter = rng.u32(0..0x00ff_ffff) & 0x000f_ffff;
        Self { rng, counter }
    }

    /// An id for an object created at `at`.
    pub(crate) fn at(&mut self, at: DateTime<Utc>) -> String {
        let seconds = u32::try_from(at.timestamp().clamp(0, i64::from(u32::MAX))).unwrap_or(0);
        self.counter = (self.counter + 1) & 0x00ff_ffff;
        let random = self.rng.u64(..) & 0xff_ffff_ffff;
        format!("{seconds:08x}{random:010x}{:06x}", self.counter)
    }
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A 20-character id like Directory Insights event ids (`DZrPyW8BNsa9iKWoOm7h`).
pub(crate) fn event_id(rng: &mut fastrand::Rng) -> String {
    (0..20).map(|_| char::from(BASE62[rng.usize(..BASE62.len())])).collect()
}

/// Lower-case hex of `len` random bytes.
pub(crate) fn hex(rng: &mut fastrand::Rng, len: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(len * 2);
    for _ in 0..len {
        let _ = write!(out, "{:02x}", rng.u8(..));
    }
    out
}

/// Is `text` a 24-hex-digit object id?
pub(crate) fn is_object_id(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn object_ids_are_deterministic_unique_and_sort_by_time() {
        let early = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let late = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let mut a = ObjectIds::new(7);
        let mut b = ObjectIds::new(7);
        let ids: Vec<String> = (0..100).map(|_| a.at(early)).collect();
        let again: Vec<String> = (0..100).map(|_| b.at(early)).collect();
        assert_eq!(ids, again);
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 100);
        assert!(ids.iter().all(|id| is_object_id(id)));
        assert!(a.at(late) > ids[99]);
    }

    #[test]
    fn mixing_separates_streams() {
        assert_ne!(mix(&[1, 2]), mix(&[2, 1]));
        assert_ne!(rng(1, "users").u64(..), rng(1, "systems").u64(..));
        assert_eq!(event_id(&mut fastrand::Rng::with_seed(1)).len(), 20);
    }
}
