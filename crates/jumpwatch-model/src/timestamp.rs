//! [`Timestamp`]: an instant read leniently from the many ways JumpCloud writes one, keeping the
//! original text.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use crate::{Decoder, TypedValue};

/// An instant as JumpCloud sent it.
///
/// Reads RFC 3339 / ISO 8601 with 0 to 9 fractional digits and `Z` or an offset, a space in place
/// of the `T`, a missing zone (taken as UTC), a bare date, and Unix epoch milliseconds. The
/// original text is kept, so encoding gives back exactly what was read.
///
/// ```
/// use jumpwatch_model::Timestamp;
/// let t = Timestamp::parse("2026-09-30T23:59:59.123456789+02:00").unwrap();
/// assert_eq!(t.to_utc().to_rfc3339(), "2026-09-30T21:59:59.123456789+00:00");
/// assert_eq!(t.as_str(), "2026-09-30T23:59:59.123456789+02:00");
/// assert!(Timestamp::parse("2024-03-02T09:15:27Z").is_some());
/// assert!(Timestamp::parse("2024-03-02 09:15:27.5").is_some());
/// assert!(Timestamp::parse("yesterday").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    instant: DateTime<FixedOffset>,
    original: Box<str>,
}

impl Timestamp {
    /// Reads a timestamp, or `None` when the text is not one.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        let instant = parse_instant(trimmed)?;
        Some(Self { instant, original: text.into() })
    }

    /// A timestamp for an instant, written in RFC 3339 with `Z`.
    #[must_use]
    pub fn from_utc(instant: DateTime<Utc>) -> Self {
        let original = instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        Self { instant: instant.fixed_offset(), original: original.into() }
    }

    /// The instant in UTC.
    #[must_use]
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.instant.to_utc()
    }

    /// The instant with the offset it was written with.
    #[must_use]
    pub fn instant(&self) -> DateTime<FixedOffset> {
        self.instant
    }

    /// The text as it was read.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

/// Reads a span of time written as a number and a unit: `250ms`, `30s`, `5m`, `1h`, `7d` (the
/// form of the configuration file and of rules' `open_for`).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(jumpwatch_model::parse_span("5m"), Some(Duration::from_secs(300)));
/// assert_eq!(jumpwatch_model::parse_span("5 minutes"), None);
/// ```
#[must_use]
pub fn parse_span(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => return Some(std::time::Duration::from_millis(number)),
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        "d" => number.checked_mul(86_400)?,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(seconds))
}

fn parse_instant(text: &str) -> Option<DateTime<FixedOffset>> {
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    // `2024-03-02 09:15:27Z`, lower-case `t`/`z`: normalize and retry.
    let normalized: String = text
        .chars()
        .enumerate()
        .map(|(i, c)| match c {
            ' ' | 't' if i == 10 => 'T',
            'z' => 'Z',
            c => c,
        })
        .collect();
    if let Ok(t) = DateTime::parse_from_rfc3339(&normalized) {
        return Some(t);
    }
    // No zone: UTC.
    if let Ok(t) = NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().fixed_offset());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M") {
        return Some(t.and_utc().fixed_offset());
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().fixed_offset());
    }
    // Epoch seconds (10 digits today, such as osquery's `last_login`) or milliseconds (13), as
    // System Insights columns send them; shorter digit strings are not times.
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let number: i64 = text.parse().ok()?;
        return match text.len() {
            9..=11 => DateTime::from_timestamp(number, 0).map(|t| t.fixed_offset()),
            12.. => DateTime::from_timestamp_millis(number).map(|t| t.fixed_offset()),
            _ => None,
        };
    }
    None
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", &*self.original)
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.instant.cmp(&other.instant).then_with(|| self.original.cmp(&other.original))
    }
}

impl TypedValue for Timestamp {
    fn decode(value: &Value, de: &mut Decoder) -> Option<Self> {
        match value {
            Value::String(s) => {
                let parsed = Self::parse(s);
                if parsed.is_none() {
                    de.issue("timestamp", value);
                }
                parsed
            }
            Value::Number(n) => {
                let parsed = n
                    .as_i64()
                    .and_then(DateTime::from_timestamp_millis)
                    .map(|t| Self { instant: t.fixed_offset(), original: n.to_string().into() });
                match parsed {
                    Some(t) => {
                        de.mark_lenient();
                        Some(t)
                    }
                    None => {
                        de.issue("timestamp", value);
                        None
                    }
                }
            }
            other => {
                de.issue("timestamp", other);
                None
            }
        }
    }

    fn encode(&self) -> Value {
        Value::String(self.original.to_string())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.original)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_jumpcloud_uses() {
        let cases = [
            ("2024-03-02T09:15:27Z", "2024-03-02T09:15:27+00:00"),
            ("2024-03-02T09:15:27.4Z", "2024-03-02T09:15:27.400+00:00"),
            ("2024-03-02T09:15:27.123456789Z", "2024-03-02T09:15:27.123456789+00:00"),
            ("2024-03-02T09:15:27+05:30", "2024-03-02T03:45:27+00:00"),
            ("2024-03-02t09:15:27z", "2024-03-02T09:15:27+00:00"),
            ("2024-03-02 09:15:27", "2024-03-02T09:15:27+00:00"),
            ("2024-03-02T09:15", "2024-03-02T09:15:00+00:00"),
            ("2024-03-02", "2024-03-02T00:00:00+00:00"),
            ("1709370927000", "2024-03-02T09:15:27+00:00"),
            ("1709370927", "2024-03-02T09:15:27+00:00"),
        ];
        for (text, utc) in cases {
            let t = Timestamp::parse(text).unwrap_or_else(|| panic!("{text} did not parse"));
            assert_eq!(t.to_utc().to_rfc3339(), utc, "{text}");
            assert_eq!(t.as_str(), text);
        }
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in ["", " ", "yesterday", "2024-13-02T00:00:00Z", "12", "0001", "12345678"] {
            assert!(Timestamp::parse(text).is_none(), "{text:?}");
        }
    }
}
