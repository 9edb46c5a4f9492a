//! The committed fixture tenant: seed 42, size small, clock fixed at 2026-01-01T00:00:00Z, one JSON
//! file per kind in `crates/jumpwatch-sim/fixtures/small/`, for other crates' tests.
//!
//! Layout:
//! - `<kind>.json` for a kind without a parent: an array of complete documents (as `get` returns
//!   them), in id order;
//! - `<kind>.json` for a child kind or relation: an object from parent id to the array of items the
//!   parent's list returns;
//! - `events.json`: the Directory Insights events, oldest first;
//! - `manifest.json`: seed, size, clock, organization id and counts.
//!
//! `jumpwatch-sim fixtures --out DIR [--check]` (or `cargo xtask fixtures [--check]`) writes or
//! checks them; a test fails while they are stale.
//!
//! ```
//! let inventory = jumpwatch_sim::fixtures::load_small()?;
//! assert_eq!(inventory.count(jumpwatch_model::ResourceKind::User), 50);
//! # Ok::<(), jumpwatch_sim::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use jumpwatch_model::{Inventory, Resource, ResourceId, ResourceKind, TenantId};
use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::dataset::{Dataset, Size};
use crate::error::Error;

/// Where the small fixture tenant is committed.
pub const SMALL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/small");

/// The seed of the fixture tenant.
pub const SEED: u64 = 42;

/// The instant the fixture tenant is generated at: 2026-01-01T00:00:00Z.
#[must_use]
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

/// Sorts object keys at every level, whatever `serde_json`'s map keeps.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let sorted: BTreeMap<String, Value> =
                object.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn pretty(value: Value) -> String {
    let mut text = serde_json::to_string_pretty(&canonical(value)).unwrap_or_default();
    text.push('\n');
    text
}

/// The fixture files, by name, as the generator makes them now.
#[must_use]
pub fn files() -> Vec<(String, String)> {
    let dataset = Dataset::builder().seed(SEED).size(Size::Small).now(now()).generate();
    let tenant = &dataset.tenants()[0];
    let mut manifest = Map::new();
    manifest.insert("generator".into(), json!("jumpwatch-sim fixtures"));
    manifest.insert("seed".into(), json!(SEED));
    manifest.insert("size".into(), json!(Size::Small.to_string()));
    manifest.insert("now".into(), json!(rfc3339(now())));
    manifest.insert("org_id".into(), json!(tenant.org_id()));
    files_of(&tenant.inventory(), &tenant.events(), manifest)
}

/// The fixture files of any inventory (a generated tenant, or one recorded from a real tenant):
/// one file a kind, `events.json`, and `manifest.json` with `manifest`'s fields and the counts.
#[must_use]
pub fn files_of(
    inventory: &Inventory,
    events: &[Value],
    mut manifest: Map<String, Value>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut counts = Map::new();
    for &kind in ResourceKind::ALL {
        counts.insert(kind.name().to_owned(), json!(inventory.count(kind)));
        let value = if kind.meta().parent.is_some() {
            let mut by_parent: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for resource in inventory.resources(kind) {
                let parent =
                    resource.parent.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default();
                by_parent.entry(parent).or_default().push(resource.doc.clone());
            }
            json!(by_parent)
        } else {
            Value::Array(inventory.resources(kind).map(|r| r.doc.clone()).collect())
        };
        out.push((format!("{}.json", kind.name()), pretty(value)));
    }
    out.push(("events.json".into(), pretty(Value::Array(events.to_vec()))));
    manifest.insert("counts".into(), Value::Object(counts));
    manifest.insert("events".into(), json!(events.len()));
    out.push(("manifest.json".into(), pretty(Value::Object(manifest))));
    out
}

/// The keys whose values name people or machines, replaced by an [`Anonymizer`].
const IDENTIFYING: &[(&str, &str)] = &[
    ("username", "user"),
    ("userName", "user"),
    ("email", "email"),
    ("alternateEmail", "email"),
    ("managedAppleId", "email"),
    ("address", "email"),
    ("firstname", "first"),
    ("middlename", "middle"),
    ("lastname", "last"),
    ("displayname", "person"),
    ("displayName", "name"),
    ("hostname", "host"),
    ("computer_name", "host"),
    ("serialNumber", "serial"),
    ("hardware_serial", "serial"),
    ("remoteIP", "ip"),
    ("number", "phone"),
    ("employeeIdentifier", "employee"),
    ("public_key", "key"),
    ("key", "key"),
];

/// A stable pseudonym: the same original always gives the same one.
fn pseudonym(kind: &str, original: &str) -> String {
    let digest = blake3::hash(original.as_bytes()).to_hex();
    let tag = &digest[..10];
    match kind {
        "email" => format!("user-{tag}@example.com"),
        "ip" => format!("192.0.2.{}", u8::from_str_radix(&digest[..2], 16).unwrap_or(1)),
        other => format!("{other}-{tag}"),
    }
}

/// Makes the documents of a real tenant safe to commit as fixtures.
///
/// First [`learn`](Self::learn) every document: the values of identifying fields (names,
/// emails, hostnames, serial numbers, IP addresses, keys) get stable pseudonyms. Then
/// [`apply`](Self::apply) to each: the catalog's secret paths become hash markers, command
/// bodies are replaced (people paste secrets into them), and every string that is, or has a
/// path component (`/Users/<name>/.ssh`) or email part that is, a learned value is rewritten.
/// Ids are kept, so relations between documents still hold.
#[derive(Debug, Default)]
pub struct Anonymizer {
    pseudonyms: std::collections::HashMap<String, String>,
}

impl Anonymizer {
    /// An anonymizer that knows nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns the identifying values of a document.
    pub fn learn(&mut self, doc: &Value) {
        match doc {
            Value::Object(object) => {
                for (key, member) in object {
                    if let (Some((_, kind)), Value::String(text)) =
                        (IDENTIFYING.iter().find(|(k, _)| k == key), member)
                        && text.len() > 2
                    {
                        self.pseudonyms
                            .entry(text.clone())
                            .or_insert_with(|| pseudonym(kind, text));
                    } else {
                        self.learn(member);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.learn(item)),
            _ => {}
        }
    }

    fn rewrite(&self, text: &str) -> Option<String> {
        if let Some(pseudonym) = self.pseudonyms.get(text) {
            return Some(pseudonym.clone());
        }
        // Path components and the parts of an address: `/Users/ada/.ssh`, `ada@corp`.
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut start = 0;
        for (index, c) in text.char_indices() {
            if matches!(c, '/' | '\\' | '@' | ' ') {
                self.push_part(&text[start..index], &mut out, &mut changed);
                out.push(c);
                start = index + c.len_utf8();
            }
        }
        self.push_part(&text[start..], &mut out, &mut changed);
        changed.then_some(out)
    }

    fn push_part(&self, part: &str, out: &mut String, changed: &mut bool) {
        match self.pseudonyms.get(part) {
            Some(pseudonym) => {
                out.push_str(pseudonym);
                *changed = true;
            }
            None => out.push_str(part),
        }
    }

    /// Rewrites a document of `kind` (after every document was learned).
    pub fn apply(&self, kind: ResourceKind, doc: &mut Value) {
        jumpwatch_model::Normalizer::for_kind(kind).redact(doc);
        if kind == ResourceKind::Command
            && let Some(body) = doc.get_mut("command")
            && body.is_string()
        {
            *body = json!("echo 'command body removed when recorded'");
        }
        self.rewrite_all(doc);
    }

    fn rewrite_all(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Some(new) = self.rewrite(text) {
                    *text = new;
                }
            }
            Value::Object(object) => object.values_mut().for_each(|v| self.rewrite_all(v)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.rewrite_all(v)),
            _ => {}
        }
    }
}

/// Writes fixture files into `dir`.
pub fn write_files(dir: &Path, files: &[(String, String)]) -> Result<usize, Error> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(io(&path))?;
    }
    Ok(files.len())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_owned(), source }
}

/// Writes the fixture files into `dir`. Returns the number of files written.
pub fn write(dir: &Path) -> Result<usize, Error> {
    write_files(dir, &files())
}

/// Checks that the files in `dir` are what the generator makes now.
pub fn check(dir: &Path) -> Result<(), Error> {
    let stale: Vec<String> = files()
        .into_iter()
        .filter(|(name, content)| {
            std::fs::read_to_string(dir.join(name)).ok().as_ref() != Some(content)
        })
        .map(|(name, _)| name)
        .collect();
    if stale.is_empty() { Ok(()) } else { Err(Error::StaleFixtures(stale)) }
}

fn read(path: &Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Fixture { path: path.to_owned(), message: e.to_string() })
}

fn fixture_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Fixture { path: path.to_owned(), message: message.into() }
}

/// Loads a fixture tenant into an [`Inventory`] (tenant id: the organization's id).
pub fn load(dir: &Path) -> Result<Inventory, Error> {
    let manifest_path = dir.join("manifest.json");
    let manifest = read(&manifest_path)?;
    let org = manifest["org_id"].as_str().unwrap_or("fixture");
    let tenant = TenantId::new(org).map_err(|e| fixture_error(&manifest_path, e.to_string()))?;
    let mut inventory = Inventory::new(tenant);
    for &kind in ResourceKind::ALL {
        let path: PathBuf = dir.join(format!("{}.json", kind.name()));
        let value = read(&path)?;
        let mut add =
            |resource: Result<Resource, jumpwatch_model::ResourceError>| -> Result<(), Error> {
                let resource = resource.map_err(|e| fixture_error(&path, e.to_string()))?;
                inventory.insert(resource).map_err(|e| fixture_error(&path, e.to_string()))?;
                Ok(())
            };
        match value {
            Value::Array(docs) => {
                for doc in docs {
                    add(Resource::from_doc(kind, doc))?;
                }
            }
            Value::Object(by_parent) => {
                for (parent, docs) in by_parent {
                    let parent = ResourceId::new(&parent)
                        .map_err(|e| fixture_error(&path, e.to_string()))?;
                    for doc in docs.as_array().into_iter().flatten() {
                        add(Resource::from_child_doc(kind, parent.clone(), doc.clone()))?;
                    }
                }
            }
            _ => return Err(fixture_error(&path, "expected an array or an object of arrays")),
        }
    }
    Ok(inventory)
}

/// Loads the committed small fixture tenant.
pub fn load_small() -> Result<Inventory, Error> {
    load(Path::new(SMALL_DIR))
}

/// The Directory Insights events of a fixture tenant.
pub fn events(dir: &Path) -> Result<Vec<Value>, Error> {
    let path = dir.join("events.json");
    match read(&path)? {
        Value::Array(events) => Ok(events),
        _ => Err(fixture_error(&path, "expected an array")),
    }
}
