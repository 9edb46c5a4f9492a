//! The [`Normalizer`]: applies a kind's catalog rules (volatile paths, secret paths, array
//! identity, null ≡ missing) to documents, and computes their canonical [`ContentHash`].
//!
//! Three views of one document:
//!
//! - [`Normalizer::redact`]: what is stored. Secrets are replaced by a keyed hash marker;
//!   everything else is kept as sent.
//! - [`Normalizer::normalize`]: what is compared. Redacted, volatile paths removed, `null` members
//!   removed, set and keyed arrays in a canonical order.
//! - [`Normalizer::hash`]: a digest of the normalized document computed straight from the raw
//!   one, without building it. Equal hashes mean no change.
//!
//! The hash never depends on the order of object keys (it sorts them itself, whatever
//! `serde_json`'s `preserve_order` feature does), nor on the order of set and keyed arrays.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::catalog::ArrayIdentity;
use crate::path::{PathError, PathPattern, Step, match_text};
use crate::{KindMeta, ResourceKind};

/// A 256-bit digest of a normalized document.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// A digest from its hexadecimal text (as [`to_hex`](Self::to_hex) writes it).
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// The digest in lower-case hexadecimal.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..16])
    }
}

/// The prefix of the text that replaces a secret value.
pub const SECRET_MARKER_PREFIX: &str = "secret:blake3:";

/// The default key of the secret hash. Deployments should set their own with
/// [`set_secret_key`], so that a leaked store cannot be used to test guesses of a secret offline.
const DEFAULT_SECRET_KEY: [u8; 32] = *b"jumpwatch secret paths, v1 key!!";

static SECRET_KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// The key was set already, or the catalog's normalizers were built with the default one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secret key is set once, before the first normalizer is used")]
pub struct SecretKeyAlreadySet;

/// Sets the process-wide key of the hash that replaces secrets (in stored documents, change
/// events and hashes), once, before the first [`Normalizer::for_kind`]. Every part of a process
/// must use the same key, or a stored marker would not match a freshly hashed secret.
pub fn set_secret_key(key: [u8; 32]) -> Result<(), SecretKeyAlreadySet> {
    SECRET_KEY.set(key).map_err(|_| SecretKeyAlreadySet)
}

fn secret_key() -> [u8; 32] {
    *SECRET_KEY.get_or_init(|| DEFAULT_SECRET_KEY)
}

/// What the catalog says about the node a pattern walk has reached.
#[derive(Debug, Default, Clone)]
struct Node {
    keys: HashMap<String, Node>,
    any_key: Option<Box<Node>>,
    each: Option<Box<Node>>,
    wheres: Vec<(String, String, Node)>,
    volatile: bool,
    secret: bool,
    array: Option<ArrayIdentity>,
}

impl Node {
    fn insert(&mut self, steps: &[Step]) -> &mut Node {
        let Some((first, rest)) = steps.split_first() else { return self };
        let next = match first {
            Step::Key(key) => self.keys.entry(key.clone()).or_default(),
            Step::AnyKey => self.any_key.get_or_insert_with(Box::default),
            Step::Each => self.each.get_or_insert_with(Box::default),
            Step::Where { field, value } => {
                let index = match self.wheres.iter().position(|(f, v, _)| f == field && v == value)
                {
                    Some(index) => index,
                    None => {
                        self.wheres.push((field.clone(), value.clone(), Node::default()));
                        self.wheres.len() - 1
                    }
                };
                &mut self.wheres[index].2
            }
        };
        next.insert(rest)
    }

    /// The nodes reached by following `key` from `nodes`.
    fn follow_key<'n>(nodes: &[&'n Node], key: &str, out: &mut Vec<&'n Node>) {
        for node in nodes {
            if let Some(next) = node.keys.get(key) {
                out.push(next);
            }
            if let Some(next) = &node.any_key {
                out.push(next);
            }
        }
    }

    /// The nodes reached by an element of an array from `nodes`.
    fn follow_element<'n>(nodes: &[&'n Node], element: &Value, out: &mut Vec<&'n Node>) {
        for node in nodes {
            if let Some(next) = &node.each {
                out.push(next);
            }
            for (field, value, next) in &node.wheres {
                let matches = element
                    .get(field)
                    .and_then(match_text)
                    .is_some_and(|text| text == value.as_str());
                if matches {
                    out.push(next);
                }
            }
        }
    }
}

/// The catalog's rules for one kind, ready to apply.
#[derive(Debug, Clone)]
pub struct Normalizer {
    root: Node,
    secret_key: [u8; 32],
}

impl Normalizer {
    /// The normalizer of a kind, with the catalog's rules. Built once and shared.
    #[must_use]
    pub fn for_kind(kind: ResourceKind) -> &'static Normalizer {
        static ALL: OnceLock<Vec<Normalizer>> = OnceLock::new();
        let all = ALL.get_or_init(|| {
            ResourceKind::ALL
                .iter()
                .map(|kind| {
                    // The catalog's paths are checked by `cargo xtask codegen` and by a test.
                    Self::from_meta(kind.meta()).unwrap_or_else(|_| Self::empty())
                })
                .collect()
        });
        let index = ResourceKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        &all[index]
    }

    /// A normalizer from a kind's catalog entry.
    pub fn from_meta(meta: &KindMeta) -> Result<Self, PathError> {
        let arrays = meta.arrays.iter().map(|(path, identity)| (*path, *identity));
        Self::from_rules(meta.volatile.iter().copied(), meta.secret.iter().copied(), arrays)
    }

    /// A normalizer from explicit rules: for documents outside the catalog, or a catalog entry
    /// with extra volatile paths of your own.
    pub fn from_rules<'a>(
        volatile: impl IntoIterator<Item = &'a str>,
        secret: impl IntoIterator<Item = &'a str>,
        arrays: impl IntoIterator<Item = (&'a str, ArrayIdentity)>,
    ) -> Result<Self, PathError> {
        let mut root = Node::default();
        for path in volatile {
            root.insert(PathPattern::parse(path)?.steps()).volatile = true;
        }
        for path in secret {
            root.insert(PathPattern::parse(path)?.steps()).secret = true;
        }
        for (path, identity) in arrays {
            root.insert(PathPattern::parse(path)?.steps()).array = Some(identity);
        }
        Ok(Self { root, secret_key: secret_key() })
    }

    fn empty() -> Self {
        Self { root: Node::default(), secret_key: secret_key() }
    }

    /// The same rules with another key for the secret hash (the catalog's normalizers use the
    /// process-wide key of [`set_secret_key`]).
    #[must_use]
    pub fn with_secret_key(mut self, key: [u8; 32]) -> Self {
        self.secret_key = key;
        self
    }

    /// The text that replaces a secret value: a keyed hash, so a changed secret is still seen as
    /// a change, and never the value.
    #[must_use]
    ///
    /// A marker is its own marker, so normalizing is idempotent.
    pub fn secret_marker(&self, value: &Value) -> Value {
        if value.as_str().is_some_and(is_marker) {
            return value.clone();
        }
        let mut buffer = Vec::new();
        hash_plain(value, &mut buffer);
        let digest = blake3::keyed_hash(&self.secret_key, &buffer);
        let hex: String = digest.as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect();
        Value::String(format!("{SECRET_MARKER_PREFIX}{hex}"))
    }

    /// Replaces every secret in `doc` by its marker, in place. Nothing else changes.
    pub fn redact(&self, doc: &mut Value) {
        self.rewrite(doc, &[&self.root], false);
    }

    /// The document as the diff compares it: redacted, without volatile paths and `null`
    /// members, with set and keyed arrays in canonical order.
    #[must_use]
    pub fn normalize(&self, doc: &Value) -> Value {
        let mut out = doc.clone();
        self.rewrite(&mut out, &[&self.root], true);
        out
    }

    /// The hash of [`normalize`](Self::normalize)`(doc)`, computed without building it.
    #[must_use]
    pub fn hash(&self, doc: &Value) -> ContentHash {
        // The canonical encoding is written to a buffer and hashed once: BLAKE3 is fast on long
        // inputs and slow on many tiny updates.
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            buffer.clear();
            self.hash_at(doc, &[&self.root], &mut buffer);
            ContentHash(*blake3::hash(&buffer).as_bytes())
        })
    }

    fn rewrite(&self, value: &mut Value, nodes: &[&Node], normalize: bool) {
        if nodes.is_empty() {
            if normalize {
                strip_nulls(value);
            }
            return;
        }
        match value {
            Value::Object(object) => {
                let mut next = Vec::new();
                let keys: Vec<String> = object.keys().cloned().collect();
                for key in keys {
                    next.clear();
                    Node::follow_key(nodes, &key, &mut next);
                    let Some(member) = object.get_mut(&key) else { continue };
                    if normalize && (member.is_null() || next.iter().any(|n| n.volatile)) {
                        object.remove(&key);
                    } else if next.iter().any(|n| n.secret) && !member.is_null() {
                        *member = self.secret_marker(member);
                    } else {
                        self.rewrite(member, &next, normalize);
                    }
                }
            }
            Value::Array(items) => {
                let mut next = Vec::new();
                for item in items.iter_mut() {
                    next.clear();
                    Node::follow_element(nodes, item, &mut next);
                    if next.iter().any(|n| n.secret) && !item.is_null() {
                        *item = self.secret_marker(item);
                    } else {
                        self.rewrite(item, &next, normalize);
                    }
                }
                if normalize {
                    match array_identity(nodes) {
                        ArrayIdentity::Ordered => {}
                        ArrayIdentity::Set => {
                            items.sort_by_cached_key(plain_digest);
                            items.dedup();
                        }
                        ArrayIdentity::Keyed(field) => {
                            items.sort_by_cached_key(|item| {
                                (key_text(item, field), plain_digest(item))
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn hash_at(&self, value: &Value, nodes: &[&Node], hasher: &mut Vec<u8>) {
        if nodes.is_empty() {
            hash_plain(value, hasher);
            return;
        }
        match value {
            Value::Object(object) => {
                let mut members: Vec<(&String, &Value, Vec<&Node>)> =
                    Vec::with_capacity(object.len());
                for (key, member) in object {
                    if member.is_null() {
                        continue;
                    }
                    let mut next = Vec::new();
                    Node::follow_key(nodes, key, &mut next);
                    if next.iter().any(|n| n.volatile) {
                        continue;
                    }
                    members.push((key, member, next));
                }
                members.sort_unstable_by(|a, b| a.0.cmp(b.0));
                hasher.extend_from_slice(b"{");
                hasher.extend_from_slice(&(members.len() as u64).to_le_bytes());
                for (key, member, next) in &members {
                    hash_str(key, hasher);
                    if next.iter().any(|n| n.secret) {
                        hash_plain(&self.secret_marker(member), hasher);
                    } else {
                        self.hash_at(member, next, hasher);
                    }
                }
            }
            Value::Array(items) => {
                let identity = array_identity(nodes);
                let element = |item: &Value, hasher: &mut Vec<u8>| {
                    let mut next = Vec::new();
                    Node::follow_element(nodes, item, &mut next);
                    if next.iter().any(|n| n.secret) && !item.is_null() {
                        hash_plain(&self.secret_marker(item), hasher);
                    } else {
                        self.hash_at(item, &next, hasher);
                    }
                };
                match identity {
                    ArrayIdentity::Ordered => {
                        hasher.extend_from_slice(b"[");
                        hasher.extend_from_slice(&(items.len() as u64).to_le_bytes());
                        for item in items {
                            element(item, hasher);
                        }
                    }
                    ArrayIdentity::Set | ArrayIdentity::Keyed(_) => {
                        let mut digests: Vec<[u8; 32]> = items
                            .iter()
                            .map(|item| {
                                let mut h = Vec::new();
                                element(item, &mut h);
                                *blake3::hash(&h).as_bytes()
                            })
                            .collect();
                        digests.sort_unstable();
                        digests.dedup();
                        hash_digest_set(&digests, hasher);
                    }
                }
            }
            other => hash_plain(other, hasher),
        }
    }
}

/// A marker as [`Normalizer::secret_marker`] writes it: the prefix and 32 hexadecimal digits.
fn is_marker(text: &str) -> bool {
    text.strip_prefix(SECRET_MARKER_PREFIX)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn array_identity(nodes: &[&Node]) -> ArrayIdentity {
    nodes.iter().find_map(|n| n.array).unwrap_or(ArrayIdentity::Ordered)
}

fn key_text(item: &Value, field: &str) -> String {
    item.get(field).and_then(match_text).map(std::borrow::Cow::into_owned).unwrap_or_default()
}

fn plain_digest(value: &Value) -> [u8; 32] {
    let mut buffer = Vec::new();
    hash_plain(value, &mut buffer);
    *blake3::hash(&buffer).as_bytes()
}

fn hash_digest_set(digests: &[[u8; 32]], hasher: &mut Vec<u8>) {
    hasher.extend_from_slice(b"<");
    hasher.extend_from_slice(&(digests.len() as u64).to_le_bytes());
    for digest in digests {
        hasher.extend_from_slice(digest);
    }
}

fn hash_str(s: &str, hasher: &mut Vec<u8>) {
    hasher.extend_from_slice(&(s.len() as u64).to_le_bytes());
    hasher.extend_from_slice(s.as_bytes());
}

/// Hashes a value with no catalog rules below it: keys sorted, `null` members skipped.
fn hash_plain(value: &Value, hasher: &mut Vec<u8>) {
    match value {
        Value::Null => {
            hasher.extend_from_slice(b"n");
        }
        Value::Bool(b) => {
            hasher.extend_from_slice(if *b { b"t" } else { b"f" });
        }
        Value::Number(n) => {
            use std::io::Write as _;
            // A number's text never holds `;`.
            let _ = write!(hasher, "#{n};");
        }
        Value::String(s) => {
            hasher.extend_from_slice(b"s");
            hash_str(s, hasher);
        }
        Value::Array(items) => {
            hasher.extend_from_slice(b"[");
            hasher.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                hash_plain(item, hasher);
            }
        }
        Value::Object(object) => {
            let mut members: Vec<(&String, &Value)> =
                object.iter().filter(|(_, v)| !v.is_null()).collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hasher.extend_from_slice(b"{");
            hasher.extend_from_slice(&(members.len() as u64).to_le_bytes());
            for (key, member) in members {
                hash_str(key, hasher);
                hash_plain(member, hasher);
            }
        }
    }
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|_, v| !v.is_null());
            object.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Builds an object from pairs; a small helper for tests and examples.
#[doc(hidden)]
#[must_use]
pub fn object(pairs: impl IntoIterator<Item = (String, Value)>) -> Value {
    Value::Object(pairs.into_iter().collect::<Map<_, _>>())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer::from_rules(
            ["lastContact", "items[].seen"],
            ["sharedSecret", "values[sensitive=true].value", "config.*.secret"],
            [("tags", ArrayIdentity::Set), ("attributes", ArrayIdentity::Keyed("name"))],
        )
        .unwrap()
    }

    #[test]
    fn normalize_applies_every_rule() {
        let n = normalizer();
        let doc = json!({
            "lastContact": "2026-01-01T00:00:00Z",
            "gone": null,
            "sharedSecret": "hunter2",
            "values": [{"sensitive": true, "value": "p4ss"}, {"sensitive": false, "value": "15"}],
            "config": {"a": {"secret": "k1", "label": "A"}},
            "items": [{"seen": 1, "id": "x"}],
            "tags": ["b", "a", "b"],
            "attributes": [{"name": "z", "value": 1}, {"name": "a", "value": null}],
        });
        let out = n.normalize(&doc);
        let text = out.to_string();
        for secret in ["hunter2", "p4ss", "k1"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(out.get("lastContact").is_none());
        assert!(out.get("gone").is_none());
        assert_eq!(out["values"][1]["value"], "15");
        assert!(out["sharedSecret"].as_str().unwrap().starts_with(SECRET_MARKER_PREFIX));
        assert_eq!(out["items"], json!([{"id": "x"}]));
        assert_eq!(out["tags"].as_array().unwrap().len(), 2);
        assert_eq!(out["attributes"], json!([{"name": "a"}, {"name": "z", "value": 1}]));
        assert_eq!(n.hash(&doc), n.hash(&out));
    }

    #[test]
    fn redact_keeps_everything_but_secrets() {
        let n = normalizer();
        let mut doc = json!({"lastContact": "x", "sharedSecret": "hunter2", "gone": null});
        n.redact(&mut doc);
        assert_eq!(doc["lastContact"], "x");
        assert!(doc["gone"].is_null());
        assert_ne!(doc["sharedSecret"], "hunter2");
    }

    #[test]
    fn a_changed_secret_changes_the_hash_and_the_key_changes_the_marker() {
        let n = normalizer();
        assert_ne!(n.hash(&json!({"sharedSecret": "a"})), n.hash(&json!({"sharedSecret": "b"})));
        let other = normalizer().with_secret_key([7; 32]);
        assert_ne!(n.secret_marker(&json!("a")), other.secret_marker(&json!("a")));
    }

    #[test]
    fn every_catalog_kind_has_valid_rules() {
        for kind in ResourceKind::ALL {
            Normalizer::from_meta(kind.meta()).unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }
}
