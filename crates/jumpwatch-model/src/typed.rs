//! Typed views of raw JSON documents: lenient on the way in, lossless on the way out.
//!
//! JumpCloud omits and nulls fields freely, sends numbers as strings in places, and adds enum
//! values and fields over time. The typed structs generated from the catalog therefore never
//! fail on a field: a value that does not have the expected type leaves the field `None`, is
//! reported as a [`DecodeIssue`] with its JSON path, and is kept as sent in the struct's `extra`
//! map. A value read leniently (`"42"` for an integer) is kept as sent too, so encoding a decoded
//! document gives back exactly the document.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::{ResourceId, ResourceKind};

/// A value that can be read from JSON leniently and written back without loss.
///
/// Implemented by the generated structs and enums and by the leaf types they use. Implement it
/// for your own types to use them with [`decode`].
pub trait TypedValue: Sized + PartialEq {
    /// Reads `value`. Returns `None` (after recording an issue with [`Decoder::issue`]) when the
    /// value does not have this type; calls [`Decoder::mark_lenient`] when it was read but would
    /// not encode back to the same JSON.
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self>;

    /// Writes the value as JSON.
    fn encode(&self) -> Value;
}

/// A typed struct generated for one catalog kind.
pub trait TypedResource: TypedValue {
    /// The kind whose documents this struct reads.
    const KIND: ResourceKind;
}

/// A value that was kept as sent because it did not have the type the catalog gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeIssue {
    /// Where, as a JSON path (`$.mfa.exclusionDays`, `$.ssh_keys[2].name`).
    pub path: String,
    /// The type the catalog expects.
    pub expected: &'static str,
    /// The JSON type that was found.
    pub found: &'static str,
}

impl fmt::Display for DecodeIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, found {}", self.path, self.expected, self.found)
    }
}

/// A decoded value and the issues met while decoding it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// The typed value.
    pub value: T,
    /// Values that did not have their expected type, kept as sent.
    pub issues: Vec<DecodeIssue>,
}

/// The top-level value was not of the expected type at all (a document that is not an object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {target}: {issue}")]
pub struct DecodeError {
    /// The Rust type that was asked for.
    pub target: &'static str,
    /// What was wrong, and where.
    pub issue: DecodeIssue,
}

/// Decodes a typed value from JSON, reporting every value kept as sent.
///
/// ```
/// use jumpwatch_model::{decode, types::User};
/// let doc = serde_json::json!({"_id": "64a1f0c2e4b0a1b2c3d4e5f6", "unix_uid": "5001", "sudo": "maybe"});
/// let user = decode::<User>(&doc).unwrap();
/// assert_eq!(user.value.unix_uid, Some(5001));
/// assert_eq!(user.value.sudo, None);
/// assert_eq!(user.issues[0].path, "$.sudo");
/// // Nothing was lost: the document encodes back exactly.
/// assert_eq!(jumpwatch_model::TypedValue::encode(&user.value), doc);
/// ```
pub fn decode<T: TypedValue>(value: &Value) -> Result<Decoded<T>, DecodeError> {
    let mut de = Decoder::new();
    match T::decode(value, &mut de) {
        Some(value) => Ok(Decoded { value, issues: de.issues }),
        None => Err(DecodeError {
            target: std::any::type_name::<T>(),
            issue: de.issues.into_iter().next().unwrap_or_else(|| DecodeIssue {
                path: "$".to_owned(),
                expected: "a value",
                found: json_type(value),
            }),
        }),
    }
}

/// Decodes with `T` and encodes again: what [`ResourceKind::decode_typed`] does for each kind.
pub(crate) fn decode_as<T: TypedValue>(value: &Value) -> Result<Decoded<Value>, DecodeError> {
    decode::<T>(value)
        .map(|decoded| Decoded { value: decoded.value.encode(), issues: decoded.issues })
}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

/// The state of one decode: the current JSON path and the issues met so far.
#[derive(Debug, Default)]
pub struct Decoder {
    path: Vec<Segment>,
    issues: Vec<DecodeIssue>,
    lenient: bool,
    quiet: bool,
}

impl Decoder {
    /// A decoder at the root (`$`).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that records nothing: for comparisons.
    fn quiet() -> Self {
        Self { quiet: true, ..Self::default() }
    }

    /// The issues met so far.
    #[must_use]
    pub fn issues(&self) -> &[DecodeIssue] {
        &self.issues
    }

    /// Records that the value at the current path does not have the type `expected`.
    pub fn issue(&mut self, expected: &'static str, found: &Value) {
        if self.quiet {
            return;
        }
        let mut path = String::from("$");
        for segment in &self.path {
            match segment {
                Segment::Key(key) => crate::path::push_key(&mut path, key),
                Segment::Index(index) => crate::path::push_index(&mut path, *index),
            }
        }
        self.issues.push(DecodeIssue { path, expected, found: json_type(found) });
    }

    /// Records that the value just read would not encode back to the same JSON (it was read
    /// leniently), so its container keeps the original.
    pub fn mark_lenient(&mut self) {
        self.lenient = true;
    }

    /// Runs `f` one level down the path.
    fn at<R>(&mut self, segment: Segment, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(segment);
        let result = f(self);
        self.path.pop();
        result
    }

    /// The object behind `value`, or `None` after recording an issue.
    pub fn object<'v>(&mut self, value: &'v Value) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(object) => Some(object),
            other => {
                self.issue("object", other);
                None
            }
        }
    }

    /// Decodes one field of an object into `slot`. A null leaves the slot `None`; a value that
    /// does not decode, or decodes only leniently, is also kept as sent in `extra`.
    pub fn field<T: TypedValue>(
        &mut self,
        key: &str,
        raw: &Value,
        slot: &mut Option<T>,
        extra: &mut Map<String, Value>,
    ) {
        if raw.is_null() {
            extra.insert(key.to_owned(), Value::Null);
            return;
        }
        let outer = std::mem::replace(&mut self.lenient, false);
        let decoded = self.at(Segment::Key(key.to_owned()), |de| T::decode(raw, de));
        let exact = decoded.is_some() && !self.lenient;
        self.lenient = outer;
        if !exact {
            extra.insert(key.to_owned(), raw.clone());
        }
        *slot = decoded;
    }
}

/// Writes one field into an encoded object: nothing for `None`; the original for a value that
/// still reads as the field's value (kept in `extra` because it was read leniently); the
/// encoded value otherwise.
pub fn put<T: TypedValue>(out: &mut Map<String, Value>, key: &str, field: &Option<T>) {
    let Some(value) = field else { return };
    if let Some(original) = out.get(key)
        && T::decode(original, &mut Decoder::quiet()).as_ref() == Some(value)
    {
        return;
    }
    out.insert(key.to_owned(), value.encode());
}

/// The JSON type of a value, as issues name it.
#[must_use]
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl TypedValue for String {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                de.issue("string", other);
                None
            }
        }
    }
    fn encode(&self) -> Value {
        Value::String(self.clone())
    }
}

impl TypedValue for bool {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        let read = match value {
            Value::Bool(b) => return Some(*b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            _ => None,
        };
        match read {
            Some(b) => {
                de.mark_lenient();
                Some(b)
            }
            None => {
                de.issue("bool", value);
                None
            }
        }
    }
    fn encode(&self) -> Value {
        Value::Bool(*self)
    }
}

impl TypedValue for i64 {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        let read = match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => return Some(i),
                // An integral float (`5.0`) reads, but does not encode back the same.
                None => n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| {
                    #[allow(clippy::cast_possible_truncation)]
                    let i = f as i64;
                    i
                }),
            },
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match read {
            Some(i) => {
                de.mark_lenient();
                Some(i)
            }
            None => {
                de.issue("integer", value);
                None
            }
        }
    }
    fn encode(&self) -> Value {
        Value::from(*self)
    }
}

impl TypedValue for f64 {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        match value {
            // Integers read as floats encode back as floats (`1` → `1.0`): keep the original.
            Value::Number(n) if n.is_f64() => n.as_f64(),
            Value::Number(n) => {
                de.mark_lenient();
                n.as_f64()
            }
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => {
                    de.mark_lenient();
                    Some(f)
                }
                _ => {
                    de.issue("number", value);
                    None
                }
            },
            other => {
                de.issue("number", other);
                None
            }
        }
    }
    fn encode(&self) -> Value {
        serde_json::Number::from_f64(*self).map_or(Value::Null, Value::Number)
    }
}

impl TypedValue for Value {
    fn decode(value: &Value, _de: &mut Decoder) -> Option<Self> {
        Some(value.clone())
    }
    fn encode(&self) -> Value {
        self.clone()
    }
}

impl TypedValue for ResourceId {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        let id = match value {
            Value::String(s) => ResourceId::new(s).ok(),
            Value::Number(n) => {
                de.mark_lenient();
                ResourceId::new(n.to_string()).ok()
            }
            _ => None,
        };
        if id.is_none() {
            de.issue("id", value);
        }
        id
    }
    fn encode(&self) -> Value {
        Value::String(self.as_str().to_owned())
    }
}

impl<T: TypedValue> TypedValue for Vec<T> {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        let Value::Array(items) = value else {
            de.issue("array", value);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut complete = true;
        for (index, item) in items.iter().enumerate() {
            match de.at(Segment::Index(index), |de| T::decode(item, de)) {
                Some(v) => out.push(v),
                None => complete = false,
            }
        }
        // One bad element keeps the whole array as sent; the good ones are still readable.
        if !complete {
            de.mark_lenient();
        }
        Some(out)
    }
    fn encode(&self) -> Value {
        Value::Array(self.iter().map(TypedValue::encode).collect())
    }
}

impl<T: TypedValue> TypedValue for BTreeMap<String, T> {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        let object = de.object(value)?;
        let mut out = BTreeMap::new();
        let mut complete = true;
        for (key, item) in object {
            match de.at(Segment::Key(key.clone()), |de| T::decode(item, de)) {
                Some(v) => {
                    out.insert(key.clone(), v);
                }
                None => complete = false,
            }
        }
        if !complete {
            de.mark_lenient();
        }
        Some(out)
    }
    fn encode(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.encode())).collect())
    }
}

/// Implements `serde::Serialize` and `serde::Deserialize` for a [`TypedValue`] through its
/// lossless JSON form, so typed structs work wherever serde does.
macro_rules! serde_via_typed {
    ($($name:ty),* $(,)?) => {$(
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&$crate::TypedValue::encode(self), serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
                $crate::decode::<$name>(&value)
                    .map(|decoded| decoded.value)
                    .map_err(serde::de::Error::custom)
            }
        }
    )*};
}
pub(crate) use serde_via_typed;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn roundtrip<T: TypedValue>(value: &Value) -> Decoded<T> {
        decode::<T>(value).unwrap()
    }

    #[test]
    fn leaves_read_leniently_and_mark_it() {
        let mut de = Decoder::new();
        assert_eq!(i64::decode(&json!("42"), &mut de), Some(42));
        assert!(de.lenient);
        let mut de = Decoder::new();
        assert_eq!(i64::decode(&json!(42), &mut de), Some(42));
        assert!(!de.lenient);
        assert_eq!(bool::decode(&json!("true"), &mut Decoder::new()), Some(true));
        assert_eq!(bool::decode(&json!(0), &mut Decoder::new()), Some(false));
        assert_eq!(f64::decode(&json!("1.5"), &mut Decoder::new()), Some(1.5));
        let mut de = Decoder::new();
        assert_eq!(bool::decode(&json!("perhaps"), &mut de), None);
        assert_eq!(de.issues()[0].expected, "bool");
        assert_eq!(de.issues()[0].found, "string");
    }

    #[test]
    fn a_vec_with_a_bad_element_keeps_the_good_ones_and_reports_the_index() {
        let value = json!(["a", 1, "b"]);
        let decoded = roundtrip::<Vec<String>>(&value);
        assert_eq!(decoded.value, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(decoded.issues[0].path, "$[1]");
    }

    #[test]
    fn field_keeps_originals_that_are_not_exact() {
        let mut extra = Map::new();
        let mut slot = None;
        let mut de = Decoder::new();
        de.field::<i64>("n", &json!("7"), &mut slot, &mut extra);
        assert_eq!(slot, Some(7));
        assert_eq!(extra.get("n"), Some(&json!("7")));
        let mut out = extra.clone();
        put(&mut out, "n", &slot);
        assert_eq!(out.get("n"), Some(&json!("7")));
        // A changed value is written, not the stale original.
        put(&mut out, "n", &Some(8_i64));
        assert_eq!(out.get("n"), Some(&json!(8)));
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let mut de = Decoder::new();
        de.at(Segment::Key("a b".into()), |de| de.issue("string", &json!(1)));
        assert_eq!(de.issues()[0].path, "$[\"a b\"]");
    }
}
