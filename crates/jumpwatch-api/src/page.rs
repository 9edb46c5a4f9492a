//! [`Page`]: one page of a list response, unwrapped from its envelope (v1 `{totalCount, results}`,
//! a bare v2 array with `x-total-count`, or a named wrapper).

use http::HeaderMap;
use jumpwatch_model::ResourceKind;
use jumpwatch_model::catalog::Envelope;
use serde_json::Value;

use crate::Error;

/// The items of one page and the total the API announced, if it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The items, as sent.
    pub items: Vec<Value>,
    /// The number of items of the whole listing: v1 `totalCount`, a wrapper's `totalCount`, or
    /// the `x-total-count` header.
    pub total: Option<u64>,
}

fn decode_error(kind: ResourceKind, path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Decode {
        kind: Some(kind),
        what: format!("a page of {kind}"),
        path: path.into(),
        message: message.into(),
    }
}

fn total_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        // `totalCount` is sometimes declared as a number.
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Decodes a page of `kind` from a response body and headers.
///
/// ```
/// use jumpwatch_api::page::decode_page;
/// use jumpwatch_model::ResourceKind;
/// let body = br#"{"totalCount": 2, "results": [{"_id": "a"}, {"_id": "b"}]}"#;
/// let page = decode_page(ResourceKind::User, &http::HeaderMap::new(), body).unwrap();
/// assert_eq!((page.items.len(), page.total), (2, Some(2)));
/// ```
pub fn decode_page(kind: ResourceKind, headers: &HeaderMap, body: &[u8]) -> Result<Page, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_eof() { "the body ends too early" } else { "not valid JSON" };
        decode_error(
            kind,
            format!("line {} column {}", e.line(), e.column()),
            format!("{what}: {e}"),
        )
    })?;
    let header_total = headers
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (kind.meta().envelope, value) {
        (Envelope::V1, Value::Object(mut object)) => {
            let total = total_of(object.get("totalCount"));
            match object.remove("results") {
                Some(Value::Array(items)) => Ok(Page { items, total: total.or(header_total) }),
                // An empty v1 listing sometimes comes back without `results`.
                None | Some(Value::Null) if total == Some(0) => {
                    Ok(Page { items: Vec::new(), total })
                }
                Some(other) => Err(decode_error(
                    kind,
                    "$.results",
                    format!(
                        "expected an array, found {}",
                        jumpwatch_model::typed::json_type(&other)
                    ),
                )),
                None => Err(decode_error(kind, "$.results", "missing")),
            }
        }
        (Envelope::Wrapper(key), Value::Object(mut object)) => {
            let total = total_of(object.get("totalCount"));
            match object.remove(key) {
                Some(Value::Array(items)) => Ok(Page { items, total: total.or(header_total) }),
                Some(other) => Err(decode_error(
                    kind,
                    format!("$.{key}"),
                    format!(
                        "expected an array, found {}",
                        jumpwatch_model::typed::json_type(&other)
                    ),
                )),
                None => Err(decode_error(kind, format!("$.{key}"), "missing")),
            }
        }
        (Envelope::Array, Value::Array(items)) => Ok(Page { items, total: header_total }),
        // Some v2 endpoints wrap their array; accept the common wrappers rather than fail.
        (Envelope::Array, Value::Object(mut object)) => {
            match object.remove("results").or_else(|| object.remove("records")) {
                Some(Value::Array(items)) => {
                    Ok(Page { items, total: total_of(object.get("totalCount")).or(header_total) })
                }
                _ => Err(decode_error(kind, "$", "expected an array, found an object")),
            }
        }
        (_, other) => Err(decode_error(
            kind,
            "$",
            format!(
                "expected {}, found {}",
                if kind.meta().envelope == Envelope::Array { "an array" } else { "an object" },
                jumpwatch_model::typed::json_type(&other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(total: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-total-count", total.parse().unwrap());
        h
    }

    #[test]
    fn every_envelope() {
        let page =
            decode_page(ResourceKind::UserGroup, &headers("7"), br#"[{"id": "g"}]"#).unwrap();
        assert_eq!((page.items.len(), page.total), (1, Some(7)));
        let page = decode_page(ResourceKind::UserGroup, &HeaderMap::new(), br#"[]"#).unwrap();
        assert_eq!(page.total, None);
        let page =
            decode_page(ResourceKind::User, &HeaderMap::new(), br#"{"totalCount": 0}"#).unwrap();
        assert!(page.items.is_empty());
        let page = decode_page(
            ResourceKind::User,
            &HeaderMap::new(),
            br#"{"totalCount": "3", "results": []}"#,
        )
        .unwrap();
        assert_eq!(page.total, Some(3));
    }

    #[test]
    fn errors_name_the_place() {
        let cases: [(ResourceKind, &[u8], &str); 5] = [
            (ResourceKind::User, br#"{"totalCount": 2, "results": [{"_id": "a"}"#, "line 1 column"),
            (ResourceKind::User, br#"{"totalCount": 2, "results": {}}"#, "$.results"),
            (ResourceKind::User, br#"[1]"#, "$"),
            (ResourceKind::UserGroup, b"<html>bad gateway</html>", "line 1 column"),
            (ResourceKind::UserGroup, b"", "line 1 column"),
        ];
        for (kind, body, path) in cases {
            match decode_page(kind, &HeaderMap::new(), body) {
                Err(Error::Decode { path: p, .. }) => assert!(p.starts_with(path), "{p} vs {path}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
