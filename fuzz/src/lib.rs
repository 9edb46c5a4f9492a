//! Helpers shared by Jumpwatch's fuzz targets: a kind from a byte, arbitrary JSON with the
//! catalog's field names, the checks a decoded page must pass, and a simulator reached over plain
//! HTTP/1.1 on 127.0.0.1.
//!
//! Each target calls the public API and lets errors be errors: only a panic, a hang, or a broken
//! law asserted here is a finding.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use http::HeaderMap;
use jumpwatch_api::Error;
use jumpwatch_model::{Normalizer, Resource, ResourceId, ResourceKind};
use serde_json::{Map, Value};

/// The kind a byte picks.
pub fn kind_of(byte: u8) -> ResourceKind {
    ResourceKind::ALL[usize::from(byte) % ResourceKind::ALL.len()]
}

/// Field names worth hitting: every catalog path segment, id and name field, plus JSON-ish
/// trouble (empty, dotted, unicode).
pub fn field_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = [
            "_id",
            "id",
            "name",
            "type",
            "to",
            "results",
            "totalCount",
            "records",
            "",
            ".",
            "a.b",
            "é",
            "timestamp",
            "event_type",
            "changes",
            "field",
            "from",
            "initiated_by",
            "resource",
            "success",
            "service",
            "email",
            "username",
            "attributes",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for kind in ResourceKind::ALL {
            let meta = kind.meta();
            let mut paths: Vec<&str> = Vec::new();
            paths.extend(meta.volatile.iter().copied());
            paths.extend(meta.secret.iter().copied());
            paths.extend(meta.arrays.iter().map(|(p, _)| *p));
            paths.extend(meta.name_field);
            paths.extend(meta.filterable.iter().copied());
            if let jumpwatch_model::catalog::ArrayIdentity::Keyed(key) = meta
                .arrays
                .first()
                .map_or(jumpwatch_model::catalog::ArrayIdentity::Ordered, |a| a.1)
            {
                paths.push(key);
            }
            match meta.id {
                jumpwatch_model::catalog::IdSpec::Field(f) => paths.push(f),
                jumpwatch_model::catalog::IdSpec::Composite(fs) => paths.extend(fs.iter().copied()),
                _ => {}
            }
            if let Some(relation) = meta.relation {
                paths.push(relation.to_id);
                paths.extend(relation.to_type);
            }
            for path in paths {
                for segment in path.split(['.', '[', ']', '*']) {
                    if !segment.is_empty() && !names.iter().any(|n| n == segment) {
                        names.push(segment.to_owned());
                    }
                }
            }
        }
        names
    })
}

fn key(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.ratio(3, 4)? { Ok(u.choose(field_names())?.clone()) } else { String::arbitrary(u) }
}

/// An arbitrary JSON value, at most `depth` deep, with the catalog's field names as keys.
pub fn json(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let pick = if depth == 0 { u.int_in_range(0..=5)? } else { u.int_in_range(0..=7)? };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => Value::from(i64::arbitrary(u)?),
        3 => Value::from(u64::arbitrary(u)?),
        4 => serde_json::Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
        5 => Value::String(if u.ratio(1, 3)? {
            u.choose(field_names())?.clone()
        } else {
            String::arbitrary(u)?
        }),
        6 => {
            let len = u.int_in_range(0..=4)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(json(u, depth - 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let len = u.int_in_range(0..=6)?;
            let mut object = Map::new();
            for _ in 0..len {
                object.insert(key(u)?, json(u, depth - 1)?);
            }
            Value::Object(object)
        }
    })
}

/// A resource of `kind` from a document, with a parent when the kind needs one.
pub fn resource(
    kind: ResourceKind,
    doc: Value,
) -> Result<Resource, jumpwatch_model::ResourceError> {
    if kind.meta().parent.is_some() {
        let parent = ResourceId::new("fuzz-parent")
            .map_err(|source| jumpwatch_model::ResourceError::InvalidId { kind, source })?;
        Resource::from_child_doc(kind, parent, doc)
    } else {
        Resource::from_doc(kind, doc)
    }
}

/// The laws a document's normal form must keep: the hash is the hash of the normal form, and
/// normalizing twice changes nothing.
pub fn check_normal_form(kind: ResourceKind, doc: &Value) {
    let normalizer = Normalizer::for_kind(kind);
    let hash = normalizer.hash(doc);
    let normal = normalizer.normalize(doc);
    assert_eq!(
        hash,
        normalizer.hash(&normal),
        "{kind}: hash(doc) != hash(normalize(doc)) for {doc}"
    );
    assert_eq!(
        normal,
        normalizer.normalize(&normal),
        "{kind}: normalize is not idempotent for {doc}"
    );
    let mut redacted = doc.clone();
    normalizer.redact(&mut redacted);
    assert_eq!(hash, normalizer.hash(&redacted), "{kind}: redacting changed the hash of {doc}");
}

/// Decodes a page and every item of it, checking what the API promises: an error names where it
/// failed; each item becomes a resource or a [`ResourceError`](jumpwatch_model::ResourceError)
/// with a message; hashes follow the normal form.
pub fn check_page(kind: ResourceKind, headers: &HeaderMap, body: &[u8]) {
    match jumpwatch_api::page::decode_page(kind, headers, body) {
        Ok(page) => {
            for item in page.items {
                match resource(kind, item.clone()) {
                    Ok(resource) => {
                        assert_eq!(resource.kind, kind);
                        assert_eq!(resource.doc, item, "the document is kept as sent");
                        assert!(!resource.id.as_str().is_empty());
                        check_normal_form(kind, &resource.doc);
                    }
                    Err(error) => assert!(!error.to_string().is_empty()),
                }
                // Hashing never needs a valid resource.
                check_normal_form(kind, &item);
            }
        }
        Err(Error::Decode { path, message, .. }) => {
            assert!(path.starts_with("line ") || path.starts_with('$'), "path {path:?}");
            assert!(!message.is_empty());
        }
        Err(other) => panic!("decode_page gave a non-decode error: {other:?}"),
    }
}

/// A simulator for the whole fuzzing process (small tenant, seed 7), on its own runtime.
pub fn sim() -> &'static jumpwatch_sim::Simulator {
    static SIM: OnceLock<jumpwatch_sim::Simulator> = OnceLock::new();
    SIM.get_or_init(|| {
        match jumpwatch_sim::Simulator::builder().seed(7).size(jumpwatch_sim::Size::Small).spawn() {
            Ok(sim) => sim,
            Err(error) => panic!("the simulator did not start: {error}"),
        }
    })
}

/// Percent-encodes every byte but the unreserved ones.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends one HTTP/1.1 request to the simulator (`Connection: close`), with its API key. `None`
/// when the connection broke before a whole response: the server dropped it (a panicking
/// handler does that).
pub fn request(method: &str, target: &str, extra: &[(&str, &str)], body: &[u8]) -> Option<Reply> {
    let sim = sim();
    let mut stream = TcpStream::connect(sim.addr()).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        sim.addr(),
        sim.api_key(),
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
        {
            headers.append(name, value);
        }
    }
    let mut body = raw[end + 4..].to_vec();
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(length) =
        headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
    {
        if body.len() < length {
            return None;
        }
        body.truncate(length);
    }
    Some(Reply { status, headers, body })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = raw.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line]).ok()?.trim(), 16).ok()?;
        raw = &raw[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

/// The simulator's answer must be a whole response with one of `allowed` statuses, and a JSON
/// body when it is an error (JumpCloud's `{"message": ...}`).
pub fn expect_status(reply: Option<Reply>, allowed: &[u16], what: &str) -> Reply {
    let Some(reply) = reply else { panic!("{what}: the connection broke (a panic in a handler?)") };
    assert!(
        allowed.contains(&reply.status),
        "{what}: status {} body {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    if reply.status >= 400 {
        let body: Value = match serde_json::from_slice(&reply.body) {
            Ok(v) => v,
            Err(e) => panic!(
                "{what}: a {} with a body that is not JSON ({e}): {:?}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ),
        };
        let message = body.get("message").and_then(Value::as_str).unwrap_or_default();
        assert!(!message.is_empty(), "{what}: an error without a message: {body}");
    }
    reply
}
